#include "ipc/request_ring.hpp"

#include <new>

namespace shoal::ipc {

RequestRing RequestRing::format(void* memory, uint32_t capacity) {
  SHOAL_CHECK(capacity >= 2 && (capacity & (capacity - 1)) == 0) << "capacity " << capacity;
  SHOAL_CHECK(reinterpret_cast<uintptr_t>(memory) % 64 == 0);
  auto* header = new (memory) RingHeader{};
  header->tail.store(0, std::memory_order_relaxed);
  header->head.store(0, std::memory_order_relaxed);
  header->consumer.store(kNoProcess, std::memory_order_relaxed);
  header->capacity = capacity;
  header->magic = kMagic;
  auto* cells = reinterpret_cast<RingCell*>(header + 1);
  for (uint32_t i = 0; i < capacity; ++i) {
    new (&cells[i]) RingCell{};
    cells[i].seq.store(make_seq(i, CellState::kFree, 0), std::memory_order_relaxed);
  }
  // release: the formatted ring before whatever publishes its offset (an
  // actor's state, stored later); pairs with the acquire load of that state by
  // the processes that then attach() the ring.
  std::atomic_thread_fence(std::memory_order_release);
  return RequestRing(header, cells, capacity);
}

Result<RequestRing, RingError> RequestRing::attach(void* memory, size_t bytes) {
  if (memory == nullptr || bytes < sizeof(RingHeader) ||
      reinterpret_cast<uintptr_t>(memory) % 64 != 0) {
    return fail(RingError::kCorrupt);
  }
  auto* header = static_cast<RingHeader*>(memory);
  const uint32_t cap = header->capacity;
  if (header->magic != kMagic || cap < 2 || (cap & (cap - 1)) != 0 || bytes_for(cap) > bytes) {
    return fail(RingError::kCorrupt);
  }
  return RequestRing(header, reinterpret_cast<RingCell*>(header + 1), cap);
}

Result<RequestRing::Claim, RingError> RequestRing::try_claim(ProcessSlotId me) noexcept {
  const uint64_t cap = capacity_;
  const uint64_t mask = cap - 1;
  for (;;) {
    // acquire: pairs with the tail CAS of the producer that advanced it.
    uint64_t pos = header_->tail.load(std::memory_order_acquire);
    RingCell& cell = cells_[pos & mask];
    // acquire: pairs with release_head()'s store that freed the cell.
    uint64_t s = cell.seq.load(std::memory_order_acquire);
    const uint64_t spos = seq_pos(s);
    if (spos == pos) {
      if (seq_state(s) == CellState::kFree) {
        // acq_rel: acquire as the load above; release pairs with the acquire
        // load of skip_claims_of(), which then finds the claim naming us.
        if (cell.seq.compare_exchange_weak(s, make_seq(pos, CellState::kClaimed, me),
                                           std::memory_order_acq_rel, std::memory_order_relaxed)) {
          uint64_t expected = pos;
          // release: pairs with the acquire tail load of other producers.
          header_->tail.compare_exchange_strong(expected, pos + 1, std::memory_order_release,
                                                std::memory_order_relaxed);
          return Claim{&cell, pos};
        }
        continue;
      }
      // Claimed by another producer that has not yet moved tail: help it.
      // release: as above, pairs with the acquire tail load of other producers.
      uint64_t expected = pos;
      header_->tail.compare_exchange_strong(expected, pos + 1, std::memory_order_release,
                                            std::memory_order_relaxed);
      continue;
    }
    if (spos + cap == pos) return fail(RingError::kFull);  // previous lap not consumed yet
    // Any other position means our tail was stale: the cell moved on because
    // position `pos` was claimed, published and consumed, and whoever claimed
    // it moved tail past pos before publishing (our acquire of the cell makes
    // that visible). With tail still at pos the word is garbage, and
    // re-reading forever would hang.
    // acquire: pairs with the tail CAS, as the load at the top.
    if (header_->tail.load(std::memory_order_acquire) == pos) return fail(RingError::kCorrupt);
  }
}

RequestRing::Peek RequestRing::try_peek(RingCell** out) noexcept {
  const uint64_t pos = header_->head.load(std::memory_order_relaxed);  // only we write head
  RingCell& cell = cells_[pos & (capacity_ - 1)];
  // acquire: pairs with publish().
  const uint64_t s = cell.seq.load(std::memory_order_acquire);
  if (seq_pos(s) != pos) {
    // The cell already serves the next lap: a consumer freed it (release_head()) and died
    // before it advanced head. Take up at the next position, as if it had.
    if (seq_pos(s) == pos + capacity_) {
      header_->head.store(pos + 1, std::memory_order_relaxed);
      return Peek::kSkipped;
    }
    return Peek::kEmpty;
  }
  switch (seq_state(s)) {
    case CellState::kReady:
      *out = &cell;
      return Peek::kReady;
    case CellState::kSkip:
      release_head();
      return Peek::kSkipped;
    case CellState::kClaimed:
      return Peek::kInProgress;
    case CellState::kFree:
      return Peek::kEmpty;
  }
  return Peek::kEmpty;
}

void RequestRing::release_head() noexcept {
  const uint64_t pos = header_->head.load(std::memory_order_relaxed);
  const uint64_t cap = capacity_;
  // release: pairs with try_claim()'s acquire; our reads of the payload are done.
  cells_[pos & (cap - 1)].seq.store(make_seq(pos + cap, CellState::kFree, 0),
                                    std::memory_order_release);
  header_->head.store(pos + 1, std::memory_order_relaxed);  // for depth(), status and restarts
  header_->not_full.notify();
}

uint64_t RequestRing::depth() const noexcept {
  const uint64_t tail = header_->tail.load(std::memory_order_relaxed);
  const uint64_t head = header_->head.load(std::memory_order_relaxed);
  return tail > head ? tail - head : 0;
}

uint32_t RequestRing::skip_claims_of(ProcessSlotId dead) noexcept {
  uint32_t skipped = 0;
  for (uint32_t i = 0; i < capacity_; ++i) {
    // acquire: pairs with try_claim()'s CAS that named the producer.
    uint64_t s = cells_[i].seq.load(std::memory_order_acquire);
    if (seq_state(s) == CellState::kClaimed && seq_slot(s) == (dead & kSlotMask)) {
      // release: pairs with try_peek()'s acquire.
      if (cells_[i].seq.compare_exchange_strong(s, make_seq(seq_pos(s), CellState::kSkip, dead),
                                                std::memory_order_release,
                                                std::memory_order_relaxed)) {
        ++skipped;
      }
    }
  }
  return skipped;
}

}  // namespace shoal::ipc
