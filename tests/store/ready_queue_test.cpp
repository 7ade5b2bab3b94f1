// ReadyQueue, a process's list of sealed objects its event loop waits for:
// every slot pushed is drained exactly once, whoever pushes it (threads,
// processes); a full queue raises overflow instead of losing the push; and a
// pusher killed -9 mid-way loses nothing it finished, nor a cell it filled
// without raising `pending` (the owner's forced drain finds it). Every wait
// here is capped: a bug fails the test, never hangs it.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "store/ready_queue.hpp"

namespace shoal::testing {
namespace {

using store::ReadyQueue;
using Clock = std::chrono::steady_clock;

// A queue and a few counters in memory shared with forked children.
struct Shared {
  ReadyQueue queue;
  std::atomic<uint32_t> pushed[8];  // per pusher: pushes that returned
  std::atomic<uint32_t> go;
};

struct SharedMap {
  SharedMap() {
    void* p =
        ::mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) std::abort();
    s = static_cast<Shared*>(p);  // zero-filled: an empty queue
  }
  ~SharedMap() { ::munmap(s, sizeof(Shared)); }
  Shared* s;
};

// Counts what drain() hands out, per value.
struct Seen {
  explicit Seen(uint32_t n) : count(n, 0) {}
  void take(uint32_t slot) {
    ASSERT_LT(slot, count.size());
    ++count[slot];
    ++total;
  }
  std::vector<int> count;
  uint64_t total = 0;
};

// Pushes `n` slots starting at `first`, retrying a full queue (the owner
// drains it meanwhile) for at most 20 s; counts each push that returned.
void push_range(ReadyQueue& q, uint32_t first, uint32_t n, std::atomic<uint32_t>* done) {
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  for (uint32_t i = 0; i < n; ++i) {
    while (!q.push(first + i)) {
      if (Clock::now() > deadline) return;
      std::this_thread::yield();
    }
    if (done != nullptr) done->fetch_add(1, std::memory_order_release);
  }
}

TEST(ReadyQueue, EachPushedSlotIsDrainedOnceAndAnEmptyQueueHasNoWork) {
  SharedMap m;
  ReadyQueue& q = m.s->queue;
  EXPECT_FALSE(q.has_work());
  Seen seen(1000);
  EXPECT_FALSE(q.drain([&](uint32_t s) { seen.take(s); }));
  EXPECT_EQ(seen.total, 0u);
  for (uint32_t s : {0u, 7u, 255u, 256u, 999u})
    EXPECT_TRUE(q.push(s));
  EXPECT_TRUE(q.has_work());
  EXPECT_FALSE(q.drain([&](uint32_t s) { seen.take(s); }));  // no overflow
  EXPECT_EQ(seen.total, 5u);
  for (uint32_t s : {0u, 7u, 255u, 256u, 999u})
    EXPECT_EQ(seen.count[s], 1) << s;
  EXPECT_FALSE(q.has_work());
  q.drain([&](uint32_t s) { seen.take(s); });
  EXPECT_EQ(seen.total, 5u);
}

TEST(ReadyQueue, AFullQueueRaisesOverflowAndKeepsWhatItHolds) {
  SharedMap m;
  ReadyQueue& q = m.s->queue;
  for (uint32_t s = 0; s < ReadyQueue::kCells; ++s)
    ASSERT_TRUE(q.push(s * 3));  // every cell, whatever slot each probe starts at
  EXPECT_FALSE(q.push(12345));
  EXPECT_TRUE(q.has_work());
  Seen seen(ReadyQueue::kCells * 3);
  EXPECT_TRUE(q.drain([&](uint32_t s) { seen.take(s); }));  // overflow: check every wait
  EXPECT_EQ(seen.total, ReadyQueue::kCells);
  for (uint32_t s = 0; s < ReadyQueue::kCells; ++s)
    EXPECT_EQ(seen.count[s * 3], 1) << s;
  // Drained: room again, and the overflow is cleared.
  EXPECT_FALSE(q.has_work());
  EXPECT_TRUE(q.push(12345));
  EXPECT_FALSE(q.drain([](uint32_t) {}));
}

// Drains until `total` values were seen or 30 s passed.
void drain_until(ReadyQueue& q, Seen& seen, uint64_t total) {
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (seen.total < total && Clock::now() < deadline) {
    q.drain([&](uint32_t s) { seen.take(s); });
  }
}

TEST(ReadyQueue, ThreadsPushingWhileTheOwnerDrainsLoseAndRepeatNothing) {
  SharedMap m;
  ReadyQueue& q = m.s->queue;
  constexpr uint32_t kThreads = 4, kEach = 20'000;
  Seen seen(kThreads * kEach);
  std::vector<std::thread> pushers;
  for (uint32_t t = 0; t < kThreads; ++t)
    pushers.emplace_back([&, t] { push_range(q, t * kEach, kEach, &m.s->pushed[t]); });
  drain_until(q, seen, kThreads * kEach);
  for (std::thread& t : pushers)
    t.join();
  q.drain([&](uint32_t s) { seen.take(s); }, true);
  for (uint32_t t = 0; t < kThreads; ++t)
    EXPECT_EQ(m.s->pushed[t].load(), kEach);
  EXPECT_EQ(seen.total, uint64_t(kThreads) * kEach);
  for (uint32_t s = 0; s < kThreads * kEach; ++s)
    ASSERT_EQ(seen.count[s], 1) << "slot " << s;
}

TEST(ReadyQueue, ProcessesPushingWhileTheOwnerDrainsLoseAndRepeatNothing) {
  SharedMap m;
  ReadyQueue& q = m.s->queue;
  constexpr uint32_t kProcs = 3, kEach = 20'000;
  std::vector<pid_t> kids;
  for (uint32_t p = 0; p < kProcs; ++p) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      push_range(q, p * kEach, kEach, &m.s->pushed[p]);
      ::_exit(0);
    }
    kids.push_back(pid);
  }
  Seen seen(kProcs * kEach);
  drain_until(q, seen, kProcs * kEach);
  for (pid_t pid : kids) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  q.drain([&](uint32_t s) { seen.take(s); }, true);
  EXPECT_EQ(seen.total, uint64_t(kProcs) * kEach);
  for (uint32_t s = 0; s < kProcs * kEach; ++s)
    ASSERT_EQ(seen.count[s], 1) << "slot " << s;
}

