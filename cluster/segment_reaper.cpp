#include "cluster/segment_reaper.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

namespace shoal::cluster {

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
    // Keep nothing of the launcher's open (its stdout is mpirun's pipe, which
    // must reach end of file when the launcher is gone) but our end of the pipe.
    const int rd = fds[0];
    if (rd > 0) ::syscall(SYS_close_range, 0u, unsigned(rd - 1), 0u);
    ::syscall(SYS_close_range, unsigned(rd + 1), ~0u, 0u);
    char c;
    for (;;) {
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
