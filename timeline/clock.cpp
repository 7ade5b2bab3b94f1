#include "timeline/clock.hpp"

#include <chrono>
#include <thread>

namespace shoal::timeline {

ClockPair read_clocks() noexcept {
  // The pair whose tick readings bracket the clock_gettime most tightly, of
  // a few tries: a preemption between the reads would skew one pair only.
  ClockPair best{};
  uint64_t best_gap = UINT64_MAX;
  for (int i = 0; i < 5; ++i) {
    const uint64_t before = ticks();
    const uint64_t ns = monotonic_ns();
    const uint64_t after = ticks();
    if (after - before < best_gap) {
      best_gap = after - before;
      best = ClockPair{before + (after - before) / 2, ns};
    }
  }
  return best;
}

double ticks_per_ns_since(ClockPair start) {
  ClockPair now = read_clocks();
  if (now.ns < start.ns + kMinCalibrationNs) {
    std::this_thread::sleep_for(std::chrono::nanoseconds(start.ns + kMinCalibrationNs - now.ns));
    now = read_clocks();
  }
  if (now.ns <= start.ns || now.ticks <= start.ticks) return 1.0;  // no usable interval
  return double(now.ticks - start.ticks) / double(now.ns - start.ns);
}

}  // namespace shoal::timeline
