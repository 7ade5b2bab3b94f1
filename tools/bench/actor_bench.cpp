// Threaded actors and stateless tasks, as in Ray's microbenchmark: calls one
// at a time (sync) and 1000 in flight (async), one caller to one or n actors,
// n callers each with its own actor; and what actors cost to create and to
// keep alive while idle.
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <shoal/shoal.hpp>

#include "timeline/recorder.hpp"
#include "tools/bench/bench.hpp"
#include "tools/bench/measure.hpp"

namespace shoal_bench {

class Target {
 public:
  int64_t small_value() { return 1; }
  int64_t small_value_arg(int64_t x) { return x + 1; }
  // Pauses or resumes this process's timeline recording (timeline_overhead).
  int64_t set_recording(bool on) {
    shoal::timeline::set_paused(!on);
    return shoal::timeline::recording() ? 1 : 0;
  }
};

// A caller in its own process: calls its target `calls` times, 1000 in
// flight at a time, and fetches every result.
class Client {
 public:
  int64_t small_value_batch(shoal::ActorHandle<Target> target, int64_t calls) {
    return batches(calls, [&] { return target.task(&Target::small_value).remote(); });
  }
  // Every call passes an ObjectRef the actor resolves first (Ray's
  // small_value_batch_arg).
  int64_t small_value_batch_arg(shoal::ActorHandle<Target> target, int64_t calls) {
    const shoal::ObjectRef<int64_t> x = shoal::put(int64_t(0));
    return batches(calls, [&] { return target.task(&Target::small_value_arg).remote(x); });
  }

 private:
  template <class Call>
  static int64_t batches(int64_t calls, Call call) {
    int64_t sum = 0;
    std::vector<shoal::ObjectRef<int64_t>> refs;
    refs.reserve(1000);
    for (int64_t done = 0; done < calls;) {
      refs.clear();
      for (; refs.size() < 1000 && done < calls; ++done)
        refs.push_back(call());
      for (const auto& r : refs)
        sum += shoal::get(r);
    }
    return sum;
  }
};

class IdleAsync {
 public:
  shoal::Task<int64_t> small_value() { co_return 1; }
};

int64_t small_task() {
  return 1;
}

}  // namespace shoal_bench

SHOAL_ACTOR(shoal_bench::Target, &shoal_bench::Target::small_value,
            &shoal_bench::Target::small_value_arg, &shoal_bench::Target::set_recording);
SHOAL_ACTOR(shoal_bench::Client, &shoal_bench::Client::small_value_batch,
            &shoal_bench::Client::small_value_batch_arg);
SHOAL_ACTOR(shoal_bench::IdleAsync, &shoal_bench::IdleAsync::small_value);
SHOAL_REMOTE(shoal_bench::small_task);

