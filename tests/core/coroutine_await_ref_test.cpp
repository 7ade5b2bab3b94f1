// `co_await ref`: works in any Task, in the driver under shoal::run and inside
// async actors, and suspends only the coroutine: the loop goes on running other
// coroutines (and, in an actor, other calls) on the same thread until the
// object is sealed, whoever seals it: another actor, a stateless task, or a
// process that joined the session (a spawn_peer() peer) and puts the object
// later.
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <shoal/shoal.hpp>

#include "tests/support/test_actors.hpp"
#include "tests/support/test_support.hpp"

using namespace std::chrono_literals;
using namespace shoal::testing;

// ---- actors and tasks under test ---------------------------------------------------------------

// An async actor whose methods await refs they are given.
class Awaiter {
 public:
  shoal::Task<int> plus_one(shoal::ObjectRef<int> ref) {
    const pid_t tid_before = ::gettid();
    const int v = co_await ref;
    if (::gettid() != tid_before) co_return -1000;  // resumed on another thread
    co_return v + 1;
  }
  shoal::Task<int> sum(std::vector<shoal::ObjectRef<int>> refs) {
    int total = 0;
    for (auto& r : refs)
      total += co_await r;
    co_return total;
  }
  shoal::Task<std::string> error_of(shoal::ObjectRef<int> ref) {
    try {
      (void)co_await ref;
    } catch (const shoal::TaskError& e) {
      co_return "TaskError: " + e.message();
    }
    co_return "no error";
  }
  int ping(int x) { return x; }
};
SHOAL_ACTOR(Awaiter, &Awaiter::plus_one, &Awaiter::sum, &Awaiter::error_of, &Awaiter::ping);

// Receives a ref put by another process and hands out its value.
class Mailbox {
 public:
  shoal::Task<std::string> take() {
    co_await posted_.wait();
    co_return co_await letter_;
  }
  void post(shoal::ObjectRef<std::string> letter) {
    letter_ = letter;
    posted_.set();
  }

 private:
  shoal::Event posted_;
  shoal::ObjectRef<std::string> letter_;
};
SHOAL_ACTOR(Mailbox, &Mailbox::take, &Mailbox::post);

class Thrower {
 public:
  int fail(int code) { throw std::runtime_error("failed with " + std::to_string(code)); }
};
SHOAL_ACTOR(Thrower, &Thrower::fail);

int slow_square(int x, int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return x * x;
}
SHOAL_REMOTE(slow_square);

// The peer: joins the session, puts a letter and posts its ref to the named
// mailbox, after a pause that the driver's coroutine spends suspended.
SHOAL_TEST_PEER(put_and_post) {
  std::this_thread::sleep_for(std::chrono::milliseconds(std::stoi(args.at(0))));
  auto box = shoal::get_actor<Mailbox>("mailbox");
  auto letter = shoal::put("from pid " + std::to_string(::getpid()));
  shoal::get(box.task(&Mailbox::post).remote(letter), 30s);
  return 0;
}

namespace {

class CoroutineAwaitRef : public ::testing::Test {
 protected:
  void SetUp() override { shoal::init(shoal::Config{.prefault = false}); }
  void TearDown() override { shoal::shutdown(); }
};

// What happened on the driver's loop while one coroutine awaited a ref.
struct LoopReport {
  int value = 0;
  int ticks = 0;  // rounds of another coroutine; 2 or more: it ran while the first was suspended
  bool same_thread = true;  // every coroutine ran on the thread that called run()
};

// Awaits `ref` in one coroutine while another ticks on the same loop.
template <class T>
LoopReport await_while_ticking(const shoal::ObjectRef<T>& ref) {
  const pid_t driver_tid = ::gettid();
  LoopReport report;
  bool awaiting = true;
  auto awaiter = [&]() -> shoal::Task<void> {
    report.value = co_await ref;
    if (::gettid() != driver_tid) report.same_thread = false;
    awaiting = false;
  };
  auto ticker = [&]() -> shoal::Task<void> {
    while (awaiting) {
      ++report.ticks;
      if (::gettid() != driver_tid) report.same_thread = false;
      co_await shoal::sleep_for(1ms);
    }
  };
  std::vector<shoal::Task<void>> tasks;
  tasks.push_back(awaiter());
  tasks.push_back(ticker());
  shoal::run(shoal::wait_for(shoal::gather(std::move(tasks)), 60s));
  return report;
}

}  // namespace

// ---- in the driver -----------------------------------------------------------------------------

