// shoal::cancel: cancelling a call still queued behind max_concurrency drops it
// at once (without waiting for the calls that are running); a running coroutine
// gets TaskCancelledError at its current co_await, which it may catch, note and
// rethrow; get() on the ref then throws TaskCancelledError; cancelling a
// finished call changes nothing. Calls of coroutine stateless tasks can be
// cancelled too.
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <shoal/shoal.hpp>

#include "tests/support/outcome.hpp"
#include "tests/support/test_actors.hpp"
#include "tests/support/test_support.hpp"
#include "tests/support/worker_session.hpp"

using namespace std::chrono_literals;
using namespace shoal::testing;
using Clock = std::chrono::steady_clock;

// ---- actors and tasks under test ---------------------------------------------------------------

// An async actor whose calls suspend in several ways and note a cancellation
// (the id of the call and where it was suspended) before rethrowing it.
class Cancellable {
 public:
  // Suspended on a ref it was given.
  shoal::Task<int> await_ref(int id, shoal::ObjectRef<int> gate) {
    started_.push_back(id);
    try {
      co_return co_await gate;
    } catch (const shoal::TaskCancelledError&) {
      cancelled_.push_back("ref " + std::to_string(id));
      throw;
    }
  }
  // Suspended on an Event that nobody sets.
  shoal::Task<int> await_event(int id) {
    started_.push_back(id);
    try {
      co_await never_.wait();
    } catch (const shoal::TaskCancelledError&) {
      cancelled_.push_back("event " + std::to_string(id));
      throw;
    }
    co_return id;
  }
  // Suspended in a long sleep, two coroutine levels down.
  shoal::Task<int> await_nested_sleep(int id) {
    started_.push_back(id);
    try {
      co_return co_await sleeper(id);
    } catch (const shoal::TaskCancelledError&) {
      cancelled_.push_back("outer " + std::to_string(id));
      throw;
    }
  }
  // Suspended waiting for a semaphore permit.
  shoal::Task<int> await_permit(int id) {
    started_.push_back(id);
    try {
      co_await no_permits_.acquire();
    } catch (const shoal::TaskCancelledError&) {
      cancelled_.push_back("semaphore " + std::to_string(id));
      throw;
    }
    co_return id;
  }
  // Suspended in a gather over refs.
  shoal::Task<int> await_gather(int id, std::vector<shoal::ObjectRef<int>> refs) {
    started_.push_back(id);
    try {
      const std::vector<int> values = co_await shoal::gather(refs);
      co_return int(values.size());
    } catch (const shoal::TaskCancelledError&) {
      cancelled_.push_back("gather " + std::to_string(id));
      throw;
    }
  }
  // Its argument is a ref resolved before the method runs.
  shoal::Task<int> plus_one(int v) { co_return v + 1; }
  int echo(int x) { return x; }
  std::vector<int> started() { return started_; }
  std::vector<std::string> cancelled() { return cancelled_; }

 private:
  shoal::Task<int> sleeper(int id) {
    try {
      co_await shoal::sleep_for(60s);
    } catch (const shoal::TaskCancelledError&) {
      cancelled_.push_back("sleep " + std::to_string(id));
      throw;
    }
    co_return id;
  }

  shoal::Event never_;
  shoal::Semaphore no_permits_{0};
  std::vector<int> started_;
  std::vector<std::string> cancelled_;
};
SHOAL_ACTOR(Cancellable, &Cancellable::await_ref, &Cancellable::await_event,
            &Cancellable::await_nested_sleep, &Cancellable::await_permit,
            &Cancellable::await_gather, &Cancellable::plus_one, &Cancellable::echo,
            &Cancellable::started, &Cancellable::cancelled);

// A coroutine stateless task that waits for ever unless cancelled; it writes
// what happened to `log`.
shoal::Task<int> wait_for_ever(std::string log) {
  shoal::Event never;
  try {
    co_await never.wait();
  } catch (const shoal::TaskCancelledError&) {
    std::ofstream(log) << "cancelled in pid " << ::getpid() << "\n";
    throw;
  }
  co_return 0;
}
shoal::Task<int> quick_task(int v) {
  co_await shoal::sleep_for(1ms);
  co_return v * 2;
}
SHOAL_REMOTE(wait_for_ever, quick_task);

