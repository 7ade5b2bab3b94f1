#include "launcher/session.hpp"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>

#include "ipc/spin.hpp"
#include "launcher/actor_lifecycle.hpp"
#include "launcher/fork_server.hpp"
#include "launcher/log_deduplicator.hpp"
#include "launcher/mailbox.hpp"
#include "launcher/session_timeline.hpp"
#include "launcher/supervisor.hpp"
#include "timeline/recorder.hpp"

namespace shoal::launcher {

std::optional<uint64_t> parse_size(const std::string& text) {
  if (text.empty()) return std::nullopt;
  size_t i = 0;
  uint64_t v = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    const uint64_t d = uint64_t(text[i] - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;
    v = v * 10 + d;
    ++i;
  }
  if (i == 0) return std::nullopt;
  uint64_t mult = 1;
  if (i < text.size()) {
    switch (std::toupper(static_cast<unsigned char>(text[i]))) {
      case 'K':
        mult = 1ull << 10;
        break;
      case 'M':
        mult = 1ull << 20;
        break;
      case 'G':
        mult = 1ull << 30;
        break;
      case 'T':
        mult = 1ull << 40;
        break;
      default:
        return std::nullopt;
    }
    // The unit may be followed by B or iB ("2GB", "2GiB"), and nothing else.
    const std::string_view suffix = std::string_view(text).substr(i + 1);
    if (!(suffix.empty() || suffix == "B" || suffix == "b" || suffix == "iB" || suffix == "ib"))
      return std::nullopt;
    i = text.size();
  }
  if (i != text.size() || v > UINT64_MAX / mult) return std::nullopt;
  return v * mult;
}

uint64_t default_store_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page = ::sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page <= 0) return 1ull << 30;
  return uint64_t(pages) * uint64_t(page) / 10 * 3;
}

namespace {

void announce(store::Store& store) {
  send_message(supervisor_mailbox(store.session_tag()),
               Message{MessageType::kJoined, store.me(), 0, ::getpid()});
}

// Ends poll() in the fork server of a rank when its parent dies (the
// parent-death signal): the loop then looks at what is left to serve.
void on_parent_death(int) {}

// What ends a job from outside and the session daemon outlives: Ctrl-C, SIGTERM (timeout,
// systemd, batch schedulers), SIGQUIT.
sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGQUIT);
  return set;
}

// Whether the main thread of `pid` has ended: a process that is dying, or
// dead, though its other threads may still be on their way out (a thread at
// SCHED_IDLE can wait long for a core to die on when the machine is busy,
// and the pidfd of the process becomes readable only after its last thread).
bool main_thread_ended(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/stat", int(pid));
  FILE* f = std::fopen(path, "re");
  if (f == nullptr) return true;
  char buf[512] = {};
  (void)std::fread(buf, 1, sizeof(buf) - 1, f);
  std::fclose(f);
  // "pid (comm) S ...": the state follows the last ')' (comm may hold any byte).
  const char* close = std::strrchr(buf, ')');
  return close == nullptr || close[1] == '\0' || close[2] == 'Z' || close[2] == 'X';
}

