// TimerHeap: earliest deadline first, ties in the order timers were armed,
// and removal of any timer from anywhere in the heap.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "core/src/timer_heap.hpp"

namespace {

using shoal::detail::TimerHeap;
using shoal::detail::TimerNode;

std::vector<uint64_t> drain(TimerHeap& heap) {
  std::vector<uint64_t> seqs;
  while (!heap.empty()) {
    TimerNode* t = heap.top();
    heap.remove(t);
    seqs.push_back(t->seq);
  }
  return seqs;
}

TEST(TimerHeap, PopsEarliestDeadlineFirstAndTiesInArmingOrder) {
  std::vector<TimerNode> nodes(6);
  const uint64_t deadlines[6] = {50, 10, 30, 10, 50, 20};
  TimerHeap heap;
  for (size_t i = 0; i < nodes.size(); ++i) {
    nodes[i].deadline_ns = deadlines[i];
    nodes[i].seq = i + 1;
    heap.push(&nodes[i]);
  }
  EXPECT_EQ(drain(heap), (std::vector<uint64_t>{2, 4, 6, 3, 1, 5}));
}

TEST(TimerHeap, RemovingAnyTimerKeepsTheRestInOrder) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 50; ++round) {
    std::vector<TimerNode> nodes(200);
    TimerHeap heap;
    for (size_t i = 0; i < nodes.size(); ++i) {
      nodes[i].deadline_ns = rng() % 64;
      nodes[i].seq = i + 1;
      heap.push(&nodes[i]);
    }
    std::vector<TimerNode*> kept;
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (rng() % 3 == 0) {
        heap.remove(&nodes[i]);
      } else {
        kept.push_back(&nodes[i]);
      }
    }
    std::sort(kept.begin(), kept.end(), [](const TimerNode* a, const TimerNode* b) {
      return a->deadline_ns != b->deadline_ns ? a->deadline_ns < b->deadline_ns : a->seq < b->seq;
    });
    std::vector<uint64_t> want;
    for (const TimerNode* t : kept)
      want.push_back(t->seq);
    ASSERT_EQ(drain(heap), want) << "round " << round;
  }
}

}  // namespace
