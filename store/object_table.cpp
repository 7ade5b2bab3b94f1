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

}  // namespace

uint32_t ObjectTable::high_water() const {
  const uint32_t hw = header_->objects_high_water.load(std::memory_order_relaxed);
  return hw < count_ ? hw : count_;
}

void ObjectTable::bump_high_water(uint32_t slot) {
  uint32_t hw = header_->objects_high_water.load(std::memory_order_relaxed);
  while (slot + 1 > hw && !header_->objects_high_water.compare_exchange_weak(
                              hw, slot + 1, std::memory_order_relaxed)) {
  }
}

void ObjectTable::count_freed(ipc::ProcessSlotId me) {
  if (processes_->valid(me)) {
    processes_->slot(me).objects_freed.fetch_add(1, std::memory_order_relaxed);
  }
}

uint64_t ObjectTable::live_count() const {
  uint64_t live = 0;
  const uint32_t hw = high_water();
  for (uint32_t i = 0; i < hw; ++i) {
    if (entries_[i].ctrl.load(std::memory_order_relaxed) != 0) ++live;
  }
  return live;
}

// ---------------------------------------------------------------- entry locks

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
    // acquire: pairs with the release store that unlocked the entry (or freed
    // it): the caller sees everything the last holder wrote.
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
    // The record names the entry before the CAS can land (recovery).
    set_record_state(rec, RecordState::kCreating);
    // acq_rel: acquire pairs with free_locked()'s release store that freed the
    // entry; release keeps the record's kCreating ahead of the tag naming it.
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
    set_record_state(rec, RecordState::kHeld);
    // release: unlocks; pairs with the acquire loads of ctrl by readers
    // (sealed()) and later lockers (wait_unlocked()): the fields above first.
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
    // Entries above the high water may never have been touched: back them
    // first (one load unless the scan passes the backed watermark).
    if (backing_ != nullptr) {
      const uint64_t end = uint64_t(reinterpret_cast<std::byte*>(&entries_[s + 1]) - base_);
      if (auto backed = backing_->ensure(end); !backed) {
        set_record_state(rec, RecordState::kFree);
        return fail(backed.error());
      }
    }
    if (try_slot(s, true)) {
      processes_->slot(me).objects_created.fetch_add(1, std::memory_order_relaxed);
      return s;
    }
  }
  set_record_state(rec, RecordState::kFree);
  return fail(StoreError::kTableFull);
}

Result<void, StoreError> ObjectTable::pin(RefRecord* rec, uint32_t rec_index, ipc::ProcessSlotId me,
                                          uint32_t slot, uint32_t gen) {
  if (!valid_slot(slot)) return fail(StoreError::kBadId);
  // Above the high water no entry was ever used, and its page may have no
  // storage yet (store_backing.hpp): touching it on a full file system would
  // be a SIGBUS, not an error.
  if (slot >= high_water()) return fail(StoreError::kNotFound);
  ObjectEntry& e = entries_[slot];
  const uint32_t tag = LockTag::record(me, rec_index);
  rec->slot = slot;
  rec->gen = gen;
  set_record_state(rec, RecordState::kPinning);
  auto locked = cas_unlocked(e, [&](uint64_t c) -> Result<uint64_t, StoreError> {
    if (!is_live(Ctrl::state(c)) || e.gen.load(std::memory_order_relaxed) != gen) {
      return fail(Ctrl::state(c) > ObjectState::kFreeing ? StoreError::kCorrupt
                                                         : StoreError::kNotFound);
    }
    if (Ctrl::pins(c) == Ctrl::kPinMask) return fail(StoreError::kTooManyRefs);
    return Ctrl::with_lock(c + 1, tag);
  });
  if (!locked) {
    set_record_state(rec, RecordState::kFree);
    return fail(locked.error());
  }
  const uint64_t c = *locked;
  // The generation is stable while we hold the lock: check it for real now.
  if (e.gen.load(std::memory_order_relaxed) != gen) {
    // release: undoes (pins and lock as they were); pairs with the next
    // locker's acquire.
    e.ctrl.store(c, std::memory_order_release);
    set_record_state(rec, RecordState::kFree);
    return fail(StoreError::kNotFound);
  }
  set_record_state(rec, RecordState::kHeld);
  // release: unlocks; pairs with the acquire of the next locker (wait_unlocked()).
  e.ctrl.store(c + 1, std::memory_order_release);
  return {};
}

