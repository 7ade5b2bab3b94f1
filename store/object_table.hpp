// ObjectTable: the session's objects, one ObjectEntry each, indexed by the slot
// an ObjectId carries (the id's generation tells a live object from a freed
// one, so lookups take no lock: an index and two compares).
//
// Reference protocol. Every change to an entry's pins or state is one CAS on
// its control word that also writes the lock tag of the operation in flight
// (see Ctrl, LockTag). While the tag is set nobody else changes the entry; the
// operation finishes its side effects (the holder's RefRecord state, a free)
// and then stores the word back without the tag. Hence after a crash:
//   tag still set       the CAS landed; the record says how far the rest got
//   tag gone            the operation either never landed or fully finished,
//                       and the record (written before the unlock) says which
// which is what the supervisor's recover_* functions rely on.
//
// Contained references (an object holding ObjectRefs, a call result holding
// its arguments) are pins owned by the container, tagged with the container's
// index, and counted by its child_cursor: pinning moves the cursor up after
// each child, releasing moves it down, so a crash leaves at most one child in
// doubt and its tag says which way it went.
//
// The class is one, its code is in a file per idea: object_table.cpp (entry
// locks, references, frees, writers, readers), child_pins.cpp (contained
// references) and object_recovery.cpp (repairs after a process died).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include <shoal/detail/ref_record.hpp>

#include "ipc/process_table.hpp"
#include "ipc/result.hpp"
#include "store/heap_allocator.hpp"
#include "store/object_entry.hpp"
#include "store/ready_queue.hpp"
#include "store/spill_file.hpp"
#include "store/store_backing.hpp"
#include "store/store_error.hpp"

namespace shoal::store {

struct SegmentHeader;

// A sealed object's payload, validated against the segment's bounds.
struct PayloadView {
  Codec codec = Codec::kNone;
  uint64_t type_fp = 0;
  const std::byte* data = nullptr;
  uint64_t size = 0;
};

enum class ClaimResult {
  kClaimed,           // the caller is now the writer
  kClaimedCancelled,  // claimed, but cancel() came first: seal TaskCancelledError
  kGone,              // not pending any more (failed, cancelled, freed): drop the call
};

class ObjectTable {
 public:
  ObjectTable() = default;
  ObjectTable(std::byte* base, uint64_t segment_bytes, ObjectEntry* entries, uint32_t count,
              HeapAllocator* heap, const ipc::ProcessTable* processes, SegmentHeader* header)
      : base_(base),
        segment_bytes_(segment_bytes),
        entries_(entries),
        count_(count),
        heap_(heap),
        processes_(processes),
        header_(header) {}

  // Where the table's pages get their storage: an entry is backed before a
  // scan for a free one first touches it (none: assumed backed).
  void set_backing(const StoreBacking* backing) { backing_ = backing; }

  // The session's spill file (none: objects never leave the store).
  void set_spill_file(SpillFile* file) { spill_ = file; }

  uint32_t size() const { return count_; }
  bool valid_slot(uint32_t slot) const { return slot < count_; }
  ObjectEntry& entry(uint32_t slot) const { return entries_[slot]; }
  uint32_t high_water() const;
  // The slot's generation (bumped at every free). Exact while the caller
  // holds a pin on the object, a hint otherwise.
  uint32_t generation(uint32_t slot) const {
    return entries_[slot].gen.load(std::memory_order_relaxed);
  }
  // Entries in use: a scan up to the high water (for status and tests, not
  // for hot paths).
  uint64_t live_count() const;

  // ---- references held by processes (RefRecords) ----
  // Claims a free entry for a new object in `initial` state (kWriting for a put,
  // kPending for a call's result), holding one pin through `rec`.
  Result<uint32_t, StoreError> create(RefRecord* rec, uint32_t rec_index, ipc::ProcessSlotId me,
                                      ObjectState initial, uint32_t writer, uint32_t child_places);
  // Adds a pin through `rec` on the live object (slot, gen).
  Result<void, StoreError> pin(RefRecord* rec, uint32_t rec_index, ipc::ProcessSlotId me,
                               uint32_t slot, uint32_t gen);
  // Drops rec's pin; frees the object if it was the last one and it is sealed.
  void unpin(RefRecord* rec, uint32_t rec_index, ipc::ProcessSlotId me);

