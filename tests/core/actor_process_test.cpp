// Actors as processes: one process per actor, pinning to a core, threaded
// actors (in-order calls by default, a pool of max_concurrency threads
// otherwise, blocking get() inside a method), results of methods that throw,
// what `shoal status --json` says about each actor, and what an idle actor
// costs (< 1% of a core once its spin window has ended).
//
// Each test runs in its own session.
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <shoal/shoal.hpp>

#include "tests/support/test_support.hpp"

using namespace std::chrono_literals;
using namespace shoal::testing;

// ---- actors under test ----------------------------------------------------------

class Slow {
 public:
  int value_after(int value, int ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return value;
  }
};
SHOAL_ACTOR(Slow, &Slow::value_after);

// Reports on its own process and threads, and records what calls it gets.
class Probe {
 public:
  int pid() { return int(::getpid()); }
  std::vector<int> cores() {
    cpu_set_t set;
    CPU_ZERO(&set);
    std::vector<int> out;
    if (::sched_getaffinity(0, sizeof(set), &set) != 0) return {-1};
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (CPU_ISSET(c, &set)) out.push_back(c);
    }
    return out;
  }
  void append(int v) {
    std::lock_guard<std::mutex> lock(mu_);
    values_.push_back(v);
  }
  std::vector<int> values() {
    std::lock_guard<std::mutex> lock(mu_);
    return values_;
  }
  // Waits (at most timeout_ms) until `parties` calls are inside meet() at the
  // same time; returns the calling thread's id, or "timeout". Once they have
  // met, later calls pass at once.
  std::string meet(int parties, int timeout_ms) {
    std::unique_lock<std::mutex> lock(mu_);
    ++present_;
    cv_.notify_all();
    const bool met = cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] {
      if (present_ >= parties) released_ = true;
      return released_;
    });
    --present_;
    if (!met) return "timeout";
    std::ostringstream o;
    o << std::this_thread::get_id();
    return o.str();
  }
  // Sleeps ms while counting how many calls run at once.
  int busy(int ms) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++in_flight_;
      if (in_flight_ > max_in_flight_) max_in_flight_ = in_flight_;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    std::lock_guard<std::mutex> lock(mu_);
    --in_flight_;
    return ms;
  }
  int max_in_flight() {
    std::lock_guard<std::mutex> lock(mu_);
    return max_in_flight_;
  }
  // A blocking get on another actor's result, from inside a method.
  int ask(shoal::ActorHandle<Slow> slow, int value) {
    return shoal::get(slow.task(&Slow::value_after).remote(value, 20), 30s) + 1;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<int> values_;
  int present_ = 0;
  bool released_ = false;
  int in_flight_ = 0;
  int max_in_flight_ = 0;
};
SHOAL_ACTOR(Probe, &Probe::pid, &Probe::cores, &Probe::append, &Probe::values, &Probe::meet,
            &Probe::busy, &Probe::max_in_flight, &Probe::ask);

class CustomError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Thrower {
 public:
  int checked(int x) {
    if (x < 0) throw std::runtime_error("boom");
    served_.fetch_add(1, std::memory_order_relaxed);  // calls run on several threads
    return x;
  }
  void void_throws(std::string why) { throw std::invalid_argument(why); }
  int custom() { throw CustomError("custom trouble"); }
  int not_an_exception() { throw 42; }
  int served() const { return served_.load(std::memory_order_relaxed); }
  int pid() { return int(::getpid()); }

 private:
  std::atomic<int> served_{0};
};
SHOAL_ACTOR(Thrower, &Thrower::checked, &Thrower::void_throws, &Thrower::custom,
            &Thrower::not_an_exception, &Thrower::served, &Thrower::pid);

namespace {

class ActorProcess : public ::testing::Test {
 protected:
  void SetUp() override { shoal::init(shoal::Config{.prefault = false}); }
  void TearDown() override { shoal::shutdown(); }
};

template <class T>
T get_in_time(const shoal::ObjectRef<T>& ref) {
  return shoal::get(ref, 30s);
}

// utime + stime of a process (all its threads), in clock ticks.
long cpu_ticks(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  std::getline(f, text);
  const size_t paren = text.rfind(')');
  if (paren == std::string::npos) return -1;
  std::istringstream rest(text.substr(paren + 2));
  std::string field;
  long utime = 0, stime = 0;
  // Fields 3.. follow the name; utime and stime are fields 14 and 15.
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stol(field);
    if (i == 15) stime = std::stol(field);
  }
  return utime + stime;
}

