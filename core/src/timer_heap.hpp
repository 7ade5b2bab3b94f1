// TimerHeap: an event loop's armed timers, earliest deadline first (core/src
// only). Intrusive: each TimerNode keeps its own place in the heap, so
// removing one is O(log n) and nothing is allocated per timer (the heap's
// array only grows to the most timers ever armed at once). Ties go to the
// timer armed first. One thread only (the loop's).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <shoal/detail/event_loop.hpp>

namespace shoal::detail {

class TimerHeap {
 public:
  bool empty() const noexcept { return nodes_.empty(); }
  TimerNode* top() const noexcept { return nodes_.front(); }

  void push(TimerNode* t) {
    t->heap_index = uint32_t(nodes_.size());
    nodes_.push_back(t);
    sift_up(t->heap_index);
  }

  // Removes `t`, which must be in the heap.
  void remove(TimerNode* t) noexcept {
    const size_t i = t->heap_index;
    const size_t last = nodes_.size() - 1;
    if (i != last) {
      place(i, nodes_[last]);
      nodes_.pop_back();
      if (i > 0 && earlier(nodes_[i], nodes_[(i - 1) / 2])) {
        sift_up(i);
      } else {
        sift_down(i);
      }
    } else {
      nodes_.pop_back();
    }
  }

 private:
  static bool earlier(const TimerNode* a, const TimerNode* b) noexcept {
    return a->deadline_ns != b->deadline_ns ? a->deadline_ns < b->deadline_ns : a->seq < b->seq;
  }
  void place(size_t i, TimerNode* t) noexcept {
    nodes_[i] = t;
    t->heap_index = uint32_t(i);
  }
  void sift_up(size_t i) noexcept {
    TimerNode* t = nodes_[i];
    while (i > 0) {
      const size_t parent = (i - 1) / 2;
      if (!earlier(t, nodes_[parent])) break;
      place(i, nodes_[parent]);
      i = parent;
    }
    place(i, t);
  }
  void sift_down(size_t i) noexcept {
    TimerNode* t = nodes_[i];
    const size_t n = nodes_.size();
    for (;;) {
      size_t child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && earlier(nodes_[child + 1], nodes_[child])) ++child;
      if (!earlier(nodes_[child], t)) break;
      place(i, nodes_[child]);
      i = child;
    }
    place(i, t);
  }

  std::vector<TimerNode*> nodes_;
};

}  // namespace shoal::detail
