// Blocking calls on an async actor's event-loop thread: get, wait and
// future().get() there would stall every coroutine of the actor, so they throw
// EventLoopBlockedError, whose message names co_await as the fix, in coroutine
// and plain methods alike, for ready and pending refs. The same calls from a
// threaded actor's method work.
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include <shoal/shoal.hpp>

#include "tests/support/test_actors.hpp"
#include "tests/support/test_support.hpp"

using namespace std::chrono_literals;

namespace {

// Every blocking way of reading a ref, each reported as "value N" or as
// "blocked: <what()>" (or "other: ..." for any other error).
std::vector<std::string> try_blocking_calls(const shoal::ObjectRef<int>& ref) {
  auto outcome = [](auto&& fn) -> std::string {
    try {
      return "value " + std::to_string(fn());
    } catch (const shoal::EventLoopBlockedError& e) {
      return std::string("blocked: ") + e.what();
    } catch (const std::exception& e) {
      return std::string("other: ") + e.what();
    }
  };
  std::vector<std::string> out;
  out.push_back(outcome([&] { return shoal::get(ref); }));
  out.push_back(outcome([&] { return shoal::get(ref, 5s); }));
  out.push_back(outcome([&] { return shoal::get(std::vector{ref}).at(0); }));
  out.push_back(outcome([&] { return shoal::get(std::vector{ref}, 5s).at(0); }));
  out.push_back(outcome([&] { return shoal::get(shoal::wait(std::vector{ref}).ready.at(0)); }));
  out.push_back(outcome([&] {
    return shoal::get(shoal::wait(std::vector{ref}, {.num_returns = 1, .timeout = 5s}).ready.at(0));
  }));
  out.push_back(outcome([&] { return ref.future().get(); }));
  out.push_back(outcome([&] {
    int sum = 0;
    for (const auto& r : shoal::as_completed(std::vector{ref}))
      sum += shoal::get(r);
    return sum;
  }));
  out.push_back(outcome([&] {
    return shoal::run(
        [](shoal::ObjectRef<int> r) -> shoal::Task<int> { co_return co_await r; }(ref));
  }));
  return out;
}

constexpr size_t kBlockingCalls = 9;

}  // namespace

// An async actor (it has a coroutine method) trying every blocking call.
class AsyncBlocker {
 public:
  shoal::Task<std::vector<std::string>> in_coroutine(shoal::ObjectRef<int> ref) {
    co_await shoal::sleep_for(0ns);  // after a suspension as well as before
    co_return try_blocking_calls(ref);
  }
  std::vector<std::string> in_plain_method(shoal::ObjectRef<int> ref) {
    return try_blocking_calls(ref);
  }
  shoal::Task<int> get_uncaught(shoal::ObjectRef<int> ref) { co_return shoal::get(ref); }
  int plain_get_uncaught(shoal::ObjectRef<int> ref) { return shoal::get(ref); }
  int future_get_uncaught(shoal::ObjectRef<int> ref) { return ref.future().get(); }
  shoal::Task<int> the_right_way(shoal::ObjectRef<int> ref) { co_return co_await ref; }
  int echo(int x) { return x; }
};
SHOAL_ACTOR(AsyncBlocker, &AsyncBlocker::in_coroutine, &AsyncBlocker::in_plain_method,
            &AsyncBlocker::get_uncaught, &AsyncBlocker::plain_get_uncaught,
            &AsyncBlocker::future_get_uncaught, &AsyncBlocker::the_right_way, &AsyncBlocker::echo);

// A threaded actor (no coroutine method) trying the same calls.
class ThreadedBlocker {
 public:
  std::vector<std::string> in_method(shoal::ObjectRef<int> ref) { return try_blocking_calls(ref); }
};
SHOAL_ACTOR(ThreadedBlocker, &ThreadedBlocker::in_method);

namespace {

class AsyncBlocking : public ::testing::Test {
 protected:
  void SetUp() override { shoal::init(shoal::Config{.prefault = false}); }
  void TearDown() override { shoal::shutdown(); }
};

void expect_all_blocked(const std::vector<std::string>& outcomes, const char* where) {
  ASSERT_EQ(outcomes.size(), kBlockingCalls);
  for (size_t i = 0; i < outcomes.size(); ++i) {
    EXPECT_EQ(outcomes[i].rfind("blocked: ", 0), 0u)
        << where << ", call " << i << ": " << outcomes[i];
    EXPECT_NE(outcomes[i].find("co_await"), std::string::npos)
        << where << ", call " << i << ": the message does not name co_await: " << outcomes[i];
  }
}

}  // namespace