// ---- reading `shoal status --json` ---------------------------------------------------

// A forgiving view of a JSON value: a key that is missing or a value of another type reads as a
// value no check expects (-12345, "<not a string>", no elements), so a check fails, never throws.
struct Json {
  nlohmann::json v;
  Json operator[](const std::string& key) const {
    if (!v.is_object()) return Json{};
    auto it = v.find(key);
    return it == v.end() ? Json{} : Json{*it};
  }
  std::vector<Json> array() const {
    std::vector<Json> out;
    if (v.is_array()) {
      for (const nlohmann::json& e : v)
        out.push_back(Json{e});
    }
    return out;
  }
  std::string str() const { return v.is_string() ? v.get<std::string>() : "<not a string>"; }
  double num() const { return v.is_number() ? v.get<double>() : -12345; }
};

// This session's actors, by name (unnamed ones under "#<index>"), as status --json shows them.
std::map<std::string, Json> status_actors() {
  const CommandResult r = run_command({shoal_bin(), "status", "--json"}, 30s);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, Json> out;
  const Json doc{nlohmann::json::parse(r.out)};
  for (const Json& s : doc["sessions"].array()) {
    if (s["name"].str() != session_name()) continue;
    for (const Json& a : s["actors"].array()) {
      const std::string name = a["name"].str();
      out[name.empty() ? "#" + std::to_string(int(a["index"].num())) : name] = a;
    }
  }
  return out;
}

}  // namespace

// ---- processes ----------------------------------------------------------------------

TEST_F(ActorProcess, EachActorIsItsOwnProcess) {
  auto a = shoal::actor<Probe>().remote();
  auto b = shoal::actor<Probe>().remote();
  const int pa = get_in_time(a.task(&Probe::pid).remote());
  const int pb = get_in_time(b.task(&Probe::pid).remote());
  EXPECT_NE(pa, ::getpid());
  EXPECT_NE(pb, ::getpid());
  EXPECT_NE(pa, pb);
  EXPECT_EQ(a.pid(), pa);
  EXPECT_EQ(b.pid(), pb);
  EXPECT_TRUE(process_alive(pa));
}

TEST_F(ActorProcess, CpuOptionPinsTheActorToExactlyThatCore) {
  const std::vector<int> mine = Probe().cores();  // the cores this test may use
  ASSERT_FALSE(mine.empty());
  for (size_t i = 0; i < mine.size() && i < 4; ++i) {
    auto p = shoal::actor<Probe>().options({.cpu = mine[i]}).remote();
    EXPECT_EQ(get_in_time(p.task(&Probe::cores).remote()), std::vector<int>{mine[i]});
  }
  // Unpinned, it keeps the driver's cores.
  auto free = shoal::actor<Probe>().remote();
  EXPECT_EQ(get_in_time(free.task(&Probe::cores).remote()), mine);
}

TEST_F(ActorProcess, CpuOptionOfACoreThatDoesNotExistIsRejected) {
  EXPECT_THROW(shoal::actor<Probe>().options({.cpu = 100000}).remote(), std::invalid_argument);
  EXPECT_THROW(shoal::actor<Probe>().options({.cpu = -1}).remote(), std::invalid_argument);
}

// ---- threaded actors ------------------------------------------------------------------

TEST_F(ActorProcess, DefaultThreadedActorRunsOneCallersCallsInSubmissionOrder) {
  auto p = shoal::actor<Probe>().remote();
  constexpr int kCalls = 10'000;
  std::vector<shoal::ObjectRef<void>> done;
  done.reserve(kCalls);
  for (int i = 0; i < kCalls; ++i)
    done.push_back(p.task(&Probe::append).remote(i));
  shoal::get(done, 60s);
  const std::vector<int> seen = get_in_time(p.task(&Probe::values).remote());
  ASSERT_EQ(seen.size(), size_t(kCalls));
  for (int i = 0; i < kCalls; ++i)
    ASSERT_EQ(seen[size_t(i)], i) << "at position " << i;
}

