// CallPool, the threads of a threaded actor (or of one of its concurrency
// groups): every call submitted runs exactly once, a long stream of them from
// the one thread that feeds the pool (the ring's, in an actor); a call submitted to a pool whose
// threads all sleep wakes one of them, and as many calls as threads, each blocking until all are
// running, do all run at once (a wake-up per call, none lost); the pool stops promptly. Every wait
// is capped, so a lost wake-up fails the test instead of hanging it.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "core/src/call_pool.hpp"

namespace shoal::testing {
namespace {

using detail::CallInput;
using detail::CallPool;
using Clock = std::chrono::steady_clock;

// The call's number travels in its header.
void submit_numbered(CallPool& pool, uint32_t n) {
  CallInput* in = pool.acquire();
  in->header.method = n;
  pool.submit(in);
}

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds cap) {
  const auto deadline = Clock::now() + cap;
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

TEST(CallPool, EveryCallOfALongStreamRunsExactlyOnce) {
  constexpr uint32_t kSubmitters = 1, kEach = 60'000;
  std::vector<std::atomic<int>> runs(kSubmitters * kEach);
  std::atomic<uint32_t> total{0};
  {
    CallPool pool(4, [&](CallInput& in) {
      runs[in.header.method].fetch_add(1);
      total.fetch_add(1);
    });
    std::vector<std::thread> submitters;
    for (uint32_t t = 0; t < kSubmitters; ++t) {
      submitters.emplace_back([&, t] {
        for (uint32_t i = 0; i < kEach; ++i)
          submit_numbered(pool, t * kEach + i);
      });
    }
    for (std::thread& t : submitters)
      t.join();
    ASSERT_TRUE(
        wait_until([&] { return total.load() == kSubmitters * kEach; }, std::chrono::seconds(60)))
        << total.load() << " of " << kSubmitters * kEach << " calls ran";
  }
  for (uint32_t i = 0; i < kSubmitters * kEach; ++i)
    ASSERT_EQ(runs[i].load(), 1) << "call " << i;
}

TEST(CallPool, ACallSubmittedWhileEveryThreadSleepsRunsPromptly) {
  std::atomic<int> ran{0};
  CallPool pool(8, [&](CallInput&) { ran.fetch_add(1); });
  for (int round = 1; round <= 5; ++round) {
    // Past the spin window and a park timeout: every thread sleeps.
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    const auto start = Clock::now();
    submit_numbered(pool, 0);
    ASSERT_TRUE(wait_until([&] { return ran.load() == round; }, std::chrono::seconds(10)));
    // Well inside a park's 100 ms timeout: the call woke a thread.
    EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(90)) << "round " << round;
  }
}

TEST(CallPool, AsManyBlockingCallsAsThreadsAllRunAtOnce) {
  constexpr int kThreads = 16;
  std::mutex mu;
  std::condition_variable cv;
  int running = 0;
  int most = 0;
  std::atomic<int> done{0};
  CallPool pool(kThreads, [&](CallInput&) {
    std::unique_lock<std::mutex> lock(mu);
    most = std::max(most, ++running);
    cv.notify_all();
    // Each call holds its thread until every call is running (at most 10 s).
    cv.wait_for(lock, std::chrono::seconds(10), [&] { return most == kThreads; });
    --running;
    done.fetch_add(1);
  });
  for (int round = 0; round < 3; ++round) {
    {
      std::lock_guard<std::mutex> lock(mu);
      most = 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(150));  // all asleep
    done.store(0);
    for (int i = 0; i < kThreads; ++i)
      submit_numbered(pool, uint32_t(i));
    ASSERT_TRUE(wait_until([&] { return done.load() == kThreads; }, std::chrono::seconds(20)));
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(most, kThreads) << "round " << round;
  }
}

TEST(CallPool, AnIdlePoolStopsPromptly) {
  const auto start = Clock::now();
  {
    CallPool pool(16, [](CallInput&) {});
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
  }
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));
}

}  // namespace
}  // namespace shoal::testing