// The fork server of one rank of `shoal launch`. It ends with its rank, unless
// the rank leaves actors behind that are to outlive it (outlives_owner()):
// then it forwards their lines, reaps and restarts them until none is left,
// and ends with the session (the launcher asks it to, or is gone).
[[noreturn]] void run_fork_server(store::Store& store, ipc::ProcessSlotId owner, Mailbox box,
                                  pid_t rank_pid) {
  struct sigaction wake = {};
  wake.sa_handler = on_parent_death;  // no SA_RESTART: poll() returns EINTR
  ::sigaction(SIGUSR1, &wake, nullptr);
  ::prctl(PR_SET_PDEATHSIG, SIGUSR1);
  // A rank that died before the prctl sends no signal: we would outlive it and
  // hold its log pipes open, and the launcher would wait for them forever.
  if (::getppid() != rank_pid) ::_exit(0);
  ::signal(SIGINT, SIG_IGN);
  store.forget_slot();
  if (!store.join(ipc::ProcessKind::kForkServer, owner, "fork-server")) ::_exit(1);
  timeline_forked(ipc::ProcessKind::kForkServer, "fork-server");
  announce(store);
  int out_fd = STDOUT_FILENO, err_fd = STDERR_FILENO;
  if (const char* s = std::getenv(kLogFdEnv)) out_fd = std::atoi(s);
  if (const char* s = std::getenv(kLogErrFdEnv)) err_fd = std::atoi(s);
  // The rank's own stdout and stderr close when the rank ends, however long
  // we live: what we print ourselves goes where our actors' lines go.
  if (out_fd != STDOUT_FILENO) ::dup2(out_fd, STDOUT_FILENO);
  if (err_fd != STDERR_FILENO) ::dup2(err_fd, STDERR_FILENO);
  ForkServer fs(store, std::move(box), owner, out_fd, err_fd);
  // Once the rank is gone: a pidfd of the launcher, whose end is the session's.
  int launcher_fd = -1;
  pid_t launcher_pid = 0;
  std::vector<pollfd> fds;
  for (;;) {
    fds.clear();
    fs.add_fds(fds);
    const bool watching_launcher = launcher_fd >= 0;
    if (watching_launcher) fds.push_back(pollfd{launcher_fd, POLLIN, 0});
    ::poll(fds.data(), fds.size(), 100);
    if (watching_launcher && (fds.back().revents != 0 || main_thread_ended(launcher_pid))) {
      fs.stop_children();  // the launcher is gone: the session is over
      ::_exit(0);
    }
    fs.handle(fds);
    fs.reap();
    if (fs.shutdown_requested()) {
      fs.stop_children();
      ::_exit(0);
    }
    if (launcher_fd < 0 && (fs.owner_leaving() || ::getppid() != rank_pid)) {
      // The rank is ending. Nothing to outlive it: end as it does.
      if (!outlives_owner(store, owner)) {
        fs.stop_children();
        ::_exit(0);
      }
      // acquire: pairs with the launcher's release store of its pid at start-up.
      const pid_t launcher = store.header().supervisor_pid.load(std::memory_order_acquire);
      launcher_fd = launcher > 0 ? open_pidfd(launcher) : -1;
      launcher_pid = launcher;
      if (launcher_fd < 0) {
        fs.stop_children();
        ::_exit(0);
      }
    }
    if (launcher_fd >= 0 && !fs.has_children() && !serves_actors(store, owner)) ::_exit(0);
  }
}

}  // namespace

void run_daemon(store::Store& store, ipc::ProcessSlotId driver_slot, pid_t driver_pid,
                Mailbox supervisor_box, Mailbox fork_box) {
  // Ctrl-C reaches the whole process group, and so does the SIGTERM of
  // timeout, systemd and batch schedulers; the daemon outlives the driver
  // just long enough to clean up after it (it sees it die through its pidfd).
  ::signal(SIGINT, SIG_IGN);
  ::signal(SIGTERM, SIG_IGN);
  ::signal(SIGQUIT, SIG_IGN);
  ::signal(SIGPIPE, SIG_IGN);
  // Blocked by create_session() across the fork; one already pending is discarded by the
  // SIG_IGN above.
  const sigset_t stop = stop_signals();
  ::pthread_sigmask(SIG_UNBLOCK, &stop, nullptr);
  store.forget_slot();
  if (!store.join(ipc::ProcessKind::kSupervisor, driver_slot, "supervisor")) {
    store::Segment::remove(store.segment().name());
    ::_exit(1);
  }
  timeline_forked(ipc::ProcessKind::kSupervisor, "supervisor");
  // release: pairs with the acquire load of `shoal status`
  // (tools/sessions.cpp); whoever sees our pid there sees our slot claimed.
  store.header().supervisor_pid.store(::getpid(), std::memory_order_release);
  store.header().supervisor_slot.store(store.me(), std::memory_order_release);
  // Peers and tools reach the store through us too once the driver is gone.
  store::SessionMarker::set_holder(store.segment().name(), 1, ::getpid());
  // Every actor and worker line of the session passes our fork server: the
  // one place to fold the lines several of them print.
  std::optional<LogDeduplicator> dedup;
  if (LogDeduplicator::enabled_by_environment()) dedup.emplace();
  ForkServer fs(store, std::move(fork_box), driver_slot, STDOUT_FILENO, STDERR_FILENO,
                dedup ? &*dedup : nullptr);
  // The supervisor and the fork server share this loop: they talk by calls,
  // never through each other's mailbox.
  Supervisor::Options options{driver_pid, driver_slot};
  options.local_spawner = driver_slot;
  options.local_spawn_ctx = &fs;
  options.local_spawn = [](void* ctx, uint32_t actor, uint32_t incarnation) {
    static_cast<ForkServer*>(ctx)->spawn(actor, incarnation);
  };
  Supervisor sup(store, std::move(supervisor_box), options);
  fs.set_report(
      [](void* ctx, uint32_t actor, uint32_t incarnation, pid_t pid, int error) {
        auto* sup = static_cast<Supervisor*>(ctx);
        if (error == 0) {
          sup->on_forked(actor, incarnation, pid);
        } else {
          sup->on_spawn_failed(actor, incarnation, error);
        }
      },
      &sup);
  std::vector<pollfd> fds;
  sup.tick();  // watches the driver, which joined before forking us
  while (!sup.session_over()) {
    fds.clear();
    sup.add_fds(fds);
    fs.add_fds(fds);
    ::poll(fds.data(), fds.size(), 100);
    sup.handle(fds);
    fs.handle(fds);
    fs.reap();
    sup.tick();
    if (dedup) dedup->flush_expired(ipc::now_ns());
  }
  fs.kill_children();
  sup.shutdown_session(driver_pid);
  fs.stop_children();  // the actors' last lines
  if (dedup) dedup->flush_all();
  ::_exit(0);
}