TEST_F(AsyncBlocking, BlockingCallsInACoroutineMethodThrowEventLoopBlockedErrorNamingCoAwait) {
  auto a = shoal::actor<AsyncBlocker>().remote();
  const auto outcomes = shoal::get(a.task(&AsyncBlocker::in_coroutine).remote(shoal::put(5)), 30s);
  expect_all_blocked(outcomes, "coroutine method, ready ref");
}

TEST_F(AsyncBlocking, BlockingCallsInAPlainMethodOfAnAsyncActorThrowToo) {
  auto a = shoal::actor<AsyncBlocker>().remote();
  const auto outcomes =
      shoal::get(a.task(&AsyncBlocker::in_plain_method).remote(shoal::put(5)), 30s);
  expect_all_blocked(outcomes, "plain method, ready ref");
}

TEST_F(AsyncBlocking, BlockingCallsOnAPendingRefThrowInsteadOfStallingTheActor) {
  auto latch = shoal::actor<Latch>().options({.max_concurrency = 2}).remote();
  auto pending = latch.task(&Latch::value_when_open).remote(1);
  auto a = shoal::actor<AsyncBlocker>().remote();
  // Were any of these to block, the call would never return (the latch is
  // opened only afterwards): get() would time out.
  expect_all_blocked(shoal::get(a.task(&AsyncBlocker::in_coroutine).remote(pending), 30s),
                     "coroutine method, pending ref");
  expect_all_blocked(shoal::get(a.task(&AsyncBlocker::in_plain_method).remote(pending), 30s),
                     "plain method, pending ref");
  EXPECT_FALSE(pending.ready());
  shoal::get(latch.task(&Latch::open).remote(), 30s);
  EXPECT_EQ(shoal::get(a.task(&AsyncBlocker::the_right_way).remote(pending), 30s), 1);
}

TEST_F(AsyncBlocking, UncaughtEventLoopBlockedErrorReachesTheCallerAsTaskErrorAndTheActorServesOn) {
  auto a = shoal::actor<AsyncBlocker>().remote();
  auto ready = shoal::put(5);
  auto check = [](const auto& ref, const char* method) {
    try {
      (void)shoal::get(ref, 30s);
      ADD_FAILURE() << method << ": no error";
    } catch (const shoal::TaskError& e) {
      EXPECT_EQ(e.exception_type(), "shoal::EventLoopBlockedError") << method;
      EXPECT_NE(e.message().find("co_await"), std::string::npos) << method << ": " << e.message();
      EXPECT_EQ(e.method(), method);
      EXPECT_EQ(e.actor_class(), "AsyncBlocker");
    }
  };
  check(a.task(&AsyncBlocker::get_uncaught).remote(ready), "get_uncaught");
  check(a.task(&AsyncBlocker::plain_get_uncaught).remote(ready), "plain_get_uncaught");
  check(a.task(&AsyncBlocker::future_get_uncaught).remote(ready), "future_get_uncaught");
  EXPECT_EQ(shoal::get(a.task(&AsyncBlocker::echo).remote(3), 30s), 3);
  EXPECT_EQ(shoal::get(a.task(&AsyncBlocker::the_right_way).remote(ready), 30s), 5);
}

TEST_F(AsyncBlocking, TheSameBlockingCallsWorkInAThreadedActor) {
  auto t = shoal::actor<ThreadedBlocker>().remote();
  const auto outcomes = shoal::get(t.task(&ThreadedBlocker::in_method).remote(shoal::put(5)), 30s);
  EXPECT_EQ(outcomes,
            (std::vector<std::string>{"value 5", "value 5", "value 5", "value 5", "value 5",
                                      "value 5", "value 5", "value 5", "value 5"}));
}

TEST_F(AsyncBlocking, TheSameBlockingCallsWorkOnTheThreadsOfAThreadedActorsPool) {
  auto latch = shoal::actor<Latch>().options({.max_concurrency = 2}).remote();
  auto pending = latch.task(&Latch::value_when_open).remote(7);
  auto t = shoal::actor<ThreadedBlocker>().options({.max_concurrency = 4}).remote();
  std::vector<shoal::ObjectRef<std::vector<std::string>>> refs;
  for (int i = 0; i < 4; ++i)
    refs.push_back(t.task(&ThreadedBlocker::in_method).remote(pending));
  // They block on the pending ref, as a thread may; then it is sealed.
  shoal::get(latch.task(&Latch::open).remote(), 30s);
  for (auto& r : refs) {
    EXPECT_EQ(shoal::get(r, 60s), std::vector<std::string>(kBlockingCalls, "value 7"));
  }
}

TEST_F(AsyncBlocking, BlockingCallsInTheDriverOutsideRunWork) {
  auto ref = shoal::put(5);
  EXPECT_EQ(try_blocking_calls(ref), std::vector<std::string>(kBlockingCalls, "value 5"));
}
