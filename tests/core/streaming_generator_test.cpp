// Streaming generators (Generator<T> methods and remote functions, ObjectRefStream<T>), across
// processes: values arrive in yield order, each as its own object, the first while the
// generator still runs; an exception comes after the values yielded before it; a dead actor
// ends the stream with ActorDiedError; cancel() stops the generator at its next co_yield or
// co_await; back-pressure holds the generator at co_yield until the consumer takes a value; a
// dropped stream frees what it did not take. Cases follow Ray's test_streaming_generator*.py
// where they apply. Every wait is bounded.
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <shoal/shoal.hpp>

#include "tests/support/stream_values.hpp"
#include "tests/support/test_support.hpp"
#include "tests/support/worker_session.hpp"

using namespace std::chrono_literals;
using namespace shoal::testing;

// ---- actors and tasks under test ---------------------------------------------------------------

class Producer {
 public:
  shoal::Generator<int> count(int n) {
    for (int i = 0; i < n; ++i) {
      ++yielded_;
      co_yield i;
    }
    finished_ = true;
  }
  // Yields 0, then waits for release() before yielding 1 .. n-1.
  shoal::Generator<int> held(int n) {
    ++yielded_;
    co_yield 0;
    co_await release_.wait();
    for (int i = 1; i < n; ++i) {
      ++yielded_;
      co_yield i;
    }
  }
  // Yields 0 .. n-1, then throws.
  shoal::Generator<int> failing(int n) {
    for (int i = 0; i < n; ++i)
      co_yield i;
    throw std::runtime_error("generator failed after " + std::to_string(n) + " values");
  }
  // Yields 0, then waits for an event nobody sets; notes a cancellation.
  shoal::Generator<int> stuck() {
    co_yield 0;
    try {
      co_await never_.wait();
    } catch (const shoal::TaskCancelledError&) {
      cancelled_at_ = "co_await";
      throw;
    }
    co_yield 1;
  }
  // Yields i, sleeps 1 ms (a co_await), for ever; notes where a cancellation reached it.
  shoal::Generator<int> ticking() {
    for (int i = 0;; ++i) {
      try {
        co_await shoal::sleep_for(1ms);
      } catch (const shoal::TaskCancelledError&) {
        cancelled_at_ = "co_await";
        throw;
      }
      try {
        co_yield i;
      } catch (const shoal::TaskCancelledError&) {
        cancelled_at_ = "co_yield";
        throw;
      }
    }
  }
  // Yields for ever without ever awaiting: only co_yield can stop it. Busy 1 ms per value.
  shoal::Generator<int> busy() {
    for (int i = 0;; ++i) {
      const auto until = std::chrono::steady_clock::now() + 1ms;
      while (std::chrono::steady_clock::now() < until) {
      }
      try {
        co_yield i;
      } catch (const shoal::TaskCancelledError&) {
        cancelled_at_ = "co_yield";
        throw;
      }
    }
  }
  // Yields n vectors of `bytes` bytes, vector i filled with i.
  shoal::Generator<std::vector<uint8_t>> blobs(int n, int bytes) {
    for (int i = 0; i < n; ++i)
      co_yield std::vector<uint8_t>(size_t(bytes), uint8_t(i));
    finished_ = true;
  }
  shoal::Generator<std::string> words(std::vector<std::string> ws) {
    for (const auto& w : ws)
      co_yield w;
  }
  // Blocking iteration of a stream inside an async actor: not allowed.
  shoal::Task<std::string> iterate_blocking(shoal::ActorHandle<Producer> other) {
    auto s = other.task(&Producer::count).remote(3);
    try {
      for (auto r : s)
        (void)r;
    } catch (const shoal::EventLoopBlockedError&) {
      co_return "EventLoopBlockedError";
    }
    co_return "iterated";
  }
  int release() {
    release_.set();
    return 0;
  }
  int yielded() { return yielded_; }
  bool finished() { return finished_; }
  std::string cancelled_at() { return cancelled_at_; }
  int echo(int v) { return v; }

