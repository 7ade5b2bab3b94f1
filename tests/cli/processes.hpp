// Process helpers for the session, launcher and command-line tests: pipes a
// child inherits, children whose output is read while they run, a process
// that starts its own session, and what /proc says about who is still alive.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/test_support.hpp"

namespace shoal::testing {

// A pipe whose ends survive exec, so a child can be told their numbers.
struct Pipe {
  int rd = -1, wr = -1;
  Pipe() {
    int fds[2];
    if (::pipe(fds) == 0) {
      rd = fds[0];
      wr = fds[1];
    }
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  ~Pipe() {
    close_rd();
    close_wr();
  }
  void close_rd() {
    if (rd >= 0) ::close(rd);
    rd = -1;
  }
  void close_wr() {
    if (wr >= 0) ::close(wr);
    wr = -1;
  }
};

inline void write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n <= 0) return;
    off += size_t(n);
  }
}

// Reads one line from fd, without its newline ("" on EOF or timeout).
inline std::string read_line(int fd, std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  std::string line;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return "";
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, int(left.count())) <= 0) continue;
    char c;
    if (::read(fd, &c, 1) != 1) return "";
    if (c == '\n') return line;
    line += c;
  }
}

// True while pid runs: a zombie is dead (this machine's init may never reap
// the orphans of a killed session).
inline bool running(pid_t pid) {
  if (pid <= 0) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(stat, text)) return false;
  const size_t paren = text.rfind(')');
  if (paren == std::string::npos || paren + 2 >= text.size()) return false;
  const char state = text[paren + 2];
  return state != 'Z' && state != 'X';
}

inline pid_t parent_of(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(stat, text)) return 0;
  const size_t paren = text.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream rest(text.substr(paren + 2));
  char state;
  int ppid = 0;
  rest >> state >> ppid;
  return pid_t(ppid);
}

// Every running descendant of root (children, grandchildren, ...).
inline std::vector<pid_t> descendants(pid_t root) {
  std::multimap<pid_t, pid_t> children;
  if (DIR* d = ::opendir("/proc")) {
    while (dirent* e = ::readdir(d)) {
      const pid_t pid = pid_t(std::atoi(e->d_name));
      if (pid > 0) children.emplace(parent_of(pid), pid);
    }
    ::closedir(d);
  }
  std::vector<pid_t> out, todo{root};
  while (!todo.empty()) {
    const pid_t p = todo.back();
    todo.pop_back();
    auto [lo, hi] = children.equal_range(p);
    for (auto it = lo; it != hi; ++it) {
      if (running(it->second)) out.push_back(it->second);
      todo.push_back(it->second);
    }
  }
  return out;
}

inline bool segment_exists(const std::string& name) {
  struct stat st;
  return ::stat(("/dev/shm/" + name).c_str(), &st) == 0;
}

// This user's segments created by process `pid` (their names carry it).
inline std::vector<std::string> segments_of(pid_t pid) {
  std::vector<std::string> out;
  const std::string prefix =
      "shoal-" + std::to_string(::getuid()) + "-" + std::to_string(pid) + "-";
  for (const std::string& s : shm_segments()) {
    if (s.rfind(prefix, 0) == 0) out.push_back(s);
  }
  return out;
}

inline std::string self_exe() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, size_t(n)) : std::string();
}

inline int decode_wait_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// A child whose stdout and stderr are read while it runs.
class Child {
 public:
  // Runs argv (argv[0] a path) with extra environment entries "NAME=value";
  // entries "NAME=" with nothing after '=' remove NAME.
  Child(const std::vector<std::string>& argv, const std::vector<std::string>& env = {}) {
    int out[2], err[2];
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) return;
    std::fflush(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      ::dup2(err[1], 2);
      for (const std::string& e : env) {
        const size_t eq = e.find('=');
        if (eq + 1 == e.size()) {
          ::unsetenv(e.substr(0, eq).c_str());
        } else {
          ::setenv(e.substr(0, eq).c_str(), e.substr(eq + 1).c_str(), 1);
        }
      }
      std::vector<char*> args;
      for (const std::string& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
      ::_exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    out_fd_ = out[0];
    err_fd_ = err[0];
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      wait(std::chrono::seconds(10));
    }
    if (out_fd_ >= 0) ::close(out_fd_);
    if (err_fd_ >= 0) ::close(err_fd_);
  }

  pid_t pid() const { return pid_; }
  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }

  // Reads what is available, waiting at most `timeout` for something.
  void pump(std::chrono::milliseconds timeout) {
    pollfd fds[2] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
    if (::poll(fds, 2, int(timeout.count())) <= 0) return;
    char buf[65536];
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      const ssize_t n = ::read(fds[i].fd, buf, sizeof(buf));
      if (n > 0) {
        (i == 0 ? out_ : err_).append(buf, size_t(n));
      } else {
        ::close(fds[i].fd);
        (i == 0 ? out_fd_ : err_fd_) = -1;
      }
    }
  }

  // Reads until `done(out)` holds; false on timeout or if both pipes close first.
  bool read_until(const std::function<bool(const std::string&)>& done,
                  std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done(out_)) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      if (out_fd_ < 0 && err_fd_ < 0) return done(out_);
      pump(std::chrono::milliseconds(20));
    }
    return true;
  }

  // Reads everything and reaps the child: its exit code (128+N for signal N),
  // or -1 if it did not end within `timeout` (it is then killed).
  int wait(std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (out_fd_ >= 0 || err_fd_ >= 0) pump(std::chrono::milliseconds(5));
      int status = 0;
      const pid_t r = reaped_ ? pid_ : ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        if (!reaped_) code_ = decode_wait_status(status);
        reaped_ = true;
        // Drain what is still buffered (descendants may hold the pipes open).
        const auto drain = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while ((out_fd_ >= 0 || err_fd_ >= 0) && std::chrono::steady_clock::now() < drain) {
          pump(std::chrono::milliseconds(20));
        }
        return code_;
      }
      if (r < 0) return -1;
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        reaped_ = true;
        code_ = -1;
        return -1;
      }
    }
  }

  // Waits for the child to die and reaps it without reading its pipes.
  int reap(std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      int status = 0;
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        reaped_ = true;
        return code_ = decode_wait_status(status);
      }
      if (r < 0 || std::chrono::steady_clock::now() > deadline) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1, err_fd_ = -1;
  std::string out_, err_;
  bool reaped_ = false;
  int code_ = -1;
};

// Environment for running this test binary as a driver of its own session:
// main() runs the SHOAL_TEST_PEER function `name` after shoal::init(), which,
// with no SHOAL_SESSION set, creates a new session.
inline std::vector<std::string> own_session_env(const std::string& name) {
  return {"SHOAL_TEST_PEER=" + name, "SHOAL_SESSION=", "SHOAL_RANK=",
          "SHOAL_WORLD_SIZE=",       "SHOAL_LOG_FD=",  "SHOAL_LOG_ERR_FD="};
}

}  // namespace shoal::testing
