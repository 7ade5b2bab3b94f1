// RobustLock: a mutual-exclusion word in shared memory whose holder may die at
// any instant (kill -9) without wedging anyone.
//
// State encoding of word_:
//   0                      free
//   bits 0..15             holder's process slot + 1
//   bit 31  kContended     someone may be parked on the word: unlock() wakes one
//
// A waiter parks with a timeout; when it finds the holder's slot marked dead by
// the supervisor it takes the lock over and gets Acquired::kRecovered: the
// protected data may be mid-update and the caller must repair it (replay its
// journal) before use. The supervisor does the same during its cleanup, so a
// dead holder is repaired even when nobody else wants the lock.
#pragma once

#include <atomic>
#include <cstdint>

#include "ipc/process_table.hpp"

namespace shoal::ipc {

class RobustLock {
 public:
  enum class Acquired { kClean, kRecovered };

  Acquired lock(ProcessSlotId me, const ProcessTable& processes) noexcept;
  void unlock() noexcept;

  // Takes the lock over from `dead` if `dead` holds it; true if it did. The
  // caller then holds the lock and must repair and unlock.
  bool take_over(ProcessSlotId dead, ProcessSlotId me) noexcept;

  bool held_by(ProcessSlotId slot) const noexcept {
    // acquire: pairs with the CAS of lock() that took the word.
    return (word_.load(std::memory_order_acquire) & kOwnerMask) == uint32_t(slot) + 1u;
  }

 private:
  static constexpr uint32_t kContended = 1u << 31;
  static constexpr uint32_t kOwnerMask = 0xffff;

  std::atomic<uint32_t> word_{0};
};

static_assert(sizeof(RobustLock) == 4);
static_assert(std::atomic<uint32_t>::is_always_lock_free, "the word is shared between processes");
static_assert(std::is_standard_layout_v<RobustLock>);

}  // namespace shoal::ipc
