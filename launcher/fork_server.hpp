// ForkServer: forks the actor and worker processes of one driver or rank.
//
// It is itself forked by init() while the program is still single-threaded and
// stays single-threaded, so its fork()s are always safe. Each child gets its
// stdout and stderr as pipes, which the fork server forwards line by line as
// "(ClassName pid=N) line" (workers: "(task pid=N) line"; in a job of several
// nodes "(ClassName node K pid=N) line"), through the session's
// LogDeduplicator if it is the one place that sees every line (a plain
// session's daemon). Children die with the fork server (PR_SET_PDEATHSIG),
// which dies with its driver, and with its rank unless the rank leaves actors
// behind that are to outlive it (outlives_owner()): then it serves them until
// none is left or the session ends (run_rank_fork_server()).
#pragma once

#include <poll.h>
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "ipc/process_table.hpp"
#include "launcher/line_forwarder.hpp"
#include "launcher/log_deduplicator.hpp"
#include "launcher/mailbox.hpp"
#include "store/store.hpp"

namespace shoal::launcher {

// Runs actor `index` in a freshly forked child whose slot is already claimed.
// Never returns.
using ActorMainFn = void (*)(store::Store& store, uint32_t index);
void set_actor_main(ActorMainFn fn);
ActorMainFn actor_main();

// Whether actors forked by the fork server of `spawner` (a rank's or a
// driver's slot) are to outlive that process: detached ones, and owned ones
// whose creator is another process. Those the process itself created are
// killed with it by the supervisor.
bool outlives_owner(store::Store& store, ipc::ProcessSlotId spawner);
// Whether an actor forked by the fork server of `spawner` is alive or on its
// way (creating, starting, restarting).
bool serves_actors(store::Store& store, ipc::ProcessSlotId spawner);
// Whether an owned actor that process `owner` created is still alive.
bool owns_live_actors(store::Store& store, ipc::ProcessSlotId owner);
// The slot of the process that created slot `i`, if `i` is a live fork
// server (a rank's fork server names its rank); nullopt otherwise.
std::optional<ipc::ProcessSlotId> fork_server_creator(const ipc::ProcessTable& procs,
                                                      ipc::ProcessSlotId i);

class ForkServer {
 public:
  // What became of a spawn request, for the supervisor: the child's pid
  // (error 0) or the errno that kept it from being forked (pid 0). By
  // default sent to the session's supervisor (kForked / kSpawnFailed); a
  // fork server sharing the supervisor's process calls it directly.
  using Report = void (*)(void* ctx, uint32_t actor, uint32_t incarnation, pid_t pid, int error);

  // `dedup` (may be null: lines are written as they come) outlives the fork server.
  ForkServer(store::Store& store, Mailbox mailbox, ipc::ProcessSlotId owner, int out_fd, int err_fd,
             LogDeduplicator* dedup = nullptr);
  void set_report(Report report, void* ctx) {
    report_ = report;
    report_ctx_ = ctx;
  }
  ~ForkServer();

  void add_fds(std::vector<pollfd>& fds) const;
  void handle(const std::vector<pollfd>& fds);
  // Reaps exited children and records their wait status in their actor entries.
  void reap();
  // Forks incarnation `incarnation` of actor `index` (if it still wants one).
  void spawn(uint32_t index, uint32_t incarnation);
  void kill_children();
  // Kills every child and forwards what is still in their pipes, for up to
  // about 200 ms: their last lines are not lost when the session ends.
  void stop_children();
  // A kShutdown message arrived: the owner is ending the session.
  bool shutdown_requested() const { return shutdown_requested_; }
  // A kOwnerLeaving message arrived: the owner is ending, its actors stay.
  bool owner_leaving() const { return owner_leaving_; }
  // Children forked and not yet reaped, or with output not yet forwarded.
  bool has_children() const { return !children_.empty(); }

 private:
  struct Child {
    pid_t pid = 0;
    uint32_t actor = 0;
    LineForwarder out, err;
  };

  store::Store& store_;
  Mailbox mailbox_;
  ipc::ProcessSlotId owner_;
  int out_fd_;
  int err_fd_;
  LogDeduplicator* dedup_;
  void report(uint32_t actor, uint32_t incarnation, pid_t pid, int error);

  std::vector<Child> children_;
  bool shutdown_requested_ = false;
  bool owner_leaving_ = false;
  Report report_ = nullptr;
  void* report_ctx_ = nullptr;
};

}  // namespace shoal::launcher