namespace {

class AsyncCancel : public shoal::testing::WorkerSession {};

// Waits until the actor has started the call with this id.
bool started(const shoal::ActorHandle<Cancellable>& a, int id) {
  return eventually(
      [&] {
        const auto s = shoal::get(a.task(&Cancellable::started).remote(), 30s);
        return std::find(s.begin(), s.end(), id) != s.end();
      },
      30s);
}

std::vector<std::string> cancelled(const shoal::ActorHandle<Cancellable>& a) {
  return shoal::get(a.task(&Cancellable::cancelled).remote(), 30s);
}

}  // namespace

// ---- queued calls ------------------------------------------------------------------------------

TEST_F(AsyncCancel, CancelOfACallQueuedBeyondMaxConcurrencyFailsItWithoutWaitingForTheRunningOne) {
  auto latch = shoal::actor<Latch>().options({.max_concurrency = 2}).remote();
  auto a = shoal::actor<Cancellable>().options({.max_concurrency = 1}).remote();
  ASSERT_EQ(shoal::get(a.task(&Cancellable::echo).remote(0), 30s), 0);  // it is up
  auto running =
      a.task(&Cancellable::await_ref).remote(1, latch.task(&Latch::value_when_open).remote(10));
  auto queued = a.task(&Cancellable::echo).remote(2);
  auto behind = a.task(&Cancellable::echo).remote(3);
  const auto t0 = Clock::now();
  shoal::cancel(queued);
  EXPECT_EQ(outcome_of(queued), Outcome::kCancelled);
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  std::printf("a queued call failed %.2f ms after cancel()\n", ms);
  // The running call (and with it the slot the queued call waited for) is
  // still held: the cancellation did not wait for it.
  EXPECT_FALSE(running.ready());
  EXPECT_FALSE(behind.ready());
  shoal::get(latch.task(&Latch::open).remote(), 30s);
  EXPECT_EQ(shoal::get(running, 30s), 10);
  EXPECT_EQ(shoal::get(behind, 30s), 3) << "a call queued behind the cancelled one was lost";
  EXPECT_EQ(outcome_of(queued), Outcome::kCancelled);
  EXPECT_EQ(cancelled(a), std::vector<std::string>{}) << "the running call saw a cancellation";
}

TEST_F(AsyncCancel, CancelOfAQueuedCallMadeWhileTheActorIsStillStartingFailsIt) {
  // The actor's process may not exist yet when cancel() is called: it must
  // find the cancellation when it starts, not only when the call comes up.
  auto latch = shoal::actor<Latch>().options({.max_concurrency = 2}).remote();
  auto a = shoal::actor<Cancellable>().options({.max_concurrency = 1}).remote();
  auto running =
      a.task(&Cancellable::await_ref).remote(1, latch.task(&Latch::value_when_open).remote(10));
  auto queued = a.task(&Cancellable::echo).remote(2);
  shoal::cancel(queued);
  EXPECT_EQ(outcome_of(queued), Outcome::kCancelled);
  EXPECT_FALSE(running.ready());
  shoal::get(latch.task(&Latch::open).remote(), 30s);
  EXPECT_EQ(shoal::get(running, 30s), 10);
}

TEST_F(AsyncCancel, CancelOfSeveralQueuedCallsDropsJustThose) {
  auto latch = shoal::actor<Latch>().options({.max_concurrency = 2}).remote();
  auto a = shoal::actor<Cancellable>().options({.max_concurrency = 1}).remote();
  auto running =
      a.task(&Cancellable::await_ref).remote(0, latch.task(&Latch::value_when_open).remote(5));
  std::vector<shoal::ObjectRef<int>> queued;
  for (int i = 1; i <= 10; ++i)
    queued.push_back(a.task(&Cancellable::echo).remote(i));
  for (size_t i = 0; i < queued.size(); i += 2)
    shoal::cancel(queued[i]);
  for (size_t i = 0; i < queued.size(); i += 2)
    EXPECT_EQ(outcome_of(queued[i]), Outcome::kCancelled) << "call " << i + 1;
  shoal::get(latch.task(&Latch::open).remote(), 30s);
  for (size_t i = 1; i < queued.size(); i += 2)
    EXPECT_EQ(shoal::get(queued[i], 30s), int(i) + 1);
  EXPECT_EQ(shoal::get(running, 30s), 5);
}

// ---- running coroutines ------------------------------------------------------------------------