TEST_F(CoroutineAwaitRef, DriverCoroutineAwaitsARefSealedByAnotherActorWithoutBlockingTheLoop) {
  auto latch = shoal::actor<Latch>().options({.max_concurrency = 2}).remote();
  auto ref = latch.task(&Latch::value_when_open).remote(21);
  // Open the latch from another thread once the driver's loop has been
  // running other coroutines for a while.
  std::thread opener([&] {
    std::this_thread::sleep_for(100ms);
    shoal::get(latch.task(&Latch::open).remote(), 30s);
  });
  const LoopReport r = await_while_ticking(ref);
  opener.join();
  EXPECT_EQ(r.value, 21);
  EXPECT_TRUE(r.same_thread);
  EXPECT_GE(r.ticks, 2) << "the loop did not run the other coroutine while the ref was pending";
}

TEST_F(CoroutineAwaitRef, DriverCoroutineAwaitsARefSealedByAStatelessTask) {
  auto ref = shoal::task(slow_square).remote(9, 100);
  const LoopReport r = await_while_ticking(ref);
  EXPECT_EQ(r.value, 81);
  EXPECT_TRUE(r.same_thread);
  EXPECT_GE(r.ticks, 2);
}

TEST_F(CoroutineAwaitRef, DriverCoroutineAwaitsARefPutByAnotherProcessLater) {
  auto box = shoal::actor<Mailbox>().options({.name = "mailbox"}).remote();
  auto taken = box.task(&Mailbox::take).remote();
  const pid_t peer = spawn_peer("put_and_post", {"200"});
  ASSERT_GT(peer, 0);
  const pid_t driver_tid = ::gettid();
  std::string letter;
  int ticks = 0;
  bool same_thread = true;
  bool awaiting = true;
  auto awaiter = [&]() -> shoal::Task<void> {
    letter = co_await taken;
    awaiting = false;
  };
  auto ticker = [&]() -> shoal::Task<void> {
    while (awaiting) {
      ++ticks;
      if (::gettid() != driver_tid) same_thread = false;
      co_await shoal::sleep_for(1ms);
    }
  };
  std::vector<shoal::Task<void>> tasks;
  tasks.push_back(awaiter());
  tasks.push_back(ticker());
  shoal::run(shoal::wait_for(shoal::gather(std::move(tasks)), 60s));
  EXPECT_EQ(wait_child(peer, 30s), 0);
  EXPECT_EQ(letter, "from pid " + std::to_string(peer));
  EXPECT_TRUE(same_thread);
  EXPECT_GE(ticks, 2) << "the driver's loop did not run other coroutines while it waited";
}

TEST_F(CoroutineAwaitRef, RefAwaitedDeepInsideNestedTasks) {
  auto ref = shoal::task(slow_square).remote(4, 20);
  auto level3 = [&]() -> shoal::Task<int> { co_return co_await ref; };
  auto level2 = [&]() -> shoal::Task<int> { co_return 1 + co_await level3(); };
  auto level1 = [&]() -> shoal::Task<int> { co_return 1 + co_await level2(); };
  EXPECT_EQ(shoal::run(shoal::wait_for(level1(), 60s)), 18);
}

TEST_F(CoroutineAwaitRef, ThousandDriverCoroutinesEachAwaitTheirOwnRef) {
  auto a = shoal::actor<Awaiter>().remote();
  std::vector<shoal::ObjectRef<int>> refs;
  for (int i = 0; i < 1000; ++i)
    refs.push_back(a.task(&Awaiter::ping).remote(i));
  auto one = [](shoal::ObjectRef<int> r) -> shoal::Task<int> { co_return co_await r; };
  std::vector<shoal::Task<int>> tasks;
  for (const auto& r : refs)
    tasks.push_back(one(r));
  const std::vector<int> got = shoal::run(shoal::wait_for(shoal::gather(std::move(tasks)), 60s));
  ASSERT_EQ(got.size(), 1000u);
  for (int i = 0; i < 1000; ++i)
    ASSERT_EQ(got[size_t(i)], i);
}

TEST_F(CoroutineAwaitRef, AwaitingAVoidRefAndARefAwaitedTwice) {
  auto latch = shoal::actor<Latch>().options({.max_concurrency = 2}).remote();
  shoal::ObjectRef<void> opened = latch.task(&Latch::open).remote();
  auto ref = shoal::put(5);
  auto body = [&]() -> shoal::Task<int> {
    co_await opened;
    const int a = co_await ref;
    const int b = co_await ref;
    co_return a + b;
  };
  EXPECT_EQ(shoal::run(shoal::wait_for(body(), 60s)), 10);
}