void ObjectTable::unpin(RefRecord* rec, uint32_t rec_index, ipc::ProcessSlotId me) {
  const uint32_t slot = rec->slot;
  SHOAL_CHECK(valid_slot(slot)) << "record names slot " << slot;
  ObjectEntry& e = entries_[slot];
  const uint32_t tag = LockTag::record(me, rec_index);
  set_record_state(rec, RecordState::kReleasing);
  auto locked = cas_unlocked(e, drop_pin_under(tag));
  if (!locked) {
    // A corrupt entry: forget the reference rather than act on garbage.
    set_record_state(rec, RecordState::kFree);
    return;
  }
  finish_unpin(slot, Ctrl::with_lock(*locked - 1, tag), me, rec);
}

// The entry is locked with `locked_value` (one pin already dropped). Frees it
// if that was the last pin of a sealed object; clears `rec` before unlocking.
// The free keeps the lock tag of the operation, so a crash inside it is found
// through that tag.
void ObjectTable::finish_unpin(uint32_t slot, uint64_t locked_value, ipc::ProcessSlotId me,
                               RefRecord* rec) {
  ObjectEntry& e = entries_[slot];
  if (Ctrl::pins(locked_value) == 0 && Ctrl::state(locked_value) == ObjectState::kSealed) {
    e.ctrl.store(Ctrl::with_state(locked_value, ObjectState::kFreeing), std::memory_order_relaxed);
    free_locked(slot, me, rec);
    return;
  }
  // Unsealed with no pins left: abandoned; its writer frees it at seal time.
  if (rec) set_record_state(rec, RecordState::kFree);
  // release: unlocks; pairs with the acquire of the next locker (wait_unlocked()).
  e.ctrl.store(Ctrl::unlocked(locked_value), std::memory_order_release);
}

// ------------------------------------------------------------------- freeing

void ObjectTable::free_locked(uint32_t first, ipc::ProcessSlotId me, RefRecord* rec) {
  // Iterative: children whose last pin we drop join the work list.
  std::vector<uint32_t>& work = ExitSafeLocal<FreeWork>::get().slots;
  const size_t base = work.size();  // a recovery may nest inside another free's list
  work.push_back(first);
  while (work.size() > base) {
    const uint32_t slot = work.back();
    work.pop_back();
    ObjectEntry& e = entries_[slot];
    if (let_go_to_mover(e)) {
      // The mover frees it once its move is over (release_mover()).
      if (slot == first && rec) set_record_state(rec, RecordState::kFree);
      // release: unlocks, still kFreeing; pairs with the acquire of the
      // mover's lock in release_mover().
      e.ctrl.store(Ctrl::unlocked(e.ctrl.load(std::memory_order_relaxed)),
                   std::memory_order_release);
      continue;
    }
    drop_payload(e, me);
    drop_spilled_copy(e);
    // Nobody reads an object that nobody holds: a count left here is a dead
    // reader's.
    e.readers.store(0, std::memory_order_relaxed);
    release_children(slot, me, &work);
    if (e.children_off != 0) {
      (void)heap_->free(e.children_off, uint64_t(e.child_count) * 8, offset_of(&e.children_off),
                        me);
      e.children_off = 0;
    }
    e.size.store(0, std::memory_order_relaxed);
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
    if (slot == first && rec) set_record_state(rec, RecordState::kFree);
    // release: the entry is free, its fields reset; pairs with the acquire of
    // create()'s CAS.
    e.ctrl.store(0, std::memory_order_release);
    SlotHints& h = hints_for(entries_, header_->layout.session_tag, count_, me);
    if (h.freed.size() < kFreeCacheMax) h.freed.push_back(slot);
  }
}