 private:
  shoal::Event release_;
  shoal::Event never_;
  int yielded_ = 0;
  bool finished_ = false;
  std::string cancelled_at_;
};
SHOAL_ACTOR(Producer, &Producer::count, &Producer::held, &Producer::stuck, &Producer::failing,
            &Producer::ticking, &Producer::busy, &Producer::blobs, &Producer::words,
            &Producer::iterate_blocking, &Producer::release, &Producer::yielded,
            &Producer::finished, &Producer::cancelled_at, &Producer::echo);

// Another async actor that consumes a stream with co_await next().
class Summer {
 public:
  shoal::Task<std::vector<int>> collect(shoal::ActorHandle<Producer> p, int n) {
    std::vector<int> out;
    auto s = p.task(&Producer::count).remote(n);
    while (std::optional<shoal::ObjectRef<int>> r = co_await s.next())
      out.push_back(co_await *r);
    co_return out;
  }
  int plus_one(int v) { return v + 1; }
};
SHOAL_ACTOR(Summer, &Summer::collect, &Summer::plus_one);

shoal::Generator<int> squares(int n) {
  for (int i = 0; i < n; ++i) {
    co_await shoal::sleep_for(100us);
    co_yield i* i;
  }
}
shoal::Generator<int> task_failing(int n) {
  for (int i = 0; i < n; ++i)
    co_yield i;
  throw std::invalid_argument("task generator failed");
}
SHOAL_REMOTE(squares, task_failing);

// A consumer in another process: takes one value of a bounded stream of the named Producer,
// then dies by SIGKILL with the stream unfinished.
SHOAL_TEST_PEER(take_one_and_die) {
  auto p = shoal::get_actor<Producer>(args.at(0));
  auto s = p.task(&Producer::count).remote(20);
  auto it = s.begin();
  if (shoal::get(*it, 30s) != 0) return 1;
  ::kill(::getpid(), SIGKILL);
  return 2;
}

namespace {

class StreamingGenerator : public shoal::testing::WorkerSession {};

}  // namespace

// ---- values in order ---------------------------------------------------------------------------

