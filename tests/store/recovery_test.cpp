// Crash recovery, step by step. For every instant of the reference protocol at
// which a process can die (see ObjectTable and HeapAllocator), the test forges
// exactly the state the process would leave in shared memory, marks it dead,
// runs Store::recover_process as the supervisor does, and checks that the
// store is back at its baseline: heap bytes, live objects, every entry
// unlocked, the allocator free, the survivor's objects intact and pinned once.
//
// The dying process is a ghost: a second process slot with its own record pool
// in the heap (as a joined process has), whose operations run through the real
// ObjectTable under its slot id. "Killing" it is marking its slot dead.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <set>

#include "store/record_pool.hpp"
#include "tests/store/store_fixture.hpp"
#include "tests/support/test_support.hpp"

namespace shoal::testing {
namespace {

using store::AllocJournal;
using store::ClaimResult;
using store::LockTag;
using store::WriterId;

// A pid that names no live process.
pid_t unused_pid() {
  for (pid_t p = 4'000'000;; --p) {
    if (!process_alive(p)) return p;
  }
}

class Ghost {
 public:
  explicit Ghost(Store& s) : s_(s), pid_(unused_pid()) {
    auto slot = s.processes().claim(pid_, ipc::ProcessKind::kActor, s.me(), "ghost");
    if (!slot) std::abort();
    slot_ = *slot;
    pool_ = std::make_unique<store::RecordPool>(s.base(), &s.heap(), &s.processes().slot(slot_),
                                                slot_, store::random_u64());
  }

  ipc::ProcessSlotId slot() const { return slot_; }
  RefRecord* record() {
    auto r = pool_->acquire();
    if (!r) std::abort();
    return *r;
  }
  uint32_t index(const RefRecord* r) const { return pool_->index_of(r); }
  uint32_t tag(const RefRecord* r) const { return LockTag::record(slot_, index(r)); }

  // ---- the ghost's operations, run for real ----
  Obj put(uint64_t bytes, uint64_t seed, const std::vector<uint64_t>& children = {}) {
    RefRecord* rec = record();
    auto slot = s_.objects().create(rec, index(rec), slot_, ObjectState::kWriting,
                                    WriterId::process(slot_), uint32_t(children.size()));
    if (!slot) std::abort();
    write(*slot, bytes, seed);
    if (!children.empty() &&
        !s_.objects().set_children(*slot, children.data(), uint32_t(children.size()), slot_)) {
      std::abort();
    }
    s_.objects().seal(*slot, slot_);
    return Obj{rec, *slot, rec->gen};
  }
  // Creates an object it will never seal (the crash comes first).
  Obj create(ObjectState initial, uint32_t writer, uint32_t child_places = 0) {
    RefRecord* rec = record();
    auto slot = s_.objects().create(rec, index(rec), slot_, initial, writer, child_places);
    if (!slot) std::abort();
    return Obj{rec, *slot, rec->gen};
  }
  void write(uint32_t slot, uint64_t bytes, uint64_t seed) {
    auto dst = s_.objects().reserve_payload(slot, bytes, slot_);
    if (!dst) std::abort();
    fill_pattern(*dst, bytes, seed);
    s_.objects().describe(slot, store::Codec::kRaw, kTestTypeFp, bytes);
  }
  RefRecord* pin(uint32_t slot, uint32_t gen) {
    RefRecord* rec = record();
    if (!s_.objects().pin(rec, index(rec), slot_, slot, gen)) std::abort();
    return rec;
  }
  void unpin(RefRecord* rec) {
    s_.objects().unpin(rec, index(rec), slot_);
    pool_->release(rec);
  }

  // kill -9, as the supervisor sees it: the slot is marked dead, repaired, freed.
  void die_and_recover(const std::set<uint32_t>& dead_actors = {}) {
    ASSERT_TRUE(s_.processes().mark_dead(slot_, pid_));
    recover_dead(s_, slot_, dead_actors);
    s_.processes().release(slot_);
    pool_.reset();
  }

 private:
  Store& s_;
  pid_t pid_;
  ipc::ProcessSlotId slot_ = ipc::kNoProcess;
  std::unique_ptr<store::RecordPool> pool_;
};

uint32_t lock_word(const ipc::RobustLock& lock) {
  static_assert(sizeof(ipc::RobustLock) == sizeof(std::atomic<uint32_t>));
  return reinterpret_cast<const std::atomic<uint32_t>&>(lock).load();
}

void lock_entry(ObjectEntry& e, uint64_t value, uint32_t tag) {
  e.ctrl.store(Ctrl::with_lock(value, tag), std::memory_order_release);
}

class Recovery : public ::testing::Test {
 protected:
  void SetUp() override {
    auto x = put_object(*s, kXBytes, 1001);
    auto y = put_object(*s, kYBytes, 1002);
    ASSERT_TRUE(x.ok() && y.ok());
    x_ = *x;
    y_ = *y;
    heap0_ = s->heap().used();
    live0_ = s->live_objects();
    ghost_ = std::make_unique<Ghost>(*s);
  }