TEST_F(AsyncCancel, RunningCoroutineGetsTaskCancelledErrorAtItsCoAwaitAndGetThrowsIt) {
  auto a = shoal::actor<Cancellable>().remote();
  auto ref = a.task(&Cancellable::await_event).remote(7);
  ASSERT_TRUE(started(a, 7));
  shoal::cancel(ref);
  try {
    (void)shoal::get(ref, 30s);
    FAIL() << "get returned a value";
  } catch (const shoal::TaskCancelledError& e) {
    EXPECT_NE(std::string(e.what()).find("await_event"), std::string::npos) << e.what();
  }
  EXPECT_EQ(cancelled(a), std::vector<std::string>{"event 7"});
  EXPECT_EQ(shoal::get(a.task(&Cancellable::echo).remote(1), 30s), 1)
      << "the actor stopped serving";
}

TEST_F(AsyncCancel, CancellationReachesACoroutineSuspendedOnARefAndLeavesTheRefAlone) {
  auto latch = shoal::actor<Latch>().options({.max_concurrency = 2}).remote();
  auto gate = latch.task(&Latch::value_when_open).remote(3);
  auto a = shoal::actor<Cancellable>().remote();
  auto ref = a.task(&Cancellable::await_ref).remote(1, gate);
  ASSERT_TRUE(started(a, 1));
  shoal::cancel(ref);
  EXPECT_EQ(outcome_of(ref), Outcome::kCancelled);
  EXPECT_EQ(cancelled(a), std::vector<std::string>{"ref 1"});
  // The object it awaited is not affected: it is sealed later as usual.
  shoal::get(latch.task(&Latch::open).remote(), 30s);
  EXPECT_EQ(shoal::get(gate, 30s), 3);
}

TEST_F(AsyncCancel, CancellationReachesEveryLevelOfNestedCoroutinesOfTheCall) {
  auto a = shoal::actor<Cancellable>().remote();
  auto ref = a.task(&Cancellable::await_nested_sleep).remote(4);
  ASSERT_TRUE(started(a, 4));
  const auto t0 = Clock::now();
  shoal::cancel(ref);
  EXPECT_EQ(outcome_of(ref), Outcome::kCancelled);
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 60.0)
      << "the call ran its 60 s sleep to the end";
  EXPECT_EQ(cancelled(a), (std::vector<std::string>{"sleep 4", "outer 4"}));
}

TEST_F(AsyncCancel, CancellationReachesACoroutineWaitingForASemaphorePermit) {
  auto a = shoal::actor<Cancellable>().remote();
  auto ref = a.task(&Cancellable::await_permit).remote(5);
  ASSERT_TRUE(started(a, 5));
  shoal::cancel(ref);
  EXPECT_EQ(outcome_of(ref), Outcome::kCancelled);
  EXPECT_EQ(cancelled(a), std::vector<std::string>{"semaphore 5"});
}

TEST_F(AsyncCancel, CancellationEndsAGatherOverRefsAtOnce) {
  auto latch = shoal::actor<Latch>().options({.max_concurrency = 4}).remote();
  std::vector<shoal::ObjectRef<int>> gates;
  for (int i = 0; i < 3; ++i)
    gates.push_back(latch.task(&Latch::value_when_open).remote(i));
  auto a = shoal::actor<Cancellable>().remote();
  auto ref = a.task(&Cancellable::await_gather).remote(6, gates);
  ASSERT_TRUE(started(a, 6));
  shoal::cancel(ref);
  EXPECT_EQ(outcome_of(ref), Outcome::kCancelled);
  for (const auto& g : gates)
    EXPECT_FALSE(g.ready()) << "the cancelled gather waited for its refs";
  EXPECT_EQ(cancelled(a), std::vector<std::string>{"gather 6"});
  shoal::get(latch.task(&Latch::open).remote(), 30s);
}

TEST_F(AsyncCancel, CancellingOneRunningCallLeavesTheOtherCallsRunning) {
  auto latch = shoal::actor<Latch>().options({.max_concurrency = 2}).remote();
  auto gate = latch.task(&Latch::value_when_open).remote(8);
  auto a = shoal::actor<Cancellable>().remote();
  auto victim = a.task(&Cancellable::await_ref).remote(1, gate);
  auto sibling = a.task(&Cancellable::await_ref).remote(2, gate);
  ASSERT_TRUE(started(a, 1));
  ASSERT_TRUE(started(a, 2));
  shoal::cancel(victim);
  EXPECT_EQ(outcome_of(victim), Outcome::kCancelled);
  EXPECT_FALSE(sibling.ready());
  shoal::get(latch.task(&Latch::open).remote(), 30s);
  EXPECT_EQ(shoal::get(sibling, 30s), 8);
  EXPECT_EQ(cancelled(a), std::vector<std::string>{"ref 1"});
}

