// ReadyQueue: one process's list of sealed objects its event loop waits for,
// in shared memory (one per process slot, right after the process table).
//
// Any process that seals an object whose waiter field carries kLoopWaiter
// pushes the object's slot here and then notifies the waiting process's wake
// word; only the owner (that process's event loop) drains it. Cell encoding:
// 0 is empty, anything else is an object slot + 1. A push is one CAS of an
// empty cell, probing from the object's slot, so concurrent pushers seldom
// meet; it then raises `pending`. Nothing can be lost:
//   - a full queue raises `overflow`, and the owner then checks all its waits;
//   - a pusher killed between its CAS and raising `pending` leaves its cell
//     filled: the owner's periodic drain(force) finds it;
//   - a pusher killed between the seal and the push: the owner checks every
//     wait at least every kFallbackScanNs anyway.
// A stale slot (a wait that ended, an object freed since) is harmless: the
// owner checks the object's state before it resumes anybody.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace shoal::store {

// The owner checks every wait at least this often, whatever the queue says.
inline constexpr uint64_t kFallbackScanNs = 50'000'000;

struct alignas(64) ReadyQueue {
  static constexpr uint32_t kCells = 256;
  static constexpr uint32_t kEmpty = 0;

  // Line 0: the flags pushers raise.
  std::atomic<uint32_t> pending;   // 1: a push since the owner's last drain
  std::atomic<uint32_t> overflow;  // 1: some seal could not be queued; check every wait
  uint8_t pad0[56];
  // Lines 1-16: object slot + 1, or kEmpty.
  std::atomic<uint32_t> cells[kCells];

  // Queues `object_slot`; false if every cell was full (overflow is raised
  // instead). The caller notifies the owner's wake word afterwards.
  bool push(uint32_t object_slot) noexcept {
    const uint32_t value = object_slot + 1;
    for (uint32_t i = 0; i < kCells; ++i) {
      std::atomic<uint32_t>& c = cells[(object_slot + i) % kCells];
      uint32_t expected = kEmpty;
      // relaxed: a look for a free cell only; the CAS below decides.
      if (c.load(std::memory_order_relaxed) != kEmpty) continue;
      // release: pairs with the acquire exchange in drain().
      if (c.compare_exchange_strong(expected, value, std::memory_order_release,
                                    std::memory_order_relaxed)) {
        // release: pairs with the acquire exchange in drain(); the notify()
        // that follows starts with a seq_cst fence (Dekker with prepare()).
        pending.store(1, std::memory_order_release);
        return true;
      }
    }
    raise_overflow();
    return false;
  }

  // The owner must check every wait (a seal it cannot name for it).
  void raise_overflow() noexcept {
    // relaxed: a look, to keep from writing a line that is already set.
    if (overflow.load(std::memory_order_relaxed) != 0) return;
    // release: pairs with the acquire exchange in drain(); the caller's
    // notify() fence orders it before the wake word's read.
    overflow.store(1, std::memory_order_release);
  }

  // True if a drain() would find something (the owner, before parking).
  bool has_work() const noexcept {
    // seq_cst: after the owner's prepare() (seq_cst RMW); pairs with the fence
    // of the notify() that follows a push (Dekker: the owner sees the flag, or
    // the pusher sees the owner's waiter bit).
    return pending.load(std::memory_order_seq_cst) != 0 ||
           overflow.load(std::memory_order_seq_cst) != 0;
  }

  // Owner only: calls f(object_slot) for every queued slot and empties those
  // cells. Without `force`, looks at the cells only after a push raised
  // `pending`. Returns true if overflow was raised (check every wait).
  template <class F>
  bool drain(F&& f, bool force = false) noexcept {
    // relaxed: a look; the exchanges below order what is read.
    if (!force && pending.load(std::memory_order_relaxed) == 0 &&
        overflow.load(std::memory_order_relaxed) == 0) {
      return false;
    }
    // acquire: pairs with the release store in push(). Cleared before the
    // cells are read: a push that lands after our read of its cell raises
    // `pending` again after its CAS.
    pending.exchange(0, std::memory_order_acquire);
    for (std::atomic<uint32_t>& c : cells) {
      // relaxed: a look; the exchange below takes the cell.
      if (c.load(std::memory_order_relaxed) == kEmpty) continue;
      // acquire: pairs with the release CAS in push().
      const uint32_t v = c.exchange(kEmpty, std::memory_order_acquire);
      if (v != kEmpty) f(v - 1);
    }
    // acquire: pairs with the release store in raise_overflow().
    return overflow.exchange(0, std::memory_order_acquire) != 0;
  }
};

static_assert(sizeof(ReadyQueue) == 64 + ReadyQueue::kCells * 4);
static_assert(offsetof(ReadyQueue, overflow) == 4);
static_assert(offsetof(ReadyQueue, cells) == 64);
static_assert(std::is_standard_layout_v<ReadyQueue>);
// Processes share these words: a lock-based atomic would keep its lock in
// process memory, where the other processes never see it.
static_assert(std::atomic<uint32_t>::is_always_lock_free);

}  // namespace shoal::store
