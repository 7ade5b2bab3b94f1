#include "store/object_table.hpp"

#include <sched.h>
#include <unistd.h>

#include <cstring>

#include "ipc/spin.hpp"
#include "store/segment.hpp"

namespace shoal::store {


namespace {

constexpr size_t kFreeCacheMax = 8192;

// Per-thread hints for finding a free entry: entries this thread freed most
// recently (warm in its cache) and a cursor for scanning. Hints only: every
// use is re-validated by the claiming CAS.
struct SlotHints {
  const void* table = nullptr;
  uint64_t session = 0;  // a new session may be mapped where an old one was
  uint32_t cursor = 0;
  std::vector<uint32_t> freed;
};

// A per-thread T that stays usable while its thread exits. shoal::shutdown()
// runs from atexit, after the main thread's thread_local destructors, and
// still frees objects; a plain thread_local std::vector would be written
// after its destructor. The pointer is trivially destructible; the reaper
// frees T at thread exit and resets the pointer, so a use after that makes a
// fresh T (leaked, but only a thread that is ending can do that).
template <class T>
class ExitSafeLocal {
 public:
  static T& get() {
    if (ptr_ == nullptr) {
      (void)&reaper_;  // constructs the reaper for this thread
      ptr_ = new T();
    }
    return *ptr_;
  }

