#include "ipc/futex.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

namespace shoal::ipc {

static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
static_assert(std::atomic<uint32_t>::is_always_lock_free);

FutexWaitResult futex_wait(std::atomic<uint32_t>* word, uint32_t expected,
                           std::optional<std::chrono::nanoseconds> timeout) {
  timespec ts{};
  timespec* tsp = nullptr;
  if (timeout) {
    const auto ns = timeout->count() < 0 ? 0 : timeout->count();
    ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    tsp = &ts;
  }
  const long rc = ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT, expected, tsp,
                            nullptr, 0);
  if (rc == 0) return FutexWaitResult::kWoken;
  if (errno == EAGAIN) return FutexWaitResult::kValueDiffers;
  if (errno == ETIMEDOUT) return FutexWaitResult::kTimedOut;
  return FutexWaitResult::kWoken;  // EINTR: the caller re-checks its condition anyway
}

int futex_wake(std::atomic<uint32_t>* word, int count) {
  const long rc = ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE,
                            count < 0 ? INT_MAX : count, nullptr, nullptr, 0);
  return rc < 0 ? 0 : static_cast<int>(rc);
}

}  // namespace shoal::ipc
