#include "launcher/launch.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <optional>

#include "ipc/spin.hpp"
#include "launcher/fork_server.hpp"
#include "launcher/line_forwarder.hpp"
#include "launcher/log_deduplicator.hpp"
#include "launcher/mailbox.hpp"
#include "launcher/node_link.hpp"
#include "launcher/prefaulter.hpp"
#include "launcher/session.hpp"
#include "launcher/session_timeline.hpp"
#include "launcher/spill_thread.hpp"
#include "launcher/store_plan.hpp"
#include "launcher/supervisor.hpp"
#include "store/store.hpp"

namespace shoal::launcher {

std::optional<std::vector<int>> parse_cpu_list(const std::string& text, std::string* error) {
  const long cores = ::sysconf(_SC_NPROCESSORS_CONF);
  std::vector<int> out;
  size_t i = 0;
  auto number = [&](int* v) {
    const size_t start = i;
    long n = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      n = n * 10 + (text[i] - '0');
      if (n > 1 << 20) return false;
      ++i;
    }
    *v = int(n);
    return i > start;
  };
  while (i < text.size()) {
    int lo, hi;
    if (!number(&lo)) {
      *error = "bad core list \"" + text + "\": expected a number at position " + std::to_string(i);
      return std::nullopt;
    }
    hi = lo;
    if (i < text.size() && text[i] == '-') {
      ++i;
      if (!number(&hi) || hi < lo) {
        *error = "bad core list \"" + text + "\": bad range";
        return std::nullopt;
      }
    }
    for (int c = lo; c <= hi; ++c) {
      if (c >= cores || c >= CPU_SETSIZE) {
        *error = "bad core list \"" + text + "\": core " + std::to_string(c) +
                 " does not exist (this machine has " + std::to_string(cores) + ")";
        return std::nullopt;
      }
      out.push_back(c);
    }
    if (i < text.size()) {
      if (text[i] != ',') {
        *error = "bad core list \"" + text + "\": expected ',' at position " + std::to_string(i);
        return std::nullopt;
      }
      if (i + 1 == text.size()) {
        *error = "bad core list \"" + text + "\": expected a number after the ',' at position " +
                 std::to_string(i);
        return std::nullopt;
      }
      ++i;
    }
  }
  if (out.empty()) {
    *error = "bad core list: empty";
    return std::nullopt;
  }
  return out;
}

std::string find_program(const std::string& program) {
  auto executable = [](const std::string& p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0;
  };
  if (program.empty()) return "";
  if (program.find('/') != std::string::npos) return executable(program) ? program : "";
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string dir = dirs.substr(start, end - start);
    if (dir.empty()) dir = ".";
    const std::string candidate = dir + "/" + program;
    if (executable(candidate)) return candidate;
    start = end + 1;
  }
  return "";
}

namespace {

struct Rank {
  pid_t pid = 0;
  bool server = false;  // the node's node server (kNodeServerEnv), not one of the job's ranks
  bool exited = false;
  int status = 0;
  LineForwarder out, err;          // the rank's own lines, prefixed here
  LineForwarder log_out, log_err;  // its actors' lines, prefixed by its fork server
  bool open() const { return out.open() || err.open() || log_out.open() || log_err.open(); }
};

// Closes the pipes made so far for one rank.
void close_all(std::initializer_list<int*> pipes) {
  for (int* p : pipes) {
    for (int i = 0; i < 2; ++i) {
      if (p[i] >= 0) ::close(p[i]);
      p[i] = -1;
    }
  }
}

// Closes a descriptor when the scope ends, whichever way it ends.
struct ClosedAtExit {
  int fd;
  ~ClosedAtExit() { ::close(fd); }
};

// Asks every fork server of the session to kill its actors and end.
void stop_fork_servers(store::Store& s, ipc::ProcessSlotId node_server) {
  ipc::ProcessTable& procs = s.processes();
  for (uint32_t i = 0; i < procs.size(); ++i) {
    if (const auto rank = fork_server_creator(procs, ipc::ProcessSlotId(i));
        rank && *rank != node_server) {
      send_message(fork_server_mailbox(s.session_tag(), *rank),
                   Message{MessageType::kShutdown, 0, 0, 0});
    }
  }
}

int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

}  // namespace

