// Async actors: a class with any method returning shoal::Task is an async
// actor; one event-loop thread runs all of its methods, plain ones too; at most
// max_concurrency calls (default 1000) are in progress at once and the rest
// wait their turn in submission order; max_concurrency = 100000 starts no
// thread pool; thousands of suspended calls are cheap: a 4,000-coroutine
// barrier completes.
//
// Each test runs in its own session.
#include <dirent.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <shoal/shoal.hpp>

#include "tests/support/test_support.hpp"

using namespace std::chrono_literals;
using namespace shoal::testing;
using Clock = std::chrono::steady_clock;

// ---- actors under test -------------------------------------------------------------------------

// Records on which thread each of its methods runs, before and after it
// suspends; and how many of its calls are in progress at once.
class Tracker {
 public:
  explicit Tracker(int release_at) : release_at_(release_at) {}

  int plain_tid() {
    note_thread();
    return int(::gettid());
  }
  shoal::Task<int> coroutine_tid() {
    note_thread();
    co_await shoal::sleep_for(1ms);
    note_thread();
    co_return int(::gettid());
  }
  int pid() { return int(::getpid()); }
  std::vector<int> threads_seen() { return std::vector<int>(tids_.begin(), tids_.end()); }

  // Starts, runs for `ms` (suspended), ends. The log says "S<id>" / "E<id>".
  shoal::Task<void> work(int id, int ms) {
    note_thread();
    log_.push_back("S" + std::to_string(id));
    peak_ = std::max(peak_, ++running_);
    co_await shoal::sleep_for(std::chrono::milliseconds(ms));
    --running_;
    log_.push_back("E" + std::to_string(id));
    note_thread();
  }
  // Held until `release_at` calls are in progress at once; the call that
  // gets there waits a moment more (room for an excess call to start, were
  // the limit not enforced), then lets all of them go.
  shoal::Task<void> hold(int id) {
    note_thread();
    starts_.push_back(id);
    peak_ = std::max(peak_, ++running_);
    if (running_ == release_at_ && !released_.is_set()) {
      co_await shoal::sleep_for(200ms);
      released_.set();
    } else {
      co_await released_.wait();
    }
    --running_;
    note_thread();
  }
  std::vector<std::string> log() { return log_; }
  std::vector<int> starts() { return starts_; }
  int peak() { return peak_; }

 private:
  void note_thread() { tids_.insert(int(::gettid())); }

  int release_at_;
  std::set<int> tids_;
  std::vector<std::string> log_;
  std::vector<int> starts_;
  int running_ = 0;
  int peak_ = 0;
  shoal::Event released_;
};
SHOAL_ACTOR(Tracker, &Tracker::plain_tid, &Tracker::coroutine_tid, &Tracker::pid,
            &Tracker::threads_seen, &Tracker::work, &Tracker::hold, &Tracker::log, &Tracker::starts,
            &Tracker::peak);

// The seed page's barrier, without its prints: every call waits until
// `expected` calls have started.
class Barrier {
 public:
  explicit Barrier(int expected) : expected_(expected) {}
  shoal::Task<int> run_concurrent() {
    const int mine = ++started_;
    if (started_ == expected_) {
      event_.set();
    } else {
      co_await event_.wait();
    }
    co_return mine;
  }

 private:
  shoal::Event event_;
  int started_ = 0;
  int expected_;
};
SHOAL_ACTOR(Barrier, &Barrier::run_concurrent);

// A threaded actor (no coroutine method), for comparison.
class Plain {
 public:
  int tid() {
    std::this_thread::sleep_for(20ms);  // overlap with other calls on a pool
    return int(::gettid());
  }
  int pid() { return int(::getpid()); }
};
SHOAL_ACTOR(Plain, &Plain::tid, &Plain::pid);

namespace {

class AsyncActor : public ::testing::Test {
 protected:
  void SetUp() override { shoal::init(shoal::Config{.prefault = false}); }
  void TearDown() override { shoal::shutdown(); }
};

template <class T>
T get_in_time(const shoal::ObjectRef<T>& ref) {
  return shoal::get(ref, 60s);
}

int thread_count(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return -1;
  int n = 0;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n;
}

// The threads of an async actor process: the one event-loop thread. Nothing
// else runs in it (no pool, no watcher, no timer thread).
constexpr int kAsyncActorThreads = 1;

}  // namespace

// ---- one thread --------------------------------------------------------------------------------