  void TearDown() override {
    if (!HasFailure()) {
      s->unpin(x_.rec);
      s->unpin(y_.rec);
      EXPECT_EQ(census(*s).in_use, 0u);
    }
  }

  // The store is exactly as before the ghost existed.
  void expect_baseline() {
    EXPECT_EQ(s->heap().used(), heap0_) << "heap bytes";
    EXPECT_EQ(s->live_objects(), live0_) << "live objects";
    const TableCensus c = census(*s);
    EXPECT_EQ(c.locked, 0u) << "entries left locked";
    EXPECT_EQ(c.in_use_slots,
              (std::vector<uint32_t>{std::min(x_.slot, y_.slot), std::max(x_.slot, y_.slot)}))
        << "entries in use";
    EXPECT_EQ(pins_of(*s, x_.slot), 1u);
    EXPECT_EQ(pins_of(*s, y_.slot), 1u);
    EXPECT_EQ(state_of(*s, x_.slot), ObjectState::kSealed);
    EXPECT_TRUE(read_ok(*s, x_.slot, kXBytes)) << "the survivor's large object";
    EXPECT_TRUE(read_ok(*s, y_.slot, kYBytes)) << "the survivor's small object";
    EXPECT_EQ(lock_word(s->header().alloc.lock), 0u) << "allocator lock";
    EXPECT_EQ(s->header().alloc.journal.op.load(), uint32_t(AllocJournal::kNone));
    EXPECT_EQ(s->processes().slot(ghost_->slot()).owner.load(), 0u);
    EXPECT_EQ(s->processes().slot(ghost_->slot()).held_head.load(), 0u);
    // And it still works: a put and a get of a fresh object.
    auto o = put_object(*s, 30'000, 77);
    ASSERT_TRUE(o.ok());
    EXPECT_TRUE(read_ok(*s, o->slot, 30'000));
    s->unpin(o->rec);
    EXPECT_EQ(s->heap().used(), heap0_);
  }

  // An entry no one used yet, as create() takes it while scanning: the high
  // water is raised over it before the claim.
  uint32_t free_entry() {
    const uint32_t slot = s->objects().high_water() + 3;
    EXPECT_EQ(s->objects().entry(slot).ctrl.load(), 0u);
    s->header().objects_high_water.store(slot + 1);
    return slot;
  }

  static constexpr uint64_t kXBytes = 50'000;
  static constexpr uint64_t kYBytes = 40;

  TestStore s;
  Obj x_, y_;
  uint64_t heap0_ = 0, live0_ = 0;
  std::unique_ptr<Ghost> ghost_;
};

// ------------------------------------------------------------------ create

TEST_F(Recovery, CreateKilledBeforeItsClaimLanded) {
  RefRecord* rec = ghost_->record();
  const uint32_t slot = free_entry();
  const uint32_t gen = s->objects().entry(slot).gen.load();
  rec->slot = slot;
  rec->state.store(uint32_t(RecordState::kCreating));
  ghost_->die_and_recover();
  EXPECT_EQ(s->objects().entry(slot).ctrl.load(), 0u);
  EXPECT_EQ(s->objects().entry(slot).gen.load(), gen);
  expect_baseline();
}

TEST_F(Recovery, CreateKilledRightAfterItsClaimLanded) {
  RefRecord* rec = ghost_->record();
  const uint32_t slot = free_entry();
  rec->slot = slot;
  rec->state.store(uint32_t(RecordState::kCreating));
  lock_entry(s->objects().entry(slot), Ctrl::make(1, ObjectState::kWriting), ghost_->tag(rec));
  ghost_->die_and_recover();
  EXPECT_EQ(s->objects().entry(slot).ctrl.load(), 0u);
  expect_baseline();
}

TEST_F(Recovery, CreateKilledBeforeItsUnlock) {
  // create() wrote the record's kHeld and the entry's fields; the unlock and
  // the process's created count were next.
  RefRecord* rec = ghost_->record();
  const uint32_t slot = free_entry();
  ObjectEntry& e = s->objects().entry(slot);
  rec->slot = slot;
  rec->gen = 1;
  e.gen.store(1);
  e.writer = WriterId::process(ghost_->slot());
  e.creator = uint16_t(ghost_->slot() + 1);
  rec->state.store(uint32_t(RecordState::kHeld));
  lock_entry(e, Ctrl::make(1, ObjectState::kWriting), ghost_->tag(rec));
  ghost_->die_and_recover();
  EXPECT_EQ(e.ctrl.load(), 0u);
  expect_baseline();
}

TEST_F(Recovery, PutKilledWhileWritingItsPayload) {
  Obj o = ghost_->create(ObjectState::kWriting, WriterId::process(ghost_->slot()));
  ghost_->write(o.slot, 123'456, 5);
  ghost_->die_and_recover();
  EXPECT_EQ(s->objects().entry(o.slot).ctrl.load(), 0u) << "nobody holds it: freed";
  expect_baseline();
}

TEST_F(Recovery, PutKilledBetweenReservingAndDescribingItsPayload) {
  Obj o = ghost_->create(ObjectState::kWriting, WriterId::process(ghost_->slot()));
  ASSERT_TRUE(s->objects().reserve_payload(o.slot, 200'000, ghost_->slot()).ok());
  ghost_->die_and_recover();
  EXPECT_EQ(s->objects().entry(o.slot).ctrl.load(), 0u);
  expect_baseline();
}

TEST_F(Recovery, PutKilledBeforeSealWhileOthersHoldItBecomesAnError) {
  Obj o = ghost_->create(ObjectState::kWriting, WriterId::process(ghost_->slot()));
  ghost_->write(o.slot, 20'000, 6);
  auto mine = s->pin(o.slot, o.gen);  // the id travelled before the seal
  ASSERT_TRUE(mine.ok());
  ghost_->die_and_recover();
  ASSERT_TRUE(s->objects().sealed(o.slot)) << "a reader must not wait forever";
  auto v = s->objects().read(o.slot);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->codec, store::Codec::kError);
  store::ErrorPayload err;
  ASSERT_TRUE(store::decode_error(v->data, v->size, &err));
  EXPECT_EQ(err.kind, store::ErrorKind::kObjectLost);
  s->unpin(*mine);
  expect_baseline();
}

// --------------------------------------------------------------------- pin

TEST_F(Recovery, PinKilledBeforeItLanded) {
  RefRecord* rec = ghost_->record();
  rec->slot = x_.slot;
  rec->gen = x_.gen;
  rec->state.store(uint32_t(RecordState::kPinning));
  ghost_->die_and_recover();
  expect_baseline();
}

TEST_F(Recovery, PinKilledRightAfterItLanded) {
  RefRecord* rec = ghost_->record();
  rec->slot = x_.slot;
  rec->gen = x_.gen;
  rec->state.store(uint32_t(RecordState::kPinning));
  ObjectEntry& e = s->objects().entry(x_.slot);
  lock_entry(e, e.ctrl.load() + 1, ghost_->tag(rec));
  ghost_->die_and_recover();
  expect_baseline();
}

TEST_F(Recovery, PinKilledBeforeItsUnlock) {
  RefRecord* rec = ghost_->record();
  rec->slot = y_.slot;
  rec->gen = y_.gen;
  rec->state.store(uint32_t(RecordState::kHeld));
  ObjectEntry& e = s->objects().entry(y_.slot);
  lock_entry(e, e.ctrl.load() + 1, ghost_->tag(rec));
  ghost_->die_and_recover();
  expect_baseline();
}

TEST_F(Recovery, OnlyARecordWhoseOperationStillHoldsItsEntrysLockIsRecoveredFirst) {
  RefRecord* held = ghost_->pin(x_.slot, x_.gen);  // finished: holds a pin, no lock
  RefRecord* pinning = ghost_->record();           // landed, not unlocked
  pinning->slot = y_.slot;
  pinning->gen = y_.gen;
  pinning->state.store(uint32_t(RecordState::kPinning));
  ObjectEntry& e = s->objects().entry(y_.slot);
  lock_entry(e, e.ctrl.load() + 1, ghost_->tag(pinning));

  s->objects().recover_record_if_locked(held, ghost_->index(held), ghost_->slot(), s->me());
  EXPECT_EQ(RecordState(held->state.load()), RecordState::kHeld) << "not locked: left alone";
  EXPECT_EQ(pins_of(*s, x_.slot), 2u);
  s->objects().recover_record_if_locked(pinning, ghost_->index(pinning), ghost_->slot(), s->me());
  EXPECT_EQ(RecordState(pinning->state.load()), RecordState::kFree);
  EXPECT_EQ(pins_of(*s, y_.slot), 1u) << "the landed pin was undone";
  EXPECT_EQ(Ctrl::lock(e.ctrl.load()), 0u);
  ghost_->die_and_recover();
  expect_baseline();
}

TEST_F(Recovery, KilledWhileHoldingReferences) {
  ghost_->pin(x_.slot, x_.gen);
  ghost_->pin(y_.slot, y_.gen);
  ghost_->pin(x_.slot, x_.gen);
  Obj own = ghost_->put(300'000, 7);
  Obj shared = ghost_->put(1000, 8);
  auto mine = s->pin(shared.slot, shared.gen);
  ASSERT_TRUE(mine.ok());
  EXPECT_EQ(pins_of(*s, x_.slot), 3u);
  ghost_->die_and_recover();
  EXPECT_EQ(s->objects().entry(own.slot).ctrl.load(), 0u);
  EXPECT_TRUE(read_ok(*s, shared.slot, 1000)) << "an object it made that others hold survives";
  s->unpin(*mine);
  expect_baseline();
}

TEST_F(Recovery, PinKilledAfterItLandedOnAnObjectItAlreadyHeld) {
  // Its first record holds x; a second pin of x landed. Repairing the first
  // record must not wait for the second one's lock.
  ghost_->pin(x_.slot, x_.gen);
  RefRecord* second = ghost_->record();
  second->slot = x_.slot;
  second->gen = x_.gen;
  second->state.store(uint32_t(RecordState::kPinning));
  ObjectEntry& e = s->objects().entry(x_.slot);
  lock_entry(e, e.ctrl.load() + 1, ghost_->tag(second));
  const auto start = std::chrono::steady_clock::now();
  ghost_->die_and_recover();
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(secs, 4.0) << "the repair waited on a lock only it could undo";
  expect_baseline();
}

// ----------------------------------------------------------------- release

TEST_F(Recovery, UnpinKilledBeforeItLanded) {
  RefRecord* rec = ghost_->pin(x_.slot, x_.gen);
  rec->state.store(uint32_t(RecordState::kReleasing));
  ghost_->die_and_recover();
  expect_baseline();
}

TEST_F(Recovery, UnpinKilledRightAfterItLanded) {
  RefRecord* rec = ghost_->pin(x_.slot, x_.gen);
  rec->state.store(uint32_t(RecordState::kReleasing));
  ObjectEntry& e = s->objects().entry(x_.slot);
  lock_entry(e, e.ctrl.load() - 1, ghost_->tag(rec));
  ghost_->die_and_recover();
  expect_baseline();
}

TEST_F(Recovery, LastUnpinKilledBeforeTheFreeBegan) {
  Obj own = ghost_->put(64'000, 9);
  own.rec->state.store(uint32_t(RecordState::kReleasing));
  lock_entry(s->objects().entry(own.slot), Ctrl::make(0, ObjectState::kSealed),
             ghost_->tag(own.rec));
  ghost_->die_and_recover();
  EXPECT_EQ(s->objects().entry(own.slot).ctrl.load(), 0u);
  expect_baseline();
}

TEST_F(Recovery, FreeKilledBeforeAnythingWasFreed) {
  Obj own = ghost_->put(64'000, 10);
  own.rec->state.store(uint32_t(RecordState::kReleasing));
  lock_entry(s->objects().entry(own.slot), Ctrl::make(0, ObjectState::kFreeing),
             ghost_->tag(own.rec));
  ghost_->die_and_recover();
  EXPECT_EQ(s->objects().entry(own.slot).ctrl.load(), 0u);
  expect_baseline();
}

TEST_F(Recovery, FreeKilledAfterItsPayloadBlockWasFreed) {
  Obj own = ghost_->put(64'000, 11);
  ObjectEntry& e = s->objects().entry(own.slot);
  own.rec->state.store(uint32_t(RecordState::kReleasing));
  lock_entry(e, Ctrl::make(0, ObjectState::kFreeing), ghost_->tag(own.rec));
  ASSERT_TRUE(
      s->heap().free(e.data_off, e.size, s->objects().offset_of(&e.data_off), ghost_->slot()).ok());
  ASSERT_EQ(e.data_off, 0u);
  ghost_->die_and_recover();
  EXPECT_EQ(e.ctrl.load(), 0u);
  expect_baseline();
}

TEST_F(Recovery, FreeKilledJustBeforeTheEntryWasMarkedFree) {
  // free_locked() had reset the entry, bumped its generation and counted the
  // free; only the record's kFree and the entry's final store were left.
  Obj own = ghost_->put(64'000, 12);
  ObjectEntry& e = s->objects().entry(own.slot);
  own.rec->state.store(uint32_t(RecordState::kReleasing));
  lock_entry(e, Ctrl::make(0, ObjectState::kFreeing), ghost_->tag(own.rec));
  ASSERT_TRUE(
      s->heap().free(e.data_off, e.size, s->objects().offset_of(&e.data_off), ghost_->slot()).ok());
  e.size = 0;
  e.type_fp = 0;
  e.codec = 0;
  e.writer = 0;
  e.creator = 0;
  e.gen.store(own.gen + 1);
  s->processes().slot(ghost_->slot()).objects_freed.fetch_add(1);
  ghost_->die_and_recover();
  EXPECT_EQ(e.ctrl.load(), 0u);
  expect_baseline();
}

TEST_F(Recovery, FreeKilledAfterTheRecordWasClearedButBeforeTheEntryWas) {
  Obj own = ghost_->put(64'000, 13);
  ObjectEntry& e = s->objects().entry(own.slot);
  lock_entry(e, Ctrl::make(0, ObjectState::kFreeing), ghost_->tag(own.rec));
  ASSERT_TRUE(
      s->heap().free(e.data_off, e.size, s->objects().offset_of(&e.data_off), ghost_->slot()).ok());
  e.size = 0;
  e.gen.store(own.gen + 1);
  s->processes().slot(ghost_->slot()).objects_freed.fetch_add(1);
  own.rec->state.store(uint32_t(RecordState::kFree));
  ghost_->die_and_recover();
  EXPECT_EQ(e.ctrl.load(), 0u);
  expect_baseline();
}

TEST_F(Recovery, SealTimeFreeOfAnAbandonedObjectKilledMidway) {
  // The writer's seal found no pins left and began freeing under its process tag.
  Obj o = ghost_->create(ObjectState::kWriting, WriterId::process(ghost_->slot()));
  ghost_->write(o.slot, 90'000, 14);
  ghost_->unpin(o.rec);
  ObjectEntry& e = s->objects().entry(o.slot);
  lock_entry(e, Ctrl::make(0, ObjectState::kFreeing), LockTag::process(ghost_->slot()));
  ghost_->die_and_recover();
  EXPECT_EQ(e.ctrl.load(), 0u);
  expect_baseline();
}

// ---------------------------------------------------------------- children

class RecoveryWithChildren : public Recovery {
 protected:
  // A container the ghost holds alone, with two children only it holds.
  void make_container() {
    Obj a = ghost_->put(8'000, 20);
    Obj b = ghost_->put(100, 21);
    c_ = ghost_->put(9'000, 22, {a.packed(), b.packed()});
    ghost_->unpin(a.rec);
    ghost_->unpin(b.rec);
    a_ = a;
    b_ = b;
    ASSERT_EQ(pins_of(*s, a_.slot), 1u);
    ASSERT_EQ(pins_of(*s, b_.slot), 1u);
  }
  // The container's last unpin has landed and its free has begun.
  void begin_container_free() {
    c_.rec->state.store(uint32_t(RecordState::kReleasing));
    ObjectEntry& ce = s->objects().entry(c_.slot);
    lock_entry(ce, Ctrl::make(0, ObjectState::kFreeing), ghost_->tag(c_.rec));
    ASSERT_TRUE(
        s->heap()
            .free(ce.data_off, ce.size, s->objects().offset_of(&ce.data_off), ghost_->slot())
            .ok());
  }
  // What free_locked() does to one entry, done by the ghost (children aside).
  void forge_free(uint32_t slot) {
    ObjectEntry& e = s->objects().entry(slot);
    if (e.data_off != 0) {
      ASSERT_TRUE(s->heap()
                      .free(e.data_off, e.size, s->objects().offset_of(&e.data_off), ghost_->slot())
                      .ok());
    }
    if (e.children_off != 0) {
      ASSERT_TRUE(s->heap()
                      .free(e.children_off, uint64_t(e.child_count) * 8,
                            s->objects().offset_of(&e.children_off), ghost_->slot())
                      .ok());
    }
    e.size = 0;
    e.type_fp = 0;
    e.codec = 0;
    e.child_count = 0;
    e.child_cursor.store(0);
    e.children_inline[0] = e.children_inline[1] = 0;
    e.writer = 0;
    e.creator = 0;
    e.gen.store(e.gen.load() + 1);
    s->processes().slot(ghost_->slot()).objects_freed.fetch_add(1);
    e.ctrl.store(0);
  }
  void expect_all_freed() {
    EXPECT_EQ(s->objects().entry(a_.slot).ctrl.load(), 0u);
    EXPECT_EQ(s->objects().entry(b_.slot).ctrl.load(), 0u);
    EXPECT_EQ(s->objects().entry(c_.slot).ctrl.load(), 0u);
  }
  Obj a_, b_, c_;
};

TEST_F(RecoveryWithChildren, ChildReleaseKilledAfterTheChildsDecrementLanded) {
  make_container();
  begin_container_free();
  // release_children(): the CAS on child 1 landed; the cursor still says 2.
  ObjectEntry& be = s->objects().entry(b_.slot);
  lock_entry(be, Ctrl::make(0, ObjectState::kSealed), LockTag::entry(c_.slot));
  ghost_->die_and_recover();
  expect_all_freed();
  expect_baseline();
}

TEST_F(RecoveryWithChildren, ChildReleaseKilledAfterTheCursorMoved) {
  make_container();
  begin_container_free();
  ObjectEntry& be = s->objects().entry(b_.slot);
  lock_entry(be, Ctrl::make(0, ObjectState::kSealed), LockTag::entry(c_.slot));
  s->objects().entry(c_.slot).child_cursor.store(1);
  ghost_->die_and_recover();
  expect_all_freed();
  expect_baseline();
}

TEST_F(RecoveryWithChildren, ChildFreeKilledAfterTheContainerWasFreed) {
  // free_locked() works through a list: the container went first (its entry
  // is free), then child a; child b was mid-free under the process tag.
  make_container();
  c_.rec->state.store(uint32_t(RecordState::kFree));
  forge_free(c_.slot);
  forge_free(a_.slot);
  lock_entry(s->objects().entry(b_.slot), Ctrl::make(0, ObjectState::kFreeing),
             LockTag::process(ghost_->slot()));
  ghost_->die_and_recover();
  expect_all_freed();
  expect_baseline();
}

TEST_F(RecoveryWithChildren, NestedContainerFreeKilledOnAChildItAlsoHolds) {
  // The ghost holds x2 itself and, through c1 -> c2, as a contained reference.
  // Its last unpin of c1 freed c1 and went on to c2 (under its process tag);
  // c2's release of x2 had landed when it died. Repairing the ghost's own
  // record on x2 must not wait for that lock.
  Obj x2 = ghost_->put(3000, 40);
  Obj c2 = ghost_->put(200, 41, {x2.packed()});
  Obj c1 = ghost_->put(200, 42, {c2.packed()});
  ghost_->unpin(c2.rec);
  ASSERT_EQ(pins_of(*s, c2.slot), 1u);
  ASSERT_EQ(pins_of(*s, x2.slot), 2u);
  c1.rec->state.store(uint32_t(RecordState::kFree));
  forge_free(c1.slot);
  ObjectEntry& c2e = s->objects().entry(c2.slot);
  lock_entry(c2e, Ctrl::make(0, ObjectState::kFreeing), LockTag::process(ghost_->slot()));
  ASSERT_TRUE(
      s->heap()
          .free(c2e.data_off, c2e.size, s->objects().offset_of(&c2e.data_off), ghost_->slot())
          .ok());
  lock_entry(s->objects().entry(x2.slot), Ctrl::make(1, ObjectState::kSealed),
             LockTag::entry(c2.slot));
  const auto start = std::chrono::steady_clock::now();
  ghost_->die_and_recover();
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(secs, 4.0) << "the repair waited on a lock only it could undo";
  EXPECT_EQ(s->objects().entry(x2.slot).ctrl.load(), 0u);
  EXPECT_EQ(c2e.ctrl.load(), 0u);
  expect_baseline();
}

TEST_F(RecoveryWithChildren, ChildPinKilledBeforeTheCursorMoved) {
  // The ghost writes a container holding the survivor's x and y; the pin of x
  // landed, the cursor did not move.
  Obj c = ghost_->create(ObjectState::kWriting, WriterId::process(ghost_->slot()), 2);
  ghost_->write(c.slot, 5'000, 25);
  ObjectEntry& ce = s->objects().entry(c.slot);
  ce.children_inline[0] = x_.packed();
  ce.children_inline[1] = y_.packed();
  ObjectEntry& xe = s->objects().entry(x_.slot);
  lock_entry(xe, xe.ctrl.load() + 1, LockTag::entry(c.slot));
  ghost_->die_and_recover();
  EXPECT_EQ(ce.ctrl.load(), 0u);
  expect_baseline();
}

TEST_F(RecoveryWithChildren, ChildPinKilledAfterTheCursorMoved) {
  Obj c = ghost_->create(ObjectState::kWriting, WriterId::process(ghost_->slot()), 2);
  ghost_->write(c.slot, 5'000, 26);
  ObjectEntry& ce = s->objects().entry(c.slot);
  ce.children_inline[0] = x_.packed();
  ce.children_inline[1] = y_.packed();
  ObjectEntry& xe = s->objects().entry(x_.slot);
  lock_entry(xe, xe.ctrl.load() + 1, LockTag::entry(c.slot));
  ce.child_cursor.store(1);
  ghost_->die_and_recover();
  EXPECT_EQ(ce.ctrl.load(), 0u);
  expect_baseline();
}

TEST_F(RecoveryWithChildren, ChildPinKilledOnAChildItAlsoHolds) {
  // The usual case: a put of a container of objects the writer holds itself.
  // Dropping the writer's own reference on the child must not wait for the
  // child's lock, which only the container's repair undoes.
  Obj x2 = ghost_->put(3000, 43);
  Obj c = ghost_->create(ObjectState::kWriting, WriterId::process(ghost_->slot()), 2);
  ghost_->write(c.slot, 500, 44);
  ObjectEntry& ce = s->objects().entry(c.slot);
  ce.children_inline[0] = x2.packed();
  ObjectEntry& xe = s->objects().entry(x2.slot);
  lock_entry(xe, xe.ctrl.load() + 1, LockTag::entry(c.slot));
  const auto start = std::chrono::steady_clock::now();
  ghost_->die_and_recover();
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(secs, 4.0) << "the repair waited on a lock only it could undo";
  EXPECT_EQ(xe.ctrl.load(), 0u);
  EXPECT_EQ(ce.ctrl.load(), 0u);
  expect_baseline();
}

TEST_F(RecoveryWithChildren, KilledHoldingAContainerOfTheSurvivorsObjects) {
  Obj c = ghost_->put(70, 27, {x_.packed(), y_.packed()});
  EXPECT_EQ(pins_of(*s, x_.slot), 2u);
  ghost_->die_and_recover();
  EXPECT_EQ(s->objects().entry(c.slot).ctrl.load(), 0u);
  expect_baseline();
}

// --------------------------------------------------------------- allocator

TEST_F(Recovery, AllocationKilledAfterItsJournalCommitBeforeTheBitmap) {
  Obj o = ghost_->create(ObjectState::kWriting, WriterId::process(ghost_->slot()));
  ObjectEntry& e = s->objects().entry(o.slot);
  // Where first fit will put 100 KB, learned by doing it.
  const uint64_t bytes = 100'000;
  auto probe = s->heap().allocate(bytes, 0, s->me());
  ASSERT_TRUE(probe.ok());
  ASSERT_TRUE(s->heap().free(*probe, bytes, 0, s->me()).ok());
  store::AllocatorState& st = s->header().alloc;
  ASSERT_EQ(st.lock.lock(ghost_->slot(), s->processes()), ipc::RobustLock::Acquired::kClean);
  st.journal.first = (*probe - s->heap().heap_off()) / store::kGranule;
  st.journal.count = store::HeapAllocator::block_bytes(bytes) / store::kGranule;
  st.journal.link_off = s->objects().offset_of(&e.data_off);
  st.journal.used_after = s->heap().used() + store::HeapAllocator::block_bytes(bytes);
  st.journal.op.store(AllocJournal::kAlloc);
  e.size = bytes;  // reserve_payload() records the size before allocating
  ghost_->die_and_recover();
  EXPECT_EQ(e.ctrl.load(), 0u);
  expect_baseline();
}

TEST_F(Recovery, AllocationKilledHalfwayThroughApplyingItsJournal) {
  Obj o = ghost_->create(ObjectState::kWriting, WriterId::process(ghost_->slot()));
  ObjectEntry& e = s->objects().entry(o.slot);
  const uint64_t bytes = 3'000;
  auto probe = s->heap().allocate(bytes, 0, s->me());
  ASSERT_TRUE(probe.ok());
  ASSERT_TRUE(s->heap().free(*probe, bytes, 0, s->me()).ok());
  store::AllocatorState& st = s->header().alloc;
  ASSERT_EQ(st.lock.lock(ghost_->slot(), s->processes()), ipc::RobustLock::Acquired::kClean);
  st.journal.first = (*probe - s->heap().heap_off()) / store::kGranule;
  st.journal.count = store::HeapAllocator::block_bytes(bytes) / store::kGranule;
  st.journal.link_off = s->objects().offset_of(&e.data_off);
  st.journal.used_after = s->heap().used() + store::HeapAllocator::block_bytes(bytes);
  st.journal.op.store(AllocJournal::kAlloc);
  // The bits and the link landed; the used count did not.
  uint64_t* bitmap = s->at<uint64_t>(s->layout().bitmap_off);
  for (uint64_t g = st.journal.first; g < st.journal.first + st.journal.count; ++g) {
    bitmap[g / 64] |= 1ull << (g % 64);
  }
  e.data_off = *probe;
  e.size = bytes;  // reserve_payload() records the size before allocating
  ghost_->die_and_recover();
  EXPECT_EQ(e.ctrl.load(), 0u);
  expect_baseline();
}

TEST_F(Recovery, AllocatorKilledWhileSearchingWithNothingJournaled) {
  Obj o = ghost_->create(ObjectState::kWriting, WriterId::process(ghost_->slot()));
  (void)o;
  store::AllocatorState& st = s->header().alloc;
  ASSERT_EQ(st.lock.lock(ghost_->slot(), s->processes()), ipc::RobustLock::Acquired::kClean);
  ghost_->die_and_recover();
  expect_baseline();
}

TEST_F(Recovery, FreeOfABlockKilledAfterItsJournalCommitBeforeTheBitmap) {
  Obj own = ghost_->put(64'000, 30);
  ObjectEntry& e = s->objects().entry(own.slot);
  own.rec->state.store(uint32_t(RecordState::kReleasing));
  lock_entry(e, Ctrl::make(0, ObjectState::kFreeing), ghost_->tag(own.rec));
  store::AllocatorState& st = s->header().alloc;
  ASSERT_EQ(st.lock.lock(ghost_->slot(), s->processes()), ipc::RobustLock::Acquired::kClean);
  st.journal.first = (e.data_off - s->heap().heap_off()) / store::kGranule;
  st.journal.count = store::HeapAllocator::block_bytes(e.size) / store::kGranule;
  st.journal.link_off = s->objects().offset_of(&e.data_off);
  st.journal.used_after = s->heap().used() - store::HeapAllocator::block_bytes(e.size);
  st.journal.op.store(AllocJournal::kFree);
  ghost_->die_and_recover();
  EXPECT_EQ(e.ctrl.load(), 0u);
  expect_baseline();
}

// ------------------------------------------------------------ call results

TEST_F(Recovery, ClaimKilledAfterItLandedFailsTheCall) {
  // The survivor called actor 5, whose process is the ghost.
  auto result = s->create_object(ObjectState::kPending, WriterId::actor(5));
  ASSERT_TRUE(result.ok());
  ObjectEntry& e = s->objects().entry((*result)->slot);
  lock_entry(e, e.ctrl.load(), LockTag::process(ghost_->slot()));
  ghost_->die_and_recover({5});
  ASSERT_TRUE(s->objects().sealed((*result)->slot));
  auto v = s->objects().read((*result)->slot);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->codec, store::Codec::kError);
  s->unpin(*result);
  expect_baseline();
}

TEST_F(Recovery, ActorKilledWhileWritingAResultFailsTheCall) {
  auto result = s->create_object(ObjectState::kPending, WriterId::actor(5));
  ASSERT_TRUE(result.ok());
  const uint32_t slot = (*result)->slot;
  ASSERT_EQ(s->objects().claim(slot, (*result)->gen, ghost_->slot()), ClaimResult::kClaimed);
  ghost_->write(slot, 250'000, 31);
  ghost_->die_and_recover({5});
  ASSERT_TRUE(s->objects().sealed(slot));
  auto v = s->objects().read(slot);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->codec, store::Codec::kError);
  s->unpin(*result);
  expect_baseline();
}

TEST_F(Recovery, CallerKilledWithItsPendingResultFreesIt) {
  // The ghost called a live actor (6) and died before the result came.
  Obj r = ghost_->create(ObjectState::kPending, WriterId::actor(6));
  ghost_->die_and_recover();
  EXPECT_EQ(s->objects().entry(r.slot).ctrl.load(), 0u) << "an orphaned call";
  expect_baseline();
}

TEST_F(Recovery, RecoveringTwiceChangesNothing) {
  ghost_->pin(x_.slot, x_.gen);
  Obj own = ghost_->put(10'000, 32);
  (void)own;
  const ipc::ProcessSlotId g = ghost_->slot();
  ghost_->die_and_recover();
  // A second repair of the same (now released) slot must be harmless.
  recover_dead(*s, g);
  expect_baseline();
}

}  // namespace
}  // namespace shoal::testing
