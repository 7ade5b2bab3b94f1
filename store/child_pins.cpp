// ObjectTable: contained references. A container (a put value holding
// ObjectRefs, a call result holding its arguments object) pins each child
// under its own entry tag and counts the children pinned so far in its
// child_cursor, so that a crash leaves at most one child in doubt.
#include <cstring>

#include "store/object_table.hpp"

namespace shoal::store {

uint64_t ObjectTable::child_at(const ObjectEntry& e, uint32_t place) const {
  if (place < kInlineChildren && e.child_count <= kInlineChildren) {
    return e.children_inline[place];
  }
  const uint64_t off = e.children_off + uint64_t(place) * 8;
  if (e.children_off == 0 || !heap_->contains(e.children_off, uint64_t(e.child_count) * 8) ||
      place >= e.child_count) {
    return 0;
  }
  uint64_t v;
  std::memcpy(&v, base_ + off, 8);
  return v;
}

// ------------------------------------------------------------------- pinning

Result<void, StoreError> ObjectTable::pin_child(uint32_t slot, uint32_t place, uint64_t child) {
  ObjectEntry& e = entries_[slot];
  const uint32_t ctag = LockTag::entry(slot);
  const uint32_t cslot = uint32_t(child >> 32);
  const uint32_t cgen = uint32_t(child);
  if (!valid_slot(cslot)) return fail(StoreError::kBadId);
  ObjectEntry& ce = entries_[cslot];
  auto locked = cas_unlocked(ce, [&](uint64_t c) -> Result<uint64_t, StoreError> {
    if (!is_live(Ctrl::state(c)) || ce.gen.load(std::memory_order_relaxed) != cgen) {
      return fail(StoreError::kNotFound);
    }
    return Ctrl::with_lock(c + 1, ctag);
  });
  if (!locked) return fail(locked.error());
  const uint64_t c = *locked;
  if (ce.gen.load(std::memory_order_relaxed) != cgen) {
    // release: undoes the pin and the lock; pairs with the next locker's acquire.
    ce.ctrl.store(c, std::memory_order_release);
    return fail(StoreError::kNotFound);
  }
  // release: the child is counted before it is unlocked; pairs with the
  // acquire loads of the cursor in fix_pin_cursor() and release_children().
  e.child_cursor.store(place + 1, std::memory_order_release);
  // release: unlocks the child; pairs with the next locker's acquire.
  ce.ctrl.store(c + 1, std::memory_order_release);
  return {};
}

Result<void, StoreError> ObjectTable::set_children(uint32_t slot, const uint64_t* children,
                                                   uint32_t n, ipc::ProcessSlotId me) {
  ObjectEntry& e = entries_[slot];
  if (n == 0) return {};
  if (n > kInlineChildren) {
    auto off = heap_->allocate(uint64_t(n) * 8, offset_of(&e.children_off), me);
    if (!off) return fail(off.error());
    std::memcpy(base_ + *off, children, uint64_t(n) * 8);
  } else {
    for (uint32_t i = 0; i < n; ++i)
      e.children_inline[i] = children[i];
  }
  e.child_count = n;
  // release (each store of the cursor here): pairs with the acquire loads of
  // fix_pin_cursor() and release_children(), which trust the places below it.
  e.child_cursor.store(0, std::memory_order_release);
  for (uint32_t i = 0; i < n; ++i) {
    if (children[i] == 0) {
      e.child_cursor.store(i + 1, std::memory_order_release);
      continue;
    }
    auto r = pin_child(slot, i, children[i]);
    if (!r) {
      // The child died under us (a bad id): drop it from the list.
      if (n <= kInlineChildren) {
        e.children_inline[i] = 0;
      } else {
        const uint64_t zero = 0;
        std::memcpy(base_ + e.children_off + uint64_t(i) * 8, &zero, 8);
      }
      e.child_cursor.store(i + 1, std::memory_order_release);
      return fail(r.error());
    }
  }
  return {};
}

Result<void, StoreError> ObjectTable::add_child(uint32_t slot, uint32_t place, uint64_t child) {
  ObjectEntry& e = entries_[slot];
  if (place >= e.child_count || place >= kInlineChildren || e.child_count > kInlineChildren) {
    return fail(StoreError::kCorrupt);
  }
  // Empty places before `place` count as done.
  if (e.child_cursor.load(std::memory_order_relaxed) < place) {
    // release: pairs with the acquire loads of fix_pin_cursor() and
    // release_children().
    e.child_cursor.store(place, std::memory_order_release);
  }
  e.children_inline[place] = child;
  return pin_child(slot, place, child);
}

// ----------------------------------------------------------------- releasing

void ObjectTable::finish_child_release(uint32_t child_slot, uint64_t locked_value,
                                       ipc::ProcessSlotId me, std::vector<uint32_t>* work) {
  ObjectEntry& ce = entries_[child_slot];
  if (Ctrl::pins(locked_value) == 0 && Ctrl::state(locked_value) == ObjectState::kSealed) {
    ce.ctrl.store(Ctrl::with_lock(Ctrl::make(0, ObjectState::kFreeing), LockTag::process(me)),
                  std::memory_order_relaxed);
    work->push_back(child_slot);
    return;
  }
  // release: unlocks the child; pairs with the next locker's acquire.
  ce.ctrl.store(Ctrl::unlocked(locked_value), std::memory_order_release);
}

void ObjectTable::release_children(uint32_t slot, ipc::ProcessSlotId me,
                                   std::vector<uint32_t>* work) {
  ObjectEntry& e = entries_[slot];
  const uint32_t ctag = LockTag::entry(slot);
  // A count whose overflow list is not a valid heap block (a corrupt word)
  // has no child that can be read: walking its places would only take time.
  const uint32_t count =
      e.child_count <= kInlineChildren ||
              (e.children_off != 0 && heap_->contains(e.children_off, uint64_t(e.child_count) * 8))
          ? e.child_count
          : 0;
  // acquire: pairs with the release stores of the cursor by whoever pinned or
  // released children before us (a crashed holder's included).
  uint32_t cursor = e.child_cursor.load(std::memory_order_acquire);
  if (cursor > count) cursor = count;  // corrupt: trust the smaller
  // A crash after moving the cursor down but before finishing that child
  // leaves the child at `cursor` locked with our tag: finish it first.
  if (cursor < count) {
    const uint64_t child = child_at(e, cursor);
    if (child != 0 && child_ok(child)) {
      // acquire: pairs with the crashed holder's CAS that set our tag.
      const uint64_t c = entries_[child >> 32].ctrl.load(std::memory_order_acquire);
      if (Ctrl::lock(c) == ctag) finish_child_release(uint32_t(child >> 32), c, me, work);
    }
  }
  while (cursor > 0) {
    const uint64_t child = child_at(e, cursor - 1);
    if (child != 0 && child_ok(child)) {
      ObjectEntry& ce = entries_[child >> 32];
      // Our tag is on the child only if a crashed holder's decrement landed
      // (nobody else sets it): then it is done, else drop the pin now.
      // acquire: pairs with that holder's CAS.
      uint64_t c = ce.ctrl.load(std::memory_order_acquire);
      bool landed = Ctrl::lock(c) == ctag;
      if (!landed) {
        auto locked = cas_unlocked(ce, drop_pin_under(ctag));  // corrupt: skip it
        if (locked) {
          c = Ctrl::with_lock(*locked - 1, ctag);
          landed = true;
        }
      }
      // release: pairs with the acquire load of the cursor above, after a crash.
      e.child_cursor.store(cursor - 1, std::memory_order_release);
      if (landed) finish_child_release(uint32_t(child >> 32), c, me, work);
    } else {
      e.child_cursor.store(cursor - 1, std::memory_order_release);  // release: as above
    }
    --cursor;
  }
}

// -------------------------------------------------------------------- readers

Result<std::vector<uint64_t>, StoreError> ObjectTable::children(uint32_t slot) const {
  if (!valid_slot(slot)) return fail(StoreError::kBadId);
  const ObjectEntry& e = entries_[slot];
  if (e.child_count > kInlineChildren &&
      (e.children_off == 0 || !heap_->contains(e.children_off, uint64_t(e.child_count) * 8))) {
    return fail(StoreError::kCorrupt);
  }
  std::vector<uint64_t> out;
  for (uint32_t i = 0; i < e.child_count; ++i) {
    const uint64_t c = child_at(e, i);
    if (c != 0) out.push_back(c);
  }
  return out;
}

}  // namespace shoal::store
