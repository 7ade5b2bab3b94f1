// Prefaulter: faults the store's heap in ahead of use on a background thread
// at SCHED_IDLE priority, so that puts write warm pages (a fresh shared-memory
// page costs ~30x a warm write here) while init() stays instant.
//
// It keeps min(heap, max(64 MiB, 2 x allocator high water)) populated: memory
// that has been or is about to be used, never the whole of a large store
// nobody asked for.
#pragma once

#include <atomic>
#include <thread>

#include "store/store.hpp"

namespace shoal::launcher {

class Prefaulter {
 public:
  explicit Prefaulter(store::Store& store);
  ~Prefaulter();  // stops and joins
  Prefaulter(const Prefaulter&) = delete;
  Prefaulter& operator=(const Prefaulter&) = delete;

 private:
  void run();

  store::Store& store_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace shoal::launcher
