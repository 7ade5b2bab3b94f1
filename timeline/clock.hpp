// The timeline's clock: ticks() is what the call paths stamp events with, the
// cheapest clock every process of the machine shares. On x86-64 it is the
// time-stamp counter (constant and synchronised across cores on any CPU
// Linux marks constant_tsc; ~8 ns a read here against ~70 ns for
// clock_gettime), elsewhere CLOCK_MONOTONIC in nanoseconds.
//
// Ticks become time at export: the file records ticks() and CLOCK_MONOTONIC
// at its creation, and the exporter measures the rate against its own reading.
#pragma once

#include <time.h>

#include <cstdint>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

namespace shoal::timeline {

inline uint64_t ticks() noexcept {
#if defined(__x86_64__)
  return __rdtsc();
#else
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec);
#endif
}

inline uint64_t monotonic_ns() noexcept {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec);
}

// A pair of readings of both clocks, taken as close together as we can.
struct ClockPair {
  uint64_t ticks;
  uint64_t ns;
};
ClockPair read_clocks() noexcept;

// Ticks per nanosecond between `start` and now. Waits until at least
// kMinCalibrationNs have passed since `start`, so that a reading taken right
// after it still gives a rate good to a few parts per million.
inline constexpr uint64_t kMinCalibrationNs = 20'000'000;
double ticks_per_ns_since(ClockPair start);

}  // namespace shoal::timeline