namespace shoal::bench {
namespace {

using shoal_bench::Client;
using shoal_bench::IdleAsync;
using shoal_bench::Target;

void one_to_one(Reporter& rep) {
  auto a = actor<Target>().remote();
  rep.measure("1_1_actor_calls_sync", Unit::kPerSecond,
              [&] { return sync_rate(a, &Target::small_value); });
  if (rep.wants("1_1_actor_calls_sync")) {
    // Beside the figure: the same with no chance of the scheduler putting the
    // driver and the actor on one core (not a metric).
    const auto [mine, its] = two_cores();
    PinThread pin(mine);
    auto p =
        actor<Target>().options({.cpu = its >= 0 ? std::optional(its) : std::nullopt}).remote();
    note("1_1_actor_calls_sync with the driver and the actor pinned to cores %d and %d: %.0f/s",
         mine, its, sync_rate(p, &Target::small_value));
    retire(p);
  }
  rep.measure("1_1_actor_calls_async", Unit::kPerSecond, [&] {
    return async_rate([&](int) { return a.task(&Target::small_value).remote(); });
  });
  retire(a);
  rep.measure("1_1_actor_calls_concurrent", Unit::kPerSecond, [&] {
    auto c = actor<Target>().options({.max_concurrency = 16}).remote();
    const double rate = async_rate([&](int) { return c.task(&Target::small_value).remote(); });
    retire(c);
    return rate;
  });
}

void one_to_n(Reporter& rep) {
  const int n = n_actors();
  std::vector<ActorHandle<Target>> actors;
  for (int i = 0; i < n; ++i)
    actors.push_back(actor<Target>().remote());
  rep.report("1_n_actor_calls_async", async_rate([&](int i) {
               return actors[size_t(i % n)].task(&Target::small_value).remote();
             }),
             Unit::kPerSecond);
  note("1_n: one driver, %d actors", n);
  retire(actors);
}

// n Client processes, each calling its own Target: calls per second over all.
template <class M>
double n_n_rate(M client_method, int n, int64_t calls_per_client) {
  std::vector<ActorHandle<Target>> targets;
  std::vector<ActorHandle<Client>> clients;
  for (int i = 0; i < n; ++i) {
    targets.push_back(actor<Target>().remote());
    clients.push_back(actor<Client>().remote());
  }
  std::vector<ObjectRef<int64_t>> runs;
  const double rate = median_rate(
      [&] {
        runs.clear();
        for (size_t i = 0; i < size_t(n); ++i) {
          runs.push_back(clients[i].task(client_method).remote(targets[i], calls_per_client));
        }
        for (const auto& r : runs)
          keep(get(r));
      },
      double(n) * double(calls_per_client));
  retire(targets);
  retire(clients);
  return rate;
}

void n_to_n(Reporter& rep) {
  const int n = n_actors();
  rep.measure("n_n_actor_calls_async", Unit::kPerSecond,
              [&] { return n_n_rate(&Client::small_value_batch, n, 50'000); });
  rep.measure("n_n_actor_calls_with_arg_async", Unit::kPerSecond,
              [&] { return n_n_rate(&Client::small_value_batch_arg, n, 20'000); });
  note("n_n: %d client actors, each calling its own actor", n);
}

void tasks(Reporter& rep) {
  const auto t = task(shoal_bench::small_task);
  rep.measure("single_client_tasks_sync", Unit::kPerSecond, [&] {
    return median_rate(
        [&] {
          for (int i = 0; i < 100; ++i)
            keep(get(t.remote()));
        },
        100);
  });
  rep.measure("single_client_tasks_async", Unit::kPerSecond,
              [&] { return async_rate([&](int) { return t.remote(); }); });
  if (!rep.wants("single_client_wait_1k_refs")) return;
  // Ray's wait_multiple_refs: 1000 task refs, then wait() for one at a time
  // until none is left.
  auto ray_wait_1k = [&] {
    std::vector<ObjectRef<int64_t>> not_ready;
    not_ready.reserve(1000);
    for (int i = 0; i < 1000; ++i)
      not_ready.push_back(t.remote());
    while (!not_ready.empty())
      not_ready = wait(std::move(not_ready)).not_ready;
  };
  rep.report("single_client_wait_1k_refs", median_rate(ray_wait_1k, 1), Unit::kPerSecond);
  // For comparison only: one wait() for all of 1000 task refs.
  const double one_wait = median_rate(
      [&] {
        std::vector<ObjectRef<int64_t>> refs;
        refs.reserve(1000);
        for (int i = 0; i < 1000; ++i)
          refs.push_back(t.remote());
        keep(wait(refs, WaitOptions{.num_returns = refs.size()}).ready.size());
      },
      1);
  note("1000 task refs, then one wait() for all of them: %.0f/s", one_wait);
}

// ---- what actors cost to create and to keep ----

void creation(Reporter& rep) {
  std::vector<double> to_result, to_handle;
  std::vector<ActorHandle<Target>> made;
  for (int i = -3; i < 21; ++i) {  // the first three warm up
    const uint64_t t0 = now_ns();
    auto a = actor<Target>().remote();
    const uint64_t t1 = now_ns();
    get(a.task(&Target::small_value).remote());
    const uint64_t t2 = now_ns();
    if (i >= 0) {
      to_handle.push_back(double(t1 - t0) / 1e3);
      to_result.push_back(double(t2 - t0) / 1e3);
    }
    made.push_back(a);
  }
  retire(made);
  rep.report("actor_creation", median(to_result), Unit::kMicroseconds);
  rep.report("actor_creation_remote", median(to_handle), Unit::kMicroseconds);
}

// CPU time (utime + stime, all threads) of a process so far, in microseconds:
// /proc/PID/stat counts 10 ms ticks.
double stat_cpu_us(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = text.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos || close + 2 > text.size()) return 0;
  std::istringstream fields(text.substr(close + 2));  // from field 3, the state
  std::string f;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14) utime = std::stoull(f);
    if (i == 15) stime = std::stoull(f);
  }
  return double(utime + stime) * 1e6 / double(::sysconf(_SC_CLK_TCK));
}

// The same from /proc/PID/task/*/schedstat, in nanoseconds: one 10 ms tick
// over 2 s would already be 0.5% of a core.
double sched_cpu_us(pid_t pid) {
  double us = 0;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
    std::ifstream in(task.path() / "schedstat");
    unsigned long long ns = 0;
    if (in >> ns) us += double(ns) / 1e3;
  }
  return us;
}

void idle_cpu(Reporter& rep) {
  // A threaded and an async actor, each idle after a burst of calls.
  auto threaded = actor<Target>().remote();
  auto async = actor<IdleAsync>().remote();
  for (int i = 0; i < 1000; ++i) {
    get(threaded.task(&Target::small_value).remote());
    get(async.task(&IdleAsync::small_value).remote());
  }
  const pid_t pids[2] = {threaded.pid(), async.pid()};
  const char* kinds[2] = {"threaded", "async"};
  // The spin window is at most 1 ms: give it ample time to end.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  double stat0[2], sched0[2];
  for (int i = 0; i < 2; ++i) {
    stat0[i] = stat_cpu_us(pids[i]);
    sched0[i] = sched_cpu_us(pids[i]);
  }
  const uint64_t t0 = now_ns();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const double seconds = double(now_ns() - t0) / 1e9;
  double worst = 0;
  for (int i = 0; i < 2; ++i) {
    const double sched = (sched_cpu_us(pids[i]) - sched0[i]) / seconds;
    const double stat = (stat_cpu_us(pids[i]) - stat0[i]) / seconds;
    worst = std::max(worst, sched);
    note("idle %s actor: %.1f us of CPU per second (schedstat); %.0f by /proc/PID/stat ticks",
         kinds[i], sched, stat);
  }
  rep.report("idle_actor_cpu_us_per_s", worst, Unit::kMicroseconds);
  retire(threaded);
  retire(async);
}

void crowd(Reporter& rep) {
  auto a = actor<Target>().remote();
  const double alone = sync_rate(a, &Target::small_value);
  std::vector<ActorHandle<Target>> idle;
  for (int i = 0; i < 64; ++i)
    idle.push_back(actor<Target>().remote());
  for (const auto& i : idle)
    get(i.task(&Target::small_value).remote());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // past their spin windows
  const double crowded = sync_rate(a, &Target::small_value);
  rep.report("calls_with_64_idle_actors", crowded, Unit::kPerSecond);
  note("1_1 sync calls: %.0f/s alone, %.0f/s with 64 idle actors: %.2fx of alone", alone, crowded,
       crowded / alone);
  retire(idle);
  retire(a);
}

// 1_1_actor_calls_async in a session that records its timeline, with
// recording paused and resumed in both processes between runs: the same
// driver, actor and session measured both ways. The machine's speed drifts
// over seconds, so the figure is the median of the ratios of kPairs pairs
// of short runs taken back to back (each pair's order alternating, so that
// a drift within a pair favours neither side), not the ratio of two medians
// taken seconds apart.
inline constexpr int kPairs = 16;
inline constexpr double kPairRunSeconds = 0.15;

void timeline_overhead(Reporter& rep) {
  if (num_nodes() > 1) {
    note("timeline_overhead: not measured in a multi-node run");
    return;
  }
  shutdown();
  Config config = session_config();
  config.timeline = true;
  init(config);
  const std::string path =
      timeline::attached_file() != nullptr ? timeline::attached_file()->path() : "";
  if (!path.empty()) {
    auto a = actor<Target>().remote();
    auto set = [&](bool on) {
      timeline::set_paused(!on);
      get(a.task(&Target::set_recording).remote(on));
    };
    auto batch = in_flight_batch([&](int) { return a.task(&Target::small_value).remote(); });
    auto run = [&](bool recording) {
      set(recording);
      batch();  // warm-up: the first calls after a switch
      return rate_of_run(batch, kInFlight, kPairRunSeconds);
    };
    (void)run(true);  // the rings are claimed and faulted in outside the timed runs
    std::vector<double> off, on, ratio;
    for (int pair = 0; pair < kPairs; ++pair) {
      double r_off, r_on;
      if (pair % 2 == 0) {
        r_off = run(false);
        r_on = run(true);
      } else {
        r_on = run(true);
        r_off = run(false);
      }
      off.push_back(r_off);
      on.push_back(r_on);
      ratio.push_back(r_on / r_off);
    }
    set(false);
    retire(a);
    rep.report("timeline_overhead_off", median(off), Unit::kPerSecond);
    rep.report("timeline_overhead_on", median(on), Unit::kPerSecond);
    rep.report("timeline_overhead", median(ratio), Unit::kRatio);
    std::sort(ratio.begin(), ratio.end());
    note(
        "timeline_overhead: 1_1_actor_calls_async %.0f/s recording, %.0f/s not (medians of %d "
        "pairs of %.2f s runs); on/off per pair: median %.3fx, quartiles %.3fx..%.3fx",
        median(on), median(off), kPairs, kPairRunSeconds, median(ratio), ratio[kPairs / 4],
        ratio[(3 * kPairs) / 4]);
  } else {
    note("timeline_overhead: the session did not record (SHOAL_TIMELINE=0?)");
  }
  shutdown();
  timeline::TimelineFile::remove(path);
  init(session_config());
}

const Register k11("1_1_actor_calls",
                   {"1_1_actor_calls_sync", "1_1_actor_calls_async", "1_1_actor_calls_concurrent"},
                   one_to_one);
const Register k1n("1_n_actor_calls", {"1_n_actor_calls_async"}, one_to_n);
const Register knn("n_n_actor_calls", {"n_n_actor_calls_async", "n_n_actor_calls_with_arg_async"},
                   n_to_n);
const Register kTasks("single_client_tasks",
                      {"single_client_tasks_sync", "single_client_tasks_async",
                       "single_client_wait_1k_refs"},
                      tasks);
const Register kCreation("actor_creation", {"actor_creation", "actor_creation_remote"}, creation);
const Register kIdle("idle_actor_cpu", {"idle_actor_cpu_us_per_s"}, idle_cpu);
const Register kTimeline("timeline_overhead",
                         {"timeline_overhead_off", "timeline_overhead_on", "timeline_overhead"},
                         timeline_overhead);
const Register kCrowd("calls_with_64_idle_actors", {"calls_with_64_idle_actors"}, crowd);

}  // namespace
}  // namespace shoal::bench
