#include "ipc/robust_lock.hpp"

#include <chrono>

#include "ipc/futex.hpp"
#include "ipc/spin.hpp"

namespace shoal::ipc {

RobustLock::Acquired RobustLock::lock(ProcessSlotId me, const ProcessTable& processes) noexcept {
  const uint32_t mine = uint32_t(me) + 1u;
  uint32_t expected = 0;
  // acquire: pairs with the release in unlock().
  if (word_.compare_exchange_strong(expected, mine, std::memory_order_acquire,
                                    std::memory_order_relaxed)) {
    return Acquired::kClean;
  }
  Backoff backoff(SpinPolicy::kLockSpinNs);
  while (backoff.step()) {
    expected = 0;
    // acquire: pairs with the release in unlock().
    if (word_.load(std::memory_order_relaxed) == 0 &&
        word_.compare_exchange_strong(expected, mine, std::memory_order_acquire,
                                      std::memory_order_relaxed)) {
      return Acquired::kClean;
    }
  }
  for (;;) {
    uint32_t w = word_.load(std::memory_order_relaxed);
    if (w == 0) {
      // Once contended, keep the flag so our unlock wakes whoever else parked.
      // acquire: pairs with the release in unlock().
      if (word_.compare_exchange_weak(w, mine | kContended, std::memory_order_acquire,
                                      std::memory_order_relaxed)) {
        return Acquired::kClean;
      }
      continue;
    }
    const auto holder = static_cast<ProcessSlotId>((w & kOwnerMask) - 1u);
    if (holder != me && processes.is_dead(holder)) {
      // acquire: pairs with the holder's last writes before it died, as far
      // as they reached memory; the caller's repair copes with the rest.
      if (word_.compare_exchange_strong(w, mine | kContended, std::memory_order_acquire,
                                        std::memory_order_relaxed)) {
        return Acquired::kRecovered;
      }
      continue;
    }
    if ((w & kContended) == 0 &&
        !word_.compare_exchange_weak(w, w | kContended, std::memory_order_relaxed)) {
      continue;
    }
    // The timeout bounds how long a dead holder goes unnoticed by us.
    futex_wait(&word_, w | kContended, std::chrono::milliseconds(5));
  }
}

void RobustLock::unlock() noexcept {
  // release: pairs with the acquire in lock().
  const uint32_t w = word_.exchange(0, std::memory_order_release);
  if (w & kContended) futex_wake(&word_, 1);
}

bool RobustLock::take_over(ProcessSlotId dead, ProcessSlotId me) noexcept {
  // acquire (the load and the CAS): pair with the dead holder's lock() CAS
  // and its last writes, as far as they reached memory; the caller repairs.
  uint32_t w = word_.load(std::memory_order_acquire);
  while ((w & kOwnerMask) == uint32_t(dead) + 1u) {
    if (word_.compare_exchange_weak(w, (uint32_t(me) + 1u) | kContended, std::memory_order_acquire,
                                    std::memory_order_relaxed)) {
      return true;
    }
  }
  return false;
}

}  // namespace shoal::ipc
