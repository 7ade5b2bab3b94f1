// WakeWord: the interprocess eventcount. Parking and notifying across
// processes, the free notify when nobody waits, and waiters that die parked.
#include "ipc/wake_word.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "tests/ipc/process_helpers.hpp"

namespace shoal::ipc {
namespace {

using testing::blocked_in_futex;
using testing::eventually;
using testing::fork_child;
using testing::wait_child;

struct Board {
  WakeWord wake;
  std::atomic<uint32_t> flag{0};
  std::atomic<uint32_t> woken{0};
};

// The waiter's side of the protocol, as everyone in shoal writes it.
bool wait_for_flag(Board& b, uint32_t want, std::optional<std::chrono::nanoseconds> park) {
  for (;;) {
    const uint32_t token = b.wake.prepare();
    if (b.flag.load(std::memory_order_acquire) >= want) return true;
    if (!b.wake.park(token, park)) return false;  // timed out
  }
}

TEST(WakeWord, NotifyWithoutWaitersLeavesTheWordUnchanged) {
  WakeWord w;
  const uint32_t before = w.raw();
  for (int i = 0; i < 1000; ++i)
    w.notify();
  EXPECT_EQ(w.raw(), before) << "no waiter bit: one load, no store, no syscall";
}

TEST(WakeWord, NotifyAfterPrepareStartsANewEpochAndClearsTheWaiterBit) {
  WakeWord w;
  const uint32_t token = w.prepare();
  EXPECT_EQ(token, WakeWord::kWaiters);
  EXPECT_EQ(w.raw(), WakeWord::kWaiters);
  w.notify();
  EXPECT_EQ(w.raw(), 1u);
  // A park on the old token returns at once: the epoch moved.
  EXPECT_TRUE(w.park(token, std::chrono::seconds(30)));
  w.notify();
  EXPECT_EQ(w.raw(), 1u) << "nobody announced since";
}

TEST(WakeWord, EpochWrapsWithinItsBits) {
  WakeWord w;
  reinterpret_cast<std::atomic<uint32_t>&>(w).store(WakeWord::kEpochMask);
  w.prepare();
  w.notify();
  EXPECT_EQ(w.raw(), 0u);
}

TEST(WakeWord, ParkTimesOutWhenNobodyNotifies) {
  WakeWord w;
  const uint32_t token = w.prepare();
  EXPECT_FALSE(w.park(token, std::chrono::milliseconds(20)));
}

TEST(WakeWord, NotifyWakesEveryParkedThread) {
  Board b;
  std::atomic<int> done{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      if (wait_for_flag(b, 1, std::nullopt)) done.fetch_add(1);
    });
  }
  ASSERT_TRUE(eventually([&] { return (b.wake.raw() & WakeWord::kWaiters) != 0; }));
  b.flag.store(1, std::memory_order_release);
  b.wake.notify();
  for (auto& t : threads)
    t.join();  // a lost wake-up hangs here (the ctest timeout)
  EXPECT_EQ(done.load(), 4);
}

TEST(WakeWord, ParkAndNotifyAcrossProcesses) {
  testing::Shared<Board> b;
  const pid_t child = fork_child([&] {
    // No timeout: only a notify can get it out.
    return wait_for_flag(*b, 1, std::nullopt) ? 0 : 1;
  });
  ASSERT_TRUE(eventually(
      [&] { return (b->wake.raw() & WakeWord::kWaiters) != 0 && blocked_in_futex(child); },
      std::chrono::seconds(30)));
  b->flag.store(1, std::memory_order_release);
  b->wake.notify();
  EXPECT_EQ(wait_child(child, std::chrono::seconds(30)), 0) << "the parked child was woken";
}

TEST(WakeWord, PingPongBetweenProcessesLosesNoWakeUp) {
  // Two words, strict alternation: any lost wake-up parks one side for good.
  struct Pair {
    Board ping, pong;
  };
  testing::Shared<Pair> p;
  constexpr uint32_t kRounds = 2000;
  const pid_t child = fork_child([&] {
    for (uint32_t i = 1; i <= kRounds; ++i) {
      if (!wait_for_flag(p->ping, i, std::nullopt)) return 1;
      p->pong.flag.store(i, std::memory_order_release);
      p->pong.wake.notify();
    }
    return 0;
  });
  for (uint32_t i = 1; i <= kRounds; ++i) {
    p->ping.flag.store(i, std::memory_order_release);
    p->ping.wake.notify();
    ASSERT_TRUE(wait_for_flag(p->pong, i, std::chrono::seconds(30))) << "round " << i;
  }
  EXPECT_EQ(wait_child(child, std::chrono::seconds(30)), 0);
}

TEST(WakeWord, AWaiterKilledWhileParkedDoesNotWedgeLaterNotifies) {
  testing::Shared<Board> b;
  const pid_t doomed = fork_child([&] { return wait_for_flag(*b, 1, std::nullopt) ? 0 : 1; });
  ASSERT_TRUE(eventually([&] { return blocked_in_futex(doomed); }, std::chrono::seconds(30)));
  testing::kill_and_reap(doomed);
  EXPECT_NE(b->wake.raw() & WakeWord::kWaiters, 0u) << "the dead waiter's announcement stays";

  // A notify with nobody left costs one wasted wake and clears the bit.
  b->wake.notify();
  EXPECT_EQ(b->wake.raw() & WakeWord::kWaiters, 0u);
  const uint32_t settled = b->wake.raw();
  b->wake.notify();
  EXPECT_EQ(b->wake.raw(), settled);

  // A new waiter parks and is woken as usual.
  const pid_t next = fork_child([&] { return wait_for_flag(*b, 2, std::nullopt) ? 0 : 1; });
  ASSERT_TRUE(eventually([&] { return blocked_in_futex(next); }, std::chrono::seconds(30)));
  b->flag.store(2, std::memory_order_release);
  b->wake.notify();
  EXPECT_EQ(wait_child(next, std::chrono::seconds(30)), 0);
}

TEST(WakeWord, AWaiterKilledWhileParkedBesideALiveOneStillLetsTheLiveOneWake) {
  testing::Shared<Board> b;
  const pid_t doomed = fork_child([&] { return wait_for_flag(*b, 1, std::nullopt) ? 0 : 1; });
  const pid_t live = fork_child([&] { return wait_for_flag(*b, 1, std::nullopt) ? 0 : 1; });
  ASSERT_TRUE(eventually([&] { return blocked_in_futex(doomed) && blocked_in_futex(live); },
                         std::chrono::seconds(30)));
  testing::kill_and_reap(doomed);
  b->flag.store(1, std::memory_order_release);
  b->wake.notify();
  EXPECT_EQ(wait_child(live, std::chrono::seconds(30)), 0);
}

}  // namespace
}  // namespace shoal::ipc
