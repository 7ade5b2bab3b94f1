// Concurrency groups (SHOAL_CONCURRENCY_GROUP, ActorOptions::concurrency_groups, CallOptions):
// each group has its own limit of calls in progress, a saturated group never holds up another's
// calls, on async actors (one event loop) and threaded actors (a pool per group); a call may be
// sent to another group; bad groups are errors naming them. The cases of Ray's
// test_concurrency_group.py that apply, and more.
//
// Each test runs in its own session; every actor is its own process.
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <shoal/shoal.hpp>

#include "tests/support/test_support.hpp"

using namespace std::chrono_literals;

namespace {

// Counts the calls of one kind in progress and the most there ever were at once. hold(limit)
// keeps the first calls in progress until `limit` of them are (and a moment more, room for an
// excess call to start were the limit not enforced); later calls pass at once. A limit that is
// never reached leaves them held, and the test's bounded get() fails.
class InProgress {
 public:
  // The threaded form: blocks the calling thread (for a minute at most).
  void hold(int limit) {
    if (enter() >= limit && !reached_.load(std::memory_order_acquire)) {
      std::this_thread::sleep_for(100ms);
      reached_.store(true, std::memory_order_release);
    }
    for (int i = 0; i < 60'000 && !reached_.load(std::memory_order_acquire); ++i)
      std::this_thread::sleep_for(1ms);
  }
  // The async form: suspends the call.
  shoal::Task<void> hold_async(int limit) {
    if (enter() >= limit && !reached_event_.is_set()) {
      co_await shoal::sleep_for(100ms);
      reached_event_.set();
    }
    co_await reached_event_.wait();
  }
  void leave() { running_.fetch_sub(1, std::memory_order_relaxed); }
  int peak() const { return peak_.load(std::memory_order_relaxed); }

 private:
  int enter() {
    const int now = running_.fetch_add(1, std::memory_order_relaxed) + 1;
    int peak = peak_.load(std::memory_order_relaxed);
    while (now > peak && !peak_.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
    }
    return now;
  }

  std::atomic<int> running_{0};
  std::atomic<int> peak_{0};
  std::atomic<bool> reached_{false};
  shoal::Event reached_event_;
};

}  // namespace

// ---- actors under test -------------------------------------------------------------------------

// An async actor: "io" holds f1 (a coroutine) and f2, "compute" holds f3 and f4, f5 and the
// rest are in the default group.
class AsyncGroups {
 public:
  shoal::Task<int> f1() { co_return int(::gettid()); }
  int f2() { return int(::gettid()); }
  int f3() { return int(::gettid()); }
  int f4() { return int(::gettid()); }
  int f5() { return int(::gettid()); }

  // In "io": held until `limit` io calls are in progress, then runs `ms` (suspended).
  shoal::Task<void> io_work(int limit, int ms) {
    co_await io_.hold_async(limit);
    co_await shoal::sleep_for(std::chrono::milliseconds(ms));
    io_.leave();
  }
  // In "compute": the same for compute calls.
  shoal::Task<void> compute_work(int limit, int ms) {
    co_await compute_.hold_async(limit);
    co_await shoal::sleep_for(std::chrono::milliseconds(ms));
    compute_.leave();
  }
  // In the default group: the same; sent elsewhere with CallOptions, it counts there.
  shoal::Task<void> work(int limit, int ms) {
    co_await other_.hold_async(limit);
    co_await shoal::sleep_for(std::chrono::milliseconds(ms));
    other_.leave();
  }
  int io_peak() { return io_.peak(); }
  int compute_peak() { return compute_.peak(); }
  int other_peak() { return other_.peak(); }

  // In "io": suspended until release().
  shoal::Task<int> io_block() {
    co_await released_.wait();
    co_return 1;
  }
  // In the default group: suspended until release().
  shoal::Task<int> block() {
    co_await released_.wait();
    co_return 2;
  }
  // In "compute".
  int compute_ping(int x) { return x; }
  // In the default group.
  int ping(int x) { return x; }
  // In "control", which nothing saturates.
  void release() { released_.set(); }
  // In "control": notes `i`, suspending a moment first.
  shoal::Task<void> note(int i) {
    co_await shoal::sleep_for(std::chrono::microseconds(100));
    notes_.push_back(i);
  }
  std::vector<int> notes() { return notes_; }

