// HeapAllocator: first-fit granule allocation, journaled so that a holder's
// death at any instant can be repaired by replaying.
#include "store/heap_allocator.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "ipc/process_table.hpp"

namespace shoal::store {
namespace {

// A heap over private memory: the allocator only needs its state, bitmaps and
// a process table for liveness.
struct Fixture {
  explicit Fixture(uint64_t heap_bytes) {
    const uint64_t words = (heap_bytes / kGranule + 63) / 64;
    const uint64_t summary = (words + 63) / 64;
    heap_off = 4096;
    segment.resize(heap_off + heap_bytes);
    bitmap.assign(words, 0);
    summary_bits.assign(summary, 0);
    slots = std::make_unique<ipc::ProcessSlot[]>(4);
    processes = ipc::ProcessTable(slots.get(), 4);
    alloc = HeapAllocator(segment.data(), segment.size(), &state, bitmap.data(), words,
                          summary_bits.data(), summary, heap_off, heap_bytes, &processes);
    alloc.format();
    me = *processes.claim(::getpid(), ipc::ProcessKind::kDriver, ipc::kNoProcess, "test");
  }
  std::vector<std::byte> segment;
  std::vector<uint64_t> bitmap, summary_bits;
  AllocatorState state{};
  std::unique_ptr<ipc::ProcessSlot[]> slots;
  ipc::ProcessTable processes;
  HeapAllocator alloc;
  uint64_t heap_off = 0;
  ipc::ProcessSlotId me = 0;
};

TEST(HeapAllocator, FreedMemoryIsReusedFirstFit) {
  Fixture f(1 << 20);
  const uint64_t a = *f.alloc.allocate(100, 0, f.me);
  const uint64_t b = *f.alloc.allocate(100, 0, f.me);
  EXPECT_EQ(a, f.heap_off);
  EXPECT_EQ(b, f.heap_off + 128);
  ASSERT_TRUE(f.alloc.free(a, 100, 0, f.me).ok());
  EXPECT_EQ(*f.alloc.allocate(64, 0, f.me), a);
  EXPECT_EQ(f.alloc.used(), 192u);
}

TEST(HeapAllocator, FullHeapFailsAndRecoversAfterFree) {
  Fixture f(1 << 20);
  const uint64_t big = *f.alloc.allocate(1 << 20, 0, f.me);
  EXPECT_EQ(f.alloc.allocate(64, 0, f.me).error(), StoreError::kHeapFull);
  ASSERT_TRUE(f.alloc.free(big, 1 << 20, 0, f.me).ok());
  EXPECT_TRUE(f.alloc.allocate(1 << 20, 0, f.me).ok());
}

TEST(HeapAllocator, DoubleFreeIsReportedAsCorrupt) {
  Fixture f(1 << 20);
  const uint64_t a = *f.alloc.allocate(5000, 0, f.me);
  ASSERT_TRUE(f.alloc.free(a, 5000, 0, f.me).ok());
  EXPECT_EQ(f.alloc.free(a, 5000, 0, f.me).error(), StoreError::kCorrupt);
  EXPECT_EQ(f.alloc.free(f.heap_off + 3, 64, 0, f.me).error(), StoreError::kCorrupt);
  EXPECT_EQ(f.alloc.free(1, 64, 0, f.me).error(), StoreError::kCorrupt);
}

TEST(HeapAllocator, LinkWordReceivesTheBlockOffset) {
  Fixture f(1 << 20);
  const uint64_t link = 64;  // a word inside the segment, outside the heap
  const uint64_t a = *f.alloc.allocate(300, link, f.me);
  uint64_t seen;
  std::memcpy(&seen, f.segment.data() + link, 8);
  EXPECT_EQ(seen, a);
  ASSERT_TRUE(f.alloc.free(a, 300, link, f.me).ok());
  std::memcpy(&seen, f.segment.data() + link, 8);
  EXPECT_EQ(seen, 0u);
}

TEST(HeapAllocator, SmallBlocksAre64ByteAlignedAndPacked) {
  Fixture f(1 << 20);
  std::vector<uint64_t> offs;
  for (uint64_t bytes : {1u, 63u, 64u, 65u, 128u, 1000u, 4096u}) {
    const uint64_t off = *f.alloc.allocate(bytes, 0, f.me);
    EXPECT_EQ(off % kGranule, 0u) << bytes;
    EXPECT_TRUE(f.alloc.contains(off, bytes));
    offs.push_back(off);
  }
  // 1, 63 and 64 take one granule each, 65 and 128 two, 1000 sixteen: packed.
  EXPECT_EQ(offs[1], offs[0] + 64);
  EXPECT_EQ(offs[2], offs[1] + 64);
  EXPECT_EQ(offs[3], offs[2] + 64);
  EXPECT_EQ(offs[4], offs[3] + 128);
  EXPECT_EQ(f.alloc.used(), (1 + 1 + 1 + 2 + 2 + 16 + 64) * kGranule);
  EXPECT_EQ(HeapAllocator::block_bytes(0), kGranule);
  EXPECT_EQ(HeapAllocator::block_bytes(4096), 4096u);
  EXPECT_EQ(HeapAllocator::block_bytes(4097), 8192u);
}

TEST(HeapAllocator, SmallBlocksNeverStraddleA4KiBPage) {
  Fixture f(1 << 20);
  const uint64_t a = *f.alloc.allocate(3000, 0, f.me);  // 47 granules of page 0
  const uint64_t b = *f.alloc.allocate(2000, 0, f.me);  // 32 granules: not in page 0's rest
  EXPECT_EQ(a, f.heap_off);
  EXPECT_EQ(b, f.heap_off + kPage);
  const uint64_t c = *f.alloc.allocate(1000, 0, f.me);  // 16 granules: fits in page 0's rest
  EXPECT_EQ(c, f.heap_off + 47 * kGranule);
}

TEST(HeapAllocator, LargeBlocksTakeWhole4KiBPages) {
  Fixture f(1 << 20);
  const uint64_t small = *f.alloc.allocate(64, 0, f.me);
  const uint64_t big = *f.alloc.allocate(3 * kPage + 1, 0, f.me);
  EXPECT_EQ(small, f.heap_off);
  EXPECT_EQ(big % kPage, 0u);
  EXPECT_EQ(big, f.heap_off + kPage) << "page 0 is partly used: the next whole pages";
  EXPECT_EQ(f.alloc.used(), 64 + 4 * kPage);
  const uint64_t two = *f.alloc.allocate(2 * kPage, 0, f.me);
  EXPECT_EQ(two, big + 4 * kPage);
  // A large block spanning more than one summary word (64 pages = 256 KiB).
  const uint64_t huge = *f.alloc.allocate(300 * 1024, 0, f.me);
  EXPECT_EQ(huge % kPage, 0u);
  EXPECT_GE(huge, two + 2 * kPage);
  std::memset(f.segment.data() + huge, 0xab, 300 * 1024);  // all of it is ours (ASan)
  ASSERT_TRUE(f.alloc.free(big, 3 * kPage + 1, 0, f.me).ok());
  ASSERT_TRUE(f.alloc.free(huge, 300 * 1024, 0, f.me).ok());
  ASSERT_TRUE(f.alloc.free(two, 2 * kPage, 0, f.me).ok());
  ASSERT_TRUE(f.alloc.free(small, 64, 0, f.me).ok());
  EXPECT_EQ(f.alloc.used(), 0u);
}

TEST(HeapAllocator, FragmentedHolesAreReusedFirstFit) {
  Fixture f(1 << 20);
  std::vector<uint64_t> small;
  for (int i = 0; i < 10; ++i)
    small.push_back(*f.alloc.allocate(256, 0, f.me));
  for (int i = 0; i < 10; i += 2)
    ASSERT_TRUE(f.alloc.free(small[i], 256, 0, f.me).ok());
  // Holes of 256 bytes at 0, 512, 1024, ...: a 256-byte block takes the lowest,
  // a 512-byte one fits no hole and goes after the last block.
  EXPECT_EQ(*f.alloc.allocate(200, 0, f.me), small[0]);
  EXPECT_EQ(*f.alloc.allocate(512, 0, f.me), small[9] + 256);
  EXPECT_EQ(*f.alloc.allocate(256, 0, f.me), small[2]);

  std::vector<uint64_t> pages;
  for (int i = 0; i < 6; ++i)
    pages.push_back(*f.alloc.allocate(2 * kPage, 0, f.me));
  ASSERT_TRUE(f.alloc.free(pages[1], 2 * kPage, 0, f.me).ok());
  ASSERT_TRUE(f.alloc.free(pages[3], 2 * kPage, 0, f.me).ok());
  ASSERT_TRUE(f.alloc.free(pages[4], 2 * kPage, 0, f.me).ok());
  EXPECT_EQ(*f.alloc.allocate(kPage + 5, 0, f.me), pages[1]) << "the first hole that fits";
  EXPECT_EQ(*f.alloc.allocate(4 * kPage, 0, f.me), pages[3]) << "two neighbouring holes merge";
  EXPECT_EQ(*f.alloc.allocate(kPage, 0, f.me), pages[5] + 2 * kPage);
}

TEST(HeapAllocator, FillingTheHeapExactlyThenOneMoreGranuleFails) {
  Fixture f(64 * 1024);
  std::vector<uint64_t> blocks;
  for (;;) {
    auto r = f.alloc.allocate(1024, 0, f.me);
    if (!r) {
      EXPECT_EQ(r.error(), StoreError::kHeapFull);
      break;
    }
    blocks.push_back(*r);
  }
  EXPECT_EQ(blocks.size(), 64u);
  EXPECT_EQ(f.alloc.used(), f.alloc.capacity());
  EXPECT_EQ(f.alloc.allocate(1, 0, f.me).error(), StoreError::kHeapFull);
  EXPECT_EQ(f.alloc.allocate(f.alloc.capacity() + 1, 0, f.me).error(), StoreError::kHeapFull);
  ASSERT_TRUE(f.alloc.free(blocks[17], 1024, 0, f.me).ok());
  EXPECT_EQ(*f.alloc.allocate(1024, 0, f.me), blocks[17]);
}

// ---- journal replay: the allocator's crash recovery ----

struct DeadHolder {
  explicit DeadHolder(Fixture& f) : f(f) {
    slot = *f.processes.claim(kDeadPid, ipc::ProcessKind::kActor, f.me, "dead");
  }
  // The dead process holds the lock with `op` journaled.
  void journal(AllocJournal::Op op, uint64_t off, uint64_t bytes, uint64_t link_off,
               uint64_t used_after) {
    ASSERT_EQ(f.state.lock.lock(slot, f.processes), ipc::RobustLock::Acquired::kClean);
    f.state.journal.first = (off - f.heap_off) / kGranule;
    f.state.journal.count = HeapAllocator::block_bytes(bytes) / kGranule;
    f.state.journal.link_off = link_off;
    f.state.journal.used_after = used_after;
    f.state.journal.op.store(op);
  }
  void die() { ASSERT_TRUE(f.processes.mark_dead(slot, kDeadPid)); }
  void apply_bits(uint64_t off, uint64_t bytes, bool set) {
    const uint64_t first = (off - f.heap_off) / kGranule;
    for (uint64_t g = first; g < first + HeapAllocator::block_bytes(bytes) / kGranule; ++g) {
      if (set) {
        f.bitmap[g / 64] |= 1ull << (g % 64);
      } else {
        f.bitmap[g / 64] &= ~(1ull << (g % 64));
      }
    }
  }
  static constexpr pid_t kDeadPid = 999'999;
  Fixture& f;
  ipc::ProcessSlotId slot = 0;
};

uint64_t word_at(Fixture& f, uint64_t off) {
  uint64_t v;
  std::memcpy(&v, f.segment.data() + off, 8);
  return v;
}

TEST(HeapAllocator, AllocationJournaledByADeadHolderIsReplayedOnceWhateverHowFarItGot) {
  // Three instants: nothing applied, the bits applied, bits and link applied.
  for (int applied = 0; applied < 3; ++applied) {
    Fixture f(1 << 20);
    const uint64_t keep = *f.alloc.allocate(1000, 0, f.me);
    const uint64_t off = f.heap_off + kPage;  // where first fit puts the next 2 pages
    const uint64_t link = 128;
    const uint64_t used_after = f.alloc.used() + 2 * kPage;
    DeadHolder dead(f);
    dead.journal(AllocJournal::kAlloc, off, 2 * kPage, link, used_after);
    if (applied >= 1) dead.apply_bits(off, 2 * kPage, true);
    if (applied >= 2) std::memcpy(f.segment.data() + link, &off, 8);
    dead.die();
    f.alloc.recover_from(dead.slot, f.me);
    f.alloc.recover_from(dead.slot, f.me);  // twice: nothing more happens
    EXPECT_EQ(f.alloc.used(), used_after) << applied;
    EXPECT_EQ(word_at(f, link), off) << applied;
    EXPECT_EQ(f.state.journal.op.load(), uint32_t(AllocJournal::kNone));
    EXPECT_FALSE(f.state.lock.held_by(dead.slot));
    EXPECT_FALSE(f.state.lock.held_by(f.me));
    // The block is allocated: the next one goes after it, and it frees cleanly.
    EXPECT_EQ(*f.alloc.allocate(kPage, 0, f.me), off + 2 * kPage) << applied;
    ASSERT_TRUE(f.alloc.free(off, 2 * kPage, link, f.me).ok()) << applied;
    EXPECT_EQ(word_at(f, link), 0u);
    ASSERT_TRUE(f.alloc.free(keep, 1000, 0, f.me).ok());
    ASSERT_TRUE(f.alloc.free(off + 2 * kPage, kPage, 0, f.me).ok());
    EXPECT_EQ(f.alloc.used(), 0u) << applied;
  }
}

TEST(HeapAllocator, FreeJournaledByADeadHolderIsReplayedOnceWhateverHowFarItGot) {
  for (int applied = 0; applied < 3; ++applied) {
    Fixture f(1 << 20);
    const uint64_t link = 256;
    const uint64_t a = *f.alloc.allocate(700, link, f.me);
    const uint64_t b = *f.alloc.allocate(700, 0, f.me);
    DeadHolder dead(f);
    dead.journal(AllocJournal::kFree, a, 700, link, f.alloc.used() - 704);
    if (applied >= 1) dead.apply_bits(a, 700, false);
    if (applied >= 2) std::memset(f.segment.data() + link, 0, 8);
    dead.die();
    // This time a waiter finds the dead holder and replays.
    const uint64_t c = *f.alloc.allocate(700, 0, f.me);
    EXPECT_EQ(c, a) << "the freed block is reused: " << applied;
    EXPECT_EQ(word_at(f, link), 0u);
    EXPECT_EQ(f.alloc.used(), 2 * 704u);
    ASSERT_TRUE(f.alloc.free(b, 700, 0, f.me).ok());
    ASSERT_TRUE(f.alloc.free(c, 700, 0, f.me).ok());
    EXPECT_EQ(f.alloc.used(), 0u);
  }
}

TEST(HeapAllocator, DeadHolderWithNothingJournaledOnlyReleasesTheLock) {
  Fixture f(1 << 20);
  const uint64_t a = *f.alloc.allocate(100, 0, f.me);
  DeadHolder dead(f);
  ASSERT_EQ(f.state.lock.lock(dead.slot, f.processes), ipc::RobustLock::Acquired::kClean);
  dead.die();
  f.alloc.recover_from(dead.slot, f.me);
  EXPECT_FALSE(f.state.lock.held_by(dead.slot));
  EXPECT_EQ(f.alloc.used(), 128u);
  EXPECT_EQ(*f.alloc.allocate(100, 0, f.me), a + 128);
}

TEST(HeapAllocator, GarbageJournalIsDroppedNotApplied) {
  Fixture f(1 << 20);
  DeadHolder dead(f);
  ASSERT_EQ(f.state.lock.lock(dead.slot, f.processes), ipc::RobustLock::Acquired::kClean);
  f.state.journal.first = ~0ull - 3;  // far outside the bitmap
  f.state.journal.count = 100;
  f.state.journal.link_off = 3;  // misaligned
  f.state.journal.used_after = 12345;
  f.state.journal.op.store(AllocJournal::kAlloc);
  dead.die();
  f.alloc.recover_from(dead.slot, f.me);
  EXPECT_EQ(f.state.journal.op.load(), uint32_t(AllocJournal::kNone));
  EXPECT_EQ(f.alloc.used(), 0u);
  EXPECT_EQ(*f.alloc.allocate(64, 0, f.me), f.heap_off);
}

}  // namespace
}  // namespace shoal::store
