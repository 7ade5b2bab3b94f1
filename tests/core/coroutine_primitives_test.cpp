// The coroutine primitives of DESIGN §1 on one event loop: Event (set, clear,
// is_set, co_await wait(), waiters resumed in the order they came), Semaphore
// (permits, FIFO hand-over), sleep_for (sleepers wake by deadline; zero yields)
// and gather, over Tasks (run concurrently, results in input order, the first
// exception in input order rethrown once all have finished) and over
// ObjectRefs (results in input order, whatever order the objects are sealed in).
//
// Loop-only tests need no session; the ObjectRef ones run in their own.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include <shoal/shoal.hpp>

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

struct Boom : std::runtime_error {
  explicit Boom(const std::string& what) : std::runtime_error(what) {}
};

// Everything here runs under wait_for: a primitive that fails to wake its
// waiters fails the test with TimeoutError instead of hanging it.
template <class T>
T run_bounded(shoal::Task<T> task, std::chrono::seconds limit = 30s) {
  return shoal::run(shoal::wait_for(std::move(task), limit));
}

shoal::Task<void> yield_once() {
  co_await shoal::sleep_for(0ns);
}

}  // namespace

// ---- Event -------------------------------------------------------------------------------------

TEST(CoroutineEvent, SetClearAndIsSet) {
  shoal::Event ev;
  EXPECT_FALSE(ev.is_set());
  ev.set();
  EXPECT_TRUE(ev.is_set());
  ev.set();  // setting twice is harmless
  EXPECT_TRUE(ev.is_set());
  ev.clear();
  EXPECT_FALSE(ev.is_set());
  shoal::Event already(true);
  EXPECT_TRUE(already.is_set());
}

TEST(CoroutineEvent, WaitOnASetEventReturnsWithoutSuspending) {
  shoal::Event ev(true);
  auto body = [&]() -> shoal::Task<int> {
    co_await ev.wait();
    co_await ev.wait();
    co_return 1;
  };
  EXPECT_EQ(run_bounded(body()), 1);
}

TEST(CoroutineEvent, WaiterSuspendsUntilSetIsCalled) {
  shoal::Event ev;
  std::vector<std::string> log;
  auto waiter = [&]() -> shoal::Task<void> {
    log.push_back("wait");
    co_await ev.wait();
    log.push_back("woke");
  };
  auto setter = [&]() -> shoal::Task<void> {
    for (int i = 0; i < 3; ++i) {
      co_await yield_once();
      log.push_back("tick");
    }
    log.push_back("set");
    ev.set();
  };
  std::vector<shoal::Task<void>> tasks;
  tasks.push_back(waiter());
  tasks.push_back(setter());
  run_bounded(shoal::gather(std::move(tasks)));
  EXPECT_EQ(log, (std::vector<std::string>{"wait", "tick", "tick", "tick", "set", "woke"}));
}

TEST(CoroutineEvent, SetWakesEveryWaiterInTheOrderTheyStartedWaiting) {
  shoal::Event ev;
  std::vector<int> woke;
  auto waiter = [&](int id) -> shoal::Task<void> {
    co_await ev.wait();
    woke.push_back(id);
  };
  auto setter = [&]() -> shoal::Task<void> {
    co_await yield_once();
    EXPECT_TRUE(woke.empty());
    ev.set();
  };
  std::vector<shoal::Task<void>> tasks;
  for (int id : {4, 0, 3, 1, 2})
    tasks.push_back(waiter(id));
  tasks.push_back(setter());
  run_bounded(shoal::gather(std::move(tasks)));
  EXPECT_EQ(woke, (std::vector<int>{4, 0, 3, 1, 2}));
}

TEST(CoroutineEvent, ClearMakesLaterWaitersWaitForTheNextSet) {
  shoal::Event ev;
  std::vector<std::string> log;
  auto body = [&]() -> shoal::Task<void> {
    ev.set();
    co_await ev.wait();
    log.push_back("passed while set");
    ev.clear();
    bool woke = false;
    auto late = [&]() -> shoal::Task<void> {
      co_await ev.wait();
      woke = true;
    };
    auto checker = [&]() -> shoal::Task<void> {
      for (int i = 0; i < 5; ++i)
        co_await yield_once();
      log.push_back(woke ? "woke while clear" : "still waiting while clear");
      ev.set();
    };
    std::vector<shoal::Task<void>> tasks;
    tasks.push_back(late());
    tasks.push_back(checker());
    co_await shoal::gather(std::move(tasks));
    log.push_back(woke ? "woke after set" : "never woke");
  };
  run_bounded(body());
  EXPECT_EQ(log, (std::vector<std::string>{"passed while set", "still waiting while clear",
                                           "woke after set"}));
}

