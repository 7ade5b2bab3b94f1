#include "ipc/wake_word.hpp"

#include "ipc/futex.hpp"

namespace shoal::ipc {

bool WakeWord::park(uint32_t token, std::optional<std::chrono::nanoseconds> timeout) noexcept {
  return futex_wait(&word_, token, timeout) != FutexWaitResult::kTimedOut;
}

void WakeWord::notify_slow() noexcept {
  uint32_t w = word_.load(std::memory_order_relaxed);
  while ((w & kWaiters) != 0) {
    const uint32_t next = (w + 1) & kEpochMask;  // new epoch, kWaiters cleared
    // acq_rel: pairs with prepare() of waiters that parked on the old value.
    if (word_.compare_exchange_weak(w, next, std::memory_order_acq_rel,
                                    std::memory_order_relaxed)) {
      futex_wake(&word_, -1);
      return;
    }
  }
}

}  // namespace shoal::ipc