int run_launch(const LaunchOptions& opt, std::string* timeline_path) {
  const std::string program = find_program(opt.argv.empty() ? "" : opt.argv[0]);
  if (program.empty()) {
    std::fprintf(stderr, "shoal launch: %s: no such program (or not executable)\n",
                 opt.argv.empty() ? "(none)" : opt.argv[0].c_str());
    return 127;
  }
  // Signals arrive through a signalfd so the loop below handles them in order.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGCHLD);
  sigaddset(&mask, SIGHUP);
  sigset_t old_mask;
  ::sigprocmask(SIG_BLOCK, &mask, &old_mask);
  const int sig_fd = ::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sig_fd < 0) {
    std::fprintf(stderr, "shoal launch: signalfd: %s\n", std::strerror(errno));
    return 1;
  }
  const ClosedAtExit sig_fd_closed{sig_fd};
  // A rank's fork server that outlives its rank (for actors that are to
  // outlive it) becomes our child: we reap it, and it sees us go.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);

  auto plan = plan_store(opt.store_bytes, "--store-size", opt.store_dir);
  if (!plan) {
    std::fprintf(stderr, "shoal launch: %s\n", plan.error().c_str());
    return 1;
  }
  auto created = store::Store::create(plan->bytes, plan->dir, plan->spill_dir);
  if (!created) {
    std::fprintf(stderr, "shoal launch: %s\n",
                 store_creation_error(created.error(), plan->dir).c_str());
    return 1;
  }
  store::Store& s = **created;
  auto removed_at_exit = [&] { store::Segment::remove(s.segment().name()); };
  if (!s.join(ipc::ProcessKind::kSupervisor, ipc::kNoProcess, "launcher")) {
    removed_at_exit();
    std::fprintf(stderr, "shoal launch: cannot join the new session\n");
    return 1;
  }
  s.header().world_size = opt.ranks;
  // The launcher is the supervisor: it records the actors' lifecycles.
  if (timeline_wanted(opt.timeline)) {
    const std::string path = create_timeline(s, ipc::ProcessKind::kSupervisor, "launcher");
    if (timeline_path != nullptr) *timeline_path = path;
  }
  // As run_daemon and create_session write them for a plain session; the
  // ranks, forked below, see them through fork. relaxed: a record only.
  s.header().creator_pid.store(::getpid(), std::memory_order_relaxed);
  // release: pairs with the acquire load of `shoal status`
  // (tools/sessions.cpp); whoever sees our pid there sees our slot claimed.
  s.header().supervisor_pid.store(::getpid(), std::memory_order_release);
  s.header().supervisor_slot.store(s.me(), std::memory_order_release);
  auto box = Mailbox::bind(supervisor_mailbox(s.session_tag()));
  if (!box) {
    removed_at_exit();
    std::fprintf(stderr, "shoal launch: cannot bind the supervisor socket: %s\n",
                 std::strerror(errno));
    return 1;
  }
  Supervisor sup(s, std::move(*box), Supervisor::Options{});
  std::unique_ptr<Prefaulter> prefaulter;
  if (opt.prefault) prefaulter = std::make_unique<Prefaulter>(s);
  auto spiller = std::make_unique<SpillThread>(s);
  // release: publishes the set-up session (supervisor bound, prefaulter
  // running) to a reader that loads the state with acquire; no process waits
  // on it today (the ranks start after it, through fork).
  s.header().state.store(uint32_t(store::SessionState::kRunning), std::memory_order_release);

  // The ranks' fork servers send their actors' lines here, so that the
  // lines several actors of the job print fold across ranks.
  std::optional<LogDeduplicator> dedup;
  if (LogDeduplicator::enabled_by_environment()) dedup.emplace();
  LogDeduplicator* const dedup_ptr = dedup ? &*dedup : nullptr;

  // One node of a multi-node job: the link joins it to the others.
  NodeLink* const link = opt.node_link;
  int node = 0, nodes = 1;
  if (link != nullptr) {
    std::string error;
    if (!link->session_created(s, &error)) {
      std::fprintf(stderr, "shoal launch: %s\n", error.c_str());
      prefaulter.reset();
      spiller.reset();
      sup.shutdown_session();
      removed_at_exit();
      return 1;
    }
    node = link->node();
    nodes = link->num_nodes();
    s.header().world_size = opt.ranks * nodes;
  }
  const std::string node_env = std::to_string(node), nodes_env = std::to_string(nodes);
  const std::string world_env = std::to_string(nodes * opt.ranks);
  const std::string node_tag = nodes > 1 ? " node " + node_env : "";

  // A node of a job of several nodes also starts its node server, for the
  // actors other nodes create here; it is the last entry and no rank.
  const bool node_server = link != nullptr && nodes > 1;
  std::vector<Rank> ranks(size_t(opt.ranks) + (node_server ? 1 : 0));
  std::vector<char*> argv;
  for (const std::string& a : opt.argv)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::fflush(nullptr);
  int first_failure = 0;
  bool stopping = false;
  bool signalled = false, reported_done = false, job_known = false;
  uint64_t kill_deadline = 0;
  const pid_t launcher_pid = ::getpid();
  for (int r = 0; r < int(ranks.size()); ++r) {
    const bool server = r == opt.ranks;
    int out[2] = {-1, -1}, err[2] = {-1, -1}, log_out[2] = {-1, -1}, log_err[2] = {-1, -1};
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0 ||
        ::pipe2(log_out, O_CLOEXEC) != 0 || ::pipe2(log_err, O_CLOEXEC) != 0) {
      const int error = errno;
      close_all({out, err, log_out, log_err});
      std::fprintf(stderr, "shoal launch: pipe: %s\n", std::strerror(error));
      first_failure = 1;
      break;
    }
    const int global_rank = node * opt.ranks + (server ? 0 : r);
    const std::string rank_env = std::to_string(global_rank),
                      local_env = std::to_string(server ? 0 : r);
    const int store_fd = s.segment().fd();
    const std::string store_fd_env = std::to_string(store_fd);
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::sigprocmask(SIG_SETMASK, &old_mask, nullptr);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != launcher_pid) ::_exit(127);  // died before the prctl took effect
      // The pipes for the lines of this rank's actors become fds 3 and 4
      // (copied above 4 first, so that no dup2 below overwrites another).
      const int actors_out = ::fcntl(log_out[1], F_DUPFD, 5);
      const int actors_err = ::fcntl(log_err[1], F_DUPFD, 5);
      ::dup2(out[1], STDOUT_FILENO);
      ::dup2(err[1], STDERR_FILENO);
      ::dup2(actors_out, 3);
      ::dup2(actors_err, 4);
      // Nothing else of the launcher's stays open but the store's file,
      // which crosses the exec: the rank's way into the unnamed store.
      if (store_fd > 5) {
        ::syscall(SYS_close_range, 5u, unsigned(store_fd - 1), 0u);
        ::syscall(SYS_close_range, unsigned(store_fd + 1), ~0u, 0u);
        ::fcntl(store_fd, F_SETFD, 0);
        ::setenv(kStoreFdEnv, store_fd_env.c_str(), 1);
      } else {
        ::syscall(SYS_close_range, 5u, ~0u, 0u);
      }
      ::setenv(kSessionEnv, s.segment().name().c_str(), 1);
      ::setenv(kRankEnv, rank_env.c_str(), 1);
      ::setenv(kWorldEnv, world_env.c_str(), 1);
      ::setenv(kLocalRankEnv, local_env.c_str(), 1);
      if (link != nullptr) {
        ::setenv(kNodeEnv, node_env.c_str(), 1);
        ::setenv(kNumNodesEnv, nodes_env.c_str(), 1);
      }
      ::setenv(kLogFdEnv, "3", 1);
      ::setenv(kLogErrFdEnv, "4", 1);
      if (server) ::setenv(kNodeServerEnv, "1", 1);
      if (!opt.cpus.empty() && !server) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(opt.cpus[size_t(r) % opt.cpus.size()], &set);
        ::sched_setaffinity(0, sizeof(set), &set);
      }
      ::execv(program.c_str(), argv.data());
      std::fprintf(stderr, "shoal launch: cannot run %s: %s\n", program.c_str(),
                   std::strerror(errno));
      ::_exit(127);
    }
    const int fork_error = errno;
    for (int* p : {out, err, log_out, log_err}) {
      ::close(p[1]);
      p[1] = -1;
    }
    if (pid < 0) {
      close_all({out, err, log_out, log_err});
      std::fprintf(stderr, "shoal launch: fork: %s\n", std::strerror(fork_error));
      first_failure = 1;
      break;
    }
    for (int* p : {out, err, log_out, log_err})
      ::fcntl(p[0], F_SETFL, O_NONBLOCK);
    const std::string prefix = (server ? std::string("(node server") : "(rank " + rank_env) +
                               node_tag + " pid=" + std::to_string(pid) + ") ";
    Rank& rank = ranks[size_t(r)];
    rank.pid = pid;
    rank.server = server;
    rank.out = LineForwarder(out[0], STDOUT_FILENO, prefix);
    rank.err = LineForwarder(err[0], STDERR_FILENO, prefix);
    rank.log_out = LineForwarder(log_out[0], STDOUT_FILENO, "", dedup_ptr);
    rank.log_err = LineForwarder(log_err[0], STDERR_FILENO, "", dedup_ptr);
  }

  auto kill_ranks = [&](int sig) {
    for (Rank& rk : ranks) {
      if (rk.pid > 0 && !rk.exited) ::kill(rk.pid, sig);
    }
  };
  if (first_failure != 0) {
    stopping = true;
    kill_ranks(SIGKILL);
    if (link != nullptr) link->local_failure(first_failure);
  }
  if (link != nullptr) link->ranks_started();

  // Once every rank is done, the fork servers still serving actors that
  // outlived their ranks are asked to end them: the job ends with its ranks.
  bool fork_servers_told = false;
  uint64_t fork_servers_deadline = 0;
  std::vector<pollfd> fds;
  for (;;) {
    bool running = false, open = false, logs_open = false;
    for (const Rank& rk : ranks) {
      if (rk.server) continue;  // serves the other nodes until the job ends
      running |= rk.pid > 0 && !rk.exited;
      open |= rk.out.open() || rk.err.open();
      logs_open |= rk.log_out.open() || rk.log_err.open();
    }
    // A node of a multi-node job is done when its ranks are; it then serves
    // the other nodes (the actors its ranks left behind included) until the
    // whole job is, and only then ends those actors.
    if (!running && !open && link != nullptr) {
      if (!reported_done) link->local_done(first_failure);
      reported_done = true;
      if (!job_known) {
        if (const std::optional<int> job = link->job_status()) {
          first_failure = *job;
          job_known = true;
        }
      }
    }
    const bool ranks_over = !running && !open && (link == nullptr || job_known);
    if (ranks_over && logs_open && !fork_servers_told) {
      // acquire: pairs with the node server's release store of its slot.
      const uint32_t spawner = s.header().node_spawner.load(std::memory_order_acquire);
      stop_fork_servers(s, spawner == 0 ? ipc::kNoProcess : ipc::ProcessSlotId(spawner - 1));
      fork_servers_told = true;
      fork_servers_deadline = ipc::now_ns() + 2'000'000'000ull;
    }
    if (logs_open && fork_servers_told && ipc::now_ns() > fork_servers_deadline) {
      logs_open = false;  // the session's end below kills what did not stop
    }
    if (ranks_over && !logs_open) break;
    fds.clear();
    fds.push_back(pollfd{sig_fd, POLLIN, 0});
    if (link != nullptr) fds.push_back(pollfd{link->event_fd(), POLLIN, 0});
    for (const Rank& rk : ranks) {
      for (const LineForwarder* f : {&rk.out, &rk.err, &rk.log_out, &rk.log_err}) {
        if (f->open()) fds.push_back(pollfd{f->fd(), POLLIN, 0});
      }
    }
    sup.add_fds(fds);
    ::poll(fds.data(), fds.size(), 50);
    for (const pollfd& p : fds) {
      if (p.revents == 0) continue;
      for (Rank& rk : ranks) {
        for (LineForwarder* f : {&rk.out, &rk.err, &rk.log_out, &rk.log_err}) {
          if (f->open() && p.fd == f->fd()) f->pump();
        }
      }
    }
    if (dedup) dedup->flush_expired(ipc::now_ns());
    signalfd_siginfo si;
    while (::read(sig_fd, &si, sizeof(si)) == ssize_t(sizeof(si))) {
      if (si.ssi_signo == SIGCHLD) continue;  // reaped below
      // SIGINT / SIGTERM / SIGHUP: stop the job, then report the signal.
      if (first_failure == 0) first_failure = 128 + int(si.ssi_signo);
      if (link != nullptr && !signalled) link->launcher_signalled(first_failure);
      signalled = true;
      if (!stopping) {
        stopping = true;
        kill_ranks(SIGTERM);
        kill_deadline = ipc::now_ns() + 1'000'000'000ull;
      }
    }
    for (;;) {
      int status = 0;
      const pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid <= 0) break;
      for (Rank& rk : ranks) {
        if (rk.pid != pid) continue;
        rk.exited = true;
        rk.status = status;
        const int code = exit_code(status);
        if (code != 0 && first_failure == 0) {
          first_failure = code;
          if (link != nullptr && !stopping) link->local_failure(code);
          if (!stopping) {
            stopping = true;
            kill_ranks(SIGTERM);
            kill_deadline = ipc::now_ns() + 1'000'000'000ull;
          }
        }
      }
    }
    if (link != nullptr) {
      // Asked at every turn: asking also consumes the link's event_fd.
      const std::optional<int> job = link->abort_status();
      if (job && !stopping) {
        // Another node failed: this one stops too, with the job's status.
        if (first_failure == 0) first_failure = *job;
        stopping = true;
        kill_ranks(SIGTERM);
        kill_deadline = ipc::now_ns() + 1'000'000'000ull;
      }
    }
    if (stopping && kill_deadline != 0 && ipc::now_ns() > kill_deadline) {
      kill_ranks(SIGKILL);
      kill_deadline = 0;
    }
    sup.handle(fds);
    sup.tick();
  }
  if (link != nullptr) link->session_ending();
  // The node server (and the actors it forked for other nodes) ends with the job.
  for (Rank& rk : ranks) {
    if (rk.server && rk.pid > 0 && !rk.exited) {
      ::kill(rk.pid, SIGKILL);
      ::waitpid(rk.pid, nullptr, 0);
      rk.exited = true;
    }
  }
  if (dedup) dedup->flush_all();
  prefaulter.reset();
  spiller.reset();
  sup.shutdown_session();
  removed_at_exit();
  return first_failure;
}

}  // namespace shoal::launcher