  // ---- writers ----
  ClaimResult claim(uint32_t slot, uint32_t gen, ipc::ProcessSlotId me);
  // For failing a result whose writer cannot: claims it in kPending or kWriting.
  bool claim_for_failure(uint32_t slot, uint32_t gen, ipc::ProcessSlotId me);
  // Gives the entry a payload of `bytes`: inline when it fits (and inline_ok:
  // inline data is 16-byte aligned), else a heap block (64-byte aligned).
  Result<std::byte*, StoreError> reserve_payload(uint32_t slot, uint64_t bytes,
                                                 ipc::ProcessSlotId me, bool inline_ok = true);
  void describe(uint32_t slot, Codec codec, uint64_t type_fp, uint64_t bytes);
  // Places `children` (packed slot/gen of objects the caller holds) into the
  // entry's child places and pins each on the entry's behalf.
  Result<void, StoreError> set_children(uint32_t slot, const uint64_t* children, uint32_t n,
                                        ipc::ProcessSlotId me);
  // Puts one child at `place` (< child_count) and pins it.
  Result<void, StoreError> add_child(uint32_t slot, uint32_t place, uint64_t child);
  // kWriting -> kSealed, or frees the object if nobody holds it any more; wakes
  // parked waiters. Returns whether cancel() had asked for the object (the seal
  // clears the flag): a stream's producer learns of a cancel that came late.
  bool seal(uint32_t slot, ipc::ProcessSlotId me);
  // Replaces whatever payload the claimed (kWriting) object has reserved with
  // the encoded error `data` (Codec::kError) and seals it. When even the error
  // does not fit, seals an empty error (readers still fail) and says why.
  Result<void, StoreError> seal_as_error(uint32_t slot, const std::byte* data, uint64_t size,
                                         ipc::ProcessSlotId me);
  bool request_cancel(uint32_t slot, uint32_t gen);

  // ---- a pending call's result: what its caller asks of the callee ----
  // The back-pressure bound of a streaming call, in the result's spill_word,
  // unused until the result is sealed. relaxed (both): the ring's release of
  // the call's cell publishes it, the callee's acquire of the cell sees it.
  void set_call_bound(uint32_t slot, uint32_t bound) {
    entries_[slot].spill_word.store(bound, std::memory_order_relaxed);
  }
  uint32_t call_bound(uint32_t slot) const {
    return uint32_t(entries_[slot].spill_word.load(std::memory_order_relaxed));
  }

  // ---- readers (callers hold a pin) ----
  bool sealed(uint32_t slot) const {
    // acquire: pairs with the seal CAS; the payload is visible afterwards.
    return Ctrl::state(entries_[slot].ctrl.load(std::memory_order_acquire)) == ObjectState::kSealed;
  }
  bool cancel_requested(uint32_t slot) const {
    return (entries_[slot].ctrl.load(std::memory_order_relaxed) & Ctrl::kCancelRequested) != 0;
  }
  Result<PayloadView, StoreError> read(uint32_t slot) const;
  // The payload of the sealed object `rec` holds, brought back from the
  // spill file first if it was spilled, and kept in the store until
  // end_read(): a read object is never spilled. The read is counted on the
  // entry and in `rec` (entry first, and off the entry last: a process killed
  // in between leaves the entry counted, which only keeps it in memory), so
  // the supervisor ends the reads of a dead process (recover_record()).
  Result<PayloadView, StoreError> begin_read(RefRecord* rec, ipc::ProcessSlotId me);
  void end_read(RefRecord* rec) {
    if (entries_[rec->slot].size.load(std::memory_order_relaxed) < kMinSpillBytes) {
      return;  // uncounted (begin_read())
    }
    // relaxed: only this process changes its record; the supervisor reads it
    // after our death.
    rec->reads.fetch_sub(1, std::memory_order_relaxed);
    // release: pairs with the spiller's seq_cst load of `readers` after its
    // claim: our reads of the payload happen before it may free the block.
    entries_[rec->slot].readers.fetch_sub(1, std::memory_order_release);
  }
  // Another read of an object already being read through `rec` (a View's copy).
  void add_reader(RefRecord* rec) {
    if (entries_[rec->slot].size.load(std::memory_order_relaxed) < kMinSpillBytes) {
      return;  // uncounted (begin_read())
    }
    // relaxed (both): the object is already kept in the store by our other read.
    entries_[rec->slot].readers.fetch_add(1, std::memory_order_relaxed);
    rec->reads.fetch_add(1, std::memory_order_relaxed);
  }