TEST_F(AsyncActor, ActorWithOneCoroutineMethodRunsPlainAndCoroutineMethodsOnOneThread) {
  auto t = shoal::actor<Tracker>().remote(1);
  std::vector<shoal::ObjectRef<int>> plain, coro;
  std::vector<shoal::ObjectRef<void>> work;
  for (int i = 0; i < 50; ++i) {
    plain.push_back(t.task(&Tracker::plain_tid).remote());
    coro.push_back(t.task(&Tracker::coroutine_tid).remote());
    work.push_back(t.task(&Tracker::work).remote(i, i % 5));
  }
  std::set<int> tids;
  for (auto& r : plain)
    tids.insert(get_in_time(r));
  for (auto& r : coro)
    tids.insert(get_in_time(r));
  for (auto& r : work)
    get_in_time(r);
  EXPECT_EQ(tids.size(), 1u) << "methods of an async actor ran on several threads";
  // Including every point after a co_await, as the actor saw them.
  const std::vector<int> seen = get_in_time(t.task(&Tracker::threads_seen).remote());
  EXPECT_EQ(std::set<int>(seen.begin(), seen.end()), tids);
}

TEST_F(AsyncActor, CallsOfAnAsyncActorRunConcurrentlyOnItsOneThread) {
  // Each hold() waits until twenty are in progress: they can only finish if
  // the actor runs them all at once.
  auto t = shoal::actor<Tracker>().remote(20);
  std::vector<shoal::ObjectRef<void>> held;
  for (int i = 0; i < 20; ++i)
    held.push_back(t.task(&Tracker::hold).remote(i));
  for (auto& r : held)
    get_in_time(r);
  EXPECT_EQ(get_in_time(t.task(&Tracker::peak).remote()), 20);
  EXPECT_EQ(get_in_time(t.task(&Tracker::threads_seen).remote()).size(), 1u);
}

// ---- max_concurrency ---------------------------------------------------------------------------

TEST_F(AsyncActor, MaxConcurrencyTwoRunsAtMostTwoCallsAtOnceAndTheRestInOrder) {
  auto t = shoal::actor<Tracker>().options({.max_concurrency = 2}).remote(1);
  std::vector<shoal::ObjectRef<void>> refs;
  for (int i = 0; i < 8; ++i)
    refs.push_back(t.task(&Tracker::work).remote(i, 30));
  for (auto& r : refs)
    get_in_time(r);
  const std::vector<std::string> log = get_in_time(t.task(&Tracker::log).remote());
  ASSERT_EQ(log.size(), 16u);
  int running = 0, peak = 0, next_start = 0;
  for (const std::string& e : log) {
    if (e[0] == 'S') {
      EXPECT_EQ(e, "S" + std::to_string(next_start)) << "calls started out of order";
      ++next_start;
      peak = std::max(peak, ++running);
    } else {
      --running;
    }
  }
  EXPECT_EQ(peak, 2);
  EXPECT_EQ(get_in_time(t.task(&Tracker::peak).remote()), 2);
  // Every call after the first two started only once an earlier one ended.
  int ended = 0;
  for (const std::string& e : log) {
    if (e[0] == 'E') ++ended;
    if (e[0] == 'S' && std::stoi(e.substr(1)) >= 2) {
      EXPECT_GE(ended, std::stoi(e.substr(1)) - 1) << e << " started while two were running";
    }
  }
}

TEST_F(AsyncActor, MaxConcurrencyDefaultsToAThousandCallsInProgress) {
  auto t = shoal::actor<Tracker>().remote(1000);
  std::vector<shoal::ObjectRef<void>> refs;
  for (int i = 0; i < 1500; ++i)
    refs.push_back(t.task(&Tracker::hold).remote(i));
  for (auto& r : refs)
    get_in_time(r);
  EXPECT_EQ(get_in_time(t.task(&Tracker::peak).remote()), 1000);
  // The 500 beyond the limit waited their turn and then started in order.
  const std::vector<int> starts = get_in_time(t.task(&Tracker::starts).remote());
  ASSERT_EQ(starts.size(), 1500u);
  for (int i = 0; i < 1500; ++i)
    ASSERT_EQ(starts[size_t(i)], i);
}

TEST_F(AsyncActor, MaxConcurrencyIsEnforcedAtTheValueGiven) {
  auto t = shoal::actor<Tracker>().options({.max_concurrency = 37}).remote(37);
  std::vector<shoal::ObjectRef<void>> refs;
  for (int i = 0; i < 100; ++i)
    refs.push_back(t.task(&Tracker::hold).remote(i));
  for (auto& r : refs)
    get_in_time(r);
  EXPECT_EQ(get_in_time(t.task(&Tracker::peak).remote()), 37);
}

