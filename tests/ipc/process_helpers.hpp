// Helpers for the multi-process tests of ipc/ and store/: memory shared with
// forked children, forking a child that runs a function, and looking at a
// child from the outside (is it parked in futex(2)?).
//
// Children never touch gtest: they report through their exit status (0: all
// good; anything else names the check that failed) and leave with _exit().
#pragma once

#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <new>
#include <string>

#include "tests/support/test_support.hpp"

namespace shoal::testing {

// Zeroed anonymous memory, shared with every child forked after it is made.
class SharedMemory {
 public:
  explicit SharedMemory(size_t bytes) : bytes_(bytes) {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      std::perror("mmap");
      std::abort();
    }
    data_ = p;
  }
  SharedMemory(const SharedMemory&) = delete;
  SharedMemory& operator=(const SharedMemory&) = delete;
  ~SharedMemory() { ::munmap(data_, bytes_); }

  void* data() const { return data_; }
  size_t size() const { return bytes_; }
  template <class T>
  T* as() const {
    return static_cast<T*>(data_);
  }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

// One T constructed in shared memory (T must be usable from several processes:
// atomics and plain data, no pointers).
template <class T>
class Shared {
 public:
  Shared() : memory_((sizeof(T) + 4095) / 4096 * 4096) { value_ = new (memory_.data()) T{}; }
  ~Shared() { value_->~T(); }
  T* operator->() const { return value_; }
  T& operator*() const { return *value_; }
  T* get() const { return value_; }

 private:
  SharedMemory memory_;
  T* value_ = nullptr;
};

// Forks; the child runs `body` and leaves with _exit(its return value), or 99
// if it threw. Returns the child's pid in the parent.
inline pid_t fork_child(const std::function<int()>& body) {
  std::fflush(nullptr);  // buffered output would be written twice
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    std::perror("fork");
    std::abort();
  }
  if (pid == 0) {
    // A test that dies (a failed assertion, its timeout) takes its children
    // along instead of leaving them spinning on shared memory.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(98);  // the parent died before the prctl
    int rc = 99;
    try {
      rc = body();
    } catch (...) {
      rc = 99;
    }
    ::_exit(rc);
  }
  return pid;
}

// True while `pid` is blocked inside futex(2), from /proc/<pid>/syscall.
inline bool blocked_in_futex(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/syscall");
  long nr = -1;
  if (!(in >> nr)) return false;  // "running", or the process is gone
  return nr == SYS_futex;
}

// SIGKILLs a child and reaps it.
inline void kill_and_reap(pid_t pid) {
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
}

}  // namespace shoal::testing
