// ObjectTable: spilling. When the heap is full, sealed objects that nobody is
// reading go to the session's spill file (store/spill_file.hpp), oldest
// first, many in one fused write straight from the mapping, and their heap
// blocks are reused; reading a spilled object brings it back first.
//
// Protocol. The payload's place is the entry's Residency (bits of ctrl), and
// at most one process moves it at a time: the one whose slot + 1 is in the
// entry's `mover`, claimed by CAS from 0.
//   spill    claim mover; ctrl kResident -> kSpilling under our lock tag,
//            check `readers` (none, or undo); reserve file space; write the
//            batch; then, under our lock again: still kSpilling -> free the
//            heap block, kSpilled; taken back (kResident) -> punch the copy.
//   read     readers + 1, then look at ctrl (Dekker with the claim: both
//            sides seq_cst). kResident: read. kSpilling: take it back to
//            kResident (the spiller's last step then keeps it) and look
//            again. kSpilled: restore. kRestoring: wait for the restorer.
//   restore  claim mover; kSpilled -> kRestoring; allocate (spilling others
//            if needed), read the copy in, kRestoring -> kResident; punch the
//            copy.
//   free     an object whose last reference goes while a mover holds it is
//            let go to the mover (kMoverLetGo on `mover`, the entry left
//            kFreeing): its I/O may still use the block and the copy. The
//            mover's release finds the mark and finishes the free; without a
//            mover the free does it all. Either way exactly one side frees.
// A copy in the file is named by spill_word with kSpillBit from before its
// bytes are written until they are punched out, so whoever finds a move of a
// dead process half done (recover_moves(), the supervisor) knows what to
// scrub (SpillFile::scrub()). Nothing here holds a lock across I/O: the entry lock is held only
// for the claim and the final step (a few stores and a journaled heap free),
// and a process killed anywhere leaves the object readable, from the heap or
// from its copy.
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <vector>

#include "ipc/spin.hpp"
#include "store/object_table.hpp"
#include "store/segment.hpp"

