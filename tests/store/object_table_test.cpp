// ObjectTable through the Store facade: the lifecycle of one object (create,
// write, seal, pins, free), generations, inline and heap payloads, contained
// references, pending results and their writers, and waking a waiter parked in
// another process.
#include "store/object_table.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <set>
#include <vector>

#include "ipc/spin.hpp"
#include "tests/ipc/process_helpers.hpp"
#include "tests/store/store_fixture.hpp"

namespace shoal::testing {
namespace {

using store::ClaimResult;
using store::WriterId;

TEST(ObjectTable, LifecycleCreateSealPinUnpinFree) {
  TestStore s;
  const uint64_t heap0 = s->heap().used();
  const uint64_t live0 = s->live_objects();

  auto created = s->create_object(ObjectState::kWriting, WriterId::process(s->me()));
  ASSERT_TRUE(created.ok());
  RefRecord* rec = *created;
  const uint32_t slot = rec->slot;
  const uint32_t gen = rec->gen;
  EXPECT_GE(gen, 1u);
  EXPECT_EQ(RecordState(rec->state.load()), RecordState::kHeld);
  EXPECT_EQ(state_of(*s, slot), ObjectState::kWriting);
  EXPECT_EQ(pins_of(*s, slot), 1u);
  EXPECT_FALSE(s->objects().sealed(slot));
  EXPECT_EQ(s->objects().read(slot).error(), StoreError::kNotFound);  // not sealed yet
  EXPECT_EQ(s->live_objects(), live0 + 1);

  auto dst = s->objects().reserve_payload(slot, 100, s->me());
  ASSERT_TRUE(dst.ok());
  fill_pattern(*dst, 100, 42);
  s->objects().describe(slot, store::Codec::kRaw, kTestTypeFp, 100);
  s->objects().seal(slot, s->me());
  EXPECT_TRUE(s->objects().sealed(slot));
  EXPECT_TRUE(read_ok(*s, slot, 100));

  auto second = s->pin(slot, gen);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(pins_of(*s, slot), 2u);
  s->unpin(rec);
  EXPECT_EQ(pins_of(*s, slot), 1u);
  EXPECT_TRUE(read_ok(*s, slot, 100));  // still held by the second reference

  s->unpin(*second);
  const ObjectEntry& e = s->objects().entry(slot);
  EXPECT_EQ(e.ctrl.load(), 0u) << "the last unpin of a sealed object frees it";
  EXPECT_EQ(e.gen.load(), gen + 1) << "a free bumps the generation";
  EXPECT_EQ(s->heap().used(), heap0);
  EXPECT_EQ(s->live_objects(), live0);
  EXPECT_EQ(census(*s).in_use, 0u);
}

TEST(ObjectTable, StalePinOfAFreedGenerationIsNotFound) {
  TestStore s;
  auto a = put_object(*s, 64, 1);
  ASSERT_TRUE(a.ok());
  const Obj old = *a;
  s->unpin(old.rec);

  auto stale = s->pin(old.slot, old.gen);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error(), StoreError::kNotFound);

  // The entry is reused for a new object: the old (slot, gen) still names nothing.
  auto b = put_object(*s, 64, 2);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->slot, old.slot) << "the entry this thread freed last is reused first";
  EXPECT_EQ(b->gen, old.gen + 1);
  auto stale_again = s->pin(old.slot, old.gen);
  ASSERT_FALSE(stale_again.ok());
  EXPECT_EQ(stale_again.error(), StoreError::kNotFound);
  EXPECT_EQ(pins_of(*s, b->slot), 1u) << "a failed pin leaves the pins alone";
  EXPECT_EQ(Ctrl::lock(s->objects().entry(b->slot).ctrl.load()), 0u);

  EXPECT_EQ(s->pin(s->objects().size(), 1).error(), StoreError::kBadId);
  EXPECT_EQ(s->pin(s->objects().size() + 12345, 1).error(), StoreError::kBadId);
  s->unpin(b->rec);
}