 private:
  InProgress io_, compute_, other_;
  shoal::Event released_;
  std::vector<int> notes_;
};
SHOAL_ACTOR(AsyncGroups, &AsyncGroups::f1, &AsyncGroups::f2, &AsyncGroups::f3, &AsyncGroups::f4,
            &AsyncGroups::f5, &AsyncGroups::io_work, &AsyncGroups::compute_work, &AsyncGroups::work,
            &AsyncGroups::io_peak, &AsyncGroups::compute_peak, &AsyncGroups::other_peak,
            &AsyncGroups::io_block, &AsyncGroups::block, &AsyncGroups::compute_ping,
            &AsyncGroups::ping, &AsyncGroups::release, &AsyncGroups::note, &AsyncGroups::notes);
SHOAL_CONCURRENCY_GROUP(AsyncGroups, "io", 2, &AsyncGroups::f1, &AsyncGroups::f2,
                        &AsyncGroups::io_work, &AsyncGroups::io_block);
SHOAL_CONCURRENCY_GROUP(AsyncGroups, "compute", 4, &AsyncGroups::f3, &AsyncGroups::f4,
                        &AsyncGroups::compute_work, &AsyncGroups::compute_ping);
SHOAL_CONCURRENCY_GROUP(AsyncGroups, "control", 1, &AsyncGroups::release, &AsyncGroups::note);

// Ray's AsyncBatcher: three add() calls of one group wait for each other on one event.
class AsyncBatcher {
 public:
  shoal::Task<std::vector<int>> add(int x) {
    batch_.push_back(x);
    if (batch_.size() >= 3) {
      full_.set();
    } else {
      co_await full_.wait();
    }
    std::vector<int> sorted = batch_;
    std::sort(sorted.begin(), sorted.end());
    co_return sorted;
  }

 private:
  std::vector<int> batch_;
  shoal::Event full_;
};
SHOAL_ACTOR(AsyncBatcher, &AsyncBatcher::add);
SHOAL_CONCURRENCY_GROUP(AsyncBatcher, "async", 3, &AsyncBatcher::add);

// A threaded actor: the same groups, each a pool of its own threads.
class ThreadedGroups {
 public:
  int f1() { return int(::gettid()); }
  int f2() { return int(::gettid()); }
  int f3() { return int(::gettid()); }
  int f4() { return int(::gettid()); }
  int f5() { return int(::gettid()); }

  void io_work(int limit, int ms) {
    io_.hold(limit);
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    io_.leave();
  }
  void compute_work(int limit, int ms) {
    compute_.hold(limit);
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    compute_.leave();
  }
  void work(int limit, int ms) {
    other_.hold(limit);
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    other_.leave();
  }
  int io_peak() { return io_.peak(); }
  int compute_peak() { return compute_.peak(); }
  int other_peak() { return other_.peak(); }

