// The object store seen from one client: small puts and gets, 1 GiB puts,
// zero-copy views, and how long an object sealed in another process takes to
// reach a getter that spins or sleeps.
#include <sched.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <shoal/shoal.hpp>

#include "ipc/spin.hpp"
#include "tools/bench/bench.hpp"
#include "tools/bench/measure.hpp"

namespace shoal_bench {

struct Stamp {
  int64_t ns;  // CLOCK_MONOTONIC
  int32_t cpu;
};

// Seals its result at a time it writes into the result itself.
class Sealer {
 public:
  // Busy-waits `delay_ns`, then returns the time and the core it runs on: the
  // result is written and sealed right after.
  Stamp stamp_after(int64_t delay_ns) {
    const uint64_t t0 = shoal::bench::now_ns();
    while (shoal::bench::now_ns() - t0 < uint64_t(delay_ns)) {
      shoal::ipc::cpu_relax();
    }
    return Stamp{int64_t(shoal::bench::now_ns()), ::sched_getcpu()};
  }
};

}  // namespace shoal_bench

SHOAL_ACTOR(shoal_bench::Sealer, &shoal_bench::Sealer::stamp_after);

namespace shoal::bench {
namespace {

using shoal_bench::Sealer;

constexpr size_t kGiB = size_t(1) << 30;

void small_objects(Reporter& rep) {
  constexpr int kBatch = 1000;
  // Ray's: ray.put(0), the ref dropped at once (which frees the object).
  rep.measure("single_client_put_calls", Unit::kPerSecond, [&] {
    return median_rate(
        [&] {
          for (int i = 0; i < kBatch; ++i) {
            const ObjectRef<int64_t> r = put(int64_t(i));
            keep(r.valid());
          }
        },
        kBatch);
  });
  // Ray's: ray.get of one small object, again and again.
  const ObjectRef<int64_t> value = put(int64_t(7));
  rep.measure("single_client_get_calls", Unit::kPerSecond, [&] {
    return median_rate(
        [&] {
          for (int i = 0; i < kBatch; ++i)
            keep(get(value));
        },
        kBatch);
  });
}

// Microseconds per get_view of `ref`, the view's last byte read.
double view_us(const ObjectRef<std::vector<char>>& ref) {
  constexpr int kViews = 100'000;
  const double rate = median_rate(
      [&] {
        for (int i = 0; i < kViews; ++i) {
          const View<std::vector<char>> v = get_view(ref);
          keep(v[v.size() - 1]);
        }
      },
      kViews);
  return 1e6 / rate;
}

void large_objects(Reporter& rep) {
  rep.measure("get_view_8b", Unit::kMicroseconds,
              [] { return view_us(put(std::vector<char>(8, 'x'))); });
  if (!rep.wants("single_client_put_gigabytes") && !rep.wants("single_client_put_gigabytes_cold") &&
      !rep.wants("get_view_1gib")) {
    return;
  }
  std::vector<char> src(kGiB);
  std::memset(src.data(), 0x5a, src.size());
  const double gb = double(kGiB) / 1e9;
  // The session's first 1 GiB put writes pages nobody has touched yet: one
  // sample only.
  const uint64_t t0 = now_ns();
  ObjectRef<std::vector<char>> big = put(src);
  const double cold_s = double(now_ns() - t0) / 1e9;
  rep.measure("single_client_put_gigabytes_cold", Unit::kGigabytesPerSecond,
              [&] { return gb / cold_s; });
  // Warm: the previous object is dropped first, so the put reuses its memory.
  rep.measure("single_client_put_gigabytes", Unit::kGigabytesPerSecond, [&] {
    const double us = median_us([&] {
      big = ObjectRef<std::vector<char>>();
      big = put(src);
    });
    return gb / (us / 1e6);
  });
  rep.measure("get_view_1gib", Unit::kMicroseconds, [&] { return view_us(big); });
}

// From the seal in an actor process to get() returning here: the sealer's
// timestamp (the object's value) against ours once get returns. Includes
// writing the 8-byte result just before the seal.
double seal_to_get_us(const ActorHandle<Sealer>& sealer, int64_t delay_ns, int samples,
                      const char* name) {
  std::vector<double> us;
  int same_core = 0;
  for (int i = -samples / 10; i < samples; ++i) {  // the first tenth warms up
    const ObjectRef<shoal_bench::Stamp> r = sealer.task(&Sealer::stamp_after).remote(delay_ns);
    const shoal_bench::Stamp sealed = get(r);
    const uint64_t got_at = now_ns();
    if (i < 0) continue;
    us.push_back(double(int64_t(got_at) - sealed.ns) / 1e3);
    same_core += sealed.cpu == ::sched_getcpu();
  }
  std::sort(us.begin(), us.end());
  // A sealer on the getter's core runs while the getter waits for its turn:
  // the time then says how soon the sealer yields, not how fast a get is.
  const double mid = median(us);
  note(
      "%s: median %.3f us, %.3f at the 10th percentile, %.3f at the 90th; the sealer on the "
      "getter's core in %d%% of samples",
      name, mid, us[us.size() / 10], us[us.size() * 9 / 10], same_core * 100 / samples);
  return mid;
}

void cross_process(Reporter& rep) {
  auto sealer = actor<Sealer>().remote();
  // get() spins 50 us before it parks: a seal 20 us after the call finds the
  // getter spinning, one 2 ms after finds it parked.
  rep.measure("cross_process_get_spinning", Unit::kMicroseconds,
              [&] { return seal_to_get_us(sealer, 20'000, 2000, "cross_process_get_spinning"); });
  rep.measure("cross_process_get_parked", Unit::kMicroseconds,
              [&] { return seal_to_get_us(sealer, 2'000'000, 200, "cross_process_get_parked"); });
  retire(sealer);
  if (rep.wants("cross_process_get_spinning")) {
    // Beside the figure: the getter and the sealer pinned to cores of their
    // own (not a metric).
    const auto [mine, its] = two_cores();
    PinThread pin(mine);
    auto pinned =
        actor<Sealer>().options({.cpu = its >= 0 ? std::optional(its) : std::nullopt}).remote();
    seal_to_get_us(pinned, 20'000, 2000, "cross_process_get_spinning, pinned");
    retire(pinned);
  }
}

const Register kSmall("single_client_put_get",
                      {"single_client_put_calls", "single_client_get_calls"}, small_objects);
const Register kLarge("single_client_put_gigabytes",
                      {"get_view_8b", "single_client_put_gigabytes_cold",
                       "single_client_put_gigabytes", "get_view_1gib"},
                      large_objects);
const Register kCrossProcess("cross_process_get",
                             {"cross_process_get_spinning", "cross_process_get_parked"},
                             cross_process);

}  // namespace
}  // namespace shoal::bench