// An id naming an entry above the high water (never used, so perhaps on a
// page with no storage behind it yet) is not found, without touching it.
TEST(ObjectTable, PinAboveTheHighWaterIsNotFoundWithoutTouchingTheEntry) {
  TestStore s;
  auto a = put_object(*s, 64, 1);
  ASSERT_TRUE(a.ok());
  const uint32_t hw = s->objects().high_water();
  ASSERT_GT(hw, a->slot);
  ASSERT_LT(hw, s->objects().size());
  // A live-looking word up there would be found if the pin read it.
  s->objects().entry(hw).gen.store(7);
  s->objects().entry(hw).ctrl.store(Ctrl::make(1, ObjectState::kSealed));
  EXPECT_EQ(s->pin(hw, 7).error(), StoreError::kNotFound);
  EXPECT_EQ(s->pin(s->objects().size() - 1, 1).error(), StoreError::kNotFound);
  s->objects().entry(hw).ctrl.store(0);
  s->objects().entry(hw).gen.store(0);
  s->unpin(a->rec);
}

TEST(ObjectTable, SmallObjectsLiveInlineAndLargeOnesInTheHeap) {
  TestStore s;
  const uint64_t heap0 = s->heap().used();
  auto small = put_object(*s, store::kInlineBytes, 3);
  ASSERT_TRUE(small.ok());
  const ObjectEntry& se = s->objects().entry(small->slot);
  EXPECT_EQ(se.data_off, 0u);
  EXPECT_EQ(s->heap().used(), heap0) << "an inline object allocates nothing";
  auto sv = s->objects().read(small->slot);
  ASSERT_TRUE(sv.ok());
  EXPECT_EQ(sv->data, se.inline_data);
  EXPECT_TRUE(read_ok(*s, small->slot, store::kInlineBytes));

  const uint64_t big_bytes = store::kInlineBytes + 1;
  auto big = put_object(*s, big_bytes, 4);
  ASSERT_TRUE(big.ok());
  const ObjectEntry& be = s->objects().entry(big->slot);
  EXPECT_NE(be.data_off, 0u);
  EXPECT_TRUE(s->heap().contains(be.data_off, big_bytes));
  EXPECT_EQ(be.data_off % 64, 0u);
  EXPECT_EQ(s->heap().used(), heap0 + store::HeapAllocator::block_bytes(big_bytes));
  EXPECT_TRUE(read_ok(*s, big->slot, big_bytes));

  const uint64_t huge_bytes = 3 * 1024 * 1024 + 5;
  auto huge = put_object(*s, huge_bytes, 5);
  ASSERT_TRUE(huge.ok());
  EXPECT_EQ(s->objects().entry(huge->slot).data_off % 4096, 0u);
  EXPECT_TRUE(read_ok(*s, huge->slot, huge_bytes));

  s->unpin(small->rec);
  s->unpin(big->rec);
  s->unpin(huge->rec);
  EXPECT_EQ(s->heap().used(), heap0);
  EXPECT_EQ(census(*s).in_use, 0u);
}