// -------------------------------------------------------------------- writers

ClaimResult ObjectTable::claim(uint32_t slot, uint32_t gen, ipc::ProcessSlotId me) {
  if (!valid_slot(slot)) return ClaimResult::kGone;
  ObjectEntry& e = entries_[slot];
  const uint32_t tag = LockTag::process(me);
  auto locked = cas_unlocked(e, [&](uint64_t c) -> Result<uint64_t, StoreError> {
    if (Ctrl::state(c) != ObjectState::kPending || e.gen.load(std::memory_order_relaxed) != gen) {
      return fail(StoreError::kNotFound);
    }
    return Ctrl::with_lock(c, tag);
  });
  if (!locked) return ClaimResult::kGone;
  const uint64_t c = *locked;
  if (e.gen.load(std::memory_order_relaxed) != gen) {
    // release: undoes the lock; pairs with the next locker's acquire.
    e.ctrl.store(c, std::memory_order_release);
    return ClaimResult::kGone;
  }
  e.claimer = uint16_t(me + 1);
  // release: unlocks in kWriting; pairs with the next locker's acquire, which
  // then sees the claimer.
  e.ctrl.store(Ctrl::with_state(c, ObjectState::kWriting), std::memory_order_release);
  return (c & Ctrl::kCancelRequested) ? ClaimResult::kClaimedCancelled : ClaimResult::kClaimed;
}

bool ObjectTable::claim_for_failure(uint32_t slot, uint32_t gen, ipc::ProcessSlotId me) {
  if (!valid_slot(slot)) return false;
  ObjectEntry& e = entries_[slot];
  const uint32_t tag = LockTag::process(me);
  auto locked = cas_unlocked(e, [&](uint64_t c) -> Result<uint64_t, StoreError> {
    if (!is_unsealed(Ctrl::state(c)) || e.gen.load(std::memory_order_relaxed) != gen) {
      return fail(StoreError::kNotFound);
    }
    return Ctrl::with_lock(c, tag);
  });
  if (!locked) return false;
  const uint64_t c = *locked;
  // A result being written by a live process is that process's to finish:
  // only a dead claimer's work may be taken over.
  const bool claimed_by_live = Ctrl::state(c) == ObjectState::kWriting && e.claimer != 0 &&
                               e.claimer != uint16_t(me + 1) &&
                               !processes_->is_dead(ipc::ProcessSlotId(e.claimer - 1));
  if (e.gen.load(std::memory_order_relaxed) != gen || claimed_by_live) {
    // release: undoes the lock; pairs with the next locker's acquire.
    e.ctrl.store(c, std::memory_order_release);
    return false;
  }
  e.claimer = uint16_t(me + 1);
  // Whatever a dead writer left half written goes; the failure replaces it.
  drop_payload(e, me);
  e.size.store(0, std::memory_order_relaxed);
  e.writer = WriterId::process(me);
  // release: unlocks in kWriting; pairs with the next locker's acquire.
  e.ctrl.store(Ctrl::with_state(c, ObjectState::kWriting), std::memory_order_release);
  return true;
}

Result<std::byte*, StoreError> ObjectTable::reserve_payload(uint32_t slot, uint64_t bytes,
                                                            ipc::ProcessSlotId me, bool inline_ok) {
  ObjectEntry& e = entries_[slot];
  if (bytes <= kInlineBytes && inline_ok) return e.inline_data;
  // The size is what frees the block: record it before the block can be
  // linked in, so that a writer dying before describe() leaks nothing.
  e.size.store(bytes, std::memory_order_relaxed);
  auto off = allocate_spilling(bytes, offset_of(&e.data_off), me);
  if (!off) {
    e.size.store(0, std::memory_order_relaxed);
    return fail(off.error());
  }
  return base_ + *off;
}