 private:
  struct Reaper {
    ~Reaper() {
      delete ptr_;
      ptr_ = nullptr;
    }
  };
  static thread_local T* ptr_;
  static thread_local Reaper reaper_;
};
template <class T>
thread_local T* ExitSafeLocal<T>::ptr_ = nullptr;
template <class T>
thread_local typename ExitSafeLocal<T>::Reaper ExitSafeLocal<T>::reaper_;

SlotHints& hints_for(const void* table, uint64_t session, uint32_t count, ipc::ProcessSlotId me) {
  SlotHints& hints = ExitSafeLocal<SlotHints>::get();
  // Stale hints would hand out entries above the new table's high water, where
  // recovery and status never look.
  if (hints.table != table || hints.session != session) {
    hints.table = table;
    hints.session = session;
    hints.freed.clear();
    hints.freed.reserve(kFreeCacheMax);
    // Each process starts scanning at its own small offset: claims rarely
    // collide, yet the used part of the table stays compact at its start
    // (the supervisor's repair scan only reads up to the high water mark).
    hints.cursor = static_cast<uint32_t>((uint64_t(me) * 256) % count);
  }
  return hints;
}

constexpr uint64_t kLockCorruptAfterNs = 5'000'000'000ull;
// Consecutive looks at a lock whose owner's slot stays free before it counts
// as corrupt. One would do; the rest only make a freak interleaving of slot
// reuse (a whole process lifetime between two of our loads, every time)
// impossible in practice.
constexpr uint32_t kOrphanedLockLooks = 64;

// Scratch list for iterative frees, reused so a free allocates nothing.
struct FreeWork {
  std::vector<uint32_t> slots;
};

bool unsealed(ObjectState s) { return s == ObjectState::kPending || s == ObjectState::kWriting; }
bool live(ObjectState s) { return unsealed(s) || s == ObjectState::kSealed; }

}  // namespace

uint32_t ObjectTable::high_water() const {
  const uint32_t hw = header_->objects_high_water.load(std::memory_order_relaxed);
  return hw < count_ ? hw : count_;
}

void ObjectTable::bump_high_water(uint32_t slot) {
  uint32_t hw = header_->objects_high_water.load(std::memory_order_relaxed);
  while (slot + 1 > hw &&
         !header_->objects_high_water.compare_exchange_weak(hw, slot + 1,
                                                            std::memory_order_relaxed)) {
  }
}

void ObjectTable::count_freed(ipc::ProcessSlotId me) {
  if (processes_->valid(me)) {
    processes_->slot(me).objects_freed.fetch_add(1, std::memory_order_relaxed);
  }
}

Result<uint64_t, StoreError> ObjectTable::wait_unlocked(const ObjectEntry& e) const {
  // Locks are held for a few instructions, unless the holder died: then the
  // supervisor repairs the entry within milliseconds, and frees the holder's
  // process slot only after that. A lock that names nobody, that stays on a
  // slot no process holds, or that outlives any repair, can only be a corrupt
  // word. (A slot is claimed before its process locks anything and released
  // after every lock it held is undone, so once we have seen the slot free,
  // the next look at the word finds that lock gone.)
  uint64_t deadline = 0;
  uint64_t seen = 0;          // the locked word we keep finding
  uint32_t orphan_looks = 0;  // consecutive looks at `seen` with its owner's slot free
  ipc::Backoff backoff(ipc::SpinPolicy::kLockSpinNs);
  for (;;) {
    const uint64_t c = e.ctrl.load(std::memory_order_acquire);
    const uint32_t tag = Ctrl::lock(c);
    if (tag == 0) return c;
    const uint32_t kind = LockTag::kind(tag);
    if (kind == 0 || (kind == LockTag::kEntryKind && !valid_slot(LockTag::entry_index(tag))) ||
        (kind != LockTag::kEntryKind && !processes_->valid(LockTag::owner(tag)))) {
      return fail(StoreError::kCorrupt);
    }
    const ipc::ProcessSlotId owner = LockTag::owner(tag);
    // acquire: pairs with release() of the slot, which follows its unlocks.
    const bool orphaned =
        owner != ipc::kNoProcess &&
        ipc::owner_state(processes_->slot(owner).owner.load(std::memory_order_acquire)) ==
            ipc::ProcessState::kFree;
    orphan_looks = orphaned && c == seen ? orphan_looks + 1 : 0;
    seen = c;
    if (orphan_looks >= kOrphanedLockLooks) return fail(StoreError::kCorrupt);
    if (backoff.step()) continue;
    const uint64_t now = ipc::now_ns();
    if (deadline == 0) deadline = now + kLockCorruptAfterNs;
    if (now > deadline) return fail(StoreError::kCorrupt);
    ::usleep(50);  // the holder died: the supervisor repairs the entry within milliseconds
  }
}

// ---------------------------------------------------------------- references

Result<uint32_t, StoreError> ObjectTable::create(RefRecord* rec, uint32_t rec_index,
                                                 ipc::ProcessSlotId me, ObjectState initial,
                                                 uint32_t writer, uint32_t child_places) {
  const uint32_t tag = LockTag::record(me, rec_index);
  SlotHints& h = hints_for(entries_, header_->layout.session_tag, count_, me);
  auto try_slot = [&](uint32_t s, bool scanning) -> bool {
    ObjectEntry& e = entries_[s];
    uint64_t c = e.ctrl.load(std::memory_order_relaxed);
    if (c != 0) return false;
    // Before the claim can land: recovery scans entries below the high water
    // only, so an entry claimed by a process killed right after its CAS must
    // already be below it. (Freed entries from the hints are below it anyway.)
    if (scanning) bump_high_water(s);
    rec->slot = s;
    // release: the record names the entry before the CAS can land (recovery).
    rec->state.store(uint32_t(RecordState::kCreating), std::memory_order_release);
    // acq_rel: acquire pairs with the release store that freed the entry.
    if (!e.ctrl.compare_exchange_strong(c, Ctrl::with_lock(Ctrl::make(1, initial), tag),
                                        std::memory_order_acq_rel, std::memory_order_relaxed)) {
      return false;
    }
    uint32_t gen = e.gen.load(std::memory_order_relaxed);
    if (gen == 0) {  // never used since the segment was created: generations start at 1
      gen = 1;
      e.gen.store(gen, std::memory_order_relaxed);
    }
    rec->gen = gen;
    e.writer = writer;
    e.creator = uint16_t(me + 1);
    e.claimer = initial == ObjectState::kWriting ? uint16_t(me + 1) : 0;
    e.child_count = child_places;
    e.waiter.store(kNoWaiter, std::memory_order_relaxed);
    rec->state.store(uint32_t(RecordState::kHeld), std::memory_order_release);
    // release: pairs with acquire loads of ctrl by readers and later lockers.
    e.ctrl.store(Ctrl::make(1, initial), std::memory_order_release);
    return true;
  };
  while (!h.freed.empty()) {
    const uint32_t s = h.freed.back();
    h.freed.pop_back();
    if (s < count_ && try_slot(s, false)) {
      processes_->slot(me).objects_created.fetch_add(1, std::memory_order_relaxed);
      return s;
    }
  }
  for (uint32_t i = 0; i < count_; ++i) {
    const uint32_t s = h.cursor;
    h.cursor = h.cursor + 1 == count_ ? 0 : h.cursor + 1;
    if (try_slot(s, true)) {
      processes_->slot(me).objects_created.fetch_add(1, std::memory_order_relaxed);
      return s;
    }
  }
  rec->state.store(uint32_t(RecordState::kFree), std::memory_order_release);
  return fail(StoreError::kTableFull);
}

Result<void, StoreError> ObjectTable::pin(RefRecord* rec, uint32_t rec_index,
                                          ipc::ProcessSlotId me, uint32_t slot, uint32_t gen) {
  if (!valid_slot(slot)) return fail(StoreError::kBadId);
  ObjectEntry& e = entries_[slot];
  const uint32_t tag = LockTag::record(me, rec_index);
  rec->slot = slot;
  rec->gen = gen;
  rec->state.store(uint32_t(RecordState::kPinning), std::memory_order_release);
  uint64_t c;
  for (;;) {
    auto w = wait_unlocked(e);
    if (!w) {
      rec->state.store(uint32_t(RecordState::kFree), std::memory_order_release);
      return fail(w.error());
    }
    c = *w;
    if (!live(Ctrl::state(c)) || e.gen.load(std::memory_order_relaxed) != gen) {
      rec->state.store(uint32_t(RecordState::kFree), std::memory_order_release);
      return fail(Ctrl::state(c) > ObjectState::kFreeing ? StoreError::kCorrupt
                                                         : StoreError::kNotFound);
    }
    if (Ctrl::pins(c) == Ctrl::kPinMask) {
      rec->state.store(uint32_t(RecordState::kFree), std::memory_order_release);
      return fail(StoreError::kTooManyRefs);
    }
    if (e.ctrl.compare_exchange_weak(c, Ctrl::with_lock(c + 1, tag), std::memory_order_acq_rel,
                                     std::memory_order_relaxed)) {
      break;
    }
  }
  // The generation is stable while we hold the lock: check it for real now.
  if (e.gen.load(std::memory_order_relaxed) != gen) {
    e.ctrl.store(c, std::memory_order_release);  // undo: pins and lock as they were
    rec->state.store(uint32_t(RecordState::kFree), std::memory_order_release);
    return fail(StoreError::kNotFound);
  }
  rec->state.store(uint32_t(RecordState::kHeld), std::memory_order_release);
  e.ctrl.store(c + 1, std::memory_order_release);  // unlock; pairs with acquire of the next locker
  return {};
}

void ObjectTable::unpin(RefRecord* rec, uint32_t rec_index, ipc::ProcessSlotId me) {
  const uint32_t slot = rec->slot;
  SHOAL_CHECK(valid_slot(slot)) << "record names slot " << slot;
  ObjectEntry& e = entries_[slot];
  const uint32_t tag = LockTag::record(me, rec_index);
  rec->state.store(uint32_t(RecordState::kReleasing), std::memory_order_release);
  uint64_t c;
  for (;;) {
    auto w = wait_unlocked(e);
    if (!w || Ctrl::pins(*w) == 0 || !live(Ctrl::state(*w))) {
      // A corrupt entry: forget the reference rather than act on garbage.
      rec->state.store(uint32_t(RecordState::kFree), std::memory_order_release);
      return;
    }
    c = *w;
    if (e.ctrl.compare_exchange_weak(c, Ctrl::with_lock(c - 1, tag), std::memory_order_acq_rel,
                                     std::memory_order_relaxed)) {
      break;
    }
  }
  finish_unpin(slot, Ctrl::with_lock(c - 1, tag), me, rec);
}

// The entry is locked with `locked_value` (one pin already dropped). Frees it
// if that was the last pin of a sealed object; clears `rec` before unlocking.
// The free keeps the lock tag of the operation, so a crash inside it is found
// through that tag.
void ObjectTable::finish_unpin(uint32_t slot, uint64_t locked_value, ipc::ProcessSlotId me,
                               RefRecord* rec) {
  ObjectEntry& e = entries_[slot];
  if (Ctrl::pins(locked_value) == 0 && Ctrl::state(locked_value) == ObjectState::kSealed) {
    e.ctrl.store(Ctrl::with_state(locked_value, ObjectState::kFreeing),
                 std::memory_order_relaxed);
    free_locked(slot, me, rec);
    return;
  }
  // Unsealed with no pins left: abandoned; its writer frees it at seal time.
  if (rec) rec->state.store(uint32_t(RecordState::kFree), std::memory_order_release);
  e.ctrl.store(Ctrl::unlocked(locked_value), std::memory_order_release);
}

// ------------------------------------------------------------------- freeing

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

void ObjectTable::free_locked(uint32_t first, ipc::ProcessSlotId me, RefRecord* rec) {
  // Iterative: children whose last pin we drop join the work list.
  std::vector<uint32_t>& work = ExitSafeLocal<FreeWork>::get().slots;
  const size_t base = work.size();  // a recovery may nest inside another free's list
  work.push_back(first);
  while (work.size() > base) {
    const uint32_t slot = work.back();
    work.pop_back();
    ObjectEntry& e = entries_[slot];
    if (e.data_off != 0) {
      // A bad offset (corrupt entry) leaks the block rather than freeing garbage.
      (void)heap_->free(e.data_off, e.size, offset_of(&e.data_off), me);
      e.data_off = 0;
    }
    release_children(slot, me, &work);
    if (e.children_off != 0) {
      (void)heap_->free(e.children_off, uint64_t(e.child_count) * 8, offset_of(&e.children_off),
                        me);
      e.children_off = 0;
    }
    e.size = 0;
    e.type_fp = 0;
    e.codec = 0;
    e.child_count = 0;
    e.child_cursor.store(0, std::memory_order_relaxed);
    e.children_inline[0] = e.children_inline[1] = 0;
    e.writer = 0;
    e.creator = 0;
    e.claimer = 0;
    e.waiter.store(kNoWaiter, std::memory_order_relaxed);
    uint32_t gen = e.gen.load(std::memory_order_relaxed) + 1;
    if (gen == 0) gen = 1;
    e.gen.store(gen, std::memory_order_relaxed);
    count_freed(me);
    if (slot == first && rec) rec->state.store(uint32_t(RecordState::kFree), std::memory_order_release);
    // release: the entry is free; pairs with the acquire of create()'s CAS.
    e.ctrl.store(0, std::memory_order_release);
    SlotHints& h = hints_for(entries_, header_->layout.session_tag, count_, me);
    if (h.freed.size() < kFreeCacheMax) h.freed.push_back(slot);
  }
}

void ObjectTable::finish_child_release(uint32_t child_slot, uint64_t locked_value,
                                       ipc::ProcessSlotId me, std::vector<uint32_t>* work) {
  ObjectEntry& ce = entries_[child_slot];
  if (Ctrl::pins(locked_value) == 0 && Ctrl::state(locked_value) == ObjectState::kSealed) {
    ce.ctrl.store(Ctrl::with_lock(Ctrl::make(0, ObjectState::kFreeing), LockTag::process(me)),
                  std::memory_order_relaxed);
    work->push_back(child_slot);
    return;
  }
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
  uint32_t cursor = e.child_cursor.load(std::memory_order_acquire);
  if (cursor > count) cursor = count;  // corrupt: trust the smaller
  // A crash after moving the cursor down but before finishing that child
  // leaves the child at `cursor` locked with our tag: finish it first.
  if (cursor < count) {
    const uint64_t child = child_at(e, cursor);
    if (child != 0 && child_ok(child)) {
      const uint64_t c = entries_[child >> 32].ctrl.load(std::memory_order_acquire);
      if (Ctrl::lock(c) == ctag) finish_child_release(uint32_t(child >> 32), c, me, work);
    }
  }
  while (cursor > 0) {
    const uint64_t child = child_at(e, cursor - 1);
    if (child != 0 && child_ok(child)) {
      ObjectEntry& ce = entries_[child >> 32];
      uint64_t c;
      bool landed = false;
      for (;;) {
        c = ce.ctrl.load(std::memory_order_acquire);
        if (Ctrl::lock(c) == ctag) {  // our decrement landed before a crash
          landed = true;
          break;
        }
        if (Ctrl::lock(c) != 0) {
          auto w = wait_unlocked(ce);
          if (!w) break;  // corrupt: skip it
          continue;
        }
        if (Ctrl::pins(c) == 0 || !live(Ctrl::state(c))) break;  // corrupt: skip it
        if (ce.ctrl.compare_exchange_weak(c, Ctrl::with_lock(c - 1, ctag),
                                          std::memory_order_acq_rel,
                                          std::memory_order_relaxed)) {
          c = Ctrl::with_lock(c - 1, ctag);
          landed = true;
          break;
        }
      }
      e.child_cursor.store(cursor - 1, std::memory_order_release);
      if (landed) finish_child_release(uint32_t(child >> 32), c, me, work);
    } else {
      e.child_cursor.store(cursor - 1, std::memory_order_release);
    }
    --cursor;
  }
}

// -------------------------------------------------------------------- writers

ClaimResult ObjectTable::claim(uint32_t slot, uint32_t gen, ipc::ProcessSlotId me) {
  if (!valid_slot(slot)) return ClaimResult::kGone;
  ObjectEntry& e = entries_[slot];
  const uint32_t tag = LockTag::process(me);
  uint64_t c;
  for (;;) {
    auto w = wait_unlocked(e);
    if (!w) return ClaimResult::kGone;
    c = *w;
    if (Ctrl::state(c) != ObjectState::kPending || e.gen.load(std::memory_order_relaxed) != gen) {
      return ClaimResult::kGone;
    }
    if (e.ctrl.compare_exchange_weak(c, Ctrl::with_lock(c, tag), std::memory_order_acq_rel,
                                     std::memory_order_relaxed)) {
      break;
    }
  }
  if (e.gen.load(std::memory_order_relaxed) != gen) {
    e.ctrl.store(c, std::memory_order_release);
    return ClaimResult::kGone;
  }
  e.claimer = uint16_t(me + 1);
  e.ctrl.store(Ctrl::with_state(c, ObjectState::kWriting), std::memory_order_release);
  return (c & Ctrl::kCancelRequested) ? ClaimResult::kClaimedCancelled : ClaimResult::kClaimed;
}

bool ObjectTable::claim_for_failure(uint32_t slot, uint32_t gen, ipc::ProcessSlotId me) {
  if (!valid_slot(slot)) return false;
  ObjectEntry& e = entries_[slot];
  const uint32_t tag = LockTag::process(me);
  uint64_t c;
  for (;;) {
    auto w = wait_unlocked(e);
    if (!w) return false;
    c = *w;
    if (!unsealed(Ctrl::state(c)) || e.gen.load(std::memory_order_relaxed) != gen) return false;
    if (e.ctrl.compare_exchange_weak(c, Ctrl::with_lock(c, tag), std::memory_order_acq_rel,
                                     std::memory_order_relaxed)) {
      break;
    }
  }
  // A result being written by a live process is that process's to finish:
  // only a dead claimer's work may be taken over.
  const bool claimed_by_live = Ctrl::state(c) == ObjectState::kWriting && e.claimer != 0 &&
                               e.claimer != uint16_t(me + 1) &&
                               !processes_->is_dead(ipc::ProcessSlotId(e.claimer - 1));
  if (e.gen.load(std::memory_order_relaxed) != gen || claimed_by_live) {
    e.ctrl.store(c, std::memory_order_release);
    return false;
  }
  e.claimer = uint16_t(me + 1);
  // Whatever a dead writer left half written goes; the failure replaces it.
  if (e.data_off != 0) {
    (void)heap_->free(e.data_off, e.size, offset_of(&e.data_off), me);
    e.data_off = 0;
  }
  e.size = 0;
  e.writer = WriterId::process(me);
  e.ctrl.store(Ctrl::with_state(c, ObjectState::kWriting), std::memory_order_release);
  return true;
}

Result<std::byte*, StoreError> ObjectTable::reserve_payload(uint32_t slot, uint64_t bytes,
                                                            ipc::ProcessSlotId me,
                                                            bool inline_ok) {
  ObjectEntry& e = entries_[slot];
  if (bytes <= kInlineBytes && inline_ok) return e.inline_data;
  // The size is what frees the block: record it before the block can be
  // linked in, so that a writer dying before describe() leaks nothing.
  e.size = bytes;
  auto off = heap_->allocate(bytes, offset_of(&e.data_off), me);
  if (!off) {
    e.size = 0;
    return fail(off.error());
  }
  return base_ + *off;
}

void ObjectTable::describe(uint32_t slot, Codec codec, uint64_t type_fp, uint64_t bytes) {
  ObjectEntry& e = entries_[slot];
  e.codec = uint8_t(codec);
  e.type_fp = type_fp;
  e.size = bytes;
}

Result<void, StoreError> ObjectTable::pin_child(uint32_t slot, uint32_t place, uint64_t child) {
  ObjectEntry& e = entries_[slot];
  const uint32_t ctag = LockTag::entry(slot);
  const uint32_t cslot = uint32_t(child >> 32);
  const uint32_t cgen = uint32_t(child);
  if (!valid_slot(cslot)) return fail(StoreError::kBadId);
  ObjectEntry& ce = entries_[cslot];
  uint64_t c;
  for (;;) {
    auto w = wait_unlocked(ce);
    if (!w) return fail(w.error());
    c = *w;
    if (!live(Ctrl::state(c)) || ce.gen.load(std::memory_order_relaxed) != cgen) {
      return fail(StoreError::kNotFound);
    }
    if (ce.ctrl.compare_exchange_weak(c, Ctrl::with_lock(c + 1, ctag), std::memory_order_acq_rel,
                                      std::memory_order_relaxed)) {
      break;
    }
  }
  if (ce.gen.load(std::memory_order_relaxed) != cgen) {
    ce.ctrl.store(c, std::memory_order_release);
    return fail(StoreError::kNotFound);
  }
  e.child_cursor.store(place + 1, std::memory_order_release);
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
    for (uint32_t i = 0; i < n; ++i) e.children_inline[i] = children[i];
  }
  e.child_count = n;
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

Result<void, StoreError> ObjectTable::add_child(uint32_t slot, uint32_t place, uint64_t child,
                                                ipc::ProcessSlotId me) {
  (void)me;
  ObjectEntry& e = entries_[slot];
  if (place >= e.child_count || place >= kInlineChildren || e.child_count > kInlineChildren) {
    return fail(StoreError::kCorrupt);
  }
  // Empty places before `place` count as done.
  if (e.child_cursor.load(std::memory_order_relaxed) < place) {
    e.child_cursor.store(place, std::memory_order_release);
  }
  e.children_inline[place] = child;
  return pin_child(slot, place, child);
}

void ObjectTable::seal(uint32_t slot, ipc::ProcessSlotId me) {
  ObjectEntry& e = entries_[slot];
  for (;;) {
    auto w = wait_unlocked(e);
    // Not ours any more (a supervisor failed it, or the word is corrupt).
    if (!w || Ctrl::state(*w) != ObjectState::kWriting) return;
    uint64_t c = *w;
    if (Ctrl::pins(c) == 0) {
      // Nobody holds it any more (fire-and-forget call): free instead.
      const uint64_t n =
          Ctrl::with_lock(Ctrl::make(0, ObjectState::kFreeing), LockTag::process(me));
      if (e.ctrl.compare_exchange_weak(c, n, std::memory_order_acq_rel,
                                       std::memory_order_relaxed)) {
        free_locked(slot, me, nullptr);
        return;
      }
      continue;
    }
    // seq_cst: the seal must be ordered before our read of `waiter` (pairs
    // with register_waiter(): Dekker).
    if (e.ctrl.compare_exchange_weak(c, Ctrl::with_state(c, ObjectState::kSealed) &
                                            ~Ctrl::kCancelRequested,
                                     std::memory_order_seq_cst, std::memory_order_relaxed)) {
      break;
    }
  }
  notify_waiters(e);
}

void ObjectTable::notify_waiters(ObjectEntry& e) {
  const uint32_t w = e.waiter.load(std::memory_order_seq_cst);
  if (w == kNoWaiter) return;
  if (w != kManyWaiters) {
    if (processes_->valid(ipc::ProcessSlotId(w - 1))) processes_->slot(ipc::ProcessSlotId(w - 1)).wake.notify();
    return;
  }
  for (uint32_t i = 0; i < processes_->size(); ++i) {
    ipc::ProcessSlot& s = processes_->slot(ipc::ProcessSlotId(i));
    if (s.wake.raw() & ipc::WakeWord::kWaiters) s.wake.notify();
  }
}

void ObjectTable::register_waiter(uint32_t slot, ipc::ProcessSlotId me) {
  ObjectEntry& e = entries_[slot];
  const uint32_t mine = uint32_t(me) + 1;
  uint32_t w = e.waiter.load(std::memory_order_relaxed);
  if (w == mine || w == kManyWaiters) return;
  if (w == kNoWaiter &&
      e.waiter.compare_exchange_strong(w, mine, std::memory_order_seq_cst)) {  // pairs with seal()
    return;
  }
  if (w != mine) e.waiter.store(kManyWaiters, std::memory_order_seq_cst);
}

bool ObjectTable::request_cancel(uint32_t slot, uint32_t gen) {
  if (!valid_slot(slot)) return false;
  ObjectEntry& e = entries_[slot];
  for (;;) {
    auto w = wait_unlocked(e);
    if (!w) return false;
    uint64_t c = *w;
    if (!unsealed(Ctrl::state(c)) || e.gen.load(std::memory_order_relaxed) != gen) return false;
    if (e.ctrl.compare_exchange_weak(c, c | Ctrl::kCancelRequested, std::memory_order_acq_rel,
                                     std::memory_order_relaxed)) {
      return true;
    }
  }
}

// -------------------------------------------------------------------- readers

Result<PayloadView, StoreError> ObjectTable::read(uint32_t slot) const {
  if (!valid_slot(slot)) return fail(StoreError::kBadId);
  const ObjectEntry& e = entries_[slot];
  if (!sealed(slot)) return fail(StoreError::kNotFound);
  PayloadView v;
  if (e.codec > kMaxCodec) return fail(StoreError::kCorrupt);
  v.codec = Codec(e.codec);
  v.type_fp = e.type_fp;
  v.size = e.size;
  if (e.data_off == 0) {
    if (v.size > kInlineBytes) return fail(StoreError::kCorrupt);
    v.data = e.inline_data;
  } else {
    if (!heap_->contains(e.data_off, v.size)) return fail(StoreError::kCorrupt);
    v.data = base_ + e.data_off;
  }
  return v;
}

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

// ------------------------------------------------------------------- recovery

void ObjectTable::recover_record(RefRecord* rec, uint32_t rec_index, ipc::ProcessSlotId dead,
                                 ipc::ProcessSlotId me) {
  const auto state = RecordState(rec->state.load(std::memory_order_acquire));
  if (state == RecordState::kFree) return;
  if (!valid_slot(rec->slot)) {
    rec->state.store(uint32_t(RecordState::kFree), std::memory_order_relaxed);
    return;
  }
  ObjectEntry& e = entries_[rec->slot];
  const uint32_t tag = LockTag::record(dead, rec_index);
  const uint32_t mine = LockTag::process(me);
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
    case RecordState::kHeld:
      if (landed) {  // finished but for the unlock
        e.ctrl.store(Ctrl::unlocked(c), std::memory_order_release);
      }
      for (;;) {
        auto w = wait_unlocked(e);
        if (!w) break;
        c = *w;
        if (Ctrl::pins(c) == 0 || !live(Ctrl::state(c))) break;  // corrupt: nothing to drop
        if (e.ctrl.compare_exchange_weak(c, Ctrl::with_lock(c - 1, mine),
                                         std::memory_order_acq_rel, std::memory_order_relaxed)) {
          finish_unpin(rec->slot, Ctrl::with_lock(c - 1, mine), me, nullptr);
          break;
        }
      }
      break;
    case RecordState::kReleasing:
      if (landed) {
          retag(e, c, mine);
        if (Ctrl::state(c) == ObjectState::kFreeing) {
          free_locked(rec->slot, me, nullptr);
        } else {
          finish_unpin(rec->slot, Ctrl::with_lock(c, mine), me, nullptr);
        }
        break;
      }
      for (;;) {  // never landed: drop the pin now
        auto w = wait_unlocked(e);
        if (!w) break;
        c = *w;
        if (Ctrl::pins(c) == 0 || !live(Ctrl::state(c))) break;
        if (e.ctrl.compare_exchange_weak(c, Ctrl::with_lock(c - 1, mine),
                                         std::memory_order_acq_rel, std::memory_order_relaxed)) {
          finish_unpin(rec->slot, Ctrl::with_lock(c - 1, mine), me, nullptr);
          break;
        }
      }
      break;
    case RecordState::kFree:
      break;
  }
  rec->state.store(uint32_t(RecordState::kFree), std::memory_order_release);
}

