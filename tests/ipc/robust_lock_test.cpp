// RobustLock: mutual exclusion across threads and processes, and a holder
// killed with the lock held: waiters take it over once the supervisor marks
// the holder dead, and learn that the data may need repair.
#include "ipc/robust_lock.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "tests/ipc/process_helpers.hpp"

namespace shoal::ipc {
namespace {

using testing::eventually;
using testing::fork_child;
using testing::wait_child;

constexpr uint32_t kSlots = 16;

// Everything the processes share: the lock, a process table, and data the
// lock protects (plain memory: only the lock orders it).
struct Arena {
  RobustLock lock;
  std::atomic<uint32_t> inside{0};    // how many are in the critical section
  std::atomic<uint32_t> overlaps{0};  // times someone found another inside
  std::atomic<uint32_t> stage{0};
  std::atomic<uint32_t> result{0};
  uint64_t counter = 0;
  uint64_t check = 0;  // always == counter outside the lock
  ProcessSlot slots[kSlots];
};

struct Fixture {
  Fixture() : table(arena->slots, kSlots) {}
  ProcessSlotId claim(pid_t pid) { return *table.claim(pid, ProcessKind::kActor, kNoProcess, "t"); }
  testing::Shared<Arena> arena;
  ProcessTable table;
};

void critical_section(Arena& a) {
  if (a.inside.fetch_add(1, std::memory_order_relaxed) != 0) {
    a.overlaps.fetch_add(1, std::memory_order_relaxed);
  }
  const uint64_t c = a.counter;
  a.counter = c + 1;
  a.check = a.check + 1;
  a.inside.fetch_sub(1, std::memory_order_relaxed);
}

TEST(RobustLock, UncontendedLockUnlock) {
  Fixture f;
  const ProcessSlotId me = f.claim(::getpid());
  EXPECT_EQ(f.arena->lock.lock(me, f.table), RobustLock::Acquired::kClean);
  EXPECT_TRUE(f.arena->lock.held_by(me));
  f.arena->lock.unlock();
  EXPECT_FALSE(f.arena->lock.held_by(me));
  EXPECT_FALSE(f.arena->lock.take_over(me, me)) << "nobody holds it";
}

TEST(RobustLock, MutualExclusionAcrossThreads) {
  Fixture f;
  constexpr int kThreads = 4, kIters = 20'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    const ProcessSlotId me = f.claim(1000 + t);
    threads.emplace_back([&, me] {
      for (int i = 0; i < kIters; ++i) {
        EXPECT_EQ(f.arena->lock.lock(me, f.table), RobustLock::Acquired::kClean);
        critical_section(*f.arena);
        f.arena->lock.unlock();
      }
    });
  }
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(f.arena->counter, uint64_t(kThreads) * kIters);
  EXPECT_EQ(f.arena->overlaps.load(), 0u);
}

TEST(RobustLock, MutualExclusionAcrossProcessesUnderContention) {
  Fixture f;
  constexpr int kProcs = 4, kIters = 50'000;
  std::vector<pid_t> kids;
  for (int k = 0; k < kProcs; ++k) {
    kids.push_back(fork_child([&] {
      const ProcessSlotId me = *f.table.claim(::getpid(), ProcessKind::kActor, kNoProcess, "p");
      f.arena->result.fetch_add(1);
      while (f.arena->stage.load() == 0)
        sched_yield();  // all start together
      for (int i = 0; i < kIters; ++i) {
        if (f.arena->lock.lock(me, f.table) != RobustLock::Acquired::kClean) return 1;
        critical_section(*f.arena);
        if ((i & 1023) == 0) sched_yield();  // be preempted while holding, now and then
        f.arena->lock.unlock();
      }
      return 0;
    }));
  }
  ASSERT_TRUE(eventually([&] { return f.arena->result.load() == uint32_t(kProcs); },
                         std::chrono::seconds(30)));
  f.arena->stage.store(1);
  for (pid_t p : kids)
    EXPECT_EQ(wait_child(p, std::chrono::seconds(120)), 0);
  EXPECT_EQ(f.arena->counter, uint64_t(kProcs) * kIters);
  EXPECT_EQ(f.arena->check, f.arena->counter);
  EXPECT_EQ(f.arena->overlaps.load(), 0u);
}

TEST(RobustLock, WaiterRecoversTheLockOfAHolderKilledWhileHoldingIt) {
  Fixture f;
  Arena& a = *f.arena;
  const pid_t holder = fork_child([&]() -> int {
    const ProcessSlotId me = *f.table.claim(::getpid(), ProcessKind::kActor, kNoProcess, "h");
    a.lock.lock(me, f.table);
    a.counter = 41;  // mid-update when it dies
    a.stage.store(1);
    for (;;)
      ::pause();
  });
  ASSERT_TRUE(eventually([&] { return a.stage.load() == 1; }, std::chrono::seconds(30)));
  const pid_t waiter = fork_child([&] {
    const ProcessSlotId me = *f.table.claim(::getpid(), ProcessKind::kActor, kNoProcess, "w");
    a.stage.store(2);
    const auto got = a.lock.lock(me, f.table);
    a.result.store(got == RobustLock::Acquired::kRecovered ? 1 : 2);
    if (got != RobustLock::Acquired::kRecovered) return 1;
    if (!a.lock.held_by(me)) return 2;
    a.counter = 42;  // the repair
    a.lock.unlock();
    return 0;
  });
  ASSERT_TRUE(eventually([&] { return a.stage.load() == 2; }, std::chrono::seconds(30)));
  testing::kill_and_reap(holder);
  // Dead but not yet marked: nobody may take the lock. (The waiter polls; give
  // it many polls' worth of chances to get this wrong.)
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(a.result.load(), 0u) << "the lock was taken while its holder's slot was alive";

  ProcessSlotId holder_slot = kNoProcess;
  for (uint32_t i = 0; i < kSlots; ++i) {
    if (f.table.pid(ProcessSlotId(i)) == holder) holder_slot = ProcessSlotId(i);
  }
  ASSERT_NE(holder_slot, kNoProcess);
  ASSERT_TRUE(f.table.mark_dead(holder_slot, holder));
  EXPECT_EQ(wait_child(waiter, std::chrono::seconds(30)), 0);
  EXPECT_EQ(a.result.load(), 1u);
  EXPECT_EQ(a.counter, 42u);

  // Clean again for everyone.
  const ProcessSlotId me = f.claim(::getpid());
  EXPECT_EQ(a.lock.lock(me, f.table), RobustLock::Acquired::kClean);
  a.lock.unlock();
}

TEST(RobustLock, TakeOverFromADeadHolder) {
  Fixture f;
  Arena& a = *f.arena;
  const ProcessSlotId dead = f.claim(12345);
  const ProcessSlotId me = f.claim(::getpid());
  ASSERT_EQ(a.lock.lock(dead, f.table), RobustLock::Acquired::kClean);
  EXPECT_FALSE(a.lock.take_over(me, me)) << "held by someone else than the named process";
  ASSERT_TRUE(f.table.mark_dead(dead, 12345));
  EXPECT_TRUE(a.lock.take_over(dead, me));
  EXPECT_TRUE(a.lock.held_by(me));
  EXPECT_FALSE(a.lock.take_over(dead, me)) << "only once";
  a.lock.unlock();
  EXPECT_EQ(a.lock.lock(me, f.table), RobustLock::Acquired::kClean);
  a.lock.unlock();
}

TEST(RobustLock, AParkedWaiterIsWokenByUnlock) {
  Fixture f;
  Arena& a = *f.arena;
  const ProcessSlotId me = f.claim(::getpid());
  a.lock.lock(me, f.table);
  const pid_t waiter = fork_child([&] {
    const ProcessSlotId w = *f.table.claim(::getpid(), ProcessKind::kActor, kNoProcess, "w");
    a.lock.lock(w, f.table);
    a.counter = 7;
    a.lock.unlock();
    return 0;
  });
  ASSERT_TRUE(
      eventually([&] { return testing::blocked_in_futex(waiter); }, std::chrono::seconds(30)));
  a.lock.unlock();
  EXPECT_EQ(wait_child(waiter, std::chrono::seconds(30)), 0);
  EXPECT_EQ(a.counter, 7u);
}

}  // namespace
}  // namespace shoal::ipc
