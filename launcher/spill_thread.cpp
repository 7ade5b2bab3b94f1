#include "launcher/spill_thread.hpp"

#include <chrono>

namespace shoal::launcher {

namespace {
// How often to look at the heap without being woken (a put that crossed the
// threshold while a round ran).
constexpr std::chrono::milliseconds kLookEvery{50};
}  // namespace

SpillThread::SpillThread(store::Store& store) : store_(store) {
  if (!store_.spill_file().enabled()) return;
  thread_ = std::thread([this] { run(); });
}

SpillThread::~SpillThread() {
  // release: pairs with the acquire loads of stop_ in run(); stop_ is the
  // condition of spill_wake, set before notify() and re-checked after
  // prepare() (ipc/wake_word.hpp).
  stop_.store(true, std::memory_order_release);
  store_.header().spill_wake.notify();
  if (thread_.joinable()) thread_.join();
}

void SpillThread::run() {
  store::SegmentHeader& h = store_.header();
  store::ObjectTable& objects = store_.objects();
  while (!stop_.load(std::memory_order_acquire)) {  // pairs with the store in ~SpillThread
    const uint64_t used = store_.heap().used();
    if (used <= objects.spill_threshold()) {
      const uint32_t token = h.spill_wake.prepare();
      // relaxed: a request flag; a put sets it (and notifies) again once it
      // finds usage past the threshold after this.
      h.spill_requested.store(0, std::memory_order_relaxed);
      // acquire: as above; re-checked after prepare(), so a stop is either
      // seen here or wakes the park.
      if (stop_.load(std::memory_order_acquire)) break;
      if (store_.heap().used() > objects.spill_threshold()) continue;
      h.spill_wake.park(token, kLookEvery);
      continue;
    }
    const uint64_t target = objects.spill_target();
    // Nothing to spill (all read, viewed or being written) or no room on
    // disk: look again later; the puts that need room get the error.
    if (!objects.spill(used - target, store_.me())) {
      const uint32_t token = h.spill_wake.prepare();
      if (stop_.load(std::memory_order_acquire)) break;  // acquire: as above
      h.spill_wake.park(token, kLookEvery);
    }
  }
}

}  // namespace shoal::launcher
