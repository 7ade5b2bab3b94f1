// shoal::wait_for (asyncio.wait_for): the value if the awaitable finishes in
// time, TimeoutError if not. A Task (or any other awaitable) is cancelled on
// timeout: its current co_await sees TaskCancelledError. An ObjectRef is only
// watched: after a timeout it stays usable and can be awaited again, more than
// once; if its actor dies the wait ends with ActorDiedError, not TimeoutError.
#include <signal.h>

#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include <shoal/shoal.hpp>

#include "tests/support/crash_session.hpp"
#include "tests/support/test_support.hpp"

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

struct Boom : std::runtime_error {
  Boom() : std::runtime_error("boom") {}
};

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

shoal::Task<void> yield_times(int n) {
  for (int i = 0; i < n; ++i)
    co_await shoal::sleep_for(0ns);
}

// What the inner task of a wait_for saw.
struct InnerLog {
  bool started = false;
  bool cancelled = false;  // its co_await threw TaskCancelledError
  bool went_on = false;    // it ran past its co_await
  bool destroyed = false;  // its frame (and everything in it) was destroyed
};

struct SetOnDestroy {
  bool* flag;
  ~SetOnDestroy() { *flag = true; }
};

shoal::Task<int> sleeps_then_returns(std::chrono::milliseconds d, int v, InnerLog* log) {
  SetOnDestroy guard{&log->destroyed};
  log->started = true;
  try {
    co_await shoal::sleep_for(d);
  } catch (const shoal::TaskCancelledError&) {
    log->cancelled = true;
    throw;
  }
  log->went_on = true;
  co_return v;
}

}  // namespace

// ---- wait_for on tasks and other awaitables (no session needed) ---------------------------------

TEST(CoroutineWaitFor, TaskThatFinishesInTimeGivesItsValue) {
  InnerLog log;
  const int got = shoal::run(shoal::wait_for(sleeps_then_returns(5ms, 42, &log), 30s));
  EXPECT_EQ(got, 42);
  EXPECT_TRUE(log.went_on);
  EXPECT_FALSE(log.cancelled);
}