// ---- Semaphore ---------------------------------------------------------------------------------

TEST(CoroutineSemaphore, AcquireTakesPermitsAndReleaseReturnsThem) {
  shoal::Semaphore sem(2);
  EXPECT_EQ(sem.available(), 2u);
  auto body = [&]() -> shoal::Task<void> {
    co_await sem.acquire();
    EXPECT_EQ(sem.available(), 1u);
    co_await sem.acquire();
    EXPECT_EQ(sem.available(), 0u);
    EXPECT_FALSE(sem.try_acquire());
    sem.release();
    EXPECT_EQ(sem.available(), 1u);
    EXPECT_TRUE(sem.try_acquire());
    EXPECT_EQ(sem.available(), 0u);
    sem.release();
    sem.release();
  };
  run_bounded(body());
  EXPECT_EQ(sem.available(), 2u);
}

TEST(CoroutineSemaphore, AtMostPermitsHoldersAtOnceAndWaitersGetPermitsInArrivalOrder) {
  shoal::Semaphore sem(2);
  int holding = 0;
  int peak = 0;
  std::vector<int> acquired;
  auto worker = [&](int id) -> shoal::Task<void> {
    co_await sem.acquire();
    acquired.push_back(id);
    peak = std::max(peak, ++holding);
    // Hold for a few loop rounds so that the others pile up behind us.
    for (int i = 0; i < 3; ++i)
      co_await yield_once();
    --holding;
    sem.release();
  };
  std::vector<shoal::Task<void>> tasks;
  for (int id = 0; id < 8; ++id)
    tasks.push_back(worker(id));
  run_bounded(shoal::gather(std::move(tasks)));
  EXPECT_EQ(peak, 2);
  EXPECT_EQ(acquired, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(sem.available(), 2u);
}

TEST(CoroutineSemaphore, ReleasedPermitGoesToTheLongestWaiterNotToANewcomer) {
  shoal::Semaphore sem(1);
  std::vector<std::string> order;
  auto holder = [&]() -> shoal::Task<void> {
    co_await sem.acquire();
    order.push_back("holder");
    co_await yield_once();
    co_await yield_once();
    sem.release();
    // A newcomer asking right after the release must queue behind the waiter.
    EXPECT_FALSE(sem.try_acquire());
    co_await sem.acquire();
    order.push_back("holder again");
    sem.release();
  };
  auto waiter = [&]() -> shoal::Task<void> {
    co_await yield_once();
    co_await sem.acquire();
    order.push_back("waiter");
    co_await yield_once();
    sem.release();
  };
  std::vector<shoal::Task<void>> tasks;
  tasks.push_back(holder());
  tasks.push_back(waiter());
  run_bounded(shoal::gather(std::move(tasks)));
  EXPECT_EQ(order, (std::vector<std::string>{"holder", "waiter", "holder again"}));
}

// ---- sleep_for ---------------------------------------------------------------------------------

TEST(CoroutineSleep, SleepersWakeInDeadlineOrderAfterAtLeastTheirDuration) {
  std::vector<int> woke;
  std::vector<double> slept_ms(4);
  const int durations_ms[] = {60, 15, 45, 30};
  auto sleeper = [&](int id) -> shoal::Task<void> {
    const auto t0 = Clock::now();
    co_await shoal::sleep_for(std::chrono::milliseconds(durations_ms[id]));
    slept_ms[size_t(id)] = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    woke.push_back(id);
  };
  std::vector<shoal::Task<void>> tasks;
  for (int id = 0; id < 4; ++id)
    tasks.push_back(sleeper(id));
  run_bounded(shoal::gather(std::move(tasks)));
  EXPECT_EQ(woke, (std::vector<int>{1, 3, 2, 0}));
  for (int id = 0; id < 4; ++id)
    EXPECT_GE(slept_ms[size_t(id)], durations_ms[id]) << "sleeper " << id << " woke early";
}

TEST(CoroutineSleep, SleepersOfEqualDurationWakeInTheOrderTheySlept) {
  std::vector<int> woke;
  auto sleeper = [&](int id) -> shoal::Task<void> {
    co_await shoal::sleep_for(5ms);
    woke.push_back(id);
  };
  std::vector<shoal::Task<void>> tasks;
  for (int id = 0; id < 6; ++id)
    tasks.push_back(sleeper(id));
  run_bounded(shoal::gather(std::move(tasks)));
  EXPECT_EQ(woke, (std::vector<int>{0, 1, 2, 3, 4, 5}));
}

TEST(CoroutineSleep, ZeroDurationYieldsToTheOtherReadyCoroutines) {
  std::vector<std::string> log;
  auto a = [&]() -> shoal::Task<void> {
    log.push_back("a1");
    co_await shoal::sleep_for(0ns);
    log.push_back("a2");
    co_await shoal::sleep_for(-5ms);  // negative: a yield too
    log.push_back("a3");
  };
  auto b = [&]() -> shoal::Task<void> {
    log.push_back("b1");
    co_await shoal::sleep_for(0ns);
    log.push_back("b2");
    co_await shoal::sleep_for(0ns);
    log.push_back("b3");
  };
  std::vector<shoal::Task<void>> tasks;
  tasks.push_back(a());
  tasks.push_back(b());
  run_bounded(shoal::gather(std::move(tasks)));
  EXPECT_EQ(log, (std::vector<std::string>{"a1", "b1", "a2", "b2", "a3", "b3"}));
}

TEST(CoroutineSleep, SleepSuspendsTheCoroutineNotTheThread) {
  int ticks = 0;
  bool sleeping = true;
  auto sleeper = [&]() -> shoal::Task<void> {
    co_await shoal::sleep_for(50ms);
    sleeping = false;
  };
  auto ticker = [&]() -> shoal::Task<void> {
    while (sleeping) {
      ++ticks;
      co_await shoal::sleep_for(1ms);
    }
  };
  std::vector<shoal::Task<void>> tasks;
  tasks.push_back(sleeper());
  tasks.push_back(ticker());
  run_bounded(shoal::gather(std::move(tasks)));
  // The ticker's 1 ms timer is due long before the 50 ms one: it ran again
  // while the sleeper was suspended, however late the loop got to it.
  EXPECT_GE(ticks, 2);
}

TEST(CoroutineSleep, SleepForOutsideRunOrAnActorThrowsUsageError) {
  // Awaiting needs a loop; a sleep awaiter used without one says so.
  auto body = []() -> shoal::Task<void> { co_await shoal::sleep_for(1ms); };
  shoal::Task<void> t = body();
  // Resume it by hand, on no loop: the awaiter throws into the coroutine,
  // which stores the exception for its awaiter.
  t.handle().resume();
  ASSERT_TRUE(t.done());
  EXPECT_THROW(t.handle().promise().result(), shoal::UsageError);
}

// ---- gather over tasks -------------------------------------------------------------------------

TEST(CoroutineGather, ResultsOfTasksComeInInputOrderWhateverOrderTheyFinishIn) {
  std::vector<int> finished;
  auto after = [&](int ms, int value) -> shoal::Task<int> {
    co_await shoal::sleep_for(std::chrono::milliseconds(ms));
    finished.push_back(value);
    co_return value;
  };
  std::vector<shoal::Task<int>> tasks;
  tasks.push_back(after(40, 0));
  tasks.push_back(after(10, 1));
  tasks.push_back(after(30, 2));
  tasks.push_back(after(0, 3));
  const std::vector<int> got = run_bounded(shoal::gather(std::move(tasks)));
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(finished, (std::vector<int>{3, 1, 2, 0}));
}

TEST(CoroutineGather, TasksRunConcurrentlyTwoTasksWaitingOnEachOthersEventBothFinish) {
  // Run one after the other, the first would wait forever for the second.
  shoal::Event a_started, b_started;
  auto a = [&]() -> shoal::Task<std::string> {
    a_started.set();
    co_await b_started.wait();
    co_return "a saw b";
  };
  auto b = [&]() -> shoal::Task<std::string> {
    b_started.set();
    co_await a_started.wait();
    co_return "b saw a";
  };
  std::vector<shoal::Task<std::string>> tasks;
  tasks.push_back(a());
  tasks.push_back(b());
  const auto got = run_bounded(shoal::gather(std::move(tasks)), 10s);
  EXPECT_EQ(got, (std::vector<std::string>{"a saw b", "b saw a"}));
}

TEST(CoroutineGather, FirstExceptionInInputOrderIsRethrownAfterEveryTaskFinished) {
  std::vector<int> finished;
  auto ok_after = [&](int ms, int id) -> shoal::Task<int> {
    co_await shoal::sleep_for(std::chrono::milliseconds(ms));
    finished.push_back(id);
    co_return id;
  };
  auto throw_after = [&](int ms, int id) -> shoal::Task<int> {
    co_await shoal::sleep_for(std::chrono::milliseconds(ms));
    finished.push_back(id);
    throw Boom("task " + std::to_string(id));
    co_return id;
  };
  std::vector<shoal::Task<int>> tasks;
  tasks.push_back(ok_after(5, 0));
  tasks.push_back(throw_after(30, 1));  // first in input order
  tasks.push_back(throw_after(0, 2));   // first to throw
  tasks.push_back(ok_after(60, 3));     // finishes last
  try {
    (void)run_bounded(shoal::gather(std::move(tasks)));
    FAIL() << "gather returned although two tasks threw";
  } catch (const Boom& e) {
    EXPECT_STREQ(e.what(), "task 1");
  }
  std::sort(finished.begin(), finished.end());
  EXPECT_EQ(finished, (std::vector<int>{0, 1, 2, 3}))
      << "gather rethrew before every task finished";
}

TEST(CoroutineGather, GatherOfVoidTasksAndOfNoTasks) {
  int done = 0;
  auto step = [&](int ms) -> shoal::Task<void> {
    co_await shoal::sleep_for(std::chrono::milliseconds(ms));
    ++done;
  };
  std::vector<shoal::Task<void>> tasks;
  for (int i = 0; i < 5; ++i)
    tasks.push_back(step(5 - i));
  run_bounded(shoal::gather(std::move(tasks)));
  EXPECT_EQ(done, 5);
  EXPECT_TRUE(run_bounded(shoal::gather(std::vector<shoal::Task<int>>{})).empty());
  run_bounded(shoal::gather(std::vector<shoal::Task<void>>{}));
}

TEST(CoroutineGather, TenThousandTasksSuspendedAtOnceAllFinish) {
  shoal::Event go;
  int waiting = 0;
  auto waiter = [&](int i) -> shoal::Task<int> {
    ++waiting;
    co_await go.wait();
    co_return i;
  };
  auto opener = [&]() -> shoal::Task<int> {
    while (waiting < 10'000)
      co_await yield_once();
    go.set();
    co_return -1;
  };
  std::vector<shoal::Task<int>> tasks;
  for (int i = 0; i < 10'000; ++i)
    tasks.push_back(waiter(i));
  tasks.push_back(opener());
  const std::vector<int> got = run_bounded(shoal::gather(std::move(tasks)));
  ASSERT_EQ(got.size(), 10'001u);
  for (int i = 0; i < 10'000; ++i)
    ASSERT_EQ(got[size_t(i)], i);
}

// ---- gather over ObjectRefs --------------------------------------------------------------------

// Seals each object only when told to: its results are refs that are sealed
// in an order the test chooses.
class Releaser {
 public:
  shoal::Task<int> value_when(int value, int ticket) {
    while (released_ < ticket)
      co_await changed_.wait();
    co_return value;
  }
  void release_up_to(int ticket) {
    released_ = ticket;
    changed_.set();
    changed_.clear();
  }
  int fail(int code) { throw Boom("call " + std::to_string(code)); }

 private:
  shoal::Event changed_;
  int released_ = 0;
};
SHOAL_ACTOR(Releaser, &Releaser::value_when, &Releaser::release_up_to, &Releaser::fail);

class CoroutineGatherRefs : public ::testing::Test {
 protected:
  void SetUp() override { shoal::init(shoal::Config{.prefault = false}); }
  void TearDown() override { shoal::shutdown(); }
};

TEST_F(CoroutineGatherRefs, ResultsOfPutObjectsComeInInputOrder) {
  std::vector<shoal::ObjectRef<std::string>> refs;
  for (int i = 0; i < 20; ++i)
    refs.push_back(shoal::put("object " + std::to_string(i)));
  const std::vector<std::string> got = run_bounded(shoal::gather(refs));
  ASSERT_EQ(got.size(), 20u);
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(got[size_t(i)], "object " + std::to_string(i));
}

TEST_F(CoroutineGatherRefs, ResultsComeInInputOrderWhenTheObjectsAreSealedInReverse) {
  auto r = shoal::actor<Releaser>().remote();
  std::vector<shoal::ObjectRef<int>> refs;
  // Object i is sealed by release ticket 5 - i: the last one first.
  for (int i = 0; i < 5; ++i)
    refs.push_back(r.task(&Releaser::value_when).remote(100 + i, 5 - i));
  auto body = [&]() -> shoal::Task<std::vector<int>> {
    std::vector<int> sealed_order;
    for (int ticket = 1; ticket <= 5; ++ticket) {
      co_await r.task(&Releaser::release_up_to).remote(ticket);
      co_await refs[size_t(5 - ticket)];
      sealed_order.push_back(5 - ticket);
      // Objects of later tickets stay pending.
      for (int i = 0; i < 5 - ticket; ++i)
        EXPECT_FALSE(refs[size_t(i)].ready()) << "object " << i << " after ticket " << ticket;
    }
    EXPECT_EQ(sealed_order, (std::vector<int>{4, 3, 2, 1, 0}));
    co_return co_await shoal::gather(refs);
  };
  EXPECT_EQ(run_bounded(body()), (std::vector<int>{100, 101, 102, 103, 104}));
}

TEST_F(CoroutineGatherRefs, GatherWaitsForRefsThatAreNotSealedYet) {
  auto r = shoal::actor<Releaser>().remote();
  std::vector<shoal::ObjectRef<int>> refs;
  for (int i = 0; i < 3; ++i)
    refs.push_back(r.task(&Releaser::value_when).remote(i * 7, 1));
  auto body = [&]() -> shoal::Task<std::vector<int>> {
    bool gathered = false;
    auto gatherer = [&]() -> shoal::Task<std::vector<int>> {
      auto v = co_await shoal::gather(refs);
      gathered = true;
      co_return v;
    };
    auto releaser = [&]() -> shoal::Task<std::vector<int>> {
      co_await shoal::sleep_for(20ms);
      EXPECT_FALSE(gathered) << "gather finished before its objects were sealed";
      co_await r.task(&Releaser::release_up_to).remote(1);
      co_return std::vector<int>{};
    };
    std::vector<shoal::Task<std::vector<int>>> tasks;
    tasks.push_back(gatherer());
    tasks.push_back(releaser());
    auto both = co_await shoal::gather(std::move(tasks));
    co_return both[0];
  };
  EXPECT_EQ(run_bounded(body()), (std::vector<int>{0, 7, 14}));
}

TEST_F(CoroutineGatherRefs, GatherOfVoidRefsWaitsForAll) {
  auto r = shoal::actor<Releaser>().remote();
  std::vector<shoal::ObjectRef<void>> refs;
  for (int t = 1; t <= 3; ++t)
    refs.push_back(r.task(&Releaser::release_up_to).remote(t));
  run_bounded(shoal::gather(refs));
  for (const auto& ref : refs)
    EXPECT_TRUE(ref.ready());
}

TEST_F(CoroutineGatherRefs, FirstErrorInInputOrderIsRethrownAfterEveryRefIsSealed) {
  auto r = shoal::actor<Releaser>().remote();
  std::vector<shoal::ObjectRef<int>> refs;
  refs.push_back(r.task(&Releaser::fail).remote(0));           // the first error in input order
  refs.push_back(r.task(&Releaser::value_when).remote(7, 1));  // sealed later, by the releaser
  refs.push_back(r.task(&Releaser::fail).remote(1));
  std::vector<std::string> log;
  auto gatherer = [&]() -> shoal::Task<void> {
    try {
      (void)co_await shoal::gather(refs);
      log.push_back("no error");
    } catch (const shoal::TaskError& e) {
      log.push_back(e.message());
      log.push_back(refs[1].ready() ? "every ref sealed" : "rethrown before every ref was sealed");
    }
  };
  auto releaser = [&]() -> shoal::Task<void> {
    co_await shoal::sleep_for(50ms);
    co_await r.task(&Releaser::release_up_to).remote(1);
  };
  std::vector<shoal::Task<void>> tasks;
  tasks.push_back(gatherer());
  tasks.push_back(releaser());
  run_bounded(shoal::gather(std::move(tasks)));
  EXPECT_EQ(log, (std::vector<std::string>{"call 0", "every ref sealed"}));
}