std::string store_creation_error(store::StoreError error, const std::string& dir) {
  if (error == store::StoreError::kNoBacking) {
    return "cannot create the object store in " + dir +
           ": the file system is full (another program took its room). Free some, or put the "
           "store in another directory (SHOAL_STORE_DIR or Config::store_dir; shoal launch "
           "--store-dir)";
  }
  return "cannot create the object store in " + dir + ": " + store::to_string(error) + " (" +
         std::strerror(errno) + ")";
}

Result<Session, std::string> create_session(const StorePlan& plan, bool prefault, bool timeline) {
  auto store = store::Store::create(plan.bytes, plan.dir, plan.spill_dir);
  if (!store) return fail(store_creation_error(store.error(), plan.dir));
  store::Store& s = **store;
  auto me = s.join(ipc::ProcessKind::kDriver, ipc::kNoProcess, "driver");
  if (!me) {
    store::Segment::remove(s.segment().name());
    return fail(std::string("cannot join the new session: ") + store::to_string(me.error()));
  }
  s.header().creator_pid.store(::getpid(), std::memory_order_relaxed);  // a record only
  s.header().world_size = 1;
  // Before the fork: the daemon and every actor inherit the mapping.
  if (timeline) create_timeline(s, ipc::ProcessKind::kDriver, "driver");
  // Bound before the fork, so nothing sent to the daemon can be lost.
  auto sup_box = Mailbox::bind(supervisor_mailbox(s.session_tag()));
  auto fork_box = Mailbox::bind(fork_server_mailbox(s.session_tag(), *me));
  if (!sup_box || !fork_box) {
    store::Segment::remove(s.segment().name());
    return fail(std::string("cannot bind the session's sockets: ") + std::strerror(errno));
  }
  std::fflush(nullptr);  // nothing buffered may be written twice
  const pid_t driver = ::getpid();
  // Blocked across the fork: a stop signal sent to the group before the daemon ignores it stays
  // pending in the daemon and is discarded then (run_daemon), instead of killing it before it
  // can clean up. The driver gets such a signal as soon as its mask is back.
  sigset_t caller_mask;
  const sigset_t stop = stop_signals();
  ::pthread_sigmask(SIG_BLOCK, &stop, &caller_mask);
  const pid_t pid = ::fork();
  if (pid == 0) run_daemon(s, *me, driver, std::move(*sup_box), std::move(*fork_box));
  ::pthread_sigmask(SIG_SETMASK, &caller_mask, nullptr);
  if (pid < 0) {
    store::Segment::remove(s.segment().name());
    return fail(std::string("cannot fork the session daemon: ") + std::strerror(errno));
  }
  sup_box->close();
  fork_box->close();
  Session session;
  session.store = std::move(*store);
  session.owner = true;
  session.helper_pid = pid;
  session.helper_watch = std::make_unique<HelperWatch>(*session.store, pid);
  if (prefault) session.prefaulter = std::make_unique<Prefaulter>(*session.store);
  session.spiller = std::make_unique<SpillThread>(*session.store);
  // release: publishes the set-up session (daemon forked, prefaulter running)
  // to a reader that loads the state with acquire; no process waits on it
  // today (actors start later, forked by the daemon).
  s.header().state.store(uint32_t(store::SessionState::kRunning), std::memory_order_release);
  return session;
}

