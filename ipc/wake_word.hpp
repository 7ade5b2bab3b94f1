// WakeWord: shoal's interprocess condition variable, an eventcount on one
// 32-bit futex word in shared memory.
//
// State encoding of word_ (written down once, here):
//   bit 31      kWaiters: some thread may be parked, so notify() must wake
//   bits 0..30  epoch: changed by every notify() that found kWaiters set
//
// Waiter:                               Notifier:
//   t = prepare();                        make the condition true (a store);
//   if (condition) done;                  notify();
//   park(t);  // returns when notified, on timeout, or spuriously: re-check
//
// prepare() is a seq_cst RMW and notify() starts with a seq_cst fence, so either
// the waiter sees the condition or the notifier sees kWaiters (Dekker). A waiter
// that dies leaves at most kWaiters set: the next notify() clears it with one
// extra syscall. Nothing here can wedge after a crash.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>

namespace shoal::ipc {

class WakeWord {
 public:
  static constexpr uint32_t kWaiters = 1u << 31;
  static constexpr uint32_t kEpochMask = kWaiters - 1;

  // Announces a possible park; the returned token is what park() sleeps on.
  uint32_t prepare() noexcept {
    // seq_cst RMW: pairs with the fence in notify().
    return word_.fetch_or(kWaiters, std::memory_order_seq_cst) | kWaiters;
  }

  // Sleeps until a notify() after the prepare() that returned `token`, the
  // timeout, or a spurious wake-up. Returns false only on timeout.
  bool park(uint32_t token, std::optional<std::chrono::nanoseconds> timeout) noexcept;

  // Wakes every parked waiter. Without waiters: one load, no syscall.
  void notify() noexcept {
    // Pairs with the RMW in prepare(): the caller's condition store is ordered
    // before our read of kWaiters.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if ((word_.load(std::memory_order_relaxed) & kWaiters) == 0) return;
    notify_slow();
  }

  // For status and tests: the raw word.
  uint32_t raw() const noexcept { return word_.load(std::memory_order_relaxed); }
  void reset() noexcept { word_.store(0, std::memory_order_relaxed); }

 private:
  void notify_slow() noexcept;

  std::atomic<uint32_t> word_{0};
};

static_assert(sizeof(WakeWord) == 4);
static_assert(std::atomic<uint32_t>::is_always_lock_free, "the word is shared between processes");
static_assert(std::is_standard_layout_v<WakeWord>);

}  // namespace shoal::ipc
