// ProcessTable: claiming, the supervisor's kAlive -> kDead -> kFree moves, and
// running out of slots.
#include "ipc/process_table.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include "tests/ipc/process_helpers.hpp"

namespace shoal::ipc {
namespace {

struct Table {
  explicit Table(uint32_t n) : slots(std::make_unique<ProcessSlot[]>(n)), table(slots.get(), n) {
    std::memset(static_cast<void*>(slots.get()), 0, sizeof(ProcessSlot) * n);
  }
  std::unique_ptr<ProcessSlot[]> slots;
  ProcessTable table;
};

TEST(ProcessTable, ClaimFillsTheSlotAndMarksItAlive) {
  Table t(8);
  auto id = t.table.claim(4242, ProcessKind::kActor, 3, "AsyncActor");
  ASSERT_TRUE(id.has_value());
  const ProcessSlot& s = t.table.slot(*id);
  EXPECT_EQ(owner_state(s.owner.load()), ProcessState::kAlive);
  EXPECT_EQ(owner_pid(s.owner.load()), 4242);
  EXPECT_EQ(t.table.pid(*id), 4242);
  EXPECT_FALSE(t.table.is_dead(*id));
  EXPECT_EQ(ProcessKind(s.kind.load()), ProcessKind::kActor);
  EXPECT_EQ(s.creator.load(), 3u);
  EXPECT_EQ(s.actor.load(), -1);
  EXPECT_EQ(s.held_head.load(), 0u);
  EXPECT_EQ(s.incarnation.load(), 1u);
  EXPECT_STREQ(s.label, "AsyncActor");
  EXPECT_STREQ(to_string(ProcessKind::kSupervisor), "supervisor");
}

TEST(ProcessTable, MarkDeadThenReleaseFreesTheSlotForTheNextClaim) {
  Table t(4);
  const ProcessSlotId id = *t.table.claim(100, ProcessKind::kDriver, kNoProcess, "d");
  t.table.slot(id).held_head.store(4096);
  t.table.slot(id).wake.prepare();

  EXPECT_FALSE(t.table.mark_dead(id, 101)) << "another pid: not this slot's process";
  EXPECT_FALSE(t.table.is_dead(id));
  EXPECT_TRUE(t.table.mark_dead(id, 100));
  EXPECT_TRUE(t.table.is_dead(id));
  EXPECT_EQ(owner_state(t.table.slot(id).owner.load()), ProcessState::kDead);
  EXPECT_FALSE(t.table.mark_dead(id, 100)) << "handled once";

  // A dead slot is not reused before the supervisor releases it.
  std::set<ProcessSlotId> others;
  for (int i = 0; i < 3; ++i)
    others.insert(*t.table.claim(200 + i, ProcessKind::kActor, id, "a"));
  EXPECT_EQ(others.count(id), 0u);
  EXPECT_FALSE(t.table.claim(300, ProcessKind::kActor, id, "a").has_value());

  t.table.release(id);
  EXPECT_TRUE(t.table.is_dead(id)) << "a free slot counts as dead for lock waiters";
  auto again = t.table.claim(100 + 4 * 7, ProcessKind::kWorker, kNoProcess, "w");
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*again, id);
  EXPECT_EQ(t.table.slot(id).incarnation.load(), 2u);
  EXPECT_EQ(t.table.slot(id).held_head.load(), 0u) << "a new claim starts clean";
  EXPECT_EQ(t.table.slot(id).wake.raw(), 0u);
  EXPECT_STREQ(t.table.slot(id).label, "w");
}

TEST(ProcessTable, ExhaustionGivesNullopt) {
  Table t(5);
  std::set<ProcessSlotId> ids;
  for (int i = 0; i < 5; ++i) {
    auto id = t.table.claim(1000 + i * 5, ProcessKind::kActor, kNoProcess, "x");  // same start slot
    ASSERT_TRUE(id.has_value()) << i;
    ids.insert(*id);
  }
  EXPECT_EQ(ids.size(), 5u);
  EXPECT_FALSE(t.table.claim(77, ProcessKind::kActor, kNoProcess, "x").has_value());
  EXPECT_TRUE(t.table.is_dead(5)) << "an id past the table";
  EXPECT_FALSE(t.table.valid(5));
}

TEST(ProcessTable, LongLabelsAreTruncatedAndTerminated) {
  Table t(2);
  const std::string long_label(200, 'L');
  const ProcessSlotId id = *t.table.claim(1, ProcessKind::kTool, kNoProcess, long_label.c_str());
  EXPECT_EQ(std::string(t.table.slot(id).label), std::string(63, 'L'));
  const ProcessSlotId id2 = *t.table.claim(2, ProcessKind::kTool, kNoProcess, nullptr);
  EXPECT_STREQ(t.table.slot(id2).label, "");
}

TEST(ProcessTable, ConcurrentClaimsFromThreadsGetDistinctSlots) {
  Table t(64);
  std::vector<std::thread> threads;
  std::vector<std::vector<ProcessSlotId>> got(4);
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&, k] {
      for (int i = 0; i < 20; ++i) {
        if (auto id = t.table.claim(7, ProcessKind::kActor, kNoProcess, "t")) got[k].push_back(*id);
      }
    });
  }
  for (auto& th : threads)
    th.join();
  std::set<ProcessSlotId> all;
  size_t n = 0;
  for (auto& v : got) {
    n += v.size();
    all.insert(v.begin(), v.end());
  }
  EXPECT_EQ(n, 64u);
  EXPECT_EQ(all.size(), 64u);
}

TEST(ProcessTable, ConcurrentClaimsFromProcessesGetDistinctSlots) {
  constexpr uint32_t kSlots = 32;
  constexpr int kProcs = 6;
  constexpr int kEach = 8;
  testing::SharedMemory mem(sizeof(ProcessSlot) * kSlots + 4096);
  ProcessTable table(mem.as<ProcessSlot>(), kSlots);
  std::vector<pid_t> kids;
  for (int k = 0; k < kProcs; ++k) {
    kids.push_back(testing::fork_child([&] {
      int got = 0;
      for (int i = 0; i < kEach; ++i)
        got += table.claim(::getpid(), ProcessKind::kActor, kNoProcess, "p").has_value();
      return got;
    }));
  }
  int total = 0;
  for (pid_t p : kids)
    total += testing::wait_child(p, std::chrono::seconds(30));
  EXPECT_EQ(total, int(kSlots)) << "every slot once, the rest refused";
  for (uint32_t i = 0; i < kSlots; ++i) {
    EXPECT_EQ(owner_state(table.slot(ProcessSlotId(i)).owner.load()), ProcessState::kAlive);
  }
}

}  // namespace
}  // namespace shoal::ipc
