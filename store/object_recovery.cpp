// ObjectTable: repairs after a process died, run by the supervisor (and by a
// process leaving the session, for its own records). Every operation a dead
// process can have been inside is finished or undone exactly, from its
// RefRecord's state and the lock tag still on the entry (see object_table.hpp);
// then the results nobody will write are freed or failed.
#include "store/object_table.hpp"

namespace shoal::store {

// -------------------------------------------------------- a process's records

void ObjectTable::recover_record(RefRecord* rec, uint32_t rec_index, ipc::ProcessSlotId dead,
                                 ipc::ProcessSlotId me) {
  // acquire: pairs with set_record_state()'s release stores by the record's owner.
  const auto state = RecordState(rec->state.load(std::memory_order_acquire));
  if (state == RecordState::kFree) return;
  if (!valid_slot(rec->slot)) {
    rec->state.store(uint32_t(RecordState::kFree), std::memory_order_relaxed);
    return;
  }
  ObjectEntry& e = entries_[rec->slot];
  // Its reads end: the entry may be spilled again. (The record still holds
  // its pin here, so the entry is the object those reads were of.) acq_rel:
  // acquire pairs with the dead process's last changes of the count; release
  // keeps the entry's count ahead of anything after.
  if (const uint32_t reads = rec->reads.exchange(0, std::memory_order_acq_rel); reads != 0) {
    // release: pairs with the spiller's seq_cst load of `readers`.
    e.readers.fetch_sub(reads, std::memory_order_release);
  }
  const uint32_t tag = LockTag::record(dead, rec_index);
  const uint32_t mine = LockTag::process(me);
  // acquire: pairs with the dead process's CAS that set its tag, or with the
  // release store that unlocked the entry last.
  uint64_t c = e.ctrl.load(std::memory_order_acquire);
  const bool landed = Ctrl::lock(c) == tag;  // the dead process's CAS landed, unlock didn't
  switch (state) {
    case RecordState::kCreating:
    case RecordState::kPinning:
      if (!landed) break;  // never landed: nothing to undo
      // Landed with +1: take the lock over and drop that pin again. A create
      // that did not finish was never handed out, so nothing else holds it.
      retag(e, c, mine);
      if (state == RecordState::kCreating) {
        e.creator = uint16_t(dead + 1);
        e.writer = WriterId::process(dead);
      }
      c = Ctrl::with_lock(c - 1, mine);
      e.ctrl.store(c, std::memory_order_relaxed);
      if (state == RecordState::kCreating && Ctrl::pins(c) == 0) {
        e.ctrl.store(Ctrl::with_lock(Ctrl::make(0, ObjectState::kFreeing), mine),
                     std::memory_order_relaxed);
        fix_pin_cursor(rec->slot);
        free_locked(rec->slot, me, nullptr);
      } else {
        finish_unpin(rec->slot, c, me, nullptr);
      }
      break;
    case RecordState::kHeld: {
      if (landed) {  // finished but for the unlock
        // release: unlocks; pairs with the next locker's acquire.
        e.ctrl.store(Ctrl::unlocked(c), std::memory_order_release);
      }
      auto locked = cas_unlocked(e, drop_pin_under(mine));  // corrupt: nothing to drop
      if (locked) finish_unpin(rec->slot, Ctrl::with_lock(*locked - 1, mine), me, nullptr);
      break;
    }
    case RecordState::kReleasing: {
      if (landed) {
        retag(e, c, mine);
        if (Ctrl::state(c) == ObjectState::kFreeing) {
          free_locked(rec->slot, me, nullptr);
        } else {
          finish_unpin(rec->slot, Ctrl::with_lock(c, mine), me, nullptr);
        }
        break;
      }
      // Never landed: drop the pin now.
      auto locked = cas_unlocked(e, drop_pin_under(mine));
      if (locked) finish_unpin(rec->slot, Ctrl::with_lock(*locked - 1, mine), me, nullptr);
      break;
    }
    case RecordState::kFree:
      break;
  }
  set_record_state(rec, RecordState::kFree);
}

void ObjectTable::recover_record_if_locked(RefRecord* rec, uint32_t rec_index,
                                           ipc::ProcessSlotId dead, ipc::ProcessSlotId me) {
  // acquire: pairs with set_record_state()'s release stores by the record's owner.
  const auto state = RecordState(rec->state.load(std::memory_order_acquire));
  if (state == RecordState::kFree || !valid_slot(rec->slot)) return;
  // acquire: pairs with the dead process's CAS that set its tag.
  const uint64_t c = entries_[rec->slot].ctrl.load(std::memory_order_acquire);
  if (Ctrl::lock(c) == LockTag::record(dead, rec_index)) recover_record(rec, rec_index, dead, me);
}

// ------------------------------------------------------------ cursor repair

void ObjectTable::fix_pin_cursor(uint32_t slot) {
  // A writer that died while pinning children left the child at `cursor`
  // pinned but not counted, or the one before it counted but still locked.
  ObjectEntry& e = entries_[slot];
  const uint32_t ctag = LockTag::entry(slot);
  // acquire: pairs with the release stores of the cursor in pin_child() and
  // set_children().
  uint32_t cursor = e.child_cursor.load(std::memory_order_acquire);
  if (cursor > e.child_count) cursor = e.child_count;
  for (uint32_t place : {cursor, cursor == 0 ? e.child_count : cursor - 1}) {
    if (place >= e.child_count) continue;
    const uint64_t child = child_at(e, place);
    if (child == 0 || !child_ok(child)) continue;
    ObjectEntry& ce = entries_[child >> 32];
    // acquire: pairs with the dead writer's CAS that set the container's tag.
    const uint64_t c = ce.ctrl.load(std::memory_order_acquire);
    if (Ctrl::lock(c) != ctag) continue;
    // release: pairs with release_children()'s acquire load of the cursor.
    if (place == cursor) e.child_cursor.store(cursor + 1, std::memory_order_release);
    // release: unlocks the child; pairs with the next locker's acquire.
    ce.ctrl.store(Ctrl::unlocked(c), std::memory_order_release);
  }
}

// ---------------------------------------------------------- the whole table

void ObjectTable::recover_entries(ipc::ProcessSlotId dead, ipc::ProcessSlotId me,
                                  const std::function<bool(uint32_t writer)>& writer_dead,
                                  const std::function<void(uint32_t slot)>& fail) {
  const uint32_t mine = LockTag::process(me);
  const uint32_t hw = high_water();
  for (uint32_t s = 0; s < hw; ++s) {
    ObjectEntry& e = entries_[s];
    // acquire: pairs with the release stores that unlocked the entry (or with
    // the dead process's CAS that set its tag).
    uint64_t c = e.ctrl.load(std::memory_order_acquire);
    if (c == 0) continue;
    const uint32_t tag = Ctrl::lock(c);
    if (tag != 0 && LockTag::owner(tag) == dead) {
      // recover_record() has run for every record of `dead`, so whatever it
      // left locked finished all but its unlock, or was inside a free.
      retag(e, c, mine);
      if (Ctrl::state(c) == ObjectState::kFreeing) {
        free_locked(s, me, nullptr);
        continue;
      }
      // release: unlocks; pairs with the next locker's acquire.
      e.ctrl.store(Ctrl::unlocked(c), std::memory_order_release);
      c = Ctrl::unlocked(c);
    } else if (tag != 0) {
      continue;  // a live operation, or a child op its container's recovery finishes
    }
    const ObjectState st = Ctrl::state(c);
    if (!is_unsealed(st)) continue;
    const bool writer_gone = writer_dead(e.writer);
    const bool orphan_call =
        st == ObjectState::kPending && e.creator == uint16_t(dead + 1) && Ctrl::pins(c) == 0;
    if (!writer_gone && !orphan_call) continue;
    if (Ctrl::pins(c) == 0) {
      // Nobody will ever read it: free it. The CAS also beats a writer's claim.
      auto locked = cas_unlocked(e, [&](uint64_t w) -> Result<uint64_t, StoreError> {
        // (`fail` is the parameter here: shoal::fail makes the error.)
        if (!is_unsealed(Ctrl::state(w)) || Ctrl::pins(w) != 0) {
          return shoal::fail(StoreError::kNotFound);
        }
        return Ctrl::with_lock(Ctrl::make(0, ObjectState::kFreeing), mine);
      });
      if (locked) {
        fix_pin_cursor(s);
        free_locked(s, me, nullptr);
      }
      continue;
    }
    if (writer_gone) {
      fix_pin_cursor(s);
      fail(s);
    }
  }
}

// ------------------------------------------- failing what will not be sealed

void ObjectTable::for_each_unsealed_of(uint32_t writer,
                                       const std::function<void(uint32_t slot)>& f) const {
  const uint32_t hw = high_water();
  for (uint32_t s = 0; s < hw; ++s) {
    const ObjectEntry& e = entries_[s];
    // acquire: pairs with create()'s release store that published the entry
    // (its writer field included).
    const uint64_t c = e.ctrl.load(std::memory_order_acquire);
    if (is_unsealed(Ctrl::state(c)) && e.writer == writer) f(s);
  }
}

std::optional<uint32_t> ObjectTable::claim_current_for_failure(uint32_t slot,
                                                               ipc::ProcessSlotId me) {
  if (!valid_slot(slot)) return std::nullopt;
  const ObjectEntry& e = entries_[slot];
  // Read before the claim, which rewrites the writer. Both are hints until
  // claim_for_failure() checks the generation under the lock: with the same
  // generation, the entry still holds the object whose writer we read.
  const uint32_t gen = e.gen.load(std::memory_order_relaxed);
  const uint32_t writer = e.writer;
  if (!claim_for_failure(slot, gen, me)) return std::nullopt;
  return writer;
}

}  // namespace shoal::store
