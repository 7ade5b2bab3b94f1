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

}  // namespace
}  // namespace shoal::store