void ObjectTable::fix_pin_cursor(uint32_t slot) {
  // A writer that died while pinning children left the child at `cursor`
  // pinned but not counted, or the one before it counted but still locked.
  ObjectEntry& e = entries_[slot];
  const uint32_t ctag = LockTag::entry(slot);
  uint32_t cursor = e.child_cursor.load(std::memory_order_acquire);
  if (cursor > e.child_count) cursor = e.child_count;
  for (uint32_t place : {cursor, cursor == 0 ? e.child_count : cursor - 1}) {
    if (place >= e.child_count) continue;
    const uint64_t child = child_at(e, place);
    if (child == 0 || !child_ok(child)) continue;
    ObjectEntry& ce = entries_[child >> 32];
    const uint64_t c = ce.ctrl.load(std::memory_order_acquire);
    if (Ctrl::lock(c) != ctag) continue;
    if (place == cursor) e.child_cursor.store(cursor + 1, std::memory_order_release);
    ce.ctrl.store(Ctrl::unlocked(c), std::memory_order_release);
  }
}

void ObjectTable::recover_entries(ipc::ProcessSlotId dead, ipc::ProcessSlotId me,
                                  const std::function<bool(uint32_t writer)>& writer_dead,
                                  const std::function<void(uint32_t slot)>& fail) {
  const uint32_t mine = LockTag::process(me);
  const uint32_t hw = high_water();
  for (uint32_t s = 0; s < hw; ++s) {
    ObjectEntry& e = entries_[s];
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
      e.ctrl.store(Ctrl::unlocked(c), std::memory_order_release);
      c = Ctrl::unlocked(c);
    } else if (tag != 0) {
      continue;  // a live operation, or a child op its container's recovery finishes
    }
    const ObjectState st = Ctrl::state(c);
    if (!unsealed(st)) continue;
    const bool writer_gone = writer_dead(e.writer);
    const bool orphan_call = st == ObjectState::kPending && e.creator == uint16_t(dead + 1) &&
                             Ctrl::pins(c) == 0;
    if (!writer_gone && !orphan_call) continue;
    if (Ctrl::pins(c) == 0) {
      // Nobody will ever read it: free it. The CAS also beats a writer's claim.
      for (;;) {
        auto w = wait_unlocked(e);
        if (!w) break;
        c = *w;
        if (!unsealed(Ctrl::state(c)) || Ctrl::pins(c) != 0) break;
        if (e.ctrl.compare_exchange_weak(
                c, Ctrl::with_lock(Ctrl::make(0, ObjectState::kFreeing), mine),
                std::memory_order_acq_rel, std::memory_order_relaxed)) {
          fix_pin_cursor(s);
          free_locked(s, me, nullptr);
          break;
        }
      }
      continue;
    }
    if (writer_gone) {
      fix_pin_cursor(s);
      fail(s);
    }
  }
}

}  // namespace shoal::store
