#include "launcher/fork_server.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "launcher/actor_lifecycle.hpp"
#include "launcher/mpi_job.hpp"
#include "launcher/session_timeline.hpp"
#include "launcher/supervisor.hpp"

namespace shoal::launcher {

namespace {
ActorMainFn g_actor_main = nullptr;

// Faults for tests of the start of an actor, set in the environment of the
// process whose fork server starts it:
// SHOAL_TEST_FAIL_FORK=1 makes every fork of an actor fail (EAGAIN), as
// fork() does at RLIMIT_NPROC: the tests of that path need no real limit.
// SHOAL_TEST_JOIN_DELAY_MS=N makes each forked child wait N ms before it
// joins the session: a window in which a test kills it before it joins.
bool fork_for_test_failure() {
  static const bool fail = [] {
    const char* v = std::getenv("SHOAL_TEST_FAIL_FORK");
    return v != nullptr && v[0] == '1';
  }();
  return fail;
}
}  // namespace

void set_actor_main(ActorMainFn fn) {
  g_actor_main = fn;
}
ActorMainFn actor_main() {
  return g_actor_main;
}

bool outlives_owner(store::Store& store, ipc::ProcessSlotId spawner) {
  for (uint32_t a = 0; a < store.actor_count(); ++a) {
    const ipc::ActorEntry& e = store.actor(a);
    // acquire: pairs with create_actor()'s seq_cst store of kStarting, made
    // once owner, spawner and lifetime are written.
    const auto st = ipc::ActorState(e.state.load(std::memory_order_acquire));
    if (st == ipc::ActorState::kFree || st == ipc::ActorState::kDead ||
        st == ipc::ActorState::kCreating || e.spawner != spawner) {
      continue;
    }
    if (e.lifetime == uint32_t(ActorLifetime::kDetached) || e.owner != spawner) return true;
  }
  return false;
}

bool serves_actors(store::Store& store, ipc::ProcessSlotId spawner) {
  for (uint32_t a = 0; a < store.actor_count(); ++a) {
    const ipc::ActorEntry& e = store.actor(a);
    // acquire: as in outlives_owner(). An entry still kCreating may be one of
    // ours on its way: it counts, whoever creates it.
    const auto st = ipc::ActorState(e.state.load(std::memory_order_acquire));
    if (st == ipc::ActorState::kFree || st == ipc::ActorState::kDead) continue;
    if (st == ipc::ActorState::kCreating || e.spawner == spawner) return true;
  }
  return false;
}

bool owns_live_actors(store::Store& store, ipc::ProcessSlotId owner) {
  for (uint32_t a = 0; a < store.actor_count(); ++a) {
    const ipc::ActorEntry& e = store.actor(a);
    // acquire: pairs with the seq_cst stores of the state (the creator's,
    // the supervisor's kDead in kill_owned_actors()).
    const auto st = ipc::ActorState(e.state.load(std::memory_order_acquire));
    if (st != ipc::ActorState::kFree && st != ipc::ActorState::kDead &&
        st != ipc::ActorState::kCreating && e.owner == owner &&
        e.lifetime != uint32_t(ActorLifetime::kDetached)) {
      return true;
    }
  }
  return false;
}

std::optional<ipc::ProcessSlotId> fork_server_creator(const ipc::ProcessTable& procs,
                                                      ipc::ProcessSlotId i) {
  const ipc::ProcessSlot& ps = procs.slot(i);
  // relaxed (kind, creator): written by claim() right after its CAS; a fork
  // server that outlives its rank joined long before the rank ended.
  if (procs.is_dead(i) ||
      ps.kind.load(std::memory_order_relaxed) != uint32_t(ipc::ProcessKind::kForkServer)) {
    return std::nullopt;
  }
  return ipc::ProcessSlotId(ps.creator.load(std::memory_order_relaxed));
}

ForkServer::ForkServer(store::Store& store, Mailbox mailbox, ipc::ProcessSlotId owner, int out_fd,
                       int err_fd, LogDeduplicator* dedup)
    : store_(store),
      mailbox_(std::move(mailbox)),
      owner_(owner),
      out_fd_(out_fd),
      err_fd_(err_fd),
      dedup_(dedup) {
  mailbox_.admit(&is_session_process, &store_);
}

ForkServer::~ForkServer() = default;

void ForkServer::add_fds(std::vector<pollfd>& fds) const {
  fds.push_back(pollfd{mailbox_.fd(), POLLIN, 0});
  for (const Child& c : children_) {
    if (c.out.open()) fds.push_back(pollfd{c.out.fd(), POLLIN, 0});
    if (c.err.open()) fds.push_back(pollfd{c.err.fd(), POLLIN, 0});
  }
}

void ForkServer::handle(const std::vector<pollfd>& fds) {
  for (const pollfd& p : fds) {
    if (p.revents == 0) continue;
    if (p.fd == mailbox_.fd()) {
      while (auto m = mailbox_.receive()) {
        if (m->type == MessageType::kSpawn) spawn(m->a, m->b);
        if (m->type == MessageType::kShutdown) shutdown_requested_ = true;
        if (m->type == MessageType::kOwnerLeaving) owner_leaving_ = true;
      }
      continue;
    }
    for (Child& c : children_) {
      if (c.out.open() && c.out.fd() == p.fd) c.out.pump();
      if (c.err.open() && c.err.fd() == p.fd) c.err.pump();
    }
  }
}

void ForkServer::reap() {
  for (;;) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) break;
    for (Child& c : children_) {
      if (c.pid != pid) continue;
      ipc::ActorEntry& e = store_.actor(c.actor);
      e.exit_status.store(status, std::memory_order_relaxed);
      // Whatever is still in the pipes is the child's last output.
      while (c.out.pump()) {
      }
      while (c.err.pump()) {
      }
      c.pid = 0;
    }
  }
  std::erase_if(children_,
                [](const Child& c) { return c.pid == 0 && !c.out.open() && !c.err.open(); });
}

