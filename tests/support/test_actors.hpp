// Threaded actors that tests use to hold results back until the test lets
// them go: the test, not the clock, decides when each object is sealed.
//
// Include it from the test file of an executable only: SHOAL_ACTOR registers
// the class once per translation unit that includes it.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include <shoal/shoal.hpp>

// A threaded actor that holds values back until opened: value_when_open(v)
// returns v once open() has run. Create it with max_concurrency >= 2, so that
// open() gets in while value_when_open() waits. A latch never opened returns
// -1 after a minute, so a broken test fails instead of hanging.
class Latch {
 public:
  int value_when_open(int v) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(60), [&] { return open_; });
    return open_ ? v : -1;
  }
  void open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};
SHOAL_ACTOR(Latch, &Latch::value_when_open, &Latch::open);

// Like a Latch with levels: wait_open(k) returns k once open(k') with k' >= k
// has run, so a test releases its calls one group at a time. Create it with
// max_concurrency above the number of calls held at once. A call never
// released returns -1 after two minutes.
class Gate {
 public:
  int wait_open(int k) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, std::chrono::seconds(120), [&] { return level_ >= k; })) return -1;
    return k;
  }
  void open(int k) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      level_ = std::max(level_, k);
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int level_ = 0;
};
SHOAL_ACTOR(Gate, &Gate::wait_open, &Gate::open);
