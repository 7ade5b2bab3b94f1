#include "cluster/segment_reaper.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

namespace shoal::cluster {

namespace {

volatile sig_atomic_t g_parent_died = 0;

// Interrupts the reaper's read(): the launcher's main thread is gone.
void on_parent_death(int) {
  g_parent_died = 1;
}

}  // namespace

Result<std::unique_ptr<SegmentReaper>, std::string> SegmentReaper::start(
    const std::string& segment) {
  // Built before the fork: the child calls nothing but async-signal-safe functions.
  char path[256];
  const std::string p = "/dev/shm/" + segment;
  if (segment.empty() || segment.find('/') != std::string::npos || p.size() >= sizeof(path)) {
    return fail("bad segment name \"" + segment + "\"");
  }
  std::memcpy(path, p.c_str(), p.size() + 1);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return fail(std::string("pipe: ") + std::strerror(errno));
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return fail(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::setsid();
    ::signal(SIGINT, SIG_IGN);
    ::signal(SIGHUP, SIG_IGN);
    ::signal(SIGPIPE, SIG_IGN);
    // The pipe closes only once every thread of the launcher has exited, and
    // one that runs at SCHED_IDLE (its prefaulter) can wait long for a core
    // to die on; the death of the thread that forked us (its main thread) is
    // signalled at once.
    struct sigaction sa {};
    sa.sa_handler = on_parent_death;  // no SA_RESTART: read() returns EINTR
    ::sigaction(SIGUSR1, &sa, nullptr);
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    ::sigprocmask(SIG_UNBLOCK, &usr1, nullptr);
    ::prctl(PR_SET_PDEATHSIG, SIGUSR1);
    // Keep nothing of the launcher's open (its stdout is mpirun's pipe, which
    // must reach end of file when the launcher is gone) but our end of the pipe.
    const int rd = fds[0];
    if (rd > 0) ::syscall(SYS_close_range, 0u, unsigned(rd - 1), 0u);
    ::syscall(SYS_close_range, unsigned(rd + 1), ~0u, 0u);
    char c;
    // (A parent gone before the prctl took effect: we are someone else's child.)
    while (::getppid() == parent && !g_parent_died) {
      const ssize_t n = ::read(rd, &c, 1);
      if (n < 0 && errno == EINTR) continue;
      break;  // end of file (or an error): the launcher is gone or done
    }
    ::unlink(path);
    ::_exit(0);
  }
  ::close(fds[0]);
  return std::unique_ptr<SegmentReaper>(new SegmentReaper(pid, fds[1]));
}

SegmentReaper::~SegmentReaper() {
  ::close(fd_);
  // It exits at once; a little patience, then it is not waited for any longer.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
  int status = 0;
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace shoal::cluster