TEST_F(AsyncActor, MaxConcurrencyBelowOneIsRejected) {
  EXPECT_THROW(shoal::actor<Tracker>().options({.max_concurrency = 0}).remote(1),
               std::invalid_argument);
  EXPECT_THROW(shoal::actor<Tracker>().options({.max_concurrency = -3}).remote(1),
               std::invalid_argument);
}

// ---- threads -----------------------------------------------------------------------------------

TEST_F(AsyncActor, MaxConcurrencyOf100000CreatesNoThreadPool) {
  auto small = shoal::actor<Tracker>().options({.max_concurrency = 1}).remote(1);
  auto dflt = shoal::actor<Tracker>().remote(1);
  auto huge = shoal::actor<Tracker>().options({.max_concurrency = 100'000}).remote(5000);
  const pid_t small_pid = get_in_time(small.task(&Tracker::pid).remote());
  const pid_t dflt_pid = get_in_time(dflt.task(&Tracker::pid).remote());
  const pid_t huge_pid = get_in_time(huge.task(&Tracker::pid).remote());
  EXPECT_EQ(thread_count(small_pid), kAsyncActorThreads);
  EXPECT_EQ(thread_count(dflt_pid), kAsyncActorThreads);
  EXPECT_EQ(thread_count(huge_pid), kAsyncActorThreads);
  // 5,000 calls in progress at once (the last one releases them all): still
  // one thread.
  std::vector<shoal::ObjectRef<void>> refs;
  for (int i = 0; i < 5000; ++i)
    refs.push_back(huge.task(&Tracker::hold).remote(i));
  for (auto& r : refs)
    get_in_time(r);
  EXPECT_EQ(get_in_time(huge.task(&Tracker::peak).remote()), 5000);
  EXPECT_EQ(thread_count(huge_pid), kAsyncActorThreads);
  EXPECT_EQ(get_in_time(huge.task(&Tracker::threads_seen).remote()).size(), 1u);
}

TEST_F(AsyncActor, ThreadedActorWithMaxConcurrencyEightHasAPoolForComparison) {
  // The measurement above can see a pool: a threaded actor's shows.
  auto p = shoal::actor<Plain>().options({.max_concurrency = 8}).remote();
  const pid_t pid = get_in_time(p.task(&Plain::pid).remote());
  std::vector<shoal::ObjectRef<int>> refs;
  for (int i = 0; i < 32; ++i)
    refs.push_back(p.task(&Plain::tid).remote());
  std::set<int> tids;
  for (auto& r : refs)
    tids.insert(get_in_time(r));
  EXPECT_GT(tids.size(), 1u);
  EXPECT_GE(thread_count(pid), 8 + kAsyncActorThreads);
}

// ---- thousands of suspended calls --------------------------------------------------------------

TEST_F(AsyncActor, FourThousandCoroutineBarrierCompletes) {
  auto b = shoal::actor<Barrier>().options({.max_concurrency = 4000}).remote(4000);
  // Started and ready before the clock runs.
  const auto t0 = Clock::now();
  std::vector<shoal::ObjectRef<int>> refs;
  refs.reserve(4000);
  for (int i = 0; i < 4000; ++i)
    refs.push_back(b.task(&Barrier::run_concurrent).remote());
  std::vector<int> order;
  for (auto& r : refs)
    order.push_back(get_in_time(r));
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  std::printf("4,000-coroutine barrier: first call to last result %.2f ms\n", ms);
  // Each call saw its own arrival number: they started one by one, in order.
  for (int i = 0; i < 4000; ++i)
    ASSERT_EQ(order[size_t(i)], i + 1);
}

TEST_F(AsyncActor, BarrierLargerThanTheDefaultLimitCompletesWithAHigherMaxConcurrency) {
  auto b = shoal::actor<Barrier>().options({.max_concurrency = 100'000}).remote(4000);
  std::vector<shoal::ObjectRef<int>> refs;
  for (int i = 0; i < 4000; ++i)
    refs.push_back(b.task(&Barrier::run_concurrent).remote());
  int last = 0;
  for (auto& r : refs)
    last = std::max(last, get_in_time(r));
  EXPECT_EQ(last, 4000);
}
