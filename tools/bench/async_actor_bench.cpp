// Async actors (every call a coroutine on the actor's one event loop), as in
// Ray's microbenchmark; the seed page's barrier at 1000 coroutines; and what
// a suspended call costs in memory.
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <shoal/shoal.hpp>

#include "tools/bench/bench.hpp"
#include "tools/bench/measure.hpp"

namespace shoal_bench {

class AsyncTarget {
 public:
  shoal::Task<int64_t> small_value() { co_return 1; }
  shoal::Task<int64_t> small_value_with_arg(int64_t x) { co_return x + 1; }
  // Ray's streaming generator: one int per item.
  shoal::Generator<int64_t> items(int64_t n) {
    for (int64_t i = 0; i < n; ++i)
      co_yield i;
  }
};

// A threaded caller in its own process, calling its own async actor.
class AsyncClient {
 public:
  int64_t small_value_batch(shoal::ActorHandle<AsyncTarget> target, int64_t calls) {
    int64_t sum = 0;
    std::vector<shoal::ObjectRef<int64_t>> refs;
    refs.reserve(1000);
    for (int64_t done = 0; done < calls;) {
      refs.clear();
      for (; refs.size() < 1000 && done < calls; ++done) {
        refs.push_back(target.task(&AsyncTarget::small_value).remote());
      }
      for (const auto& r : refs)
        sum += shoal::get(r);
    }
    return sum;
  }
};

// The seed page's AsyncActor, without its printing: every run_concurrent
// call waits until the expected number of them are running.
class Barrier {
 public:
  explicit Barrier(int expected) : expected_(expected) {}
  shoal::Task<void> run_concurrent() {
    if (++running_ == expected_) {
      event_.set();
    } else {
      co_await event_.wait();
    }
  }
  // Readies the barrier for another round.
  int reset() {
    running_ = 0;
    event_.clear();
    return 0;
  }

 private:
  shoal::Event event_;
  int running_ = 0;
  int expected_;
};

// Calls that stay suspended until release().
class Suspender {
 public:
  shoal::Task<void> suspend() {
    ++suspended_;
    co_await event_.wait();
    --suspended_;
  }
  int suspended() { return suspended_; }
  int release() {
    event_.set();
    return 0;
  }
  int rearm() {
    event_.clear();
    return 0;
  }

 private:
  shoal::Event event_;
  int suspended_ = 0;
};

}  // namespace shoal_bench

SHOAL_ACTOR(shoal_bench::AsyncTarget, &shoal_bench::AsyncTarget::small_value,
            &shoal_bench::AsyncTarget::small_value_with_arg, &shoal_bench::AsyncTarget::items);
SHOAL_ACTOR(shoal_bench::AsyncClient, &shoal_bench::AsyncClient::small_value_batch);
SHOAL_ACTOR(shoal_bench::Barrier, &shoal_bench::Barrier::run_concurrent,
            &shoal_bench::Barrier::reset);
SHOAL_ACTOR(shoal_bench::Suspender, &shoal_bench::Suspender::suspend,
            &shoal_bench::Suspender::suspended, &shoal_bench::Suspender::release,
            &shoal_bench::Suspender::rearm);