TEST_F(AsyncCancel, CancelOfACallWaitingForItsArgumentRefFailsIt) {
  auto latch = shoal::actor<Latch>().options({.max_concurrency = 2}).remote();
  auto a = shoal::actor<Cancellable>().remote();
  // plus_one takes an int: the call waits for the ref before the method runs.
  auto ref = a.task(&Cancellable::plus_one).remote(latch.task(&Latch::value_when_open).remote(1));
  std::this_thread::sleep_for(20ms);
  shoal::cancel(ref);
  EXPECT_EQ(outcome_of(ref), Outcome::kCancelled);
  shoal::get(latch.task(&Latch::open).remote(), 30s);
  EXPECT_EQ(shoal::get(a.task(&Cancellable::echo).remote(2), 30s), 2);
}

TEST_F(AsyncCancel, CoAwaitOfACancelledRefThrowsTaskCancelledError) {
  auto a = shoal::actor<Cancellable>().remote();
  auto ref = a.task(&Cancellable::await_event).remote(9);
  ASSERT_TRUE(started(a, 9));
  shoal::cancel(ref);
  auto body = [&]() -> shoal::Task<bool> {
    try {
      (void)co_await ref;
    } catch (const shoal::TaskCancelledError&) {
      co_return true;
    }
    co_return false;
  };
  EXPECT_TRUE(shoal::run(shoal::wait_for(body(), 30s)));
}

// ---- finished calls ----------------------------------------------------------------------------

TEST_F(AsyncCancel, CancelOfAFinishedCallDoesNothing) {
  auto a = shoal::actor<Cancellable>().remote();
  auto ref = a.task(&Cancellable::echo).remote(11);
  ASSERT_EQ(shoal::get(ref, 30s), 11);
  shoal::cancel(ref);
  shoal::cancel(ref);
  EXPECT_EQ(shoal::get(ref, 30s), 11);
  EXPECT_EQ(shoal::run(shoal::wait_for(ref, 30s)), 11);
  EXPECT_EQ(cancelled(a), std::vector<std::string>{});
  auto put_ref = shoal::put(12);
  shoal::cancel(put_ref);  // a put object is finished from the start
  EXPECT_EQ(shoal::get(put_ref, 30s), 12);
}

TEST_F(AsyncCancel, CancelTwiceIsTheSameAsOnce) {
  auto a = shoal::actor<Cancellable>().remote();
  auto ref = a.task(&Cancellable::await_event).remote(3);
  ASSERT_TRUE(started(a, 3));
  shoal::cancel(ref);
  shoal::cancel(ref);
  EXPECT_EQ(outcome_of(ref), Outcome::kCancelled);
  shoal::cancel(ref);
  EXPECT_EQ(outcome_of(ref), Outcome::kCancelled);
  EXPECT_EQ(cancelled(a), std::vector<std::string>{"event 3"});
}

// ---- stateless coroutine tasks -----------------------------------------------------------------

TEST_F(AsyncCancel, CancelOfACoroutineStatelessTaskInterruptsItOnItsWorker) {
  const std::string log = ::testing::TempDir() + "/shoal_cancel_task_" + std::to_string(::getpid());
  std::remove(log.c_str());
  auto ref = shoal::task(wait_for_ever).remote(log);
  // The worker starts it; meanwhile it is queued: either way it must end cancelled.
  EXPECT_EQ(shoal::get(shoal::task(quick_task).remote(4), 30s), 8);  // the worker is up
  shoal::cancel(ref);
  EXPECT_EQ(outcome_of(ref), Outcome::kCancelled);
  std::string line;
  std::getline(std::ifstream(log), line);
  EXPECT_EQ(line.rfind("cancelled in pid ", 0), 0u)
      << "the task did not see TaskCancelledError at its co_await: '" << line << "'";
  std::remove(log.c_str());
  // The worker goes on serving.
  EXPECT_EQ(shoal::get(shoal::task(quick_task).remote(21), 30s), 42);
}