TEST(ObjectTable, FreedHeapMemoryIsReusedByTheNextObject) {
  TestStore s;
  const uint64_t heap0 = s->heap().used();
  auto a = put_object(*s, 200'000, 6);
  ASSERT_TRUE(a.ok());
  const uint64_t a_off = s->objects().entry(a->slot).data_off;
  s->unpin(a->rec);
  EXPECT_EQ(s->heap().used(), heap0);

  auto b = put_object(*s, 200'000, 7);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(s->objects().entry(b->slot).data_off, a_off);
  auto c = put_object(*s, 1000, 8);
  ASSERT_TRUE(c.ok());
  s->unpin(b->rec);
  auto d = put_object(*s, 150'000, 9);  // smaller: fits where b was
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(s->objects().entry(d->slot).data_off, a_off);
  s->unpin(c->rec);
  s->unpin(d->rec);
  EXPECT_EQ(s->heap().used(), heap0);

  // Many put/free cycles do not grow the heap or the table's high water.
  const uint32_t hw = s->objects().high_water();
  const uint64_t heap_hw = s->heap().high_water();
  for (int i = 0; i < 1000; ++i) {
    auto o = put_object(*s, 5000 + i, uint64_t(i));
    ASSERT_TRUE(o.ok());
    s->unpin(o->rec);
  }
  EXPECT_EQ(s->heap().used(), heap0);
  EXPECT_LE(s->objects().high_water(), hw + 1);
  EXPECT_EQ(s->heap().high_water(), heap_hw);
}

TEST(ObjectTable, ChildrenKeepContainedObjectsAliveUntilTheContainerIsFreed) {
  TestStore s;
  const uint64_t heap0 = s->heap().used();
  const uint64_t live0 = s->live_objects();
  auto a = put_object(*s, 10'000, 10);
  auto b = put_object(*s, 16, 11);
  ASSERT_TRUE(a.ok() && b.ok());
  auto c = put_object(*s, 32, 12, {a->packed(), b->packed()});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(pins_of(*s, a->slot), 2u);
  EXPECT_EQ(pins_of(*s, b->slot), 2u);
  auto kids = s->objects().children(c->slot);
  ASSERT_TRUE(kids.ok());
  EXPECT_EQ(*kids, (std::vector<uint64_t>{a->packed(), b->packed()}));

  s->unpin(a->rec);
  s->unpin(b->rec);
  EXPECT_EQ(pins_of(*s, a->slot), 1u);
  EXPECT_TRUE(read_ok(*s, a->slot, 10'000)) << "the container keeps its children alive";
  EXPECT_TRUE(read_ok(*s, b->slot, 16));
  EXPECT_EQ(s->live_objects(), live0 + 3);

  s->unpin(c->rec);
  EXPECT_EQ(s->heap().used(), heap0);
  EXPECT_EQ(s->live_objects(), live0);
  EXPECT_EQ(census(*s).in_use, 0u);
}

TEST(ObjectTable, OverflowChildListAndNestedContainersAreFreedTogether) {
  TestStore s;
  const uint64_t heap0 = s->heap().used();
  std::vector<Obj> leaves;
  std::vector<uint64_t> packed;
  for (int i = 0; i < 7; ++i) {
    auto o = put_object(*s, 100 + 1000 * i, 20 + i);
    ASSERT_TRUE(o.ok());
    leaves.push_back(*o);
    packed.push_back(o->packed());
  }
  auto inner = put_object(*s, 8, 30, packed);  // 7 children: a heap list
  ASSERT_TRUE(inner.ok());
  EXPECT_NE(s->objects().entry(inner->slot).children_off, 0u);
  auto outer = put_object(*s, 8, 31, {inner->packed()});
  ASSERT_TRUE(outer.ok());
  for (Obj& o : leaves)
    s->unpin(o.rec);
  s->unpin(inner->rec);
  for (Obj& o : leaves)
    EXPECT_TRUE(read_ok(*s, o.slot, s->objects().entry(o.slot).size));
  EXPECT_EQ(census(*s).in_use, 9u);

  s->unpin(outer->rec);  // frees outer, inner and the seven leaves
  EXPECT_EQ(census(*s).in_use, 0u);
  EXPECT_EQ(s->heap().used(), heap0);
}

TEST(ObjectTable, AddChildPinsOnePlaceAndTheContainerReleasesIt) {
  TestStore s;
  const uint64_t heap0 = s->heap().used();
  auto a = put_object(*s, 5000, 40);
  ASSERT_TRUE(a.ok());
  // A pending call result that holds its argument, placed into its second place.
  auto result = s->create_object(ObjectState::kPending, WriterId::actor(3), 2);
  ASSERT_TRUE(result.ok());
  const uint32_t rslot = (*result)->slot;
  ASSERT_TRUE(s->objects().add_child(rslot, 1, a->packed()).ok());
  EXPECT_EQ(s->objects().entry(rslot).child_cursor.load(), 2u);
  EXPECT_EQ(pins_of(*s, a->slot), 2u);
  EXPECT_EQ(s->objects().add_child(rslot, 2, a->packed()).error(), StoreError::kCorrupt)
      << "a place beyond child_count";
  s->unpin(a->rec);
  EXPECT_TRUE(read_ok(*s, a->slot, 5000));

  ASSERT_EQ(s->objects().claim(rslot, (*result)->gen, s->me()), ClaimResult::kClaimed);
  s->objects().describe(rslot, store::Codec::kNone, 0, 0);
  s->objects().seal(rslot, s->me());
  s->unpin(*result);
  EXPECT_EQ(census(*s).in_use, 0u);
  EXPECT_EQ(s->heap().used(), heap0);
}

TEST(ObjectTable, ChildOfAStaleIdIsRefusedAndNothingLeaks) {
  TestStore s;
  const uint64_t heap0 = s->heap().used();
  auto a = put_object(*s, 64, 50);
  ASSERT_TRUE(a.ok());
  const uint64_t stale = a->packed();
  s->unpin(a->rec);
  auto b = put_object(*s, 64, 51);
  ASSERT_TRUE(b.ok());
  auto c = put_object(*s, 300, 52, {b->packed(), stale});
  EXPECT_FALSE(c.ok());
  EXPECT_EQ(c.error(), StoreError::kNotFound);
  EXPECT_EQ(pins_of(*s, b->slot), 1u) << "the abandoned container released what it pinned";
  s->unpin(b->rec);
  EXPECT_EQ(census(*s).in_use, 0u);
  EXPECT_EQ(s->heap().used(), heap0);
}

TEST(ObjectTable, ClaimOfPendingResults) {
  TestStore s;
  auto make_pending = [&] {
    auto r = s->create_object(ObjectState::kPending, WriterId::actor(7));
    EXPECT_TRUE(r.ok());
    return *r;
  };
  RefRecord* plain = make_pending();
  EXPECT_EQ(s->objects().claim(plain->slot, plain->gen, s->me()), ClaimResult::kClaimed);
  EXPECT_EQ(state_of(*s, plain->slot), ObjectState::kWriting);
  EXPECT_EQ(s->objects().claim(plain->slot, plain->gen, s->me()), ClaimResult::kGone)
      << "claimed once already";

  RefRecord* cancelled = make_pending();
  EXPECT_TRUE(s->objects().request_cancel(cancelled->slot, cancelled->gen));
  EXPECT_TRUE(s->objects().cancel_requested(cancelled->slot));
  EXPECT_EQ(s->objects().claim(cancelled->slot, cancelled->gen, s->me()),
            ClaimResult::kClaimedCancelled);

  RefRecord* other = make_pending();
  EXPECT_EQ(s->objects().claim(other->slot, other->gen + 1, s->me()), ClaimResult::kGone);
  EXPECT_EQ(s->objects().claim(other->slot, other->gen - 1, s->me()), ClaimResult::kGone);
  EXPECT_EQ(s->objects().claim(s->objects().size(), 1, s->me()), ClaimResult::kGone);
  EXPECT_EQ(state_of(*s, other->slot), ObjectState::kPending);

  // Sealing ends the cancel request; later cancels find nothing to cancel.
  for (RefRecord* r : {plain, cancelled}) {
    s->objects().describe(r->slot, store::Codec::kNone, 0, 0);
    s->objects().seal(r->slot, s->me());
    EXPECT_FALSE(s->objects().cancel_requested(r->slot));
    EXPECT_FALSE(s->objects().request_cancel(r->slot, r->gen));
    EXPECT_EQ(s->objects().claim(r->slot, r->gen, s->me()), ClaimResult::kGone);
  }
  s->unpin(plain);
  s->unpin(cancelled);
  s->unpin(other);  // a pending result nobody holds stays until its writer comes
  EXPECT_EQ(state_of(*s, other->slot), ObjectState::kPending);
  ASSERT_EQ(s->objects().claim(other->slot, other->gen, s->me()), ClaimResult::kClaimed);
  s->objects().seal(other->slot, s->me());
  EXPECT_EQ(census(*s).in_use, 0u);
}

TEST(ObjectTable, UnsealedObjectWhoseLastPinIsDroppedIsFreedBySeal) {
  TestStore s;
  const uint64_t heap0 = s->heap().used();
  const uint64_t live0 = s->live_objects();
  auto created = s->create_object(ObjectState::kWriting, WriterId::process(s->me()));
  ASSERT_TRUE(created.ok());
  RefRecord* rec = *created;
  const uint32_t slot = rec->slot;
  const uint32_t gen = rec->gen;
  auto dst = s->objects().reserve_payload(slot, 70'000, s->me());
  ASSERT_TRUE(dst.ok());
  fill_pattern(*dst, 70'000, 60);
  s->objects().describe(slot, store::Codec::kRaw, kTestTypeFp, 70'000);
  s->unpin(rec);
  EXPECT_EQ(state_of(*s, slot), ObjectState::kWriting) << "abandoned, but its writer still writes";
  EXPECT_EQ(pins_of(*s, slot), 0u);
  EXPECT_GT(s->heap().used(), heap0);

  s->objects().seal(slot, s->me());
  EXPECT_EQ(s->objects().entry(slot).ctrl.load(), 0u);
  EXPECT_EQ(s->objects().entry(slot).gen.load(), gen + 1);
  EXPECT_EQ(s->heap().used(), heap0);
  EXPECT_EQ(s->live_objects(), live0);
}

TEST(ObjectTable, FireAndForgetResultIsFreedWhenItsWriterSeals) {
  TestStore s;
  const uint64_t heap0 = s->heap().used();
  auto created = s->create_object(ObjectState::kPending, WriterId::actor(1));
  ASSERT_TRUE(created.ok());
  const uint32_t slot = (*created)->slot;
  const uint32_t gen = (*created)->gen;
  s->unpin(*created);  // the caller dropped its ref before the call ran
  ASSERT_EQ(s->objects().claim(slot, gen, s->me()), ClaimResult::kClaimed);
  auto dst = s->objects().reserve_payload(slot, 9000, s->me());
  ASSERT_TRUE(dst.ok());
  s->objects().describe(slot, store::Codec::kRaw, kTestTypeFp, 9000);
  s->objects().seal(slot, s->me());
  EXPECT_EQ(s->objects().entry(slot).ctrl.load(), 0u);
  EXPECT_EQ(s->heap().used(), heap0);
  EXPECT_EQ(census(*s).in_use, 0u);
}

TEST(ObjectTable, ErrorSealedOverAReservedPayloadReplacesItWithoutLeaking) {
  TestStore s;
  const uint64_t heap0 = s->heap().used();
  auto created = s->create_object(ObjectState::kPending, WriterId::actor(2));
  ASSERT_TRUE(created.ok());
  const uint32_t slot = (*created)->slot;
  ASSERT_EQ(s->objects().claim(slot, (*created)->gen, s->me()), ClaimResult::kClaimed);
  // A result written, then failed before its seal (its references did not fit).
  auto dst = s->objects().reserve_payload(slot, 12'000, s->me());
  ASSERT_TRUE(dst.ok());
  s->objects().describe(slot, store::Codec::kRaw, kTestTypeFp, 12'000);
  store::ErrorPayload err;
  err.kind = store::ErrorKind::kStoreFull;
  err.message = "no room for the result's references";
  ASSERT_TRUE(store::seal_error(*s, slot, err).ok());

  auto v = s->objects().read(slot);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->codec, store::Codec::kError);
  store::ErrorPayload back;
  ASSERT_TRUE(store::decode_error(v->data, v->size, &back));
  EXPECT_EQ(back.kind, store::ErrorKind::kStoreFull);
  EXPECT_EQ(back.message, err.message);
  s->unpin(*created);
  EXPECT_EQ(s->heap().used(), heap0);
  EXPECT_EQ(census(*s).in_use, 0u);
}

TEST(ObjectTable, SealAsErrorReplacesAHeapPayloadWithALargeError) {
  TestStore s;
  const uint64_t heap0 = s->heap().used();
  auto created = s->create_object(ObjectState::kPending, WriterId::actor(2));
  ASSERT_TRUE(created.ok());
  const uint32_t slot = (*created)->slot;
  ASSERT_EQ(s->objects().claim(slot, (*created)->gen, s->me()), ClaimResult::kClaimed);
  auto dst = s->objects().reserve_payload(slot, 30'000, s->me());
  ASSERT_TRUE(dst.ok());
  std::vector<std::byte> error(store::kInlineBytes + 500);
  fill_pattern(error.data(), error.size(), 81);
  ASSERT_TRUE(s->objects().seal_as_error(slot, error.data(), error.size(), s->me()).ok());

  auto v = s->objects().read(slot);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->codec, store::Codec::kError);
  EXPECT_EQ(v->type_fp, 0u);
  ASSERT_EQ(v->size, error.size());
  EXPECT_EQ(std::memcmp(v->data, error.data(), error.size()), 0);
  EXPECT_EQ(s->heap().used(), heap0 + store::HeapAllocator::block_bytes(error.size()))
      << "the reserved block was freed, the error has a block of its own";
  s->unpin(*created);
  EXPECT_EQ(s->heap().used(), heap0);
  EXPECT_EQ(census(*s).in_use, 0u);
}

TEST(ObjectTable, SealAsErrorWithoutRoomSealsAnEmptyErrorAndSaysWhy) {
  TestStore s;
  const uint64_t heap0 = s->heap().used();
  auto created = s->create_object(ObjectState::kWriting, WriterId::process(s->me()));
  ASSERT_TRUE(created.ok());
  const uint32_t slot = (*created)->slot;
  ASSERT_TRUE(s->objects().reserve_payload(slot, 20'000, s->me()).ok());
  std::vector<std::byte> error(s->heap().capacity() + 1);
  auto r = s->objects().seal_as_error(slot, error.data(), error.size(), s->me());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), StoreError::kTooLarge);  // larger than the whole heap: no spilling helps
  auto v = s->objects().read(slot);
  ASSERT_TRUE(v.ok()) << "sealed all the same: readers do not wait forever";
  EXPECT_EQ(v->codec, store::Codec::kError);
  EXPECT_EQ(v->size, 0u);
  EXPECT_EQ(s->heap().used(), heap0) << "the reserved payload went";
  s->unpin(*created);
  EXPECT_EQ(census(*s).in_use, 0u);
}

TEST(ObjectTable, ForEachUnsealedOfVisitsExactlyTheWritersUnsealedObjects) {
  TestStore s;
  const uint32_t writer = WriterId::actor(5);
  std::vector<RefRecord*> recs;
  auto make = [&](ObjectState initial, uint32_t w) {
    auto r = s->create_object(initial, w);
    EXPECT_TRUE(r.ok());
    recs.push_back(*r);
    return *r;
  };
  RefRecord* pending = make(ObjectState::kPending, writer);
  RefRecord* writing = make(ObjectState::kPending, writer);
  ASSERT_EQ(s->objects().claim(writing->slot, writing->gen, s->me()), ClaimResult::kClaimed);
  RefRecord* sealed = make(ObjectState::kPending, writer);
  ASSERT_EQ(s->objects().claim(sealed->slot, sealed->gen, s->me()), ClaimResult::kClaimed);
  s->objects().seal(sealed->slot, s->me());
  RefRecord* other_actor = make(ObjectState::kPending, WriterId::actor(6));
  RefRecord* put = make(ObjectState::kWriting, WriterId::process(s->me()));

  std::set<uint32_t> seen;
  s->objects().for_each_unsealed_of(writer, [&](uint32_t slot) {
    EXPECT_TRUE(seen.insert(slot).second) << "slot " << slot << " visited twice";
  });
  EXPECT_EQ(seen, (std::set<uint32_t>{pending->slot, writing->slot}));

  for (RefRecord* r : {pending, other_actor}) {
    ASSERT_EQ(s->objects().claim(r->slot, r->gen, s->me()), ClaimResult::kClaimed);
  }
  for (RefRecord* r : {pending, writing, other_actor, put})
    s->objects().seal(r->slot, s->me());
  seen.clear();
  s->objects().for_each_unsealed_of(writer, [&](uint32_t slot) { seen.insert(slot); });
  EXPECT_TRUE(seen.empty());
  for (RefRecord* r : recs)
    s->unpin(r);
  EXPECT_EQ(census(*s).in_use, 0u);
}

TEST(ObjectTable, ClaimCurrentForFailureTakesAnyUnsealedObjectAndNamesItsWriter) {
  TestStore s;
  const uint64_t heap0 = s->heap().used();
  // A pending result: claimed, its writer named, its half-written payload gone.
  auto pending = s->create_object(ObjectState::kPending, WriterId::actor(9));
  ASSERT_TRUE(pending.ok());
  const uint32_t slot = (*pending)->slot;
  EXPECT_EQ(s->objects().claim_current_for_failure(slot, s->me()),
            std::optional<uint32_t>(WriterId::actor(9)));
  EXPECT_EQ(state_of(*s, slot), ObjectState::kWriting);
  EXPECT_EQ(s->objects().entry(slot).writer, WriterId::process(s->me()));
  store::ErrorPayload err;
  err.kind = store::ErrorKind::kActorDied;
  err.message = "gone";
  ASSERT_TRUE(store::seal_error(*s, slot, err).ok());
  EXPECT_EQ(s->objects().claim_current_for_failure(slot, s->me()), std::nullopt)
      << "sealed: nothing to fail";

  // Being written by a live process: that process's to finish, until it dies.
  const pid_t pid = [] {
    for (pid_t p = 4'000'000;; --p) {
      if (!process_alive(p)) return p;
    }
  }();
  auto other = s->processes().claim(pid, ipc::ProcessKind::kActor, s->me(), "writer");
  ASSERT_TRUE(other.has_value());
  auto result = s->create_object(ObjectState::kPending, WriterId::actor(3));
  ASSERT_TRUE(result.ok());
  const uint32_t rslot = (*result)->slot;
  ASSERT_EQ(s->objects().claim(rslot, (*result)->gen, *other), ClaimResult::kClaimed);
  ASSERT_TRUE(s->objects().reserve_payload(rslot, 40'000, *other).ok());
  EXPECT_EQ(s->objects().claim_current_for_failure(rslot, s->me()), std::nullopt);
  ASSERT_TRUE(s->processes().mark_dead(*other, pid));
  EXPECT_EQ(s->objects().claim_current_for_failure(rslot, s->me()),
            std::optional<uint32_t>(WriterId::actor(3)));
  EXPECT_EQ(s->objects().entry(rslot).data_off, 0u) << "the dead writer's payload went";
  ASSERT_TRUE(store::seal_error(*s, rslot, err).ok());
  s->processes().release(*other);

  EXPECT_EQ(s->objects().claim_current_for_failure(s->objects().size(), s->me()), std::nullopt);
  s->unpin(*pending);
  s->unpin(*result);
  EXPECT_EQ(s->objects().claim_current_for_failure(slot, s->me()), std::nullopt) << "a free entry";
  EXPECT_EQ(s->heap().used(), heap0);
  EXPECT_EQ(census(*s).in_use, 0u);
}

TEST(ObjectTable, SealWakesAWaiterParkedInAnotherProcess) {
  TestStore s;
  const uint64_t heap0 = s->heap().used();
  auto created = s->create_object(ObjectState::kWriting, WriterId::process(s->me()));
  ASSERT_TRUE(created.ok());
  RefRecord* rec = *created;
  const uint32_t slot = rec->slot;
  const uint32_t gen = rec->gen;
  const std::string name = s.name;

  const pid_t child = fork_child([&]() -> int {
    auto st = Store::attach(name);
    if (!st) return 10;
    Store& cs = **st;
    if (!cs.join(ipc::ProcessKind::kDriver, ipc::kNoProcess, "waiter")) return 11;
    auto pinned = cs.pin(slot, gen);
    if (!pinned) return 12;
    // No spinning: straight to the futex. The deadline only bounds a broken wake-up.
    const uint64_t deadline = ipc::now_ns() + 60'000'000'000ull;
    if (cs.wait_sealed(slot, gen, deadline, 0) != Store::Wait::kSealed) return 13;
    if (!read_ok(cs, slot, 5000)) return 14;
    cs.unpin(*pinned);
    cs.leave();
    return 0;
  });

  // Parked: registered as the entry's waiter, announced on its wake word, in futex(2).
  ipc::ProcessSlotId waiter = ipc::kNoProcess;
  ASSERT_TRUE(eventually(
      [&] {
        waiter = slot_of(*s, child);
        return waiter != ipc::kNoProcess &&
               s->objects().entry(slot).waiter.load() == uint32_t(waiter) + 1 &&
               (s->processes().slot(waiter).wake.raw() & ipc::WakeWord::kWaiters) != 0 &&
               blocked_in_futex(child);
      },
      std::chrono::seconds(30)));
  const uint32_t epoch = s->processes().slot(waiter).wake.raw() & ipc::WakeWord::kEpochMask;

  auto dst = s->objects().reserve_payload(slot, 5000, s->me());
  ASSERT_TRUE(dst.ok());
  fill_pattern(*dst, 5000, 70);
  s->objects().describe(slot, store::Codec::kRaw, kTestTypeFp, 5000);
  s->objects().seal(slot, s->me());
  EXPECT_EQ(s->processes().slot(waiter).wake.raw() & ipc::WakeWord::kEpochMask,
            (epoch + 1) & ipc::WakeWord::kEpochMask)
      << "the seal notified the waiter's wake word";
  EXPECT_EQ(wait_child(child, std::chrono::seconds(30)), 0);
  s->unpin(rec);
  EXPECT_EQ(s->heap().used(), heap0);
  EXPECT_EQ(census(*s).in_use, 0u);
}

TEST(ObjectTable, AWaiterKilledWhileParkedDoesNotWedgeTheSealOrOtherWaiters) {
  TestStore s;
  const uint64_t heap0 = s->heap().used();
  auto created = s->create_object(ObjectState::kWriting, WriterId::process(s->me()));
  ASSERT_TRUE(created.ok());
  const uint32_t slot = (*created)->slot;
  const uint32_t gen = (*created)->gen;
  const std::string name = s.name;
  auto waiter = [&]() -> int {
    auto st = Store::attach(name);
    if (!st || !(*st)->join(ipc::ProcessKind::kDriver, ipc::kNoProcess, "waiter")) return 10;
    auto pinned = (*st)->pin(slot, gen);
    if (!pinned) return 12;
    if ((*st)->wait_sealed(slot, gen, ipc::now_ns() + 60'000'000'000ull, 0) !=
        Store::Wait::kSealed) {
      return 13;
    }
    (*st)->unpin(*pinned);
    (*st)->leave();
    return 0;
  };
  const pid_t doomed = fork_child(waiter);
  ASSERT_TRUE(eventually([&] { return blocked_in_futex(doomed); }, std::chrono::seconds(30)));
  const pid_t live = fork_child(waiter);
  ASSERT_TRUE(eventually([&] { return blocked_in_futex(live); }, std::chrono::seconds(30)));
  EXPECT_EQ(s->objects().entry(slot).waiter.load(), store::kManyWaiters);
  kill_and_reap(doomed);
  ASSERT_TRUE(supervise_death(*s, doomed));
  EXPECT_EQ(pins_of(*s, slot), 2u) << "the dead waiter's pin is gone, the live one's stays";

  s->objects().seal(slot, s->me());
  EXPECT_EQ(wait_child(live, std::chrono::seconds(30)), 0);
  s->unpin(*created);
  EXPECT_EQ(census(*s).in_use, 0u);
  EXPECT_EQ(s->heap().used(), heap0);
}

TEST(ObjectTable, SealWithoutARegisteredWaiterTouchesNoWakeWord) {
  TestStore s;
  auto created = s->create_object(ObjectState::kWriting, WriterId::process(s->me()));
  ASSERT_TRUE(created.ok());
  const uint32_t before = s->my_wake().raw();
  s->objects().seal((*created)->slot, s->me());
  EXPECT_EQ(s->my_wake().raw(), before);
  s->unpin(*created);
}

}  // namespace
}  // namespace shoal::testing