TEST(CoroutineWaitFor, TaskThatRunsTooLongThrowsTimeoutErrorAtTheTimeout) {
  InnerLog log;
  const auto t0 = Clock::now();
  auto body = [&]() -> shoal::Task<std::string> {
    std::string what = "no timeout";
    try {
      (void)co_await shoal::wait_for(sleeps_then_returns(60s, 1, &log), 20ms);
    } catch (const shoal::TimeoutError& e) {
      what = e.what();
    }
    co_await yield_times(3);  // let the cancelled inner task finish
    co_return what;
  };
  const std::string what = shoal::run(body());
  EXPECT_NE(what.find("timed out"), std::string::npos) << what;
  EXPECT_GE(ms_since(t0), 20.0);
  EXPECT_LT(ms_since(t0), 30'000.0) << "wait_for waited for the task instead of the timeout";
}

TEST(CoroutineWaitFor, TimeoutErrorIsAShoalError) {
  auto body = []() -> shoal::Task<void> {
    shoal::Event never;
    co_await shoal::wait_for(never.wait(), 1ms);
  };
  EXPECT_THROW(shoal::run(body()), shoal::TimeoutError);
  EXPECT_THROW(shoal::run(body()), shoal::Error);
}

TEST(CoroutineWaitFor, TimeoutCancelsTheInnerTaskAtItsCurrentCoAwait) {
  InnerLog log;
  auto body = [&]() -> shoal::Task<bool> {
    bool timed_out = false;
    try {
      (void)co_await shoal::wait_for(sleeps_then_returns(60s, 1, &log), 10ms);
    } catch (const shoal::TimeoutError&) {
      timed_out = true;
    }
    co_await yield_times(5);
    co_return timed_out;
  };
  EXPECT_TRUE(shoal::run(body()));
  EXPECT_TRUE(log.started);
  EXPECT_TRUE(log.cancelled) << "the inner task's co_await did not see TaskCancelledError";
  EXPECT_FALSE(log.went_on) << "the inner task went on past its co_await";
  EXPECT_TRUE(log.destroyed);
}

TEST(CoroutineWaitFor, TimeoutCancelsEveryLevelOfANestedInnerTask) {
  InnerLog deep;
  bool middle_cancelled = false;
  auto middle = [&]() -> shoal::Task<int> {
    try {
      co_return co_await sleeps_then_returns(60s, 1, &deep);
    } catch (const shoal::TaskCancelledError&) {
      middle_cancelled = true;
      throw;
    }
  };
  auto body = [&]() -> shoal::Task<void> {
    try {
      (void)co_await shoal::wait_for(middle(), 10ms);
    } catch (const shoal::TimeoutError&) {
    }
    co_await yield_times(5);
  };
  shoal::run(body());
  EXPECT_TRUE(deep.cancelled);
  EXPECT_TRUE(middle_cancelled) << "the cancellation did not reach the task awaiting the sleeper";
}

TEST(CoroutineWaitFor, WaitForAsTheLastStepOfRunStillFinishesTheCancelledTask) {
  // run() returns once its task is done; the inner task cancelled by the
  // timeout must still have run its cleanup (no frame left behind).
  InnerLog log;
  auto body = [&]() -> shoal::Task<void> {
    (void)co_await shoal::wait_for(sleeps_then_returns(60s, 1, &log), 5ms);
  };
  EXPECT_THROW(shoal::run(body()), shoal::TimeoutError);
  EXPECT_TRUE(log.cancelled) << "the inner task never saw its cancellation";
  EXPECT_TRUE(log.destroyed) << "the inner task's frame was left behind by run()";
}

TEST(CoroutineWaitFor, WaitForRethrowsTheInnerTasksOwnException) {
  auto fails = []() -> shoal::Task<int> {
    co_await shoal::sleep_for(1ms);
    throw Boom();
    co_return 0;
  };
  EXPECT_THROW((void)shoal::run(shoal::wait_for(fails(), 30s)), Boom);
}

TEST(CoroutineWaitFor, WaitForAnEventTimesOutThenSucceedsOnceItIsSet) {
  shoal::Event ev;
  auto body = [&]() -> shoal::Task<std::vector<std::string>> {
    std::vector<std::string> log;
    try {
      co_await shoal::wait_for(ev.wait(), 5ms);
      log.push_back("returned");
    } catch (const shoal::TimeoutError&) {
      log.push_back("timeout");
    }
    auto setter = [&]() -> shoal::Task<void> {
      co_await shoal::sleep_for(5ms);
      ev.set();
    };
    auto waiter = [&]() -> shoal::Task<void> {
      co_await shoal::wait_for(ev.wait(), 30s);
      log.push_back("set");
    };
    std::vector<shoal::Task<void>> both;
    both.push_back(waiter());
    both.push_back(setter());
    co_await shoal::gather(std::move(both));
    co_return log;
  };
  EXPECT_EQ(shoal::run(body()), (std::vector<std::string>{"timeout", "set"}));
}

TEST(CoroutineWaitFor, OtherCoroutinesRunWhileOneWaitsForATimeout) {
  int ticks = 0;
  bool waiting = true;
  auto waiter = [&]() -> shoal::Task<void> {
    shoal::Event never;
    try {
      co_await shoal::wait_for(never.wait(), 50ms);
    } catch (const shoal::TimeoutError&) {
    }
    waiting = false;
  };
  auto ticker = [&]() -> shoal::Task<void> {
    while (waiting) {
      ++ticks;
      co_await shoal::sleep_for(1ms);
    }
  };
  std::vector<shoal::Task<void>> tasks;
  tasks.push_back(waiter());
  tasks.push_back(ticker());
  shoal::run(shoal::gather(std::move(tasks)));
  EXPECT_GE(ticks, 2);
}

// ---- wait_for on ObjectRefs ---------------------------------------------------------------------

// Produces a value only when told to; can report its pid.
class Producer {
 public:
  shoal::Task<int> value_when_released(int v) {
    co_await released_.wait();
    co_return v;
  }
  void release() { released_.set(); }
  int fail() { throw Boom(); }
  int pid() { return int(::getpid()); }

 private:
  shoal::Event released_;
};
SHOAL_ACTOR(Producer, &Producer::value_when_released, &Producer::release, &Producer::fail,
            &Producer::pid);

// A session per test; the actors under test crash on purpose.
class CoroutineWaitForRef : public shoal::testing::CrashSession {};

TEST_F(CoroutineWaitForRef, ReadyRefGivesItsValueEvenWithAZeroTimeout) {
  auto ref = shoal::put(std::string("here"));
  EXPECT_EQ(shoal::run(shoal::wait_for(ref, 0ns)), "here");
  EXPECT_EQ(shoal::run(shoal::wait_for(ref, 30s)), "here");
}

TEST_F(CoroutineWaitForRef, TimedOutRefStaysUsableAndCanBeAwaitedAgainMoreThanOnce) {
  auto p = shoal::actor<Producer>().remote();
  auto ref = p.task(&Producer::value_when_released).remote(7);
  auto body = [&]() -> shoal::Task<std::vector<std::string>> {
    std::vector<std::string> log;
    for (int attempt = 0; attempt < 3; ++attempt) {
      try {
        const int v = co_await shoal::wait_for(ref, 20ms);
        log.push_back("value " + std::to_string(v));
      } catch (const shoal::TimeoutError&) {
        log.push_back("timeout");
      }
    }
    EXPECT_FALSE(ref.ready());
    co_await p.task(&Producer::release).remote();
    log.push_back("co_await " + std::to_string(co_await ref));
    log.push_back("co_await " + std::to_string(co_await ref));
    log.push_back("wait_for " + std::to_string(co_await shoal::wait_for(ref, 30s)));
    co_return log;
  };
  EXPECT_EQ(shoal::run(shoal::wait_for(body(), 60s)),
            (std::vector<std::string>{"timeout", "timeout", "timeout", "co_await 7", "co_await 7",
                                      "wait_for 7"}));
  EXPECT_EQ(shoal::get(ref, 30s), 7);
  EXPECT_EQ(shoal::run(shoal::wait_for(ref, 0ns)), 7);
}

TEST_F(CoroutineWaitForRef, ZeroTimeoutOnAPendingRefThrowsTimeoutError) {
  auto p = shoal::actor<Producer>().remote();
  auto ref = p.task(&Producer::value_when_released).remote(1);
  EXPECT_THROW((void)shoal::run(shoal::wait_for(ref, 0ns)), shoal::TimeoutError);
  shoal::get(p.task(&Producer::release).remote(), 30s);
  EXPECT_EQ(shoal::run(shoal::wait_for(ref, 30s)), 1);
}

TEST_F(CoroutineWaitForRef, WaitForARefWhoseActorIsKilledThrowsActorDiedErrorNotTimeoutError) {
  auto p = shoal::actor<Producer>().remote();
  const pid_t pid = shoal::get(p.task(&Producer::pid).remote(), 30s);
  auto ref = p.task(&Producer::value_when_released).remote(1);
  Clock::time_point killed_at;
  auto body = [&]() -> shoal::Task<std::string> {
    auto killer = [&]() -> shoal::Task<std::string> {
      co_await shoal::sleep_for(30ms);
      killed_at = Clock::now();
      ::kill(pid, SIGKILL);
      co_return "";
    };
    auto waiter = [&]() -> shoal::Task<std::string> {
      try {
        (void)co_await shoal::wait_for(ref, 60s);
        co_return "value";
      } catch (const shoal::ActorDiedError& e) {
        co_return "died: " + e.actor_class();
      } catch (const shoal::TimeoutError&) {
        co_return "timeout";
      }
    };
    std::vector<shoal::Task<std::string>> tasks;
    tasks.push_back(waiter());
    tasks.push_back(killer());
    co_return (co_await shoal::gather(std::move(tasks)))[0];
  };
  EXPECT_EQ(shoal::run(body()), "died: Producer");
  std::printf("wait_for saw the actor's death %.2f ms after kill -9\n", ms_since(killed_at));
  EXPECT_LT(ms_since(killed_at), 60'000.0);
}

TEST_F(CoroutineWaitForRef, WaitForARefOfAnActorStoppedByShoalKillThrowsActorDiedError) {
  auto p = shoal::actor<Producer>().remote();
  auto ref = p.task(&Producer::value_when_released).remote(1);
  auto body = [&]() -> shoal::Task<std::string> {
    try {
      (void)co_await shoal::wait_for(ref, 10ms);
    } catch (const shoal::TimeoutError&) {
    }
    shoal::kill(p);
    try {
      (void)co_await shoal::wait_for(ref, 60s);
      co_return "value";
    } catch (const shoal::ActorDiedError&) {
      co_return "died";
    } catch (const shoal::TimeoutError&) {
      co_return "timeout";
    }
  };
  EXPECT_EQ(shoal::run(body()), "died");
}

TEST_F(CoroutineWaitForRef, WaitForARefOfAnAlreadyDeadActorThrowsActorDiedError) {
  auto p = shoal::actor<Producer>().remote();
  auto ref = p.task(&Producer::value_when_released).remote(1);
  shoal::kill(p);
  EXPECT_THROW((void)shoal::get(ref, 30s), shoal::ActorDiedError);
  EXPECT_THROW((void)shoal::run(shoal::wait_for(ref, 30s)), shoal::ActorDiedError);
  EXPECT_THROW((void)shoal::run(shoal::wait_for(ref, 0ns)), shoal::ActorDiedError);
}

TEST_F(CoroutineWaitForRef, WaitForARefOfACallThatThrewRethrowsTaskError) {
  auto p = shoal::actor<Producer>().remote();
  auto ref = p.task(&Producer::fail).remote();
  try {
    (void)shoal::run(shoal::wait_for(ref, 30s));
    FAIL() << "no error";
  } catch (const shoal::TaskError& e) {
    EXPECT_EQ(e.method(), "fail");
    EXPECT_EQ(e.message(), "boom");
  }
}
