// The one spin/backoff policy of shoal: how every waiter (a blocked get, a
// producer facing a full ring, an entry-lock or RobustLock waiter, an idle
// event loop or actor) spins before it parks or sleeps.
//
// Spinning stays polite on an oversubscribed machine: a short burst of
// `pause`, then a sched_yield() now and then so that a peer sharing our core
// can run and answer. A yield is a system call (a few hundred ns here) that a
// seal landing meanwhile has to wait out, so yields stay rare.
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

// Asks for the cache line at `p` in a state this core can write (x86's
// prefetchw; a read prefetch elsewhere). A hint: it never faults.
inline void prefetch_for_write(const void* p) noexcept {
#if defined(__x86_64__)
  asm volatile("prefetchw %0" : : "m"(*static_cast<const char*>(p)));
#else
  __builtin_prefetch(p, 1, 3);
#endif
}

inline uint64_t now_ns() noexcept {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

struct SpinPolicy {
  // The first microseconds of a spin only `pause`: a peer on another core
  // answers within a few cache-line transfers (~0.1 us each here).
  static constexpr uint64_t kPauseNs = 3'000;
  // After that every 32nd step yields the core: a peer sharing our core gets
  // it within about a microsecond and a half.
  static constexpr uint64_t kYieldEvery = 32;
  // The clock is read every 16th step only (a read costs ~20 ns).
  static constexpr uint64_t kClockEvery = 16;
  // How long a blocked waiter (get, wait, a producer facing a full ring)
  // spins before it parks on its wake word: about one futex round trip here
  // (~47 us), so parking early never saves more than it costs.
  static constexpr uint64_t kWaitSpinNs = 50'000;
  // Lock holders (entry locks, RobustLock) hold for a few instructions
  // unless they died: a short spin, then the caller sleeps or parks.
  static constexpr uint64_t kLockSpinNs = 20'000;
  // Idle loops (an event loop, an actor waiting for calls) spin for a window
  // that follows how often work arrives: kIdleGapFactor times the average gap
  // between arrivals, within these bounds. Below the minimum a loop would
  // park between calls of a caller that pipelines them; above the maximum an
  // idle process burns a core for nothing.
  static constexpr uint64_t kIdleSpinMinNs = 50'000;
  static constexpr uint64_t kIdleSpinMaxNs = 1'000'000;
  static constexpr uint64_t kIdleGapFactor = 4;
};

// A bounded spin: call step() in the wait loop; it returns false once
// `budget_ns` is spent and the caller should park (or sleep).
class Backoff {
 public:
  explicit Backoff(uint64_t budget_ns = SpinPolicy::kWaitSpinNs) noexcept : budget_ns_(budget_ns) {}

  bool step() noexcept {
    ++spins_;
    if (spins_ % SpinPolicy::kClockEvery == 1) {
      const uint64_t t = now_ns();
      if (start_ns_ == 0) start_ns_ = t;
      elapsed_ns_ = t - start_ns_;
      if (elapsed_ns_ >= budget_ns_) return false;
    }
    pause_or_yield(elapsed_ns_, spins_);
    return true;
  }

  uint64_t spins() const noexcept { return spins_; }

  // One step of spinning `elapsed_ns` into a spin: `pause`, or now and then
  // a yield of the core.
  static void pause_or_yield(uint64_t elapsed_ns, uint64_t step) noexcept {
    if (elapsed_ns < SpinPolicy::kPauseNs || step % SpinPolicy::kYieldEvery != 0) {
      cpu_relax();
    } else {
      ::sched_yield();  // a peer sharing our core may be the one that answers
    }
  }

 private:
  uint64_t budget_ns_;
  uint64_t start_ns_ = 0;
  uint64_t elapsed_ns_ = 0;
  uint64_t spins_ = 0;
};

// The adaptive spin of an idle loop. Call worked() whenever the loop found
// work, and step() whenever it found none; step() spins and returns true
// while the window lasts, false when the loop should park. The window is
// kIdleGapFactor times a moving average of the gaps the loop waited through
// (each counted up to kIdleSpinMaxNs: a longer one says only "park").
// Back-to-back work leaves it alone: a caller that pipelines batches of calls
// keeps the loop busy through each batch and idle for a while between two,
// and it is the gap between two batches that the window must span, or the
// loop parks once per batch and the next batch waits for it to wake (a futex
// round trip, ~47 us here).
class IdleSpin {
 public:
  void worked() noexcept {
    if (spins_ == 0) return;  // back-to-back work: no gap
    // A gap the loop found its work within kClockEvery steps of (under a microsecond) counts
    // as nothing, and costs no read of the clock: a loop that keeps up with a caller would
    // otherwise read it twice per call.
    uint64_t gap = 0;
    if (idle_since_ns_ != 0) gap = now_ns() - idle_since_ns_;
    const uint64_t counted = gap < SpinPolicy::kIdleSpinMaxNs ? gap : SpinPolicy::kIdleSpinMaxNs;
    ema_gap_ns_ = (ema_gap_ns_ * 7 + counted) / 8;
    idle_since_ns_ = 0;
    spins_ = 0;
  }

  bool step() noexcept {
    ++spins_;
    if (spins_ % SpinPolicy::kClockEvery != 0) {
      cpu_relax();
      return true;
    }
    const uint64_t now = now_ns();
    if (idle_since_ns_ == 0) idle_since_ns_ = now;
    const uint64_t idle = now - idle_since_ns_;
    if (idle >= window_ns()) return false;
    Backoff::pause_or_yield(idle, spins_);
    return true;
  }

  // True once the loop, finding no work since the last worked(), has read the clock (from its
  // kClockEvery-th step on): the gap is being timed.
  bool timing() const noexcept { return idle_since_ns_ != 0; }

  uint64_t window_ns() const noexcept {
    const uint64_t w = ema_gap_ns_ * SpinPolicy::kIdleGapFactor;
    return w < SpinPolicy::kIdleSpinMinNs   ? SpinPolicy::kIdleSpinMinNs
           : w > SpinPolicy::kIdleSpinMaxNs ? SpinPolicy::kIdleSpinMaxNs
                                            : w;
  }

 private:
  uint64_t ema_gap_ns_ = SpinPolicy::kIdleSpinMinNs;
  uint64_t idle_since_ns_ = 0;  // 0: the loop has work
  uint64_t spins_ = 0;
};

}  // namespace shoal::ipc