TEST_F(CoroutineAwaitRef, AwaitingARefOfAFailedCallThrowsTaskErrorAtTheCoAwait) {
  auto t = shoal::actor<Thrower>().remote();
  auto ref = t.task(&Thrower::fail).remote(3);
  auto body = [&]() -> shoal::Task<std::string> {
    try {
      (void)co_await ref;
    } catch (const shoal::TaskError& e) {
      co_return e.message();
    }
    co_return "no error";
  };
  EXPECT_EQ(shoal::run(shoal::wait_for(body(), 60s)), "failed with 3");
}

TEST_F(CoroutineAwaitRef, AwaitingAPendingRefWithNoEventLoopThrowsUsageError) {
  auto latch = shoal::actor<Latch>().options({.max_concurrency = 2}).remote();
  auto ref = latch.task(&Latch::value_when_open).remote(1);
  auto body = [&]() -> shoal::Task<int> { co_return co_await ref; };
  shoal::Task<int> t = body();
  t.handle().resume();  // by hand, on no loop: the await has nowhere to suspend
  ASSERT_TRUE(t.done());
  EXPECT_THROW(t.handle().promise().result(), shoal::UsageError);
  shoal::get(latch.task(&Latch::open).remote(), 30s);
  EXPECT_EQ(shoal::get(ref, 30s), 1);
}

// ---- inside actors -----------------------------------------------------------------------------

TEST_F(CoroutineAwaitRef, AsyncActorAwaitsARefSealedByAnotherActorAndServesCallsMeanwhile) {
  auto latch = shoal::actor<Latch>().options({.max_concurrency = 2}).remote();
  auto a = shoal::actor<Awaiter>().remote();
  auto pending = latch.task(&Latch::value_when_open).remote(41);
  auto result = a.task(&Awaiter::plus_one).remote(pending);
  // The actor's one thread is free while plus_one waits: other calls run.
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(shoal::get(a.task(&Awaiter::ping).remote(i), 30s), i);
  EXPECT_FALSE(result.ready());
  shoal::get(latch.task(&Latch::open).remote(), 30s);
  EXPECT_EQ(shoal::get(result, 30s), 42);
}

TEST_F(CoroutineAwaitRef, AsyncActorAwaitsARefSealedByAStatelessTask) {
  auto a = shoal::actor<Awaiter>().remote();
  auto result = a.task(&Awaiter::plus_one).remote(shoal::task(slow_square).remote(6, 50));
  EXPECT_EQ(shoal::get(result, 30s), 37);
}

TEST_F(CoroutineAwaitRef, AsyncActorAwaitsARefSealedByAnotherAsyncActor) {
  auto first = shoal::actor<Awaiter>().remote();
  auto second = shoal::actor<Awaiter>().remote();
  auto latch = shoal::actor<Latch>().options({.max_concurrency = 2}).remote();
  auto chain = second.task(&Awaiter::plus_one)
                   .remote(first.task(&Awaiter::plus_one)
                               .remote(latch.task(&Latch::value_when_open).remote(10)));
  EXPECT_FALSE(chain.ready());
  shoal::get(latch.task(&Latch::open).remote(), 30s);
  EXPECT_EQ(shoal::get(chain, 30s), 12);
}

TEST_F(CoroutineAwaitRef, AsyncActorAwaitsRefsPutByTheDriver) {
  auto a = shoal::actor<Awaiter>().remote();
  std::vector<shoal::ObjectRef<int>> refs;
  for (int i = 1; i <= 10; ++i)
    refs.push_back(shoal::put(i));
  EXPECT_EQ(shoal::get(a.task(&Awaiter::sum).remote(refs), 30s), 55);
}

TEST_F(CoroutineAwaitRef, AsyncActorAwaitsARefPutByAnotherProcessLater) {
  auto box = shoal::actor<Mailbox>().options({.name = "mailbox"}).remote();
  auto taken = box.task(&Mailbox::take).remote();
  const pid_t peer = spawn_peer("put_and_post", {"100"});
  ASSERT_GT(peer, 0);
  EXPECT_EQ(shoal::get(taken, 60s), "from pid " + std::to_string(peer));
  EXPECT_EQ(wait_child(peer, 30s), 0);
}

TEST_F(CoroutineAwaitRef, AsyncActorSeesTheErrorOfAFailedCallAtItsCoAwait) {
  auto t = shoal::actor<Thrower>().remote();
  auto a = shoal::actor<Awaiter>().remote();
  EXPECT_EQ(shoal::get(a.task(&Awaiter::error_of).remote(t.task(&Thrower::fail).remote(8)), 30s),
            "TaskError: failed with 8");
}
