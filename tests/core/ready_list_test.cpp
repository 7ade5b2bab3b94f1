// The event loop's ready list: an async actor's loop waiting on many refs at
// once registers each wait with its object's sealer, which queues the object
// on the loop's ReadyQueue; the loop resumes each wait exactly once, whatever
// order another process seals them in. A sealer that dies between its seal
// and its push (forged here: the waiter field is cleared before the seal, so
// the seal queues nothing) still has its waiter resumed, by the loop's check
// of every wait at least every 50 ms.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <numeric>
#include <random>
#include <thread>
#include <vector>

#include <shoal/shoal.hpp>

#include "core/src/runtime.hpp"
#include "store/object_entry.hpp"
#include "tests/support/test_actors.hpp"
#include "tests/support/test_support.hpp"

using namespace std::chrono_literals;

shoal::Task<void> await_one(shoal::ObjectRef<int> ref, std::vector<int>* order) {
  order->push_back(co_await ref);
}

// An async actor that awaits all its refs at once (one coroutine each) and
// reports the values in the order the coroutines resumed.
class Resumer {
 public:
  shoal::Task<std::vector<int>> resume_order(std::vector<shoal::ObjectRef<int>> refs) {
    std::vector<int> order;
    std::vector<shoal::Task<void>> waits;
    for (auto& r : refs)
      waits.push_back(await_one(r, &order));
    co_await shoal::gather(std::move(waits));
    co_return order;
  }
};
SHOAL_ACTOR(Resumer, &Resumer::resume_order);

namespace {

uint32_t slot_of(const shoal::ObjectRef<int>& ref) {
  return shoal::detail::RefAccess::record(ref)->slot;
}

std::atomic<uint32_t>& waiter_of(const shoal::ObjectRef<int>& ref) {
  return shoal::detail::runtime().store->objects().entry(slot_of(ref)).waiter;
}

// Waits (at most 20 s) until another process's loop has registered for the
// object: its waiter field carries the loop bit.
bool loop_registered(const shoal::ObjectRef<int>& ref) {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    const uint32_t w = waiter_of(ref).load();
    if (w != shoal::store::kManyWaiters && (w & shoal::store::kLoopWaiter) != 0) return true;
    std::this_thread::sleep_for(1ms);
  }
  return false;
}

class ReadyList : public ::testing::Test {
 protected:
  void SetUp() override { shoal::init(shoal::Config{.prefault = false}); }
  void TearDown() override { shoal::shutdown(); }
};

TEST_F(ReadyList, ALoopWaitingOnManyRefsResumesEachOnceWhateverOrderTheyAreSealedIn) {
  constexpr int kRefs = 48;
  auto gate = shoal::actor<Gate>().options({.max_concurrency = kRefs + 2}).remote();
  auto resumer = shoal::actor<Resumer>().remote();
  // Ref i is released at level perm[i]: sealed in another order than awaited.
  std::vector<int> perm(kRefs);
  std::iota(perm.begin(), perm.end(), 1);
  std::shuffle(perm.begin(), perm.end(), std::mt19937(7));
  std::vector<shoal::ObjectRef<int>> refs;
  for (int i = 0; i < kRefs; ++i)
    refs.push_back(gate.task(&Gate::wait_open).remote(perm[size_t(i)]));
  auto order = resumer.task(&Resumer::resume_order).remote(refs);
  for (const auto& r : refs)
    ASSERT_TRUE(loop_registered(r)) << "slot " << slot_of(r);
  // Release them a few at a time, then all the rest.
  for (int level = 4; level <= kRefs; level += 4) {
    gate.task(&Gate::open).remote(level);
    std::this_thread::sleep_for(2ms);
  }
  const std::vector<int> got = shoal::get(order, 60s);
  ASSERT_EQ(got.size(), size_t(kRefs));
  std::vector<int> sorted = got;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int> expected(kRefs);
  std::iota(expected.begin(), expected.end(), 1);
  EXPECT_EQ(sorted, expected);  // each value once: each wait resumed exactly once
}

TEST_F(ReadyList, AWaitWhoseSealerDiedBeforeItsPushIsResumedByThePeriodicCheck) {
  auto gate = shoal::actor<Gate>().options({.max_concurrency = 8}).remote();
  auto resumer = shoal::actor<Resumer>().remote();
  for (int round = 1; round <= 3; ++round) {
    std::vector<shoal::ObjectRef<int>> refs{gate.task(&Gate::wait_open).remote(round)};
    auto order = resumer.task(&Resumer::resume_order).remote(refs);
    ASSERT_TRUE(loop_registered(refs[0]));
    // What a sealer killed between its seal and its push leaves: a sealed
    // object and nothing on the loop's ready list.
    waiter_of(refs[0]).store(shoal::store::kNoWaiter);
    const auto start = std::chrono::steady_clock::now();
    gate.task(&Gate::open).remote(round);
    const std::vector<int> got = shoal::get(order, 20s);
    EXPECT_EQ(got, std::vector<int>{round});
    // The check comes within 50 ms of the seal; allow for a loaded machine.
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2s) << "round " << round;
  }
}

}  // namespace
