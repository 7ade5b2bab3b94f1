// RequestRing: the bounded, lock-free, multi-producer single-consumer queue of
// call cells in front of every actor. Cells are inline (no pointers); the ring
// lives at an offset in the session segment and is reached through this view.
//
// Every cell carries one 64-bit sequence word; its encoding is written down once:
//   bits 16..63  position: the ring position the cell currently stands for
//   bits 14..15  state: kFree (may be claimed for `position`), kClaimed (a
//                producer is writing it), kReady (published), kSkip (its
//                producer died mid-write: the consumer drops it)
//   bits 0..13   the claiming producer's process slot (kClaimed, kReady)
//
// Producers claim a cell with one CAS on its sequence word, which names them,
// then help `tail` forward. A producer killed between claim and publish leaves
// a kClaimed cell naming a dead slot; the supervisor turns it into kSkip, so the
// consumer never waits on the dead. The consumer frees a cell by storing
// kFree for position + capacity, which is what makes the ring bounded: a
// producer that finds the previous lap still in the cell sees the ring full.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "ipc/process_table.hpp"
#include "ipc/result.hpp"
#include "ipc/wake_word.hpp"

namespace shoal::ipc {

inline constexpr size_t kRingCellBytes = 128;
inline constexpr size_t kRingPayloadBytes = kRingCellBytes - 8;

struct alignas(64) RingCell {
  std::atomic<uint64_t> seq;
  std::byte payload[kRingPayloadBytes];
};
static_assert(sizeof(RingCell) == kRingCellBytes);
static_assert(std::is_standard_layout_v<RingCell>);
// Producers and the consumer are different processes.
static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(std::atomic<uint32_t>::is_always_lock_free);

// Producers, the consumer and what both only read live in different 128-byte
// pairs of lines (cores fetch lines in such pairs), and so does every cell: a
// ring that starts 128-byte aligned has no false sharing between its parts.
struct alignas(64) RingHeader {
  // Lines 0-1: producers.
  std::atomic<uint64_t> tail;  // next position to claim; CAS by producers (helping)
  uint8_t pad0[120];
  // Lines 2-3: the consumer.
  std::atomic<uint64_t> head;  // next position to consume; written by the consumer only
  WakeWord not_full;           // producers park here when the ring is full
  uint8_t pad1[116];
  // Lines 4-5: read by every producer, written rarely.
  uint64_t magic;
  uint32_t capacity;               // cells, a power of two; immutable after init
  std::atomic<uint32_t> consumer;  // process slot to notify after a publish (kNoProcess: none)
  uint8_t pad2[112];
};
static_assert(sizeof(RingHeader) == 384);
static_assert(offsetof(RingHeader, head) == 128);
static_assert(offsetof(RingHeader, magic) == 256);
static_assert(std::is_standard_layout_v<RingHeader>);

enum class RingError {
  kFull,     // no free cell: the consumer is behind
  kCorrupt,  // the header or a sequence word makes no sense
};

class RequestRing {
 public:
  static constexpr uint64_t kMagic = 0x53484f414c52494eull;  // "SHOALRIN"
  enum class CellState : uint32_t { kFree = 0, kClaimed = 1, kReady = 2, kSkip = 3 };
  static constexpr int kSlotBits = 14;
  static constexpr uint32_t kSlotMask = (1u << kSlotBits) - 1;

  static constexpr uint64_t make_seq(uint64_t pos, CellState state, uint32_t slot) {
    return (pos << 16) | (uint64_t(state) << kSlotBits) | (slot & kSlotMask);
  }
  static constexpr uint64_t seq_pos(uint64_t seq) { return seq >> 16; }
  static constexpr CellState seq_state(uint64_t seq) { return CellState((seq >> kSlotBits) & 3); }
  static constexpr uint32_t seq_slot(uint64_t seq) { return uint32_t(seq & kSlotMask); }

  static size_t bytes_for(uint32_t capacity) {
    return sizeof(RingHeader) + size_t(capacity) * sizeof(RingCell);
  }

