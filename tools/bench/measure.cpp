#include "tools/bench/measure.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace shoal::bench {

namespace {

// Our child processes: the session daemon init() forked (supervisor and fork
// server, which forks the actors).
std::vector<pid_t> children() {
  std::vector<pid_t> out;
  const std::string dir = "/proc/" + std::to_string(::getpid()) + "/task";
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator(dir, ec)) {
    std::ifstream in(task.path() / "children");
    pid_t pid;
    while (in >> pid)
      out.push_back(pid);
  }
  return out;
}

// Nanoseconds on a CPU of every thread of `pids` so far.
uint64_t cpu_ns(const std::vector<pid_t>& pids) {
  uint64_t ns = 0;
  for (pid_t pid : pids) {
    std::error_code ec;
    for (const auto& task :
         std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
      std::ifstream in(task.path() / "schedstat");
      uint64_t t = 0;
      if (in >> t) ns += t;
    }
  }
  return ns;
}

}  // namespace

std::pair<int, int> two_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof(set), &set) != 0) return {-1, -1};
  int found[2] = {-1, -1};
  for (int cpu = 0, n = 0; cpu < CPU_SETSIZE && n < 2; ++cpu) {
    if (CPU_ISSET(cpu, &set)) found[n++] = cpu;
  }
  if (found[1] < 0) return {-1, -1};
  return {found[0], found[1]};
}

PinThread::PinThread(int cpu) {
  if (cpu < 0 || ::sched_getaffinity(0, sizeof(saved_), &saved_) != 0) return;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  pinned_ = ::sched_setaffinity(0, sizeof(one), &one) == 0;
}

PinThread::~PinThread() {
  if (pinned_) ::sched_setaffinity(0, sizeof(saved_), &saved_);
}

void settle() {
  constexpr auto kWindow = std::chrono::milliseconds(10);
  constexpr uint64_t kIdleNs = 500'000;  // 5% of a core over the window
  const std::vector<pid_t> pids = children();
  const uint64_t deadline = now_ns() + 5'000'000'000ull;
  uint64_t last = cpu_ns(pids);
  while (now_ns() < deadline) {
    std::this_thread::sleep_for(kWindow);
    const uint64_t now = cpu_ns(pids);
    if (now - last < kIdleNs) return;
    last = now;
  }
}

}  // namespace shoal::bench
