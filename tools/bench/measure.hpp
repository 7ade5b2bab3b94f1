// How `shoal bench` measures, and what its benchmarks share. Every figure is
// the median of several runs made in the same process, after a warm-up run
// that is thrown away; a benchmark leaves no actor and no cleanup behind for
// the next one (retire(), settle()).
#pragma once

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <thread>
#include <utility>
#include <vector>

namespace shoal::bench {

inline constexpr int kRepetitions = 5;
inline constexpr double kRepetitionSeconds = 0.2;

inline uint64_t now_ns() {
  // steady_clock is CLOCK_MONOTONIC: one clock for every process of the machine.
  return uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count());
}

// Keeps the compiler from dropping the work that made a value nobody reads.
template <class T>
inline void keep(const T& value) {
  asm volatile("" : : "r,m"(value) : "memory");
}

inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Operations per second of one run: `batch()` performs `ops_per_batch`
// operations and is repeated until `seconds` have passed.
template <class F>
double rate_of_run(F&& batch, double ops_per_batch, double seconds) {
  const uint64_t t0 = now_ns();
  const uint64_t budget = uint64_t(seconds * 1e9);
  uint64_t batches = 0, elapsed = 0;
  do {
    batch();
    ++batches;
    elapsed = now_ns() - t0;
  } while (elapsed < budget);
  return double(batches) * ops_per_batch * 1e9 / double(elapsed);
}

// The median of kRepetitions such runs, after a warm-up run of half as long.
template <class F>
double median_rate(F&& batch, double ops_per_batch, double seconds = kRepetitionSeconds) {
  (void)rate_of_run(batch, ops_per_batch, seconds / 2);
  std::vector<double> rates;
  for (int rep = 0; rep < kRepetitions; ++rep)
    rates.push_back(rate_of_run(batch, ops_per_batch, seconds));
  return median(rates);
}

// Microseconds per run of `once()`: the median of `reps` timed runs after
// `warmups` untimed ones.
template <class F>
double median_us(F&& once, int reps = kRepetitions, int warmups = 1) {
  std::vector<double> us;
  for (int i = 0; i < warmups; ++i) {
    once();
  }
  for (int i = 0; i < reps; ++i) {
    const uint64_t t0 = now_ns();
    once();
    us.push_back(double(now_ns() - t0) / 1e3);
  }
  return median(us);
}

// The median of `reps` values returned by `sample()`, after `warmups` more.
template <class F>
double median_of(F&& sample, int reps = kRepetitions, int warmups = 1) {
  std::vector<double> v;
  for (int i = 0; i < warmups; ++i) {
    sample();
  }
  for (int i = 0; i < reps; ++i) {
    v.push_back(sample());
  }
  return median(v);
}

// Calls in flight of the *_async figures: submitted at once, then every result fetched.
inline constexpr int kInFlight = 1000;

// n of 1_n and n_n: one actor (and one caller) per core.
inline int n_actors() {
  const long cores = ::sysconf(_SC_NPROCESSORS_ONLN);
  return cores > 1 ? int(cores) : 2;
}

// One batch of an *_async figure: kInFlight calls submitted (submit(i) makes call i and returns
// its ObjectRef), then every result fetched.
template <class Submit>
auto in_flight_batch(Submit submit) {
  return [submit, refs = std::vector<decltype(submit(0))>()]() mutable {
    refs.clear();
    refs.reserve(kInFlight);
    for (int i = 0; i < kInFlight; ++i)
      refs.push_back(submit(i));
    for (const auto& r : refs)
      keep(get(r));
  };
}

// Calls per second of in_flight_batch(submit).
template <class Submit>
double async_rate(Submit submit) {
  return median_rate(in_flight_batch(submit), kInFlight);
}

// Calls per second of get(a.task(method).remote()), one call at a time.
template <class Handle, class M>
double sync_rate(const Handle& a, M method) {
  return median_rate(
      [&] {
        for (int i = 0; i < 100; ++i)
          keep(get(a.task(method).remote()));
      },
      100);
}

// Two distinct cores this process may run on ({-1, -1} if it has one only):
// where a measurement pins its two sides, so that the scheduler cannot put
// both on one core of a busy machine.
std::pair<int, int> two_cores();

// Pins the calling thread to `cpu` (no-op for -1) until destroyed, when its
// previous affinity comes back.
class PinThread {
 public:
  explicit PinThread(int cpu);
  ~PinThread();
  PinThread(const PinThread&) = delete;
  PinThread& operator=(const PinThread&) = delete;

 private:
  cpu_set_t saved_;
  bool pinned_ = false;
};

// Waits (up to 5 s) until the session's own processes are idle: after actors
// are killed, the supervisor recovers what they held, and a benchmark that
// starts meanwhile shares the cores with it.
void settle();

// Kills the actors, waits until the supervisor has seen each one die, then
// until it has finished cleaning up after them (settle()).
template <class Handle>
void retire(const std::vector<Handle>& actors) {
  for (const Handle& a : actors)
    kill(a);
  const uint64_t deadline = now_ns() + 5'000'000'000ull;
  for (const Handle& a : actors) {
    while (a.pid() != 0 && now_ns() < deadline) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
  settle();
}

template <class Handle>
void retire(const Handle& actor) {
  retire(std::vector<Handle>{actor});
}

// A notice on stderr, beside the table on stdout.
template <class... Args>
void note(const char* format, Args... args) {
  std::fprintf(stderr, "  ");
  std::fprintf(stderr, format, args...);
  std::fprintf(stderr, "\n");
}

}  // namespace shoal::bench