namespace shoal::bench {
namespace {

using shoal_bench::AsyncClient;
using shoal_bench::AsyncTarget;
using shoal_bench::Barrier;
using shoal_bench::Suspender;

void one_to_one(Reporter& rep) {
  auto a = actor<AsyncTarget>().remote();
  rep.measure("1_1_async_actor_calls_sync", Unit::kPerSecond,
              [&] { return sync_rate(a, &AsyncTarget::small_value); });
  if (rep.wants("1_1_async_actor_calls_sync")) {
    // Beside the figure: the same with no chance of the scheduler putting the
    // driver and the actor on one core (not a metric).
    const auto [mine, its] = two_cores();
    PinThread pin(mine);
    auto p = actor<AsyncTarget>()
                 .options({.cpu = its >= 0 ? std::optional(its) : std::nullopt})
                 .remote();
    note(
        "1_1_async_actor_calls_sync with the driver and the actor pinned to cores %d and %d: "
        "%.0f/s",
        mine, its, sync_rate(p, &AsyncTarget::small_value));
    retire(p);
  }
  rep.measure("1_1_async_actor_calls_async", Unit::kPerSecond, [&] {
    return async_rate([&](int) { return a.task(&AsyncTarget::small_value).remote(); });
  });
  // Ray's passes an int: the argument travels inline in the call.
  rep.measure("1_1_async_actor_calls_with_args_async", Unit::kPerSecond, [&] {
    return async_rate(
        [&](int i) { return a.task(&AsyncTarget::small_value_with_arg).remote(int64_t(i)); });
  });
  retire(a);
}

// Items per second of one generator yielding kItems ints to one consumer, which gets each value
// as it comes; and, as a ratio, against as many pipelined calls (1_1_async_actor_calls_async's
// way: kInFlight submitted, then every result fetched) between the same processes. The two are
// timed in alternating rounds, so that a slow spell of the machine weighs on both alike; the
// figures are the medians of the rounds.
void generator_items(Reporter& rep) {
  constexpr int64_t kItems = 100'000;
  constexpr int kRounds = 9;
  auto a = actor<AsyncTarget>().remote();
  std::vector<ObjectRef<int64_t>> refs;
  refs.reserve(kInFlight);
  auto stream_ns = [&] {
    const uint64_t t0 = now_ns();
    int64_t sum = 0;
    auto s = a.task(&AsyncTarget::items).remote(kItems);
    for (const auto& r : s)
      sum += get(r);
    keep(sum);
    return double(now_ns() - t0);
  };
  auto calls_ns = [&] {
    const uint64_t t0 = now_ns();
    for (int64_t done = 0; done < kItems; done += kInFlight) {
      refs.clear();
      for (int i = 0; i < kInFlight; ++i)
        refs.push_back(a.task(&AsyncTarget::small_value).remote());
      for (const auto& r : refs)
        keep(get(r));
    }
    return double(now_ns() - t0);
  };
  stream_ns();  // warm-up
  calls_ns();
  std::vector<double> items, calls, ratios;
  for (int round = 0; round < kRounds; ++round) {
    const double si = stream_ns();
    const double sc = calls_ns();
    items.push_back(double(kItems) * 1e9 / si);
    calls.push_back(double(kItems) * 1e9 / sc);
    ratios.push_back(sc / si);
  }
  rep.report("1_1_async_actor_generator_items", median(items), Unit::kPerSecond);
  rep.report("1_1_async_actor_generator_items_vs_calls_async", median(ratios), Unit::kRatio);
  note(
      "1_1_async_actor_generator_items: %.0f items/s; pipelined calls in the same rounds: %.0f "
      "calls/s; ratio (median of %d rounds) %.2f, target >= 0.5",
      median(items), median(calls), kRounds, median(ratios));
  retire(a);
}

void one_to_n(Reporter& rep) {
  const int n = n_actors();
  std::vector<ActorHandle<AsyncTarget>> actors;
  for (int i = 0; i < n; ++i)
    actors.push_back(actor<AsyncTarget>().remote());
  rep.report("1_n_async_actor_calls_async", async_rate([&](int i) {
               return actors[size_t(i % n)].task(&AsyncTarget::small_value).remote();
             }),
             Unit::kPerSecond);
  retire(actors);
}

void n_to_n(Reporter& rep) {
  const int n = n_actors();
  constexpr int64_t kCallsPerClient = 50'000;
  std::vector<ActorHandle<AsyncTarget>> targets;
  std::vector<ActorHandle<AsyncClient>> clients;
  for (int i = 0; i < n; ++i) {
    targets.push_back(actor<AsyncTarget>().remote());
    clients.push_back(actor<AsyncClient>().remote());
  }
  std::vector<ObjectRef<int64_t>> runs;
  auto round = [&] {
    runs.clear();
    for (size_t i = 0; i < size_t(n); ++i) {
      runs.push_back(
          clients[i].task(&AsyncClient::small_value_batch).remote(targets[i], kCallsPerClient));
    }
    for (const auto& r : runs)
      keep(get(r));
  };
  rep.report("n_n_async_actor_calls_async", median_rate(round, double(n) * kCallsPerClient),
             Unit::kPerSecond);
  retire(targets);
  retire(clients);
}

void barrier(Reporter& rep) {
  constexpr int kCoroutines = 1000;
  auto b = actor<Barrier>().remote(kCoroutines);
  std::vector<ObjectRef<void>> refs;
  refs.reserve(kCoroutines);
  auto round_us = [&] {
    refs.clear();
    get(b.task(&Barrier::reset).remote());  // also: the actor is up and awake
    const uint64_t t0 = now_ns();
    for (int i = 0; i < kCoroutines; ++i)
      refs.push_back(b.task(&Barrier::run_concurrent).remote());
    get(refs);
    return double(now_ns() - t0) / 1e3;
  };
  rep.report("async_barrier_1000", median_of(round_us, 11, 2), Unit::kMicroseconds);
  retire(b);
}

// Resident memory of a process, in bytes: all of it, and the part that is
// private to it (without file and shared-memory pages, the store's included).
struct Memory {
  double resident = 0;
  double private_resident = 0;
};

Memory memory_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/statm");
  double size = 0, resident = 0, shared = 0;
  in >> size >> resident >> shared;
  const double page = double(::sysconf(_SC_PAGE_SIZE));
  return Memory{resident * page, (resident - shared) * page};
}

void suspended_calls(Reporter& rep) {
  constexpr int kCalls = 10'000;
  auto s = actor<Suspender>().options({.max_concurrency = 100'000}).remote();
  std::vector<ObjectRef<void>> refs;
  refs.reserve(kCalls);
  auto suspend_all = [&](int n) {
    for (int i = 0; i < n; ++i)
      refs.push_back(s.task(&Suspender::suspend).remote());
    const uint64_t deadline = now_ns() + 30'000'000'000ull;
    while (get(s.task(&Suspender::suspended).remote()) < n) {
      if (now_ns() > deadline) throw Error("suspended_call_bytes: the calls never all started");
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  };
  auto release_all = [&] {
    get(s.task(&Suspender::release).remote());
    get(refs);
    refs.clear();
    get(s.task(&Suspender::rearm).remote());
  };
  // A small round first, so that what the loop sets up once exists already.
  suspend_all(100);
  release_all();
  const Memory before = memory_of(s.pid());
  suspend_all(kCalls);
  const Memory during = memory_of(s.pid());
  release_all();
  const double per_call = (during.private_resident - before.private_resident) / kCalls;
  rep.report("suspended_call_bytes", per_call, Unit::kBytes);
  note(
      "%d suspended calls: %.0f bytes each of the actor's private memory (coroutine frames "
      "included), %.0f of its resident memory (with the store pages it touched)",
      kCalls, per_call, (during.resident - before.resident) / kCalls);
  retire(s);
}

const Register k11("1_1_async_actor_calls",
                   {"1_1_async_actor_calls_sync", "1_1_async_actor_calls_async",
                    "1_1_async_actor_calls_with_args_async"},
                   one_to_one);
const Register kGenerator("1_1_async_actor_generator_items",
                          {"1_1_async_actor_generator_items",
                           "1_1_async_actor_generator_items_vs_calls_async"},
                          generator_items);
const Register k1n("1_n_async_actor_calls", {"1_n_async_actor_calls_async"}, one_to_n);
const Register knn("n_n_async_actor_calls", {"n_n_async_actor_calls_async"}, n_to_n);
const Register kBarrier("async_barrier_1000", {"async_barrier_1000"}, barrier);
const Register kSuspended("suspended_call_bytes", {"suspended_call_bytes"}, suspended_calls);

}  // namespace
}  // namespace shoal::bench
