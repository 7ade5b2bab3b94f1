// IdleBackoff: how a gateway waits when it has nothing to do. MPI offers no
// descriptor to sleep on, so the gateway has to ask it: while work comes it
// spins (yielding the core now and then, so that actors sharing it run), and
// once none has come for kSpinNs it sleeps, longer each time up to
// kMaxSleepNs. Work from this node's own processes ends a sleep at once (they
// notify the gateway's wake word); a message from another node waits for the
// current sleep to end. While MPI still has bytes to move for us the gateway
// never sleeps. Not thread-safe: one per gateway thread.
#pragma once

#include <cstdint>

namespace shoal::cluster {

class IdleBackoff {
 public:
  // Longer than an MPI round trip between gateways over loopback TCP (30-60
  // us here) with room to spare: a gateway waiting for the answer to a call
  // it forwarded is still spinning when the answer comes.
  static constexpr uint64_t kSpinNs = 200'000;
  // The first sleep: about the kernel's default timer slack (50 us), below
  // which a sleep costs the same anyway.
  static constexpr uint64_t kFirstSleepNs = 50'000;
  // The longest: what an idle gateway adds at most to the first message from
  // another node after a pause. A wake-up that asks MPI for progress costs
  // ~30 us of CPU here (measured: 1 ms sleeps kept an idle gateway at 3% of a
  // core); 250 of them a second stay under 1%.
  static constexpr uint64_t kMaxSleepNs = 4'000'000;
  // While spinning, every kYieldEvery-th idle turn yields the core.
  static constexpr uint32_t kYieldEvery = 16;

  // Work was done at `now_ns`.
  void worked(uint64_t now_ns) {
    last_work_ns_ = now_ns;
    sleep_ns_ = kFirstSleepNs;
  }

  enum class Step { kSpin, kYield, kSleep };
  // What to do after an idle turn at `now_ns`; for kSleep, sleep_ns() says how
  // long. `busy`: transfers are in flight, which move only while MPI is asked
  // for progress: never sleep then.
  Step idle(uint64_t now_ns, bool busy) {
    if (last_work_ns_ == 0) last_work_ns_ = now_ns;
    if (busy || now_ns - last_work_ns_ < kSpinNs) {
      return ++idle_turns_ % kYieldEvery == 0 ? Step::kYield : Step::kSpin;
    }
    current_ns_ = sleep_ns_;
    sleep_ns_ = sleep_ns_ * 2 > kMaxSleepNs ? kMaxSleepNs : sleep_ns_ * 2;
    return Step::kSleep;
  }
  uint64_t sleep_ns() const { return current_ns_; }

 private:
  uint64_t last_work_ns_ = 0;
  uint64_t sleep_ns_ = kFirstSleepNs;
  uint64_t current_ns_ = kFirstSleepNs;
  uint32_t idle_turns_ = 0;
};

}  // namespace shoal::cluster