  // In "io": blocks its thread until release() (or a minute).
  int io_block() {
    for (int i = 0; i < 60'000 && !released_.load(std::memory_order_acquire); ++i)
      std::this_thread::sleep_for(1ms);
    return 1;
  }
  // In the default group: the same.
  int block() { return io_block() + 1; }
  int compute_ping(int x) { return x; }
  int ping(int x) { return x; }
  // In "control".
  void release() { released_.store(true, std::memory_order_release); }

 private:
  InProgress io_, compute_, other_;
  std::atomic<bool> released_{false};
};
SHOAL_ACTOR(ThreadedGroups, &ThreadedGroups::f1, &ThreadedGroups::f2, &ThreadedGroups::f3,
            &ThreadedGroups::f4, &ThreadedGroups::f5, &ThreadedGroups::io_work,
            &ThreadedGroups::compute_work, &ThreadedGroups::work, &ThreadedGroups::io_peak,
            &ThreadedGroups::compute_peak, &ThreadedGroups::other_peak, &ThreadedGroups::io_block,
            &ThreadedGroups::block, &ThreadedGroups::compute_ping, &ThreadedGroups::ping,
            &ThreadedGroups::release);
SHOAL_CONCURRENCY_GROUP(ThreadedGroups, "io", 2, &ThreadedGroups::f1, &ThreadedGroups::f2,
                        &ThreadedGroups::io_work, &ThreadedGroups::io_block);
SHOAL_CONCURRENCY_GROUP(ThreadedGroups, "compute", 4, &ThreadedGroups::f3, &ThreadedGroups::f4,
                        &ThreadedGroups::compute_work, &ThreadedGroups::compute_ping);
SHOAL_CONCURRENCY_GROUP(ThreadedGroups, "control", 1, &ThreadedGroups::release);

// Bad declarations, which creating the class reports.
class ZeroLimit {
 public:
  int f() { return 1; }
};
SHOAL_ACTOR(ZeroLimit, &ZeroLimit::f);
SHOAL_CONCURRENCY_GROUP(ZeroLimit, "empty", 0, &ZeroLimit::f);

class TwoGroups {
 public:
  int f() { return 1; }
};
SHOAL_ACTOR(TwoGroups, &TwoGroups::f);
SHOAL_CONCURRENCY_GROUP(TwoGroups, "first", 1, &TwoGroups::f);
SHOAL_CONCURRENCY_GROUP(TwoGroups, "second", 1, &TwoGroups::f);

namespace {

class ConcurrencyGroups : public ::testing::Test {
 protected:
  void SetUp() override { shoal::init(shoal::Config{.prefault = false}); }
  void TearDown() override { shoal::shutdown(); }
};

template <class T>
T get_in_time(const shoal::ObjectRef<T>& ref) {
  return shoal::get(ref, 60s);
}

shoal::CallOptions in_group(const std::string& name) {
  return shoal::CallOptions{.concurrency_group = name};
}

// Whether `ref` is still unfinished after a moment: for calls that cannot finish before the test
// lets them (an implementation that let them would be seen here).
template <class T>
bool still_pending(const shoal::ObjectRef<T>& ref) {
  const auto r = shoal::wait(std::vector<shoal::ObjectRef<T>>{ref},
                             shoal::WaitOptions{.num_returns = 1, .timeout = 200ms});
  return r.ready.empty();
}

// `calls` calls of `method` (with `limit` and `ms`) from each of 8 threads at once, all waited
// for.
template <class A, class M>
void from_eight_callers(const shoal::ActorHandle<A>& a, M A::*method, int calls, int limit, int ms,
                        const std::string& group = "") {
  std::vector<std::thread> callers;
  for (int t = 0; t < 8; ++t) {
    callers.emplace_back([&] {
      std::vector<shoal::ObjectRef<void>> refs;
      for (int i = 0; i < calls; ++i)
        refs.push_back(a.task(method).options(in_group(group)).remote(limit, ms));
      for (auto& r : refs)
        shoal::get(r, 60s);
    });
  }
  for (std::thread& t : callers)
    t.join();
}

}  // namespace

// ---- async actors ------------------------------------------------------------------------------

TEST_F(ConcurrencyGroups, AsyncActorRunsEveryGroupOnItsOneEventLoop) {
  // Ray runs each group on an event loop of its own; here every group shares the actor's one
  // loop, and the groups are limits on it.
  auto a = shoal::actor<AsyncGroups>().remote();
  const int t1 = get_in_time(a.task(&AsyncGroups::f1).remote());
  EXPECT_EQ(get_in_time(a.task(&AsyncGroups::f2).remote()), t1);
  EXPECT_EQ(get_in_time(a.task(&AsyncGroups::f3).remote()), t1);
  EXPECT_EQ(get_in_time(a.task(&AsyncGroups::f4).remote()), t1);
  EXPECT_EQ(get_in_time(a.task(&AsyncGroups::f5).remote()), t1);
  EXPECT_EQ(get_in_time(a.task(&AsyncGroups::f2).options(in_group("compute")).remote()), t1);
}

TEST_F(ConcurrencyGroups, AsyncGroupLimitIsReachedAndNeverExceededUnderEightCallers) {
  auto a = shoal::actor<AsyncGroups>().options({.max_concurrency = 3}).remote();
  std::thread io([&] { from_eight_callers(a, &AsyncGroups::io_work, 20, 2, 2); });
  std::thread compute([&] { from_eight_callers(a, &AsyncGroups::compute_work, 20, 4, 2); });
  from_eight_callers(a, &AsyncGroups::work, 20, 3, 2);
  io.join();
  compute.join();
  EXPECT_EQ(get_in_time(a.task(&AsyncGroups::io_peak).remote()), 2);
  EXPECT_EQ(get_in_time(a.task(&AsyncGroups::compute_peak).remote()), 4);
  EXPECT_EQ(get_in_time(a.task(&AsyncGroups::other_peak).remote()), 3);  // max_concurrency
}

TEST_F(ConcurrencyGroups, AsyncMethodsOfOneGroupWaitForEachOther) {
  auto b = shoal::actor<AsyncBatcher>().remote();
  auto x1 = b.task(&AsyncBatcher::add).remote(1);
  auto x2 = b.task(&AsyncBatcher::add).remote(2);
  auto x3 = b.task(&AsyncBatcher::add).remote(3);
  const std::vector<int> all{1, 2, 3};
  EXPECT_EQ(get_in_time(x1), all);
  EXPECT_EQ(get_in_time(x2), all);
  EXPECT_EQ(get_in_time(x3), all);
}

TEST_F(ConcurrencyGroups, AsyncSaturatedGroupDoesNotDelayTheCallsOfAnother) {
  auto a = shoal::actor<AsyncGroups>().remote();
  // "io" (limit 2) full, and 48 more of its calls ahead of the others in the ring.
  std::vector<shoal::ObjectRef<int>> blocked;
  for (int i = 0; i < 50; ++i)
    blocked.push_back(a.task(&AsyncGroups::io_block).remote());
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(get_in_time(a.task(&AsyncGroups::compute_ping).remote(i)), i);
    EXPECT_EQ(get_in_time(a.task(&AsyncGroups::ping).remote(i)), i);
  }
  EXPECT_TRUE(still_pending(blocked.back()));
  a.task(&AsyncGroups::release).remote();
  for (auto& r : blocked)
    EXPECT_EQ(get_in_time(r), 1);
}

TEST_F(ConcurrencyGroups, AsyncCallsOfAGroupRunInSubmissionOrderBesideAFullGroup) {
  auto a = shoal::actor<AsyncGroups>().remote();
  std::vector<shoal::ObjectRef<int>> blocked;
  std::vector<shoal::ObjectRef<void>> notes;
  std::vector<int> want;
  for (int i = 0; i < 200; ++i) {
    if (i % 10 == 0) blocked.push_back(a.task(&AsyncGroups::io_block).remote());
    notes.push_back(a.task(&AsyncGroups::note).remote(i));
    want.push_back(i);
  }
  for (auto& r : notes)
    get_in_time(r);
  EXPECT_EQ(get_in_time(a.task(&AsyncGroups::notes).remote()), want);
  a.task(&AsyncGroups::release).remote();
  for (auto& r : blocked)
    EXPECT_EQ(get_in_time(r), 1);
}

TEST_F(ConcurrencyGroups, AsyncSaturatedDefaultGroupDoesNotBlockOtherGroups) {
  auto a = shoal::actor<AsyncGroups>().options({.max_concurrency = 1}).remote();
  auto never = a.task(&AsyncGroups::block).remote();
  auto queued = a.task(&AsyncGroups::block).remote();
  EXPECT_EQ(get_in_time(a.task(&AsyncGroups::compute_ping).remote(7)), 7);
  EXPECT_EQ(get_in_time(a.task(&AsyncGroups::f1).remote()) > 0, true);
  EXPECT_TRUE(still_pending(queued));
  a.task(&AsyncGroups::release).remote();
  EXPECT_EQ(get_in_time(never), 2);
  EXPECT_EQ(get_in_time(queued), 2);
}

TEST_F(ConcurrencyGroups, AsyncCallOptionsSendOneCallToAnotherGroup) {
  auto a = shoal::actor<AsyncGroups>().remote();
  auto b1 = a.task(&AsyncGroups::io_block).remote();
  auto b2 = a.task(&AsyncGroups::io_block).remote();
  // ping is a default-group method: sent to the full "io" group, it waits there.
  auto in_io = a.task(&AsyncGroups::ping).options(in_group("io")).remote(5);
  EXPECT_EQ(get_in_time(a.task(&AsyncGroups::ping).remote(6)), 6);
  EXPECT_TRUE(still_pending(in_io));
  // And io_block sent to the default group runs at once (then waits for release()).
  auto in_default = a.task(&AsyncGroups::io_block).options(in_group("default")).remote();
  EXPECT_TRUE(still_pending(in_default));
  a.task(&AsyncGroups::release).remote();
  EXPECT_EQ(get_in_time(in_io), 5);
  EXPECT_EQ(get_in_time(in_default), 1);
  EXPECT_EQ(get_in_time(b1) + get_in_time(b2), 2);
}

TEST_F(ConcurrencyGroups, ActorOptionsOverrideADeclaredLimitAndAddAGroup) {
  auto a = shoal::actor<AsyncGroups>()
               .options({.concurrency_groups = {{"io", 3}, {"extra", 5}}})
               .remote();
  std::thread io([&] { from_eight_callers(a, &AsyncGroups::io_work, 20, 3, 2); });
  from_eight_callers(a, &AsyncGroups::work, 20, 5, 2, "extra");
  io.join();
  EXPECT_EQ(get_in_time(a.task(&AsyncGroups::io_peak).remote()), 3);
  EXPECT_EQ(get_in_time(a.task(&AsyncGroups::other_peak).remote()), 5);
}

TEST_F(ConcurrencyGroups, CancelAnswersACallWaitingForItsGroup) {
  auto a = shoal::actor<AsyncGroups>().remote();
  auto b1 = a.task(&AsyncGroups::io_block).remote();
  auto b2 = a.task(&AsyncGroups::io_block).remote();
  auto waiting = a.task(&AsyncGroups::io_block).remote();
  EXPECT_EQ(get_in_time(a.task(&AsyncGroups::ping).remote(1)), 1);  // all three are in
  shoal::cancel(waiting);
  EXPECT_THROW(get_in_time(waiting), shoal::TaskCancelledError);
  a.task(&AsyncGroups::release).remote();
  EXPECT_EQ(get_in_time(b1) + get_in_time(b2), 2);
}

TEST_F(ConcurrencyGroups, KilledActorFailsTheCallsWaitingForTheirGroups) {
  auto a = shoal::actor<AsyncGroups>().remote();
  std::vector<shoal::ObjectRef<int>> blocked;
  for (int i = 0; i < 10; ++i)
    blocked.push_back(a.task(&AsyncGroups::io_block).remote());
  EXPECT_EQ(get_in_time(a.task(&AsyncGroups::ping).remote(1)), 1);
  shoal::kill(a);
  for (auto& r : blocked)
    EXPECT_THROW(get_in_time(r), shoal::ActorDiedError);
}

// ---- threaded actors ---------------------------------------------------------------------------

TEST_F(ConcurrencyGroups, ThreadedActorRunsEachGroupOnThreadsOfItsOwn) {
  // One thread per group (ActorOptions override the declared limits), so that each group's
  // thread is known from one call.
  auto a = shoal::actor<ThreadedGroups>()
               .options({.concurrency_groups = {{"io", 1}, {"compute", 1}}})
               .remote();
  const int t1 = get_in_time(a.task(&ThreadedGroups::f1).remote());
  const int t3 = get_in_time(a.task(&ThreadedGroups::f3).remote());
  const int t5 = get_in_time(a.task(&ThreadedGroups::f5).remote());
  EXPECT_EQ(get_in_time(a.task(&ThreadedGroups::f2).remote()), t1);
  EXPECT_EQ(get_in_time(a.task(&ThreadedGroups::f4).remote()), t3);
  EXPECT_EQ(std::set<int>({t1, t3, t5}).size(), 3u);
  // Sent to another group at run time, f2 runs on that group's thread.
  EXPECT_EQ(get_in_time(a.task(&ThreadedGroups::f2).options(in_group("compute")).remote()), t3);
  EXPECT_EQ(get_in_time(a.task(&ThreadedGroups::f3).options(in_group("default")).remote()), t5);
}

TEST_F(ConcurrencyGroups, ThreadedGroupLimitIsReachedAndNeverExceededUnderEightCallers) {
  auto a = shoal::actor<ThreadedGroups>().options({.max_concurrency = 3}).remote();
  std::thread io([&] { from_eight_callers(a, &ThreadedGroups::io_work, 10, 2, 3); });
  std::thread compute([&] { from_eight_callers(a, &ThreadedGroups::compute_work, 10, 4, 3); });
  from_eight_callers(a, &ThreadedGroups::work, 10, 3, 3);
  io.join();
  compute.join();
  EXPECT_EQ(get_in_time(a.task(&ThreadedGroups::io_peak).remote()), 2);
  EXPECT_EQ(get_in_time(a.task(&ThreadedGroups::compute_peak).remote()), 4);
  EXPECT_EQ(get_in_time(a.task(&ThreadedGroups::other_peak).remote()), 3);
}

TEST_F(ConcurrencyGroups, ThreadedBlockedGroupDoesNotBlockOthers) {
  auto a = shoal::actor<ThreadedGroups>().remote();
  // Both io threads blocked, 30 more io calls waiting, then the default group's one thread too.
  std::vector<shoal::ObjectRef<int>> blocked;
  for (int i = 0; i < 32; ++i)
    blocked.push_back(a.task(&ThreadedGroups::io_block).remote());
  auto blocked_default = a.task(&ThreadedGroups::block).remote();
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(get_in_time(a.task(&ThreadedGroups::compute_ping).remote(i)), i);
  EXPECT_TRUE(still_pending(blocked.back()));
  EXPECT_TRUE(still_pending(blocked_default));
  a.task(&ThreadedGroups::release).remote();
  for (auto& r : blocked)
    EXPECT_EQ(get_in_time(r), 1);
  EXPECT_EQ(get_in_time(blocked_default), 2);
  EXPECT_EQ(get_in_time(a.task(&ThreadedGroups::ping).remote(3)), 3);
}

TEST_F(ConcurrencyGroups, ThreadedDefaultGroupRunsOneCallAtATimeBesideOtherGroups) {
  auto a = shoal::actor<ThreadedGroups>().remote();
  // max_concurrency 1: the default group's calls run one at a time, whatever the other groups do.
  std::thread io([&] { from_eight_callers(a, &ThreadedGroups::io_work, 5, 2, 1); });
  from_eight_callers(a, &ThreadedGroups::work, 5, 1, 1);
  io.join();
  EXPECT_EQ(get_in_time(a.task(&ThreadedGroups::other_peak).remote()), 1);
  EXPECT_EQ(get_in_time(a.task(&ThreadedGroups::io_peak).remote()), 2);
}

// ---- errors ------------------------------------------------------------------------------------

TEST_F(ConcurrencyGroups, UnknownGroupInCallOptionsIsAnInvalidArgumentNamingIt) {
  auto a = shoal::actor<AsyncGroups>().remote();
  try {
    a.task(&AsyncGroups::ping).options(in_group("nosuch")).remote(1);
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("\"nosuch\""), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("AsyncGroups"), std::string::npos) << e.what();
  }
  // A group added at creation is known to that actor only.
  auto b = shoal::actor<AsyncGroups>().options({.concurrency_groups = {{"extra", 1}}}).remote();
  EXPECT_EQ(get_in_time(b.task(&AsyncGroups::ping).options(in_group("extra")).remote(2)), 2);
  EXPECT_THROW(a.task(&AsyncGroups::ping).options(in_group("extra")).remote(2),
               std::invalid_argument);
  EXPECT_EQ(get_in_time(a.task(&AsyncGroups::ping).remote(3)), 3);
}

