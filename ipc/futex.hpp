// Thin wrappers over futex(2) on words that live in shared memory (so the
// process-shared variants, never FUTEX_PRIVATE_FLAG).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>

namespace shoal::ipc {

enum class FutexWaitResult {
  kWoken,         // woken by futex_wake, or spuriously
  kValueDiffers,  // *word != expected when the kernel looked
  kTimedOut,
};

// Sleeps while *word == expected, for at most `timeout` (nullopt: no limit).
FutexWaitResult futex_wait(std::atomic<uint32_t>* word, uint32_t expected,
                           std::optional<std::chrono::nanoseconds> timeout);

// Wakes up to `count` sleepers on `word`; returns how many were woken.
int futex_wake(std::atomic<uint32_t>* word, int count);

}  // namespace shoal::ipc
