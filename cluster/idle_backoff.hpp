// IdleBackoff: how a gateway waits when it has nothing to do. MPI offers no
// descriptor to sleep on, so the gateway has to keep asking it. While work
// comes it spins, with shoal's idle-loop policy (ipc::IdleSpin: a window that
// follows how often work arrives, yielding the core now and then so that
// actors sharing it run); past the window it sleeps on its wake word, longer
// each time up to kMaxSleepNs. Work from this node's own processes ends a
// sleep at once (they notify the wake word); a message from another node
// waits for the current sleep to end. While MPI still has bytes of ours to
// move the gateway never sleeps. Not thread-safe: one per gateway thread.
#pragma once

#include <sched.h>

#include <cstdint>

#include "ipc/spin.hpp"

namespace shoal::cluster {

class IdleBackoff {
 public:
  // The first sleep: about the kernel's default timer slack (50 us), below
  // which a sleep costs the same anyway.
  static constexpr uint64_t kFirstSleepNs = 50'000;
  // The longest: what an idle gateway adds at most to the first message from
  // another node after a pause. A wake-up that asks MPI for progress costs
  // ~30-50 us of CPU here (measured: 1 ms sleeps kept an idle gateway at 3%
  // of a core); 250 of them a second stay near 1%.
  static constexpr uint64_t kMaxSleepNs = 4'000'000;

  // The loop found work.
  void worked() noexcept {
    spin_.worked();
    sleep_ns_ = kFirstSleepNs;
    busy_steps_ = 0;
  }

  // The loop found none. True: it has spun (or yielded) and should look
  // again; false: it should sleep for sleep_ns(). `busy`: transfers are in
  // flight, which MPI moves only while it is asked for progress.
  bool idle(bool busy) noexcept {
    if (spin_.step()) {
      // Every turn of the gateway asks MPI for progress (microseconds over
      // TCP): a yield per idle turn costs little beside it, and a process
      // sharing the core (the actor whose result the gateway waits for, the
      // caller its result is for) runs at once instead of after a time slice.
      ::sched_yield();
      return true;
    }
    if (busy) {
      ipc::Backoff::pause_or_yield(ipc::SpinPolicy::kPauseNs, ++busy_steps_);
      return true;
    }
    current_ns_ = sleep_ns_;
    sleep_ns_ = sleep_ns_ * 2 > kMaxSleepNs ? kMaxSleepNs : sleep_ns_ * 2;
    return false;
  }
  uint64_t sleep_ns() const noexcept { return current_ns_; }

 private:
  ipc::IdleSpin spin_;
  uint64_t sleep_ns_ = kFirstSleepNs;
  uint64_t current_ns_ = kFirstSleepNs;
  uint64_t busy_steps_ = 0;
};

}  // namespace shoal::cluster