void ObjectTable::describe(uint32_t slot, Codec codec, uint64_t type_fp, uint64_t bytes) {
  ObjectEntry& e = entries_[slot];
  e.codec = uint8_t(codec);
  e.type_fp = type_fp;
  e.size.store(bytes, std::memory_order_relaxed);
}

bool ObjectTable::seal(uint32_t slot, ipc::ProcessSlotId me) {
  ObjectEntry& e = entries_[slot];
  // A heap payload's age, for spilling oldest first. relaxed: the seal CAS
  // below publishes it; the clock only has to count.
  if (e.data_off != 0) {
    e.spill_word.store(next_age(), std::memory_order_relaxed);
  }
  // seq_cst: the seal must be ordered before our read of `waiter` (pairs with
  // register_waiter(): Dekker); its release half publishes the payload to the
  // acquire of sealed(). (The free of an object nobody holds needs acq_rel
  // only; it takes the same step.)
  auto locked = cas_unlocked(
      e,
      [&](uint64_t c) -> Result<uint64_t, StoreError> {
        // Not ours any more (a supervisor failed it).
        if (Ctrl::state(c) != ObjectState::kWriting) return fail(StoreError::kNotFound);
        // Nobody holds it any more (fire-and-forget call): free instead.
        if (Ctrl::pins(c) == 0) {
          return Ctrl::with_lock(Ctrl::make(0, ObjectState::kFreeing), LockTag::process(me));
        }
        return Ctrl::with_state(c, ObjectState::kSealed) & ~Ctrl::kCancelRequested;
      },
      std::memory_order_seq_cst);
  if (!locked) return false;  // not ours any more, or the word is corrupt
  if (Ctrl::pins(*locked) == 0) {
    free_locked(slot, me, nullptr);
    return false;
  }
  notify_waiters(e);
  return (*locked & Ctrl::kCancelRequested) != 0;
}

Result<void, StoreError> ObjectTable::seal_as_error(uint32_t slot, const std::byte* data,
                                                    uint64_t size, ipc::ProcessSlotId me) {
  // A payload reserved before the failure (a result whose contained references
  // did not fit) is replaced by the error: free its block, or it would leak and
  // readers would find the error's bytes looked up in the old block.
  drop_payload(entries_[slot], me);
  auto dst = reserve_payload(slot, size, me);
  if (!dst) {
    // No room even for the error: seal an empty error; readers still fail.
    describe(slot, Codec::kError, 0, 0);
    seal(slot, me);
    return fail(dst.error());
  }
  std::memcpy(*dst, data, size);
  describe(slot, Codec::kError, 0, size);
  seal(slot, me);
  return {};
}

bool ObjectTable::request_cancel(uint32_t slot, uint32_t gen) {
  if (!valid_slot(slot)) return false;
  ObjectEntry& e = entries_[slot];
  // Sets a flag, takes no lock: claim()'s CAS sees it.
  auto flagged = cas_unlocked(e, [&](uint64_t c) -> Result<uint64_t, StoreError> {
    if (!is_unsealed(Ctrl::state(c)) || e.gen.load(std::memory_order_relaxed) != gen) {
      return fail(StoreError::kNotFound);
    }
    return c | Ctrl::kCancelRequested;
  });
  return flagged.ok();
}

// ------------------------------------------------------------------- waiters