void ForkServer::kill_children() {
  for (Child& c : children_) {
    if (c.pid > 0) ::kill(c.pid, SIGKILL);
  }
}

void ForkServer::stop_children() {
  kill_children();
  std::vector<pollfd> fds;
  for (int i = 0; i < 20; ++i) {
    fds.clear();
    add_fds(fds);
    if (fds.size() <= 1) break;  // only the mailbox: every pipe is closed
    ::poll(fds.data(), fds.size(), 10);
    handle(fds);
    reap();
  }
}

void ForkServer::report(uint32_t actor, uint32_t incarnation, pid_t pid, int error) {
  if (report_ != nullptr) {
    report_(report_ctx_, actor, incarnation, pid, error);
    return;
  }
  const Message m = error == 0 ? Message{MessageType::kForked, actor, incarnation, pid}
                               : Message{MessageType::kSpawnFailed, actor, incarnation, error};
  send_message(supervisor_mailbox(store_.session_tag()), m);
}

void ForkServer::spawn(uint32_t index, uint32_t incarnation) {
  if (index >= store_.actor_count()) return;
  if (g_actor_main == nullptr) {
    report(index, incarnation, 0, ENOEXEC);
    return;
  }
  ipc::ActorEntry& e = store_.actor(index);
  // acquire: pairs with the seq_cst store of kStarting by the actor's creator
  // (create_actor in core/src/actors.cpp) and of kRestarting by the
  // supervisor: the entry's fields written before them (class, kind, cpu,
  // ring) are visible to the child forked below.
  const auto state = ipc::ActorState(e.state.load(std::memory_order_acquire));
  // acquire: pairs with the supervisor's release store of a restart's
  // incarnation, made before it sent the request we are serving.
  if ((state != ipc::ActorState::kStarting && state != ipc::ActorState::kRestarting) ||
      e.incarnation.load(std::memory_order_acquire) != incarnation) {
    return;  // killed meanwhile, or an older request
  }
  const bool worker = e.kind == uint32_t(ActorKind::kWorker);
  char label[sizeof(e.class_name)];
  std::memcpy(label, e.class_name, sizeof(label));
  label[sizeof(label) - 1] = '\0';
  const std::string name = worker ? "task" : label;

  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0) {
    report(index, incarnation, 0, errno);
    return;
  }
  if (::pipe2(err, O_CLOEXEC) != 0) {
    const int error = errno;
    ::close(out[0]);
    ::close(out[1]);
    report(index, incarnation, 0, error);
    return;
  }
  const pid_t parent = ::getpid();
  const pid_t pid = fork_for_test_failure() ? -1 : ::fork();
  if (pid < 0) {
    const int error = fork_for_test_failure() ? EAGAIN : errno;
    for (int fd : {out[0], out[1], err[0], err[1]})
      ::close(fd);
    report(index, incarnation, 0, error);
    return;
  }
  if (pid == 0) {
    // The child: an actor process. It dies with the fork server.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(0);
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    ::signal(SIGPIPE, SIG_DFL);
    ::signal(SIGUSR1, SIG_DFL);  // a rank's fork server wakes on it
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(err[1], STDERR_FILENO);
    // Nothing of the fork server's (sockets, other children's pipes) stays
    // open but the store's file, which the actor needs to back store pages.
    const int store_fd = store_.segment().fd();
    if (store_fd >= 3) {
      if (store_fd > 3) ::syscall(SYS_close_range, 3u, unsigned(store_fd - 1), 0u);
      ::syscall(SYS_close_range, unsigned(store_fd + 1), ~0u, 0u);
    } else {
      ::syscall(SYS_close_range, 3u, ~0u, 0u);
    }
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    const int cpu = e.cpu;
    if (cpu >= 0 && cpu < CPU_SETSIZE) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(cpu, &set);
      ::sched_setaffinity(0, sizeof(set), &set);
    }
    if (const char* delay = std::getenv("SHOAL_TEST_JOIN_DELAY_MS"))
      ::usleep(useconds_t(std::atoi(delay)) * 1000);
    store_.forget_slot();
    auto slot = store_.join(worker ? ipc::ProcessKind::kWorker : ipc::ProcessKind::kActor, owner_,
                            name.c_str());
    if (!slot) {
      // Refused a slot: the actor cannot start, and a restart would be refused too.
      char why[sizeof(e.death_message)];
      if (slot.error() == store::StoreError::kTooManyProcesses) {
        std::snprintf(why, sizeof(why),
                      "actor %s could not be started: the session's process table is full (%u "
                      "processes); end actors no longer needed with shoal::kill",
                      label, unsigned(store_.processes().size()));
      } else {
        std::snprintf(why, sizeof(why), "actor %s could not be started: %s", label,
                      store::to_string(slot.error()));
      }
      uint32_t none = uint32_t(DeathCause::kNone);
      // seq_cst, as kill_actor()'s CAS: the first cause set writes the
      // notice; pairs with the supervisor's acquire load once we are gone.
      if (e.death_cause.compare_exchange_strong(none, uint32_t(DeathCause::kCreationFailed),
                                                std::memory_order_seq_cst)) {
        std::memcpy(e.death_message, why, sizeof(why));
      }
      std::fprintf(stderr, "shoal: %s\n", why);
      ::_exit(1);
    }
    timeline_forked(worker ? ipc::ProcessKind::kWorker : ipc::ProcessKind::kActor, name);
    store_.processes().slot(*slot).actor.store(int32_t(index), std::memory_order_relaxed);
    send_message(supervisor_mailbox(store_.session_tag()),
                 Message{MessageType::kJoined, *slot, 0, ::getpid()});
    g_actor_main(store_, index);
    ::_exit(0);
  }
  ::close(out[1]);
  ::close(err[1]);
  ::fcntl(out[0], F_SETFL, O_NONBLOCK);
  ::fcntl(err[0], F_SETFL, O_NONBLOCK);
  const std::string prefix = "(" + name + node_label() + " pid=" + std::to_string(pid) + ") ";
  Child c;
  c.pid = pid;
  c.actor = index;
  c.out = LineForwarder(out[0], out_fd_, prefix, dedup_, pid);
  c.err = LineForwarder(err[0], err_fd_, prefix, dedup_, pid);
  children_.push_back(std::move(c));
  report(index, incarnation, pid, 0);
}

}  // namespace shoal::launcher