Result<Session, std::string> join_launch_session(bool prefault) {
  const char* name = std::getenv(kSessionEnv);
  if (name == nullptr) return fail(std::string("not inside shoal launch"));
  const char* fd_env = std::getenv(kStoreFdEnv);
  auto store = fd_env != nullptr ? store::Store::attach_inherited(name, std::atoi(fd_env))
                                 : store::Store::attach(name);
  // Once only: after a shutdown() the number may name another file.
  ::unsetenv(kStoreFdEnv);
  if (!store) {
    return fail(std::string("cannot attach to session ") + name + ": " +
                store::to_string(store.error()));
  }
  store::Store& s = **store;
  Session session;
  if (const char* r = std::getenv(kRankEnv)) session.rank = std::atoi(r);
  if (const char* w = std::getenv(kWorldEnv)) session.world_size = std::atoi(w);
  const std::string label = std::getenv(kNodeServerEnv) != nullptr
                                ? std::string("node server")
                                : "rank " + std::to_string(session.rank);
  auto me = s.join(ipc::ProcessKind::kRank, ipc::kNoProcess, label.c_str());
  if (!me) return fail(std::string("cannot join the session: ") + store::to_string(me.error()));
  join_timeline(s, ipc::ProcessKind::kRank, label);
  announce(s);
  auto fork_box = Mailbox::bind(fork_server_mailbox(s.session_tag(), *me));
  if (!fork_box)
    return fail(std::string("cannot bind the fork server's socket: ") + std::strerror(errno));
  std::fflush(nullptr);
  const pid_t rank_pid = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return fail(std::string("cannot fork the fork server: ") + std::strerror(errno));
  if (pid == 0) run_fork_server(s, *me, std::move(*fork_box), rank_pid);
  fork_box->close();
  session.store = std::move(*store);
  session.helper_pid = pid;
  if (prefault) session.prefaulter = std::make_unique<Prefaulter>(*session.store);
  return session;
}

void end_session(Session& session) {
  if (!session.store) return;
  timeline::detach();  // the file stays for `shoal timeline` until `shoal clean`
  session.prefaulter.reset();
  session.spiller.reset();
  session.helper_watch.reset();  // the helper exits below: that is no failure
  store::Store& s = *session.store;
  if (session.owner) {
    send_message(supervisor_mailbox(s.session_tag()), Message{MessageType::kShutdown, 0, 0, 0});
    // The daemon kills everything and removes the segment; wait for it, briefly.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    int status = 0;
    while (::waitpid(session.helper_pid, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(session.helper_pid, SIGKILL);
        ::waitpid(session.helper_pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    store::Segment::remove(s.segment().name());
  } else {
    if (session.helper_pid > 0 && outlives_owner(s, s.me())) {
      // Actors this rank's fork server forked are to outlive the rank: it
      // stays for them. The supervisor first ends those the rank created,
      // as it would at the rank's death (a process that leaves is no death).
      send_message(supervisor_mailbox(s.session_tag()),
                   Message{MessageType::kOwnerLeaving, s.me(), 0, ::getpid()});
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
      while (owns_live_actors(s, s.me()) && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      send_message(fork_server_mailbox(s.session_tag(), s.me()),
                   Message{MessageType::kOwnerLeaving, 0, 0, 0});
    } else if (session.helper_pid > 0) {
      // The fork server kills its actors and forwards their last lines (a
      // SIGKILL here would drop what they printed but it had not yet read);
      // if it does not finish in time, SIGKILL: its actors die with it.
      send_message(fork_server_mailbox(s.session_tag(), s.me()),
                   Message{MessageType::kShutdown, 0, 0, 0});
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      int status = 0;
      while (::waitpid(session.helper_pid, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > deadline) {
          ::kill(session.helper_pid, SIGKILL);
          ::waitpid(session.helper_pid, &status, 0);
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
    s.leave();
  }
  session.store.reset();
  session.helper_pid = 0;
}

}  // namespace shoal::launcher