  RequestRing() = default;
  // `memory` must be 64-byte aligned (128 for no false sharing) and
  // bytes_for(capacity) long.
  static RequestRing format(void* memory, uint32_t capacity);
  // Validates an existing ring of `bytes` bytes.
  static Result<RequestRing, RingError> attach(void* memory, size_t bytes);

  bool valid() const { return header_ != nullptr; }
  uint32_t capacity() const { return capacity_; }
  RingHeader& header() const { return *header_; }

  // ---- producers ----
  struct Claim {
    RingCell* cell = nullptr;
    uint64_t pos = 0;
  };
  // Claims the next cell for `me`, or kFull. Never blocks.
  Result<Claim, RingError> try_claim(ProcessSlotId me) noexcept;
  // Publishes a claimed cell whose payload has been written.
  void publish(const Claim& claim, ProcessSlotId me) noexcept {
    // release: pairs with the acquire load in try_peek(): payload before state.
    claim.cell->seq.store(make_seq(claim.pos, CellState::kReady, me), std::memory_order_release);
  }

  // ---- the consumer ----
  enum class Peek { kReady, kEmpty, kInProgress, kSkipped };
  // Looks at the cell at `head`: kReady hands it out; kSkipped means a dead
  // producer's cell was dropped, or a dead consumer's freed cell passed over
  // (call again); kInProgress: a producer is writing it right now.
  Peek try_peek(RingCell** cell) noexcept;
  // Frees the cell try_peek() handed out and advances head.
  void release_head() noexcept;
  // The cell at head if it is published, else nullptr, changing nothing: a
  // consumer looks ahead at the call it will take next.
  const RingCell* ready_at_head() const noexcept {
    const uint64_t pos = header_->head.load(std::memory_order_relaxed);  // only we write head
    const RingCell& cell = cells_[pos & (capacity_ - 1)];
    // acquire: pairs with publish(), as in try_peek().
    const uint64_t s = cell.seq.load(std::memory_order_acquire);
    return seq_pos(s) == pos && seq_state(s) == CellState::kReady ? &cell : nullptr;
  }
  uint64_t head() const noexcept { return header_->head.load(std::memory_order_relaxed); }
  uint64_t depth() const noexcept;
  // Calls f(cell) for every published cell after head (the consumer only:
  // e.g. to cancel queued calls). The cells stay in the ring.
  template <class F>
  void for_each_queued(F&& f) noexcept {
    const uint64_t head = header_->head.load(std::memory_order_relaxed);
    // acquire: pairs with the producers' tail CAS in try_claim().
    const uint64_t tail = header_->tail.load(std::memory_order_acquire);
    const uint64_t mask = capacity_ - 1;
    for (uint64_t pos = head; pos < tail && pos - head < capacity_; ++pos) {
      RingCell& cell = cells_[pos & mask];
      const uint64_t s = cell.seq.load(std::memory_order_acquire);  // pairs with publish()
      if (seq_pos(s) == pos && seq_state(s) == CellState::kReady) f(cell);
    }
  }

  // ---- the supervisor ----
  // Turns every cell claimed by `dead` into kSkip; returns how many.
  uint32_t skip_claims_of(ProcessSlotId dead) noexcept;

 private:
  RequestRing(RingHeader* header, RingCell* cells, uint32_t capacity)
      : header_(header), cells_(cells), capacity_(capacity) {}

  RingHeader* header_ = nullptr;
  RingCell* cells_ = nullptr;
  // The capacity validated by format()/attach(), never re-read from shared
  // memory: a header corrupted later cannot move an index outside the cells.
  uint32_t capacity_ = 0;
};

// A cell's sequence word names its producer by process slot (the supervisor
// skips the cells of a dead one): every slot must fit the field.
static_assert(kMaxProcesses - 1 <= RequestRing::kSlotMask,
              "the slot field of a cell's sequence word is narrower than the process table");

}  // namespace shoal::ipc