void ObjectTable::notify_waiters(ObjectEntry& e) {
  // seq_cst: pairs with register_waiter()'s and register_loop_waiter()'s
  // seq_cst CAS and store (Dekker with seal()'s CAS): we see the waiter, or
  // the waiter sees the seal.
  const uint32_t w = e.waiter.load(std::memory_order_seq_cst);
  if (w == kNoWaiter) return;
  if (w != kManyWaiters) {
    const auto p = ipc::ProcessSlotId((w & ~kLoopWaiter) - 1);
    if (!processes_->valid(p)) return;
    if ((w & kLoopWaiter) != 0) {
      if (ReadyQueue* q = ready_queue(p)) q->push(uint32_t(&e - entries_));
    }
    processes_->slot(p).wake.notify();
    return;
  }
  // Several processes wait: each loop checks all its waits, parked ones wake.
  for (uint32_t i = 0; i < processes_->size(); ++i) {
    const auto p = ipc::ProcessSlotId(i);
    // relaxed: which slots are worth a write; a slot claimed meanwhile
    // registers its waits after its claim, so it sees the seal itself.
    if (ipc::owner_state(processes_->slot(p).owner.load(std::memory_order_relaxed)) !=
        ipc::ProcessState::kAlive) {
      continue;
    }
    if (ReadyQueue* q = ready_queue(p)) q->raise_overflow();
    ipc::ProcessSlot& s = processes_->slot(p);
    if (s.wake.raw() & ipc::WakeWord::kWaiters) s.wake.notify();
  }
}

bool ObjectTable::register_loop_waiter(uint32_t slot, ipc::ProcessSlotId me) {
  ObjectEntry& e = entries_[slot];
  const uint32_t mine = (uint32_t(me) + 1) | kLoopWaiter;
  uint32_t w = e.waiter.load(std::memory_order_relaxed);
  if (w == mine) return true;
  if (w == kManyWaiters) return false;
  // seq_cst (both): pairs with notify_waiters()'s seq_cst load after the seal
  // CAS (Dekker): the sealer sees us, or we see the seal.
  if (w == kNoWaiter && e.waiter.compare_exchange_strong(w, mine, std::memory_order_seq_cst)) {
    return true;
  }
  if (w == mine) return true;
  e.waiter.store(kManyWaiters, std::memory_order_seq_cst);
  return false;
}

void ObjectTable::register_waiter(uint32_t slot, ipc::ProcessSlotId me) {
  ObjectEntry& e = entries_[slot];
  const uint32_t mine = uint32_t(me) + 1;
  uint32_t w = e.waiter.load(std::memory_order_relaxed);
  if (w == mine || w == kManyWaiters) return;
  // seq_cst (both): pairs with notify_waiters()'s seq_cst load after the seal
  // CAS (Dekker): the sealer sees us, or we see the seal.
  if (w == kNoWaiter && e.waiter.compare_exchange_strong(w, mine, std::memory_order_seq_cst)) {
    return;
  }
  if (w != mine) e.waiter.store(kManyWaiters, std::memory_order_seq_cst);
}

// -------------------------------------------------------------------- readers

Result<PayloadView, StoreError> ObjectTable::read(uint32_t slot) const {
  if (!valid_slot(slot)) return fail(StoreError::kBadId);
  const ObjectEntry& e = entries_[slot];
  if (!sealed(slot)) return fail(StoreError::kNotFound);
  PayloadView v;
  if (e.codec > kMaxCodec) return fail(StoreError::kCorrupt);
  // acquire: pairs with the release CAS that made it resident again. While
  // kSpilling the payload is still here (a reader's claim keeps it).
  const Residency r = Ctrl::residency(e.ctrl.load(std::memory_order_acquire));
  if (r != Residency::kResident && r != Residency::kSpilling) {
    return fail(StoreError::kNotFound);  // begin_read() brings it back first
  }
  v.codec = Codec(e.codec);
  v.type_fp = e.type_fp;
  v.size = e.size.load(std::memory_order_relaxed);
  if (e.data_off == 0) {
    if (v.size > kInlineBytes) return fail(StoreError::kCorrupt);
    v.data = e.inline_data;
  } else {
    if (!heap_->contains(e.data_off, v.size)) return fail(StoreError::kCorrupt);
    v.data = base_ + e.data_off;
  }
  return v;
}

}  // namespace shoal::store