  // ---- spilling (object_spill.cpp) ----
  // Writes the oldest spillable objects to the spill file in one fused write
  // and frees their heap blocks, until at least `bytes` are freed or nothing
  // more can be spilled. Returns the heap bytes freed; kNothingToSpill when
  // nothing could be, kSpillDiskFull / kSpillFailed when the write failed.
  Result<uint64_t, StoreError> spill(uint64_t bytes, ipc::ProcessSlotId me);
  // Spilled objects and their bytes (a scan; for status and tests).
  struct SpillCounts {
    uint64_t objects = 0;
    uint64_t bytes = 0;
  };
  SpillCounts spilled() const;
  // Heap usage from which the background spiller starts (Ray's 80%), and the
  // usage it spills down to.
  uint64_t spill_threshold() const { return heap_->capacity() / 10 * 8; }
  uint64_t spill_target() const { return heap_->capacity() / 10 * 7; }
  // Supervisor: finishes or undoes every spill or restore `dead` was inside.
  void recover_moves(ipc::ProcessSlotId dead, ipc::ProcessSlotId me);

  // Asks the object's sealer to notify `me`'s wake word. Call before parking.
  void register_waiter(uint32_t slot, ipc::ProcessSlotId me);
  // Asks the object's sealer to queue it on `me`'s ReadyQueue and notify `me`.
  // False if another waiter is registered too: then `me` is only woken, and
  // its loop told to check all its waits (ReadyQueue::raise_overflow()).
  // Check the object's state afterwards: a seal before this pushes nothing.
  bool register_loop_waiter(uint32_t slot, ipc::ProcessSlotId me);
  // The ReadyQueues, one per process slot (none: loops are only woken).
  void set_ready_queues(ReadyQueue* queues) { ready_ = queues; }
  ReadyQueue* ready_queue(ipc::ProcessSlotId p) const {
    return ready_ != nullptr && processes_->valid(p) ? &ready_[p] : nullptr;
  }
  // The packed (slot, gen) children of a sealed object.
  Result<std::vector<uint64_t>, StoreError> children(uint32_t slot) const;

  // ---- failing what will never be sealed (the supervisor) ----
  // Calls f(slot) for every unsealed object whose writer is `writer` (a
  // WriterId): a scan up to the high water.
  void for_each_unsealed_of(uint32_t writer, const std::function<void(uint32_t slot)>& f) const;
  // claim_for_failure() of whatever object `slot` holds now; returns the
  // WriterId it had, or nullopt when there is nothing there to fail.
  std::optional<uint32_t> claim_current_for_failure(uint32_t slot, ipc::ProcessSlotId me);

  // ---- recovery (the supervisor, for a dead process) ----
  // Finishes or undoes the operation `rec` of `dead` was inside, and drops
  // the reference the record holds.
  void recover_record(RefRecord* rec, uint32_t rec_index, ipc::ProcessSlotId dead,
                      ipc::ProcessSlotId me);
  // recover_record(), only if the record's operation still holds its entry's
  // lock: what must be unlocked before any other reference can be dropped.
  void recover_record_if_locked(RefRecord* rec, uint32_t rec_index, ipc::ProcessSlotId dead,
                                ipc::ProcessSlotId me);
  // Scans the table once: finishes operations `dead` left locked, frees or
  // fails (through `fail`) unsealed objects whose writer is gone, and frees
  // pending calls that `dead` created and nobody holds any more.
  // `writer_dead(writer)` says whether a WriterId's writer is gone.
  void recover_entries(ipc::ProcessSlotId dead, ipc::ProcessSlotId me,
                       const std::function<bool(uint32_t writer)>& writer_dead,
                       const std::function<void(uint32_t slot)>& fail);

  uint64_t offset_of(const void* p) const {
    return uint64_t(static_cast<const std::byte*>(p) - base_);
  }
  void notify_waiters(ObjectEntry& e);

