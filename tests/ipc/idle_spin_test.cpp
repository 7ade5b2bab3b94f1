// IdleSpin: the adaptive spin window of an idle loop (an actor waiting for
// calls, an event loop). The window follows the gaps the loop waited through,
// and back-to-back work leaves it alone.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "ipc/spin.hpp"

namespace shoal::ipc {
namespace {

using namespace std::chrono_literals;

// One idle period of at least `gap`: the loop finds no work, spins long enough to start timing
// the gap, waits, then finds some.
void idle_for(IdleSpin& s, std::chrono::nanoseconds gap) {
  for (uint64_t i = 0; i < SpinPolicy::kClockEvery; ++i)
    (void)s.step();
  std::this_thread::sleep_for(gap);
  s.worked();
}

// Long gaps until the window is the maximum.
void widen_to_maximum(IdleSpin& s) {
  for (int i = 0; i < 40; ++i)
    idle_for(s, 20ms);
  ASSERT_EQ(s.window_ns(), SpinPolicy::kIdleSpinMaxNs);
}

TEST(IdleSpin, AFreshLoopAssumesGapsOfTheMinimumWindow) {
  IdleSpin s;
  EXPECT_EQ(s.window_ns(), SpinPolicy::kIdleSpinMinNs * SpinPolicy::kIdleGapFactor);
}

TEST(IdleSpin, AGapLongerThanTheMaximumCountsAsTheMaximum) {
  IdleSpin s;
  idle_for(s, 20ms);
  // The average moves an eighth of the way from the minimum to kIdleSpinMaxNs, not to 20 ms.
  const uint64_t average = (SpinPolicy::kIdleSpinMinNs * 7 + SpinPolicy::kIdleSpinMaxNs) / 8;
  EXPECT_EQ(s.window_ns(), average * SpinPolicy::kIdleGapFactor);
}

TEST(IdleSpin, BackToBackWorkKeepsTheWindowOfTheGapsBetweenBatches) {
  // A caller that pipelines batches: busy through each batch, idle between two. The window
  // must still span the gap when the next batch's idle period comes.
  IdleSpin s;
  for (int batch = 0; batch < 8; ++batch)
    idle_for(s, 20ms);
  const uint64_t window = s.window_ns();
  EXPECT_GT(window, SpinPolicy::kIdleSpinMinNs);
  for (int call = 0; call < 1000; ++call)
    s.worked();  // a batch of calls, each found at once
  EXPECT_EQ(s.window_ns(), window);
}

TEST(IdleSpin, TheWindowStaysWithinItsBounds) {
  IdleSpin s;
  widen_to_maximum(s);
  for (int i = 0; i < 200; ++i) {
    (void)s.step();
    s.worked();  // gaps of nanoseconds
  }
  EXPECT_EQ(s.window_ns(), SpinPolicy::kIdleSpinMinNs);
}

TEST(IdleSpin, AGapFoundWithinTheFirstStepsCountsAsNothing) {
  // The loop reads the clock from its kClockEvery-th step on: work found before that (under a
  // microsecond) is a gap of zero, however long the loop was descheduled meanwhile.
  IdleSpin s;
  widen_to_maximum(s);
  for (int i = 0; i < 200; ++i) {
    for (uint64_t k = 0; k + 1 < SpinPolicy::kClockEvery; ++k)
      (void)s.step();
    std::this_thread::sleep_for(1ms);  // not seen: the clock was never read
    s.worked();
  }
  EXPECT_EQ(s.window_ns(), SpinPolicy::kIdleSpinMinNs);
}

TEST(IdleSpin, StepSpinsUntilTheWindowHasPassed) {
  IdleSpin s;
  const auto t0 = std::chrono::steady_clock::now();
  while (s.step()) {
  }
  EXPECT_GE(std::chrono::steady_clock::now() - t0,
            std::chrono::nanoseconds(SpinPolicy::kIdleSpinMinNs));
}

}  // namespace
}  // namespace shoal::ipc