namespace shoal::store {

namespace {

// One fused write takes at most this much (and at least what was asked, when
// there is that much to spill).
constexpr uint64_t kSpillBatchBytes = 64ull << 20;
// A put that finds the heap full spills at least this much, so that the next
// puts find room too.
constexpr uint64_t kSpillMinBytes = 8ull << 20;
// A move that takes longer than this is no move: the word is corrupt (a dead
// mover's is repaired by the supervisor within milliseconds).
constexpr uint64_t kMoveWaitNs = 60'000'000'000ull;

alignas(4096) const std::byte kZeros[kSpillAlign] = {};

// SHOAL_TEST_SPILL_PAUSE_US=N: every spill pauses N microseconds between its
// write and its last step, and every restore between its read and making the
// object resident, so that tests can kill a process inside either.
uint32_t test_pause_us() {
  static const uint32_t us = [] {
    const char* v = std::getenv("SHOAL_TEST_SPILL_PAUSE_US");
    return v != nullptr ? uint32_t(std::strtoul(v, nullptr, 10)) : 0u;
  }();
  return us;
}

uint64_t copy_offset(uint64_t word) {
  return word & ~kSpillBit;
}

struct Candidate {
  uint64_t age;
  uint32_t slot;
  uint32_t gen;
  uint64_t data_off = 0;
  uint64_t size = 0;
  uint64_t file_off = 0;
};

}  // namespace

// ---------------------------------------------------------------- allocation

uint64_t ObjectTable::next_age() const {
  // relaxed: an age only has to count up.
  return header_->seal_clock.fetch_add(1, std::memory_order_relaxed) + 1;
}

Result<uint64_t, StoreError> ObjectTable::allocate_spilling(uint64_t bytes, uint64_t link_off,
                                                            ipc::ProcessSlotId me) {
  const bool can_spill = spill_ != nullptr && spill_->enabled();
  for (;;) {
    auto off = heap_->allocate(bytes, link_off, me);
    if (off) {
      // Past the threshold: wake the background spiller, once per round.
      // relaxed: a request flag; the wake word orders the hand-over.
      if (can_spill && heap_->used() > spill_threshold() &&
          header_->spill_requested.load(std::memory_order_relaxed) == 0 &&
          header_->spill_requested.exchange(1, std::memory_order_relaxed) == 0) {
        header_->spill_wake.notify();
      }
      return off;
    }
    if (off.error() != StoreError::kHeapFull) return fail(off.error());
    if (HeapAllocator::block_bytes(bytes) > heap_->capacity()) return fail(StoreError::kTooLarge);
    if (!can_spill) return fail(StoreError::kHeapFull);
    auto freed = spill(std::max(bytes, kSpillMinBytes), me);
    if (!freed) return fail(freed.error());
  }
}

// ------------------------------------------------------------------ spilling

Result<uint64_t, StoreError> ObjectTable::spill(uint64_t bytes, ipc::ProcessSlotId me) {
  if (spill_ == nullptr || !spill_->enabled()) return fail(StoreError::kNothingToSpill);
  const uint32_t tag = LockTag::process(me);
  std::vector<Candidate> found;
  const uint32_t hw = high_water();
  for (uint32_t s = 0; s < hw; ++s) {
    ObjectEntry& e = entries_[s];
    // acquire: pairs with the seal's release, so the size read below (fixed
    // from the seal until the free) is the sealed object's. What is read here
    // are hints for choosing; the claim re-checks everything under a CAS. The
    // heap block's offset is read only then: movers change it under their
    // claim. (An object in the heap is at least kMinSpillBytes, an inline one
    // far less, so the size alone tells them apart here.)
    const uint64_t c = e.ctrl.load(std::memory_order_acquire);
    if (Ctrl::lock(c) != 0 || Ctrl::state(c) != ObjectState::kSealed || Ctrl::pins(c) == 0 ||
        Ctrl::residency(c) != Residency::kResident) {
      continue;
    }
    if (e.readers.load(std::memory_order_relaxed) != 0 ||
        e.mover.load(std::memory_order_relaxed) != 0 ||
        e.size.load(std::memory_order_relaxed) < kMinSpillBytes) {
      continue;
    }
    found.push_back(Candidate{e.spill_word.load(std::memory_order_relaxed), s,
                              e.gen.load(std::memory_order_relaxed)});
  }
  std::sort(found.begin(), found.end(),
            [](const Candidate& a, const Candidate& b) { return a.age < b.age; });

  // Claims one candidate: true if it is ours to spill now.
  auto claim = [&](Candidate& k) {
    ObjectEntry& e = entries_[k.slot];
    uint16_t none = 0;
    // acq_rel: acquire pairs with the release store that cleared the mover
    // (what the last move wrote is visible); release orders the claim first.
    if (!e.mover.compare_exchange_strong(none, uint16_t(me + 1), std::memory_order_acq_rel,
                                         std::memory_order_relaxed)) {
      return false;
    }
    // seq_cst: pairs with begin_read()'s seq_cst increment of `readers` and
    // load of ctrl (Dekker): it sees kSpilling, or we see its read below.
    auto locked = cas_unlocked(
        e,
        [&](uint64_t c) -> Result<uint64_t, StoreError> {
          if (Ctrl::state(c) != ObjectState::kSealed || Ctrl::pins(c) == 0 ||
              Ctrl::residency(c) != Residency::kResident ||
              e.gen.load(std::memory_order_relaxed) != k.gen) {
            return fail(StoreError::kNotFound);
          }
          return Ctrl::with_lock(Ctrl::with_residency(c, Residency::kSpilling), tag);
        },
        std::memory_order_seq_cst);
    if (!locked) {
      release_mover(k.slot, me, me, false);
      return false;
    }
    // seq_cst: the other half of the Dekker pairing above.
    if (e.readers.load(std::memory_order_seq_cst) != 0 || e.data_off == 0) {
      // release: undoes the claim (the word as it was); pairs with the next
      // locker's acquire.
      e.ctrl.store(*locked, std::memory_order_release);
      release_mover(k.slot, me, me, false);
      return false;
    }
    k.data_off = e.data_off;
    k.size = e.size.load(std::memory_order_relaxed);
    // release: unlocks in kSpilling; pairs with the next locker's acquire.
    e.ctrl.store(Ctrl::with_residency(*locked, Residency::kSpilling), std::memory_order_release);
    return true;
  };

  // Ends the spill of a claimed candidate: `keep` (its copy is written) frees
  // its heap block if nobody took it back meanwhile; else the copy goes. An
  // object freed meanwhile was let go to us: release_mover() frees its block
  // and its copy.
  auto finish = [&](const Candidate& k, bool keep) -> uint64_t {
    ObjectEntry& e = entries_[k.slot];
    const uint64_t padded = SpillFile::padded(k.size);
    auto locked = cas_unlocked(e, [&](uint64_t c) -> Result<uint64_t, StoreError> {
      if (Ctrl::state(c) != ObjectState::kSealed ||
          e.gen.load(std::memory_order_relaxed) != k.gen) {
        return fail(StoreError::kNotFound);
      }
      return Ctrl::with_lock(c, tag);
    });
    uint64_t freed = 0;
    if (!locked) {
      // Freed meanwhile: the free was left to us (release_mover() below).
    } else if (keep && Ctrl::residency(*locked) == Residency::kSpilling) {
      drop_payload(e, me);  // journaled: the supervisor finds data_off 0 once it landed
      freed = HeapAllocator::block_bytes(k.size);
      // release: unlocks in kSpilled; pairs with begin_read()'s acquire load.
      e.ctrl.store(Ctrl::with_residency(*locked, Residency::kSpilled), std::memory_order_release);
    } else {
      e.spill_word.store(next_age(), std::memory_order_relaxed);
      // release: unlocks, resident; pairs with the next locker's acquire.
      e.ctrl.store(Ctrl::with_residency(*locked, Residency::kResident), std::memory_order_release);
      spill_->punch(k.file_off, padded);
    }
    release_mover(k.slot, me, me, false);
    return freed;
  };

  uint64_t freed = 0;
  size_t next = 0;
  std::vector<Candidate> batch;
  std::vector<iovec> iov;
  while (freed < bytes && next < found.size()) {
    batch.clear();
    uint64_t batch_bytes = 0;
    const uint64_t want = std::min(bytes - freed, kSpillBatchBytes);
    while (batch_bytes < want && next < found.size() && batch.size() < 16384) {
      Candidate& k = found[next++];
      if (!claim(k)) continue;
      batch.push_back(k);
      batch_bytes += SpillFile::padded(k.size);
    }
    if (batch.empty()) break;
    // relaxed: the counter only hands out ranges; nothing is published by it.
    const uint64_t base = header_->spill_end.fetch_add(batch_bytes, std::memory_order_relaxed);
    iov.clear();
    uint64_t pos = base;
    for (Candidate& k : batch) {
      k.file_off = pos;
      // release: pairs with recover_moves()'s acquire of the mover, after
      // which it reads this word to punch the copy of a dead spiller.
      entries_[k.slot].spill_word.store(kSpillBit | pos, std::memory_order_release);
      iov.push_back(iovec{base_ + k.data_off, k.size});
      const uint64_t pad = SpillFile::padded(k.size) - k.size;
      if (pad != 0) iov.push_back(iovec{const_cast<std::byte*>(kZeros), pad});
      pos += SpillFile::padded(k.size);
    }
    auto written = spill_->write(iov.data(), iov.size(), base);
    if (test_pause_us() != 0) [[unlikely]]
      ::usleep(test_pause_us());
    for (const Candidate& k : batch)
      freed += finish(k, written.ok());
    if (!written) {
      if (freed != 0) return freed;
      return fail(written.error());
    }
  }
  if (freed == 0) return fail(StoreError::kNothingToSpill);
  return freed;
}

ObjectTable::SpillCounts ObjectTable::spilled() const {
  SpillCounts n;
  const uint32_t hw = high_water();
  for (uint32_t s = 0; s < hw; ++s) {
    const ObjectEntry& e = entries_[s];
    // relaxed: a figure for status and tests.
    const uint64_t c = e.ctrl.load(std::memory_order_relaxed);
    const Residency r = Ctrl::residency(c);
    if (Ctrl::state(c) == ObjectState::kSealed &&
        (r == Residency::kSpilled || r == Residency::kRestoring)) {
      ++n.objects;
      n.bytes += e.size.load(std::memory_order_relaxed);
    }
  }
  return n;
}

void ObjectTable::drop_spilled_copy(ObjectEntry& e, bool scrub) {
  // relaxed: the entry is locked (by its free, or by a repair); a mover's
  // store of the word is ordered before it by the lock, or by the mover's
  // claim (release_mover()'s acquire CAS, recover_moves()'s acquire load).
  const uint64_t w = e.spill_word.load(std::memory_order_relaxed);
  if ((w & kSpillBit) != 0 && spill_ != nullptr) {
    const uint64_t off = copy_offset(w);
    const uint64_t len = SpillFile::padded(e.size.load(std::memory_order_relaxed));
    if (scrub) {
      spill_->scrub(off, len);
    } else {
      spill_->punch(off, len);
    }
  }
  e.spill_word.store(0, std::memory_order_relaxed);
}

// ------------------------------------------------------------------- reading

Result<PayloadView, StoreError> ObjectTable::begin_read(RefRecord* rec, ipc::ProcessSlotId me) {
  const uint32_t slot = rec->slot;
  if (!valid_slot(slot)) return fail(StoreError::kBadId);
  ObjectEntry& e = entries_[slot];
  // Never spilled (kMinSpillBytes): read it as it is, uncounted. The size is
  // fixed from the seal (sealed() is an acquire of it) until the free, which
  // our pin holds off.
  if (sealed(slot) && e.size.load(std::memory_order_relaxed) < kMinSpillBytes) return read(slot);
  uint64_t deadline = 0;
  for (;;) {
    // seq_cst (both): pairs with the spiller's seq_cst claim CAS and its
    // seq_cst load of `readers` (Dekker): it sees this read, or we see
    // kSpilling and take the object back.
    e.readers.fetch_add(1, std::memory_order_seq_cst);
    const Residency r = Ctrl::residency(e.ctrl.load(std::memory_order_seq_cst));
    if (r == Residency::kResident) {
      auto v = read(slot);
      if (!v) {
        // release: as in end_read().
        e.readers.fetch_sub(1, std::memory_order_release);
      } else {
        // relaxed: see end_read().
        rec->reads.fetch_add(1, std::memory_order_relaxed);
      }
      return v;
    }
    // release: as in end_read().
    e.readers.fetch_sub(1, std::memory_order_release);
    bool moved = false;
    if (r == Residency::kSpilling) {
      // Take it back: the spiller's last step finds kResident and keeps it.
      (void)cas_unlocked(e, [&](uint64_t c) -> Result<uint64_t, StoreError> {
        if (Ctrl::residency(c) != Residency::kSpilling) return fail(StoreError::kNotFound);
        return Ctrl::with_residency(c, Residency::kResident);
      });
      moved = true;
    } else if (r == Residency::kSpilled) {
      auto restored = restore(slot, me);
      if (!restored) return fail(restored.error());
      moved = *restored;
    }
    if (moved) continue;
    // Another process is moving it (or a dead one was, and the supervisor
    // repairs it): wait.
    const uint64_t now = ipc::now_ns();
    if (deadline == 0) deadline = now + kMoveWaitNs;
    if (now > deadline) return fail(StoreError::kCorrupt);
    ::usleep(50);
  }
}

Result<bool, StoreError> ObjectTable::restore(uint32_t slot, ipc::ProcessSlotId me) {
  ObjectEntry& e = entries_[slot];
  uint16_t none = 0;
  // acq_rel: acquire pairs with the release store that cleared the mover
  // (the spiller's copy offset is visible); release orders the claim first.
  if (!e.mover.compare_exchange_strong(none, uint16_t(me + 1), std::memory_order_acq_rel,
                                       std::memory_order_relaxed)) {
    return false;
  }
  auto claimed = cas_unlocked(e, [&](uint64_t c) -> Result<uint64_t, StoreError> {
    if (Ctrl::state(c) != ObjectState::kSealed || Ctrl::residency(c) != Residency::kSpilled) {
      return fail(StoreError::kNotFound);
    }
    return Ctrl::with_residency(c, Residency::kRestoring);
  });
  auto release_mover = [&] { this->release_mover(slot, me, me, false); };
  if (!claimed) {
    release_mover();  // restored by someone else first, or freed
    return true;
  }
  auto back = [&](StoreError error) -> Result<bool, StoreError> {
    (void)cas_unlocked(e, [&](uint64_t c) -> Result<uint64_t, StoreError> {
      return Ctrl::with_residency(c, Residency::kSpilled);
    });
    release_mover();
    return fail(error);
  };
  // relaxed: written before the spiller's release unlock that our claim's
  // acquire CAS read.
  const uint64_t word = e.spill_word.load(std::memory_order_relaxed);
  const uint64_t size = e.size.load(std::memory_order_relaxed);
  if ((word & kSpillBit) == 0) return back(StoreError::kCorrupt);
  auto off = allocate_spilling(size, offset_of(&e.data_off), me);
  if (!off) return back(off.error());
  if (auto r = spill_->read(copy_offset(word), base_ + *off, size); !r) {
    (void)heap_->free(*off, size, offset_of(&e.data_off), me);
    return back(r.error());
  }
  if (test_pause_us() != 0) [[unlikely]]
    ::usleep(test_pause_us());
  // acq_rel: the release half publishes the payload and data_off; pairs with
  // begin_read()'s and read()'s acquire loads of ctrl.
  (void)cas_unlocked(e, [&](uint64_t c) -> Result<uint64_t, StoreError> {
    return Ctrl::with_residency(c, Residency::kResident);
  });
  spill_->punch(copy_offset(word), SpillFile::padded(size));
  e.spill_word.store(next_age(), std::memory_order_relaxed);
  release_mover();
  return true;
}

// ------------------------------------------------------- a free during a move

bool ObjectTable::let_go_to_mover(ObjectEntry& e) {
  // acquire: pairs with release_mover()'s release CAS, so what the last move
  // wrote (data_off, spill_word) is what this free frees.
  uint16_t m = e.mover.load(std::memory_order_acquire);
  while (m != 0 && (m & kMoverLetGo) == 0) {
    // acq_rel: release publishes the kFreeing word to the mover, whose CAS in
    // release_mover() fails on kMoverLetGo (acquire); acquire as above.
    if (e.mover.compare_exchange_weak(m, uint16_t(m | kMoverLetGo), std::memory_order_acq_rel,
                                      std::memory_order_acquire)) {
      return true;
    }
  }
  // m == 0: no move; kMoverLetGo already set: a free killed before its
  // unlock had let go (the mover still finishes it).
  return m != 0;
}

void ObjectTable::release_mover(uint32_t slot, ipc::ProcessSlotId mover, ipc::ProcessSlotId me,
                                bool mover_died) {
  ObjectEntry& e = entries_[slot];
  uint16_t held = uint16_t(mover + 1);
  // acq_rel: release publishes the move's last stores to the next mover's
  // acquire claim CAS and to let_go_to_mover()'s acquire; on failure, acquire
  // pairs with let_go_to_mover()'s release CAS.
  if (e.mover.compare_exchange_strong(held, 0, std::memory_order_acq_rel,
                                      std::memory_order_acquire)) {
    return;
  }
  if (held != (uint16_t(mover + 1) | kMoverLetGo)) return;  // not this mover's claim
  // The object was freed while it moved: the free is ours to finish. The
  // entry stays kFreeing and unlocked until we lock it; nobody else does.
  const uint32_t tag = LockTag::process(me);
  auto locked = cas_unlocked(e, [&](uint64_t c) -> Result<uint64_t, StoreError> {
    if (Ctrl::state(c) != ObjectState::kFreeing) return fail(StoreError::kCorrupt);
    return Ctrl::with_lock(c, tag);
  });
  if (!locked) return;  // corrupt: leaks the entry rather than freeing a live one
  free_after_move(slot, me, mover_died);
}

void ObjectTable::free_after_move(uint32_t slot, ipc::ProcessSlotId me, bool mover_died) {
  ObjectEntry& e = entries_[slot];
  // relaxed: ordered before the entry is free by free_locked()'s release store.
  e.mover.store(0, std::memory_order_relaxed);
  if (mover_died) drop_spilled_copy(e, true);
  free_locked(slot, me, nullptr);
}

// ------------------------------------------------------------------ recovery

void ObjectTable::recover_moves(ipc::ProcessSlotId dead, ipc::ProcessSlotId me) {
  const uint16_t who = uint16_t(dead + 1);
  const uint32_t dead_tag = LockTag::process(dead);
  const uint32_t mine = LockTag::process(me);
  const uint32_t hw = high_water();
  for (uint32_t s = 0; s < hw; ++s) {
    ObjectEntry& e = entries_[s];
    // acquire: pairs with the dead mover's claim CAS and its release stores.
    const uint16_t m = e.mover.load(std::memory_order_acquire);
    if (uint16_t(m & ~kMoverLetGo) != who) continue;
    // acquire: pairs with the dead mover's CAS that set its tag.
    uint64_t c = e.ctrl.load(std::memory_order_acquire);
    if (Ctrl::lock(c) == dead_tag && Ctrl::state(c) == ObjectState::kFreeing) {
      // Killed inside the free it took over from a free that let go (or in a
      // free of its own while it moved the object): finish it here, since
      // the generic repair would let go to the dead mover again.
      retag(e, c, mine);
      free_after_move(s, me, true);
      continue;
    }
    if (Ctrl::lock(c) == dead_tag && Ctrl::state(c) == ObjectState::kSealed) {
      // Killed inside a claim or a spill's last step: the heap's journal has
      // been replayed, so a block that was being freed is freed (data_off 0).
      Residency r = Ctrl::residency(c);
      if (r == Residency::kSpilling && e.data_off == 0) r = Residency::kSpilled;
      // release: unlocks; pairs with the next locker's acquire.
      e.ctrl.store(Ctrl::unlocked(Ctrl::with_residency(c, r)), std::memory_order_release);
    }
    auto locked = cas_unlocked(e, [&](uint64_t w) -> Result<uint64_t, StoreError> {
      // Freed meanwhile: the free was let go to the dead mover, and
      // release_mover() below finishes it.
      if (Ctrl::state(w) != ObjectState::kSealed) return fail(StoreError::kNotFound);
      return Ctrl::with_lock(w, mine);
    });
    if (locked) {
      Residency r = Ctrl::residency(*locked);
      // Only a spill's last step frees the block of a sealed object.
      if (r == Residency::kSpilling)
        r = e.data_off == 0 ? Residency::kSpilled : Residency::kResident;
      if (r == Residency::kRestoring) {
        drop_payload(e, me);  // a half-read block; the copy is still in the file
        r = Residency::kSpilled;
      }
      const uint64_t word = e.spill_word.load(std::memory_order_relaxed);
      if (r == Residency::kResident && (word & kSpillBit) != 0) {
        // The dead spiller's copy, perhaps half written: scrubbed, so that
        // none of its blocks stays allocated.
        drop_spilled_copy(e, true);
        e.spill_word.store(next_age(), std::memory_order_relaxed);
      }
      // release: unlocks; pairs with the next locker's acquire.
      e.ctrl.store(Ctrl::unlocked(Ctrl::with_residency(*locked, r)), std::memory_order_release);
    }
    release_mover(s, dead, me, true);
  }
}

}  // namespace shoal::store