TEST_F(ActorProcess, DefaultThreadedActorNeverRunsTwoCallsAtOnce) {
  auto p = shoal::actor<Probe>().remote();
  std::vector<shoal::ObjectRef<int>> refs;
  for (int i = 0; i < 20; ++i)
    refs.push_back(p.task(&Probe::busy).remote(5));
  shoal::get(refs, 60s);
  EXPECT_EQ(get_in_time(p.task(&Probe::max_in_flight).remote()), 1);
  // Two calls that need each other cannot both be running: each times out alone.
  auto first = p.task(&Probe::meet).remote(2, 300);
  auto second = p.task(&Probe::meet).remote(2, 300);
  EXPECT_EQ(get_in_time(first), "timeout");
  EXPECT_EQ(get_in_time(second), "timeout");
}

TEST_F(ActorProcess, MaxConcurrencyFourRunsFourCallsAtOnceOnDistinctThreads) {
  auto p = shoal::actor<Probe>().options({.max_concurrency = 4}).remote();
  std::vector<shoal::ObjectRef<std::string>> refs;
  for (int i = 0; i < 4; ++i)
    refs.push_back(p.task(&Probe::meet).remote(4, 20'000));
  std::set<std::string> threads;
  for (auto& r : refs) {
    const std::string t = get_in_time(r);
    EXPECT_NE(t, "timeout") << "four calls did not run at once";
    threads.insert(t);
  }
  EXPECT_EQ(threads.size(), 4u);
}

TEST_F(ActorProcess, MaxConcurrencyFourRunsNoMoreThanFourAtOnce) {
  auto p = shoal::actor<Probe>().options({.max_concurrency = 4}).remote();
  // Five calls that need each other: only four can run at once, so all time out.
  std::vector<shoal::ObjectRef<std::string>> refs;
  for (int i = 0; i < 5; ++i)
    refs.push_back(p.task(&Probe::meet).remote(5, 400));
  int timeouts = 0;
  for (auto& r : refs)
    timeouts += get_in_time(r) == "timeout";
  EXPECT_EQ(timeouts, 5);
  std::vector<shoal::ObjectRef<int>> busy;
  for (int i = 0; i < 16; ++i)
    busy.push_back(p.task(&Probe::busy).remote(20));
  shoal::get(busy, 60s);
  EXPECT_LE(get_in_time(p.task(&Probe::max_in_flight).remote()), 4);
}

TEST_F(ActorProcess, BlockingGetInsideAThreadedActorMethodWorks) {
  auto slow = shoal::actor<Slow>().remote();
  auto single = shoal::actor<Probe>().remote();
  EXPECT_EQ(get_in_time(single.task(&Probe::ask).remote(slow, 41)), 42);
  auto pool = shoal::actor<Probe>().options({.max_concurrency = 4}).remote();
  std::vector<shoal::ObjectRef<int>> refs;
  for (int i = 0; i < 8; ++i)
    refs.push_back(pool.task(&Probe::ask).remote(slow, i));
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ(get_in_time(refs[size_t(i)]), i + 1);
}

// ---- results of methods that throw --------------------------------------------------------

TEST_F(ActorProcess, MethodThatThrowsGivesTaskErrorAndTheActorKeepsServing) {
  auto t = shoal::actor<Thrower>().remote();
  const int pid = get_in_time(t.task(&Thrower::pid).remote());
  EXPECT_EQ(get_in_time(t.task(&Thrower::checked).remote(1)), 1);
  auto bad = t.task(&Thrower::checked).remote(-1);
  try {
    (void)shoal::get(bad, 30s);
    FAIL() << "no TaskError";
  } catch (const shoal::TaskError& e) {
    EXPECT_EQ(e.exception_type(), "std::runtime_error");
    EXPECT_EQ(e.message(), "boom");
    EXPECT_EQ(e.actor_class(), "Thrower");
    EXPECT_EQ(e.method(), "checked");
    EXPECT_EQ(e.pid(), pid);
    const std::string what = e.what();
    EXPECT_NE(what.find("Thrower.checked"), std::string::npos) << what;
    EXPECT_NE(what.find("boom"), std::string::npos) << what;
  }
  // Every get of the same ref throws the same error again.
  EXPECT_THROW((void)shoal::get(bad, 30s), shoal::TaskError);
  // Same process, same state: it kept serving.
  EXPECT_EQ(get_in_time(t.task(&Thrower::checked).remote(2)), 2);
  EXPECT_EQ(get_in_time(t.task(&Thrower::served).remote()), 2);
  EXPECT_EQ(get_in_time(t.task(&Thrower::pid).remote()), pid);
}

TEST_F(ActorProcess, ThrowsOfOtherKindsNameTheirType) {
  auto t = shoal::actor<Thrower>().remote();
  try {
    shoal::get(t.task(&Thrower::void_throws).remote(std::string("no thanks")), 30s);
    FAIL() << "no TaskError";
  } catch (const shoal::TaskError& e) {
    EXPECT_EQ(e.exception_type(), "std::invalid_argument");
    EXPECT_EQ(e.message(), "no thanks");
    EXPECT_EQ(e.method(), "void_throws");
  }
  try {
    (void)shoal::get(t.task(&Thrower::custom).remote(), 30s);
    FAIL() << "no TaskError";
  } catch (const shoal::TaskError& e) {
    EXPECT_EQ(e.exception_type(), "CustomError");
    EXPECT_EQ(e.message(), "custom trouble");
  }
  try {
    (void)shoal::get(t.task(&Thrower::not_an_exception).remote(), 30s);
    FAIL() << "no TaskError";
  } catch (const shoal::TaskError& e) {
    EXPECT_EQ(e.method(), "not_an_exception");
    EXPECT_EQ(e.actor_class(), "Thrower");
  }
  EXPECT_EQ(get_in_time(t.task(&Thrower::checked).remote(7)), 7);
}

TEST_F(ActorProcess, ManyThrowingCallsInterleavedWithGoodOnesEachGetTheirOwnOutcome) {
  auto t = shoal::actor<Thrower>().options({.max_concurrency = 3}).remote();
  std::vector<shoal::ObjectRef<int>> refs;
  for (int i = 0; i < 500; ++i)
    refs.push_back(t.task(&Thrower::checked).remote(i % 3 == 0 ? -1 : i));
  for (int i = 0; i < 500; ++i) {
    if (i % 3 == 0) {
      EXPECT_THROW((void)shoal::get(refs[size_t(i)], 30s), shoal::TaskError);
    } else {
      EXPECT_EQ(shoal::get(refs[size_t(i)], 30s), i);
    }
  }
}

// ---- shoal status --json ----------------------------------------------------------------

TEST_F(ActorProcess, StatusJsonShowsEachActorsCountersAfterKnownActivity) {
  auto probe =
      shoal::actor<Probe>().options({.cpu = 0, .name = "status-probe", .max_restarts = 1}).remote();
  auto plain = shoal::actor<Slow>().remote();
  for (int i = 0; i < 10; ++i)
    (void)get_in_time(probe.task(&Probe::pid).remote());
  (void)get_in_time(plain.task(&Slow::value_after).remote(0, 0));
  const pid_t pid0 = probe.pid();
  // A counter moves just after the result it counts is sealed: poll for it.
  auto served = [](int want) {
    return eventually(
        [&] { return int(status_actors()["status-probe"]["calls_served"].num()) == want; }, 10s);
  };
  EXPECT_TRUE(served(10));
  {
    auto actors = status_actors();
    ASSERT_EQ(actors.count("status-probe"), 1u);
    const Json& a = actors["status-probe"];
    EXPECT_EQ(a["class"].str(), "Probe");
    EXPECT_EQ(int(a["pid"].num()), pid0);
    EXPECT_EQ(int(a["core"].num()), 0);
    EXPECT_EQ(a["state"].str(), "alive");
    EXPECT_EQ(int(a["queue_depth"].num()), 0);
    EXPECT_EQ(int(a["running"].num()), 0);
    EXPECT_EQ(int(a["restarts"].num()), 0);
    EXPECT_EQ(int(a["calls_served"].num()), 10);
    int unnamed = 0;
    for (const auto& [key, other] : actors) {
      if (other["class"].str() != "Slow") continue;
      ++unnamed;
      EXPECT_EQ(key[0], '#');
      EXPECT_EQ(int(other["core"].num()), -1);
      EXPECT_EQ(int(other["pid"].num()), plain.pid());
      EXPECT_EQ(other["state"].str(), "alive");
    }
    EXPECT_EQ(unnamed, 1);
  }

  // A call that runs while five more wait in the ring.
  auto running = probe.task(&Probe::busy).remote(3000);
  ASSERT_TRUE(
      eventually([&] { return int(status_actors()["status-probe"]["running"].num()) == 1; }, 20s));
  std::vector<shoal::ObjectRef<int>> queued;
  for (int i = 0; i < 5; ++i)
    queued.push_back(probe.task(&Probe::pid).remote());
  {
    auto actors = status_actors();
    EXPECT_EQ(int(actors["status-probe"]["queue_depth"].num()), 5);
    EXPECT_EQ(int(actors["status-probe"]["running"].num()), 1);
    EXPECT_EQ(actors["status-probe"]["state"].str(), "alive");
  }
  EXPECT_EQ(get_in_time(running), 3000);
  for (auto& q : queued)
    EXPECT_EQ(get_in_time(q), pid0);
  EXPECT_TRUE(served(16));

  // A crash: restarted once, the counters go on.
  ASSERT_EQ(::kill(pid0, SIGKILL), 0);
  ASSERT_TRUE(eventually(
      [&] {
        const pid_t p = probe.pid();
        return p > 0 && p != pid0;
      },
      20s));
  const pid_t pid1 = probe.pid();
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(get_in_time(probe.task(&Probe::pid).remote()), pid1);
  EXPECT_TRUE(served(19));
  {
    auto actors = status_actors();
    const Json& a = actors["status-probe"];
    EXPECT_EQ(int(a["pid"].num()), pid1);
    EXPECT_EQ(a["state"].str(), "alive");
    EXPECT_EQ(int(a["restarts"].num()), 1);
    EXPECT_EQ(int(a["calls_served"].num()), 19);
    EXPECT_EQ(int(a["queue_depth"].num()), 0);
    EXPECT_EQ(int(a["core"].num()), 0);
  }

  // Killed for good.
  shoal::kill(probe);
  ASSERT_TRUE(
      eventually([&] { return status_actors()["status-probe"]["state"].str() == "dead"; }, 20s));
}

// ---- idle actors ----------------------------------------------------------------------------

// Once its spin window has ended an idle actor sleeps: < 1% of a core over 2 s.
TEST_F(ActorProcess, IdleActorUsesLessThanOnePercentOfACore) {
  auto single = shoal::actor<Probe>().remote();
  auto pool = shoal::actor<Probe>().options({.max_concurrency = 4}).remote();
  struct Watched {
    const char* what;
    pid_t pid;
    long before = 0;
  };
  std::vector<Watched> watched{{"threaded actor", single.pid()},
                               {"threaded actor, 4 threads", pool.pid()}};
  // Traffic first, so the spin window has adapted to calls, then silence.
  for (int i = 0; i < 1000; ++i) {
    (void)get_in_time(single.task(&Probe::pid).remote());
    (void)get_in_time(pool.task(&Probe::pid).remote());
  }
  std::this_thread::sleep_for(100ms);
  for (Watched& w : watched)
    w.before = cpu_ticks(w.pid);
  const auto start = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(2s);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double tick = 1.0 / double(::sysconf(_SC_CLK_TCK));
  for (const Watched& w : watched) {
    const double used = double(cpu_ticks(w.pid) - w.before) * tick;
    std::printf("idle %s: %.3f s of CPU over %.3f s (%.2f%%)\n", w.what, used, seconds,
                100.0 * used / seconds);
    EXPECT_LT(used / seconds, 0.01) << w.what;
  }
  // Still serving.
  EXPECT_EQ(get_in_time(single.task(&Probe::pid).remote()), single.pid());
}
