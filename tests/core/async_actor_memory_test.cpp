// What a suspended call costs an async actor, which must be at most 1 KiB
// beyond its coroutine frame: the growth of the actor process's private
// resident memory with 10,000 calls suspended at once, per call, minus the
// method's own coroutine frame.
//
// The frame is measured in the driver by creating (not starting) the very
// same method's coroutines on a local object: malloc's in-use bytes per frame.
// Under AddressSanitizer neither figure means anything (red zones, quarantine,
// frames not pooled), so the check is skipped there.
#include <malloc.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <vector>

#include <shoal/shoal.hpp>

#include "tests/support/test_support.hpp"

using namespace std::chrono_literals;
using namespace shoal::testing;

class Parker {
 public:
  shoal::Task<void> park() {
    ++parked_;
    co_await go_.wait();
    --parked_;
  }
  int parked() { return parked_; }
  void release() { go_.set(); }
  int pid() { return int(::getpid()); }

 private:
  shoal::Event go_;
  int parked_ = 0;
};
SHOAL_ACTOR(Parker, &Parker::park, &Parker::parked, &Parker::release, &Parker::pid);

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

constexpr int kSuspendedCalls = 10'000;

// Resident bytes of the process not shared with others (the store's pages
// are shared memory and count as shared).
long private_resident_bytes(pid_t pid) {
  std::ifstream statm("/proc/" + std::to_string(pid) + "/statm");
  long size = 0, resident = 0, shared = 0;
  if (!(statm >> size >> resident >> shared)) return -1;
  return (resident - shared) * ::sysconf(_SC_PAGESIZE);
}

// Heap bytes one coroutine frame of Parker::park takes (malloc's accounting,
// its chunk header included).
double park_frame_bytes() {
  constexpr int n = 20'000;
  Parker local;
  std::vector<shoal::Task<void>> frames;
  frames.reserve(n);
  const size_t before = mallinfo2().uordblks;
  for (int i = 0; i < n; ++i)
    frames.push_back(local.park());  // created, not started
  const size_t after = mallinfo2().uordblks;
  return double(after - before) / n;
}

class AsyncActorMemory : public ::testing::Test {
 protected:
  void SetUp() override { shoal::init(shoal::Config{.prefault = false}); }
  void TearDown() override { shoal::shutdown(); }
};

}  // namespace

TEST_F(AsyncActorMemory, SuspendedCallCostsAtMostOneKiBBeyondItsCoroutineFrame) {
  if (kSanitized) GTEST_SKIP() << "memory figures are meaningless under AddressSanitizer";
  const double frame = park_frame_bytes();
  ASSERT_GT(frame, 0);

  auto p = shoal::actor<Parker>().options({.max_concurrency = 100'000}).remote();
  const pid_t pid = shoal::get(p.task(&Parker::pid).remote(), 60s);
  for (int i = 0; i < 10; ++i)
    ASSERT_EQ(shoal::get(p.task(&Parker::parked).remote(), 60s), 0);
  const long before = private_resident_bytes(pid);
  ASSERT_GT(before, 0);

  std::vector<shoal::ObjectRef<void>> refs;
  refs.reserve(kSuspendedCalls);
  for (int i = 0; i < kSuspendedCalls; ++i)
    refs.push_back(p.task(&Parker::park).remote());
  ASSERT_TRUE(eventually(
      [&] { return shoal::get(p.task(&Parker::parked).remote(), 60s) == kSuspendedCalls; }, 60s))
      << "the calls never were all suspended at once";
  const long after = private_resident_bytes(pid);

  shoal::get(p.task(&Parker::release).remote(), 60s);
  for (auto& r : refs)
    shoal::get(r, 60s);

  const double per_call = double(after - before) / kSuspendedCalls;
  std::printf(
      "suspended call: %.0f bytes of actor memory each (%d calls, %.2f MiB); method frame %.0f "
      "bytes; beyond the frame %.0f bytes\n",
      per_call, kSuspendedCalls, double(after - before) / (1 << 20), frame, per_call - frame);
  EXPECT_LE(per_call - frame, 1024.0);
}
