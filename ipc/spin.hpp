// Spinning that stays polite on an oversubscribed machine: a short burst of
// `pause`, then a sched_yield() now and then so that a peer sharing our core
// can run and answer.
#pragma once

#include <sched.h>

#include <chrono>
#include <cstdint>

namespace shoal::ipc {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

inline uint64_t now_ns() noexcept {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

// One step of a bounded spin: call step() in the loop; it returns false once
// the budget (nanoseconds) is spent and the caller should park. The first
// kPauseNs spin on `pause` only; after that every kYieldEvery-th step yields
// the core. A yield is a system call (a few hundred ns here) that a seal
// landing meanwhile has to wait out, so yields stay rare: a peer sharing our
// core still gets it within about a microsecond and a half.
class SpinBudget {
 public:
  static constexpr uint64_t kPauseNs = 3'000;
  static constexpr uint64_t kYieldEvery = 32;

  explicit SpinBudget(uint64_t budget_ns) noexcept : budget_ns_(budget_ns) {}

  bool step() noexcept {
    ++spins_;
    if ((spins_ & 31) == 1) {
      const uint64_t t = now_ns();
      if (start_ns_ == 0) start_ns_ = t;
      elapsed_ns_ = t - start_ns_;
      if (elapsed_ns_ >= budget_ns_) return false;
    }
    if (elapsed_ns_ < kPauseNs || spins_ % kYieldEvery != 0) {
      cpu_relax();
    } else {
      ::sched_yield();  // a peer sharing our core may be the one that answers
    }
    return true;
  }

  uint64_t spins() const noexcept { return spins_; }

 private:
  uint64_t budget_ns_;
  uint64_t start_ns_ = 0;
  uint64_t elapsed_ns_ = 0;
  uint64_t spins_ = 0;
};

}  // namespace shoal::ipc