TEST(ReadyQueue, APusherKilledMidWayLosesNoPushItFinished) {
  for (int round = 0; round < 5; ++round) {
    SharedMap m;
    ReadyQueue& q = m.s->queue;
    constexpr uint32_t kMax = 1'000'000;
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      m.s->go.store(1);
      push_range(q, 0, kMax, &m.s->pushed[0]);
      ::_exit(0);
    }
    Seen seen(kMax);
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    while (m.s->go.load() == 0 && Clock::now() < deadline) {
    }
    // Drain for a while (1 to 5 ms: somewhere inside a push), then kill.
    const auto stop = Clock::now() + std::chrono::milliseconds(1 + round);
    while (Clock::now() < stop)
      q.drain([&](uint32_t s) { seen.take(s); });
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    q.drain([&](uint32_t s) { seen.take(s); }, true);
    const uint32_t done = m.s->pushed[0].load();
    // Every finished push is there, once; the one in flight at the kill may be.
    for (uint32_t s = 0; s < done; ++s)
      ASSERT_EQ(seen.count[s], 1) << "slot " << s << " of " << done;
    EXPECT_GE(seen.total, done);
    EXPECT_LE(seen.total, uint64_t(done) + 1);
    for (uint32_t s = done + 1; s < kMax && s < done + 1000; ++s)
      ASSERT_EQ(seen.count[s], 0) << "slot " << s;
  }
}

TEST(ReadyQueue, ACellFilledByAPusherKilledBeforeRaisingPendingIsFoundByAForcedDrain) {
  SharedMap m;
  ReadyQueue& q = m.s->queue;
  // What a push leaves when its process dies right after its CAS.
  m.s->queue.cells[41].store(41 + 1);
  Seen seen(100);
  q.drain([&](uint32_t s) { seen.take(s); });
  EXPECT_EQ(seen.total, 0u);  // nothing raised: an ordinary drain does not look
  q.drain([&](uint32_t s) { seen.take(s); }, true);
  EXPECT_EQ(seen.total, 1u);
  EXPECT_EQ(seen.count[41], 1);
}

}  // namespace
}  // namespace shoal::testing
