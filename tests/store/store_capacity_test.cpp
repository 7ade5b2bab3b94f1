// A full store: the heap (kHeapFull) and the object table (kTableFull). A put
// that does not fit fails cleanly, leaves nothing behind, breaks nothing else,
// and the same put succeeds once references are dropped.
#include <gtest/gtest.h>

#include <vector>

#include "tests/store/store_fixture.hpp"

namespace shoal::testing {
namespace {

using store::WriterId;

TEST(StoreCapacity, PutThatDoesNotFitFailsWithHeapFullAndSucceedsAfterFrees) {
  TestStore s;
  const uint64_t heap0 = s->heap().used();
  const uint64_t live0 = s->live_objects();
  constexpr uint64_t kBig = 1 << 20;
  std::vector<Obj> held;
  for (;;) {
    auto o = put_object(*s, kBig, held.size());
    if (!o) {
      ASSERT_EQ(o.error(), StoreError::kHeapFull);
      break;
    }
    held.push_back(*o);
    ASSERT_LT(held.size(), 1000u);
  }
  ASSERT_GE(held.size(), 4u);
  const uint64_t used_full = s->heap().used();
  const uint64_t live_full = s->live_objects();
  EXPECT_LT(s->heap().capacity() - used_full, store::HeapAllocator::block_bytes(kBig));

  // The failed put left nothing: no entry, no block.
  auto again = put_object(*s, kBig, 1);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error(), StoreError::kHeapFull);
  EXPECT_EQ(s->heap().used(), used_full);
  EXPECT_EQ(s->live_objects(), live_full);
  EXPECT_EQ(census(*s).locked, 0u);

  // Nothing else breaks: inline objects need no heap, reads and pins work.
  auto small = put_object(*s, 100, 2);
  ASSERT_TRUE(small.ok());
  EXPECT_TRUE(read_ok(*s, held[0].slot, kBig));
  auto extra = s->pin(held[1].slot, held[1].gen);
  ASSERT_TRUE(extra.ok());
  s->unpin(*extra);

  // Drop two references: the same put now fits, and reuses their memory.
  const uint64_t freed_off = s->objects().entry(held[2].slot).data_off;
  s->unpin(held[2].rec);
  s->unpin(held[3].rec);
  held.erase(held.begin() + 2, held.begin() + 4);
  auto fits = put_object(*s, kBig, 3);
  ASSERT_TRUE(fits.ok());
  EXPECT_EQ(s->objects().entry(fits->slot).data_off, freed_off);
  EXPECT_TRUE(read_ok(*s, fits->slot, kBig));

  s->unpin(fits->rec);
  s->unpin(small->rec);
  for (Obj& o : held)
    s->unpin(o.rec);
  EXPECT_EQ(s->heap().used(), heap0);
  EXPECT_EQ(s->live_objects(), live0);
}

TEST(StoreCapacity, ObjectLargerThanTheWholeHeapFailsWithTooLarge) {
  TestStore s;
  const uint64_t heap0 = s->heap().used();
  auto o = put_object(*s, s->heap().capacity() + 1, 1);
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.error(), StoreError::kTooLarge);  // no spilling could make room
  EXPECT_EQ(s->heap().used(), heap0);
  EXPECT_EQ(census(*s).in_use, 0u);
}

TEST(StoreCapacity, FragmentedHeapRefusesABlockBiggerThanAnyHoleThenTakesItWhenNeighboursGo) {
  TestStore s;
  constexpr uint64_t kChunk = 256 * 1024;
  std::vector<Obj> held;
  for (;;) {
    auto o = put_object(*s, kChunk, held.size());
    if (!o) break;
    held.push_back(*o);
  }
  std::vector<uint64_t> offs;
  for (const Obj& o : held)
    offs.push_back(s->objects().entry(o.slot).data_off);
  ASSERT_EQ(offs[1], offs[0] + kChunk);
  ASSERT_EQ(offs[2], offs[1] + kChunk);
  // Free every other block: plenty of free bytes, no two adjacent.
  for (size_t i = 0; i + 1 < held.size(); i += 2)
    s->unpin(held[i].rec);
  const uint64_t free_bytes = s->heap().capacity() - s->heap().used();
  ASSERT_GE(free_bytes, 2 * kChunk);
  auto big = put_object(*s, 2 * kChunk, 7);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error(), StoreError::kHeapFull);
  s->unpin(held[1].rec);  // joins holes 0, 1 and 2
  big = put_object(*s, 2 * kChunk, 7);
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(s->objects().entry(big->slot).data_off, offs[0]) << "first fit: the lowest run";
  s->unpin(big->rec);
  for (size_t i = 3; i < held.size(); i += 2)
    s->unpin(held[i].rec);
  if (held.size() % 2 == 1) s->unpin(held.back().rec);
  EXPECT_EQ(census(*s).in_use, 0u);
}

TEST(StoreCapacity, TableFullIsReportedAndCreationWorksAgainAfterAFree) {
  TestStore s;
  std::vector<RefRecord*> held;
  const uint32_t n = s->objects().size();
  held.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    auto r = s->create_object(ObjectState::kWriting, WriterId::process(s->me()));
    ASSERT_TRUE(r.ok()) << "entry " << i << ": " << store::to_string(r.error());
    held.push_back(*r);
  }
  auto full = s->create_object(ObjectState::kWriting, WriterId::process(s->me()));
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error(), StoreError::kTableFull);
  auto full_put = put_object(*s, 10, 1);
  ASSERT_FALSE(full_put.ok());
  EXPECT_EQ(full_put.error(), StoreError::kTableFull);

  s->objects().seal(held.back()->slot, s->me());
  s->unpin(held.back());
  held.pop_back();
  auto again = put_object(*s, 10'000, 2);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(read_ok(*s, again->slot, 10'000));
  s->unpin(again->rec);
  for (RefRecord* r : held) {
    s->objects().seal(r->slot, s->me());
    s->unpin(r);
  }
  EXPECT_EQ(census(*s).in_use, 0u);
  EXPECT_EQ(s->live_objects(), 0u);
}

}  // namespace
}  // namespace shoal::testing