 private:
  // The entry-lock step, written once: waits until `e` carries no lock tag,
  // lets `decide` map the unlocked word to the word to store (usually with
  // the lock tag of the operation) or to the reason the operation gives up,
  // and CASes it in, from the top again whenever the word moved meanwhile.
  // Returns the unlocked word the CAS replaced. `decide`: uint64_t ->
  // Result<uint64_t, StoreError>. Always inlined: pin and unpin are on the
  // call path, and expanded in place it costs what the loops it replaces did.
  template <class Decide>
  [[gnu::always_inline]] Result<uint64_t, StoreError> cas_unlocked(
      ObjectEntry& e, Decide&& decide, std::memory_order success = std::memory_order_acq_rel) const;
  Result<uint64_t, StoreError> wait_unlocked(const ObjectEntry& e) const;
  // The `decide` of a cas_unlocked() that drops one pin and sets `tag`. An
  // entry without pins, or not live, is corrupt: there is no pin to drop.
  static auto drop_pin_under(uint32_t tag) {
    return [tag](uint64_t c) -> Result<uint64_t, StoreError> {
      if (Ctrl::pins(c) == 0 || !is_live(Ctrl::state(c))) return fail(StoreError::kCorrupt);
      return Ctrl::with_lock(c - 1, tag);
    };
  }
  // Frees the entry's heap payload, if any (the entry is locked by the caller).
  void drop_payload(ObjectEntry& e, ipc::ProcessSlotId me) {
    if (e.data_off != 0) {
      // A bad offset (corrupt entry) leaks the block rather than freeing garbage.
      (void)heap_->free(e.data_off, e.size.load(std::memory_order_relaxed), offset_of(&e.data_off),
                        me);
      e.data_off = 0;
    }
  }
  void free_locked(uint32_t slot, ipc::ProcessSlotId me, RefRecord* rec);
  // heap_->allocate(), spilling other objects to make room when it is full.
  Result<uint64_t, StoreError> allocate_spilling(uint64_t bytes, uint64_t link_off,
                                                 ipc::ProcessSlotId me);
  // Punches the entry's copy out of the spill file, if it has one; `scrub`:
  // a dead mover may have been writing it, so it is scrubbed (SpillFile::scrub()).
  void drop_spilled_copy(ObjectEntry& e, bool scrub = false);
  // True if a mover (spiller or restorer) holds the entry, which the caller
  // has locked in kFreeing: the mover is told to finish the free
  // (kMoverLetGo), since its I/O may still use the heap block and the copy.
  bool let_go_to_mover(ObjectEntry& e);
  // Ends `mover`'s claim on the entry. If its object was freed meanwhile (a
  // free let go of it), finishes that free as `me`; `mover_died`: the mover
  // was killed, and its copy in the spill file is scrubbed, not just punched.
  void release_mover(uint32_t slot, ipc::ProcessSlotId mover, ipc::ProcessSlotId me,
                     bool mover_died);
  // The end of a free a free let go to a mover, the entry locked by `me`.
  void free_after_move(uint32_t slot, ipc::ProcessSlotId me, bool mover_died);
  // Brings a spilled object back; false when another process is moving it.
  Result<bool, StoreError> restore(uint32_t slot, ipc::ProcessSlotId me);
  uint64_t next_age() const;  // the seal clock, moved on
  void release_children(uint32_t slot, ipc::ProcessSlotId me, std::vector<uint32_t>* work);
  void finish_child_release(uint32_t child_slot, uint64_t locked_value, ipc::ProcessSlotId me,
                            std::vector<uint32_t>* work);
  void fix_pin_cursor(uint32_t slot);
  Result<void, StoreError> pin_child(uint32_t slot, uint32_t place, uint64_t child);
  uint64_t child_at(const ObjectEntry& e, uint32_t place) const;
  bool child_ok(uint64_t child) const { return valid_slot(uint32_t(child >> 32)); }
  void finish_unpin(uint32_t slot, uint64_t locked_value, ipc::ProcessSlotId me, RefRecord* rec);
  void retag(ObjectEntry& e, uint64_t c, uint32_t tag) {
    e.ctrl.store(Ctrl::with_lock(c, tag), std::memory_order_relaxed);
  }
  // release: pairs with recover_record()'s acquire load of the state, so a
  // supervisor that finds the state also finds what was done before it.
  static void set_record_state(RefRecord* rec, RecordState s) {
    rec->state.store(uint32_t(s), std::memory_order_release);
  }
  void bump_high_water(uint32_t slot);
  void count_freed(ipc::ProcessSlotId me);

  std::byte* base_ = nullptr;
  uint64_t segment_bytes_ = 0;
  ObjectEntry* entries_ = nullptr;
  uint32_t count_ = 0;
  HeapAllocator* heap_ = nullptr;
  const ipc::ProcessTable* processes_ = nullptr;
  SegmentHeader* header_ = nullptr;
  const StoreBacking* backing_ = nullptr;
  ReadyQueue* ready_ = nullptr;  // one per process slot
  SpillFile* spill_ = nullptr;
};

template <class Decide>
inline Result<uint64_t, StoreError> ObjectTable::cas_unlocked(ObjectEntry& e, Decide&& decide,
                                                              std::memory_order success) const {
  for (;;) {
    auto unlocked = wait_unlocked(e);
    if (!unlocked) return fail(unlocked.error());
    uint64_t c = *unlocked;
    Result<uint64_t, StoreError> next = decide(c);
    if (!next) return fail(next.error());
    // `success` (acq_rel unless the caller needs more): acquire pairs with the
    // release store that unlocked (or freed) the entry, so we see what its last
    // holder wrote; release publishes our record's state before the word.
    if (e.ctrl.compare_exchange_weak(c, *next, success, std::memory_order_relaxed)) return c;
  }
}

}  // namespace shoal::store