TEST_F(ConcurrencyGroups, LimitBelowOneAtCreationIsAnInvalidArgumentNamingTheGroup) {
  for (int limit : {0, -1}) {
    try {
      shoal::actor<AsyncGroups>().options({.concurrency_groups = {{"io", limit}}}).remote();
      FAIL() << "no exception for limit " << limit;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("\"io\""), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(
      shoal::actor<ThreadedGroups>().options({.concurrency_groups = {{"new", 0}}}).remote(),
      std::invalid_argument);
}

TEST_F(ConcurrencyGroups, BadGroupOptionsAreInvalidArguments) {
  EXPECT_THROW(
      shoal::actor<AsyncGroups>().options({.concurrency_groups = {{"default", 4}}}).remote(),
      std::invalid_argument);
  EXPECT_THROW(shoal::actor<AsyncGroups>().options({.concurrency_groups = {{"", 4}}}).remote(),
               std::invalid_argument);
  EXPECT_THROW(shoal::actor<AsyncGroups>()
                   .options({.concurrency_groups = {{std::string(24, 'g'), 4}}})
                   .remote(),
               std::invalid_argument);
  // Three declared plus the default: four more make nine, one beyond the limit of eight.
  try {
    shoal::actor<AsyncGroups>()
        .options({.concurrency_groups = {{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}, {"e", 1}}})
        .remote();
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("at most 8"), std::string::npos) << e.what();
  }
  // Four more make eight: allowed.
  auto a = shoal::actor<AsyncGroups>()
               .options({.concurrency_groups = {{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}}})
               .remote();
  EXPECT_EQ(get_in_time(a.task(&AsyncGroups::ping).options(in_group("d")).remote(4)), 4);
}

TEST_F(ConcurrencyGroups, BadDeclarationsAreReportedAtCreationNamingTheGroup) {
  try {
    shoal::actor<ZeroLimit>().remote();
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("\"empty\""), std::string::npos) << e.what();
  }
  try {
    shoal::actor<TwoGroups>().remote();
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("\"second\""), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("\"first\""), std::string::npos) << e.what();
  }
}

