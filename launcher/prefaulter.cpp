#include "launcher/prefaulter.hpp"

#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>

#include <chrono>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

namespace shoal::launcher {

namespace {
constexpr uint64_t kChunk = 4ull << 20;
constexpr uint64_t kMinAhead = 64ull << 20;
// How long to wait before asking a full file system for storage again.
constexpr std::chrono::milliseconds kRetryBacking{200};
}  // namespace

Prefaulter::Prefaulter(store::Store& store) : store_(store) {
  thread_ = std::thread([this] { run(); });
}

Prefaulter::~Prefaulter() {
  // release: pairs with the acquire loads of stop_ in run(). stop_ is the
  // condition of prefault_wake, set before notify() and re-checked by run()
  // after prepare() (the eventcount protocol of ipc/wake_word.hpp).
  stop_.store(true, std::memory_order_release);
  store_.header().prefault_wake.notify();
  if (thread_.joinable()) thread_.join();
}

void Prefaulter::run() {
  sched_param param{};
  ::pthread_setschedparam(::pthread_self(), SCHED_IDLE, &param);
  store::SegmentHeader& h = store_.header();
  const uint64_t heap = store_.heap().capacity();
  std::byte* base = store_.base() + store_.heap().heap_off();
  uint64_t done = h.prefault_done.load(std::memory_order_relaxed);
  while (!stop_.load(std::memory_order_acquire)) {  // pairs with the store in ~Prefaulter
    uint64_t target = 2 * store_.heap().high_water();
    if (target < kMinAhead) target = kMinAhead;
    if (target > heap) target = heap;
    if (done >= target) {
      const uint32_t token = h.prefault_wake.prepare();
      // acquire: pairs with the store in ~Prefaulter; re-checked after
      // prepare(), so a stop is either seen here or wakes the park.
      if (stop_.load(std::memory_order_acquire)) break;
      h.prefault_wake.park(token, std::chrono::milliseconds(20));
      continue;
    }
    const uint64_t n = target - done < kChunk ? target - done : kChunk;
    // Storage first (a full file system: try again later; the allocator backs
    // what it hands out itself), then the pages.
    if (!store_.segment().heap_backing().ensure(store_.heap().heap_off() + done + n)) {
      const uint32_t token = h.prefault_wake.prepare();
      // acquire: as above.
      if (stop_.load(std::memory_order_acquire)) break;
      h.prefault_wake.park(token, kRetryBacking);
      continue;
    }
    // Populates this process's page tables too, without writing the memory.
    if (::madvise(base + done, n, MADV_POPULATE_WRITE) != 0) break;  // unsupported: give up
    done += n;
    h.prefault_done.store(done, std::memory_order_relaxed);
  }
}

}  // namespace shoal::launcher
