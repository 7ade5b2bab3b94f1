// SpillThread: spills objects off the callers' path. Woken by a put that
// takes the heap past the spill threshold (80% of it, as Ray's
// object_spilling_threshold), it writes the oldest objects nobody is reading
// to the spill file until usage is back at 70%, so that puts rarely find the
// heap full and have to spill themselves (ObjectTable::spill()).
//
// It runs in the session's first process (the driver, or the launcher of
// `shoal launch`) with that process's slot; it holds no lock between its
// steps, and its death is that process's death (the supervisor repairs a
// half-done spill, store/object_spill.cpp).
#pragma once

#include <atomic>
#include <thread>

#include "store/store.hpp"

namespace shoal::launcher {

class SpillThread {
 public:
  explicit SpillThread(store::Store& store);
  ~SpillThread();  // stops and joins
  SpillThread(const SpillThread&) = delete;
  SpillThread& operator=(const SpillThread&) = delete;

 private:
  void run();

  store::Store& store_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace shoal::launcher