TEST_F(ConcurrencyGroups, CallNamingAGroupTheActorDoesNotHaveIsAnErrorResult) {
  // What a corrupt cell would carry: a group index beyond the actor's table.
  auto a = shoal::actor<AsyncGroups>().remote();
  auto t = shoal::actor<ThreadedGroups>().remote();
  for (const shoal::detail::ActorId id : {a.id(), t.id()}) {
    shoal::detail::ArgWriter w;
    w.add<int>(1);
    const shoal::detail::MethodSlot m = shoal::detail::find_method<AsyncGroups>(&AsyncGroups::ping);
    const shoal::detail::MethodSlot mt =
        shoal::detail::find_method<ThreadedGroups>(&ThreadedGroups::ping);
    const bool async = id.index == a.id().index;
    auto ref = shoal::detail::RefAccess::adopt<int>(
        shoal::detail::submit_call(id.index, id.gen, async ? m.index : mt.index,
                                   async ? m.signature : mt.signature, w, 0, 200));
    try {
      get_in_time(ref);
      FAIL() << "no error";
    } catch (const shoal::TaskError& e) {
      EXPECT_NE(e.message().find("no concurrency group #200"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(get_in_time(a.task(&AsyncGroups::ping).remote(1)), 1);
  EXPECT_EQ(get_in_time(t.task(&ThreadedGroups::ping).remote(1)), 1);
}
