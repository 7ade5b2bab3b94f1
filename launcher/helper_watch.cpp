#include "launcher/helper_watch.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <vector>

#include "launcher/actor_lifecycle.hpp"
#include "launcher/supervisor.hpp"

namespace shoal::launcher {

HelperWatch::HelperWatch(store::Store& store, pid_t helper) : store_(store), helper_(helper) {
  pidfd_ = open_pidfd(helper);
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (pidfd_ < 0 || stop_fd_ < 0) return;  // no watch; calls then wait for their timeouts
  thread_ = std::thread([this] { run(); });
}

HelperWatch::~HelperWatch() {
  if (thread_.joinable()) {
    const uint64_t one = 1;
    (void)::write(stop_fd_, &one, sizeof(one));
    thread_.join();
  }
  if (pidfd_ >= 0) ::close(pidfd_);
  if (stop_fd_ >= 0) ::close(stop_fd_);
}

void HelperWatch::run() {
  pollfd fds[2] = {{pidfd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
  for (;;) {
    const int n = ::poll(fds, 2, -1);
    if (n < 0) continue;  // EINTR
    if (fds[1].revents != 0) return;
    if (fds[0].revents != 0) {
      on_helper_death();
      return;
    }
  }
}

void HelperWatch::on_helper_death() {
  char notice[sizeof(ipc::ActorEntry::death_message)];
  for (uint32_t a = 0; a < store_.actor_count(); ++a) {
    ipc::ActorEntry& e = store_.actor(a);
    // acquire: pairs with the seq_cst state stores of creators and the supervisor.
    const auto st = ipc::ActorState(e.state.load(std::memory_order_acquire));
    if (st == ipc::ActorState::kFree || st == ipc::ActorState::kDead) continue;
    uint32_t none = uint32_t(DeathCause::kNone);
    // seq_cst, as kill_actor()'s CAS: the first cause set writes the notice.
    if (e.death_cause.compare_exchange_strong(none, uint32_t(DeathCause::kCrashed),
                                              std::memory_order_seq_cst)) {
      std::snprintf(notice, sizeof(notice),
                    "actor %s died: the session's helper process (supervisor and fork server, "
                    "pid %d) died, and its actors with it",
                    e.class_name, int(helper_));
      std::memcpy(e.death_message, notice, sizeof(notice));
    }
    // seq_cst: callers read the state seq_cst after creating their result
    // (Dekker with submit_call(), completed by fail_calls_of()' fence).
    e.state.store(uint32_t(ipc::ActorState::kDead), std::memory_order_seq_cst);
  }
  // release: pairs with dead()'s acquire load: a creator that sees it sees
  // the actors dead.
  dead_.store(true, std::memory_order_release);
  // The helper's actors die with it (PR_SET_PDEATHSIG); make sure of it, and
  // do the supervisor's repair of each of them and of the helper itself: a
  // call an actor was running is claimed by its process, and only a process
  // known dead gives it up.
  ipc::ProcessTable& procs = store_.processes();
  struct Gone {
    ipc::ProcessSlotId slot;
    pid_t pid;
    int fd;
  };
  std::vector<Gone> gone;
  for (uint32_t i = 0; i < procs.size(); ++i) {
    const auto slot = ipc::ProcessSlotId(i);
    if (slot == store_.me() || procs.is_dead(slot)) continue;
    const auto kind = ipc::ProcessKind(procs.slot(slot).kind.load(std::memory_order_relaxed));
    if (kind != ipc::ProcessKind::kActor && kind != ipc::ProcessKind::kWorker &&
        kind != ipc::ProcessKind::kSupervisor && kind != ipc::ProcessKind::kForkServer) {
      continue;  // another member (a peer that joined): not ours to end
    }
    const pid_t pid = procs.pid(slot);
    const int fd = open_pidfd(pid);
    if (pid != helper_ && fd >= 0) ::kill(pid, SIGKILL);
    gone.push_back(Gone{slot, pid, fd});
  }
  Supervisor repair(store_, Mailbox(), Supervisor::Options{});
  for (const Gone& g : gone) {
    if (g.fd >= 0) {
      pollfd p{g.fd, POLLIN, 0};
      (void)::poll(&p, 1, 2000);  // a SIGKILLed process is gone within milliseconds
      ::close(g.fd);
    }
    repair.on_death(g.slot, g.pid);
  }
  for (uint32_t a = 0; a < store_.actor_count(); ++a)
    fail_calls_of(store_, a);
}

}  // namespace shoal::launcher