TEST_F(StreamingGenerator, ActorGeneratorYieldsItsValuesInOrderAndEnds) {
  auto p = shoal::actor<Producer>().remote();
  auto s = p.task(&Producer::count).remote(10);
  EXPECT_EQ(values_of(s), (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_TRUE(s.done());
  EXPECT_TRUE(shoal::get(p.task(&Producer::finished).remote(), 30s));
}

TEST_F(StreamingGenerator, EachValueIsItsOwnObjectAndOutlivesTheStream) {
  auto p = shoal::actor<Producer>().remote();
  std::vector<shoal::ObjectRef<std::string>> refs;
  {
    auto s = p.task(&Producer::words).remote(std::vector<std::string>{"a", "bb", "ccc"});
    for (const auto& r : s)
      refs.push_back(r);
  }
  ASSERT_EQ(refs.size(), 3u);
  EXPECT_NE(refs[0].id(), refs[1].id());
  EXPECT_EQ(shoal::get(refs[0], 30s), "a");
  EXPECT_EQ(shoal::get(refs[2], 30s), "ccc");
  // A ref from a stream passes to another actor like any other.
  auto summer = shoal::actor<Summer>().remote();
  auto first = p.task(&Producer::count).remote(1);
  auto it = first.begin();
  EXPECT_EQ(shoal::get(summer.task(&Summer::plus_one).remote(*it), 30s), 1);
}

TEST_F(StreamingGenerator, AGeneratorThatYieldsNothingEndsAtOnce) {
  auto p = shoal::actor<Producer>().remote();
  auto s = p.task(&Producer::count).remote(0);
  EXPECT_EQ(values_of(s), std::vector<int>{});
  auto t = p.task(&Producer::count).remote(0);
  EXPECT_EQ(next_within(t), std::nullopt);
  EXPECT_EQ(next_within(t), std::nullopt) << "next() after the end is the end again";
}

TEST_F(StreamingGenerator, TheFirstRefArrivesWhileTheGeneratorStillRuns) {
  auto p = shoal::actor<Producer>().remote();
  auto s = p.task(&Producer::held).remote(4);
  auto first = next_within(s);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(shoal::get(*first, 30s), 0);
  // The generator is still suspended, waiting for release(): the stream has not ended.
  EXPECT_FALSE(s.done());
  EXPECT_EQ(shoal::get(p.task(&Producer::yielded).remote(), 30s), 1);
  shoal::get(p.task(&Producer::release).remote(), 30s);
  EXPECT_EQ(values_of(s), (std::vector<int>{1, 2, 3}));
}

TEST_F(StreamingGenerator, ManyStreamsOfOneActorInterleave) {
  auto p = shoal::actor<Producer>().remote();
  auto a = p.task(&Producer::count).remote(50);
  auto b = p.task(&Producer::count).remote(30);
  std::vector<int> va, vb;
  for (int i = 0; i < 50; ++i) {
    auto r = next_within(a);
    ASSERT_TRUE(r.has_value());
    va.push_back(shoal::get(*r, 30s));
    if (i < 30) {
      auto q = next_within(b);
      ASSERT_TRUE(q.has_value());
      vb.push_back(shoal::get(*q, 30s));
    }
  }
  EXPECT_EQ(next_within(a), std::nullopt);
  EXPECT_EQ(next_within(b), std::nullopt);
  for (int i = 0; i < 50; ++i)
    EXPECT_EQ(va[size_t(i)], i);
  for (int i = 0; i < 30; ++i)
    EXPECT_EQ(vb[size_t(i)], i);
}

// ---- errors ------------------------------------------------------------------------------------

TEST_F(StreamingGenerator, AnExceptionMidStreamComesAfterTheValuesYieldedBeforeIt) {
  auto p = shoal::actor<Producer>().remote();
  auto s = p.task(&Producer::failing).remote(3);
  std::vector<int> got;
  try {
    for (const auto& r : s)
      got.push_back(shoal::get(r, 30s));
    FAIL() << "the stream ended without the generator's error";
  } catch (const shoal::TaskError& e) {
    EXPECT_NE(std::string(e.what()).find("generator failed after 3 values"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2}));
  EXPECT_TRUE(s.done());
  // The actor serves on.
  EXPECT_EQ(shoal::get(p.task(&Producer::echo).remote(7), 30s), 7);
}

TEST_F(StreamingGenerator, AnActorKilledMidStreamEndsItWithActorDiedError) {
  auto p = shoal::actor<Producer>().remote();
  auto s = p.task(&Producer::held).remote(4);
  auto first = next_within(s);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(shoal::get(*first, 30s), 0);
  shoal::kill(p);
  EXPECT_THROW(next_within(s), shoal::ActorDiedError);
  EXPECT_TRUE(s.done());
  // The value taken before the death is still there.
  EXPECT_EQ(shoal::get(*first, 30s), 0);
}

TEST_F(StreamingGenerator, AStreamOfADeadActorFailsWithActorDiedError) {
  auto p = shoal::actor<Producer>().remote();
  EXPECT_EQ(shoal::get(p.task(&Producer::echo).remote(1), 30s), 1);
  shoal::kill(p);
  ASSERT_TRUE(eventually([&] {
    try {
      shoal::get(p.task(&Producer::echo).remote(1), 30s);
      return false;
    } catch (const shoal::ActorDiedError&) {
      return true;
    }
  }));
  auto s = p.task(&Producer::count).remote(3);
  EXPECT_THROW(next_within(s), shoal::ActorDiedError);
}

TEST_F(StreamingGenerator, BlockingIterationInsideAnAsyncActorIsRefused) {
  auto p = shoal::actor<Producer>().remote();
  auto other = shoal::actor<Producer>().remote();
  EXPECT_EQ(shoal::get(p.task(&Producer::iterate_blocking).remote(other), 30s),
            "EventLoopBlockedError");
}

// ---- cancel ------------------------------------------------------------------------------------

TEST_F(StreamingGenerator, CancelStopsTheGeneratorWhereItIsSuspended) {
  auto p = shoal::actor<Producer>().remote();
  auto s = p.task(&Producer::stuck).remote();
  auto r = next_within(s);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(shoal::get(*r, 30s), 0);
  shoal::cancel(s);
  EXPECT_THROW(next_within(s), shoal::TaskCancelledError);
  EXPECT_TRUE(s.done());
  EXPECT_EQ(shoal::get(p.task(&Producer::cancelled_at).remote(), 30s), "co_await");
  EXPECT_EQ(shoal::get(*r, 30s), 0) << "a value taken before the cancel is kept";
}

TEST_F(StreamingGenerator, CancelStopsATickingGeneratorAtItsNextCoYieldOrCoAwait) {
  auto p = shoal::actor<Producer>().remote();
  auto s = p.task(&Producer::ticking).remote();
  for (int i = 0; i < 3; ++i) {
    auto r = next_within(s);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(shoal::get(*r, 30s), i);
  }
  shoal::cancel(s);
  // Values yielded before the cancellation reached the generator may still come, in order.
  int expect = 3;
  try {
    while (auto r = next_within(s))
      EXPECT_EQ(shoal::get(*r, 30s), expect++);
    FAIL() << "the stream ended without TaskCancelledError";
  } catch (const shoal::TaskCancelledError&) {
  }
  EXPECT_TRUE(s.done());
  EXPECT_TRUE(eventually(
      [&] { return !shoal::get(p.task(&Producer::cancelled_at).remote(), 30s).empty(); }));
  const std::string at = shoal::get(p.task(&Producer::cancelled_at).remote(), 30s);
  EXPECT_TRUE(at == "co_await" || at == "co_yield") << at;
  EXPECT_EQ(shoal::get(p.task(&Producer::echo).remote(5), 30s), 5);
}

TEST_F(StreamingGenerator, CancelStopsAGeneratorThatNeverAwaitsAtItsNextCoYield) {
  auto p = shoal::actor<Producer>().remote();
  auto s = p.task(&Producer::busy).remote();
  auto r = next_within(s);
  ASSERT_TRUE(r.has_value());
  shoal::cancel(s);
  EXPECT_THROW(
      {
        while (next_within(s)) {
        }
      },
      shoal::TaskCancelledError);
  EXPECT_EQ(shoal::get(p.task(&Producer::cancelled_at).remote(), 30s), "co_yield");
}

TEST_F(StreamingGenerator, CancelOfAStreamStillQueuedDropsIt) {
  auto p = shoal::actor<Producer>().options({.max_concurrency = 1}).remote();
  auto running = p.task(&Producer::held).remote(2);
  ASSERT_TRUE(next_within(running).has_value());  // holds the one slot
  auto queued = p.task(&Producer::count).remote(5);
  shoal::cancel(queued);
  EXPECT_THROW(next_within(queued), shoal::TaskCancelledError);
  EXPECT_FALSE(running.done());
  // The running one, holding the actor's one slot, is cancelled where it waits; the actor then
  // serves on.
  shoal::cancel(running);
  EXPECT_THROW(next_within(running), shoal::TaskCancelledError);
  EXPECT_EQ(shoal::get(p.task(&Producer::echo).remote(3), 30s), 3);
}

TEST_F(StreamingGenerator, CancelOfAnEndedStreamDoesNothing) {
  auto p = shoal::actor<Producer>().remote();
  auto s = p.task(&Producer::count).remote(2);
  EXPECT_EQ(values_of(s), (std::vector<int>{0, 1}));
  shoal::cancel(s);
  EXPECT_EQ(next_within(s), std::nullopt);
}

// ---- back-pressure -----------------------------------------------------------------------------

TEST_F(StreamingGenerator, TheFirstRefIsGottenWhileTheGeneratorWaitsForTheConsumer) {
  auto p = shoal::actor<Producer>().options({.generator_backpressure = 1}).remote();
  auto s = p.task(&Producer::count).remote(5);
  // Nothing taken: the generator yielded one value and waits at its co_yield.
  ASSERT_TRUE(
      eventually([&] { return shoal::get(p.task(&Producer::yielded).remote(), 30s) >= 1; }));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(shoal::get(p.task(&Producer::yielded).remote(), 30s), 1);
  auto first = next_within(s);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(shoal::get(*first, 30s), 0);
  // One taken: it may yield one more, and waits again.
  ASSERT_TRUE(
      eventually([&] { return shoal::get(p.task(&Producer::yielded).remote(), 30s) >= 2; }));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(shoal::get(p.task(&Producer::yielded).remote(), 30s), 2);
  EXPECT_FALSE(shoal::get(p.task(&Producer::finished).remote(), 30s));
  EXPECT_EQ(values_of(s), (std::vector<int>{1, 2, 3, 4}));
  EXPECT_TRUE(shoal::get(p.task(&Producer::finished).remote(), 30s));
}

TEST_F(StreamingGenerator, ABoundedStreamDroppedWhileTheGeneratorWaitsLetsItFinish) {
  auto p = shoal::actor<Producer>().options({.generator_backpressure = 2}).remote();
  const uint64_t objects = store_live_objects();
  {
    auto s = p.task(&Producer::count).remote(20);
    auto r = next_within(s);
    ASSERT_TRUE(r.has_value());
    ASSERT_TRUE(
        eventually([&] { return shoal::get(p.task(&Producer::yielded).remote(), 30s) >= 3; }));
    EXPECT_FALSE(shoal::get(p.task(&Producer::finished).remote(), 30s));
  }
  EXPECT_TRUE(eventually([&] { return shoal::get(p.task(&Producer::finished).remote(), 30s); }))
      << "the generator still waits for a consumer that is gone";
  EXPECT_EQ(shoal::get(p.task(&Producer::yielded).remote(), 30s), 20);
  EXPECT_TRUE(eventually([&] { return store_live_objects() <= objects; }))
      << store_live_objects() << " objects, " << objects << " before the stream";
}

TEST_F(StreamingGenerator, AConsumerKilledMidStreamLetsABoundedGeneratorFinish) {
  auto p =
      shoal::actor<Producer>().options({.name = "bounded", .generator_backpressure = 1}).remote();
  EXPECT_EQ(shoal::get(p.task(&Producer::echo).remote(0), 30s), 0);
  const uint64_t objects = store_live_objects();
  const pid_t peer = spawn_peer("take_one_and_die", {"bounded"});
  EXPECT_EQ(wait_child(peer, 60s), 128 + SIGKILL);
  EXPECT_TRUE(eventually([&] { return shoal::get(p.task(&Producer::finished).remote(), 30s); }))
      << "the generator still waits for a consumer that died";
  EXPECT_EQ(shoal::get(p.task(&Producer::yielded).remote(), 30s), 20);
  EXPECT_TRUE(eventually([&] { return store_live_objects() <= objects; }))
      << store_live_objects() << " objects, " << objects << " before the stream";
}

TEST_F(StreamingGenerator, ABackpressureBoundBelowOneIsRefused) {
  EXPECT_THROW(shoal::actor<Producer>().options({.generator_backpressure = 0}).remote(),
               std::invalid_argument);
  auto p = shoal::actor<Producer>().remote();
  EXPECT_THROW(
      p.task(&Producer::count).options(shoal::CallOptions{.generator_backpressure = -1}).remote(3),
      std::invalid_argument);
}

TEST_F(StreamingGenerator, CallOptionsBoundTheStreamOfOneCall) {
  auto p = shoal::actor<Producer>().remote();  // unbounded by default
  auto s =
      p.task(&Producer::count).options(shoal::CallOptions{.generator_backpressure = 2}).remote(6);
  ASSERT_TRUE(
      eventually([&] { return shoal::get(p.task(&Producer::yielded).remote(), 30s) >= 2; }));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(shoal::get(p.task(&Producer::yielded).remote(), 30s), 2);
  EXPECT_EQ(values_of(s), (std::vector<int>{0, 1, 2, 3, 4, 5}));
  // The next call of the same method, without the option, is unbounded again: it yields all
  // of its values before the consumer takes any.
  auto t = p.task(&Producer::count).remote(50);
  EXPECT_TRUE(
      eventually([&] { return shoal::get(p.task(&Producer::yielded).remote(), 30s) == 56; }));
  EXPECT_EQ(values_of(t).size(), 50u);
}

// ---- memory ------------------------------------------------------------------------------------

TEST_F(StreamingGenerator, ADroppedStreamFreesWhatItDidNotTakeAndWhatComesAfter) {
  auto p = shoal::actor<Producer>().remote();
  EXPECT_EQ(shoal::get(p.task(&Producer::echo).remote(0), 30s), 0);
  const uint64_t objects = store_live_objects();
  {
    auto s = p.task(&Producer::blobs).remote(200, 4096);
    for (int i = 0; i < 3; ++i)
      ASSERT_TRUE(next_within(s).has_value());
  }
  EXPECT_TRUE(eventually([&] { return shoal::get(p.task(&Producer::finished).remote(), 30s); }));
  EXPECT_TRUE(eventually([&] { return store_live_objects() <= objects; }))
      << store_live_objects() << " objects, " << objects << " before the stream";
}

TEST_F(StreamingGenerator, RefsTakenAndDroppedFreeTheirObjects) {
  auto p = shoal::actor<Producer>().remote();
  EXPECT_EQ(shoal::get(p.task(&Producer::echo).remote(0), 30s), 0);
  const uint64_t objects = store_live_objects();
  {
    auto s = p.task(&Producer::blobs).remote(100, 1024);
    int n = 0;
    for (const auto& r : s)
      n += int(shoal::get_view(r).size() == 1024);
    EXPECT_EQ(n, 100);
  }
  EXPECT_TRUE(eventually([&] { return store_live_objects() <= objects; }))
      << store_live_objects() << " objects, " << objects << " before the stream";
}

TEST_F(StreamingGenerator, LargeValuesAreReadInPlaceWithGetView) {
  auto p = shoal::actor<Producer>().remote();
  constexpr int kBytes = 4 << 20;
  auto s = p.task(&Producer::blobs).remote(5, kBytes);
  int i = 0;
  for (const auto& r : s) {
    auto v = shoal::get_view(r);
    ASSERT_EQ(v.size(), size_t(kBytes));
    EXPECT_EQ(v[0], uint8_t(i));
    EXPECT_EQ(v[size_t(kBytes) - 1], uint8_t(i));
    ++i;
  }
  EXPECT_EQ(i, 5);
}

// ---- consumers and producers elsewhere ---------------------------------------------------------

TEST_F(StreamingGenerator, AnotherAsyncActorConsumesAStreamWithCoAwaitNext) {
  auto p = shoal::actor<Producer>().remote();
  auto summer = shoal::actor<Summer>().remote();
  std::vector<int> expect(100);
  for (int i = 0; i < 100; ++i)
    expect[size_t(i)] = i;
  EXPECT_EQ(shoal::get(summer.task(&Summer::collect).remote(p, 100), 30s), expect);
}

TEST_F(StreamingGenerator, ARemoteFunctionGeneratorStreamsFromItsWorker) {
  auto s = shoal::task(squares).remote(6);
  EXPECT_EQ(values_of(s), (std::vector<int>{0, 1, 4, 9, 16, 25}));
  auto f = shoal::task(task_failing).remote(2);
  std::vector<int> got;
  try {
    for (const auto& r : f)
      got.push_back(shoal::get(r, 30s));
    FAIL() << "no error";
  } catch (const shoal::TaskError& e) {
    EXPECT_NE(std::string(e.what()).find("task generator failed"), std::string::npos) << e.what();
  }
  EXPECT_EQ(got, (std::vector<int>{0, 1}));
}

TEST_F(StreamingGenerator, AStreamMovesToAnotherThreadOfTheConsumer) {
  auto p = shoal::actor<Producer>().remote();
  auto s = p.task(&Producer::count).remote(5);
  auto first = next_within(s);
  ASSERT_TRUE(first.has_value());
  shoal::ObjectRefStream<int> moved = std::move(s);
  EXPECT_TRUE(s.done());
  std::vector<int> got;
  std::thread t([&] { got = values_of(moved); });
  t.join();
  EXPECT_EQ(got, (std::vector<int>{1, 2, 3, 4}));
}
