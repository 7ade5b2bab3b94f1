// Supervisor: watches every process of a session and repairs what a dying one
// leaves behind.
//
// Each process announces itself after claiming its slot; the supervisor opens a
// pidfd for it and learns of its death the moment it happens, however it died.
// Then, in order: the slot is marked dead (so lock waiters stop waiting for it);
// if it was an actor, the actor is marked restarting or dead; the store repairs
// everything the process held (Store::recover_process), which fails each call
// its actor will never answer with ActorDiedError; ring cells it was writing are
// skipped; actors it owned are killed; finally the slot is freed and, if the
// actor may restart, its fork server is asked for a new incarnation.
#pragma once

#include <poll.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "ipc/process_table.hpp"
#include "launcher/mailbox.hpp"
#include "store/store.hpp"

namespace shoal::launcher {

class Supervisor {
 public:
  struct Options {
    // The driver whose death ends the session (plain sessions); 0 for `shoal launch`.
    pid_t driver_pid = 0;
    ipc::ProcessSlotId driver_slot = ipc::kNoProcess;
  };

  Supervisor(store::Store& store, Mailbox mailbox, Options options);
  ~Supervisor();

  void add_fds(std::vector<pollfd>& fds) const;
  void handle(const std::vector<pollfd>& fds);
  // Periodic work: picks up processes whose announcement was lost.
  void tick();
  // True once the driver died or asked for shutdown.
  bool session_over() const { return over_; }
  // Kills every process of the session but ours and `spare`, then removes the
  // segment.
  void shutdown_session(pid_t spare = 0);
  // A process that left or died; called by the launcher for ranks too.
  void on_death(ipc::ProcessSlotId slot, pid_t pid);

 private:
  struct Watched {
    ipc::ProcessSlotId slot;
    pid_t pid;
  };

  void watch(ipc::ProcessSlotId slot);
  void fail_actor_calls(uint32_t actor);
  bool writer_dead(uint32_t writer) const;
  void fail_result(uint32_t slot);
  void kill_owned_actors(ipc::ProcessSlotId owner);
  void skip_ring_claims(ipc::ProcessSlotId dead);

  store::Store& store_;
  Mailbox mailbox_;
  Options options_;
  std::unordered_map<int, Watched> by_fd_;  // pidfd -> process
  std::vector<int> fd_of_slot_;             // slot -> pidfd, -1 if not watched
  uint64_t last_scan_ns_ = 0;
  bool over_ = false;
};

// Opens a pidfd for `pid`; -1 if the process is already gone.
int open_pidfd(pid_t pid);

}  // namespace shoal::launcher
