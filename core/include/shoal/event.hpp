// shoal::Event: asyncio.Event for shoal coroutines. set() wakes every waiting
// coroutine; they resume on the loop they suspended on, in the order they
// started waiting. Like asyncio.Event it belongs to one event loop: use it from
// the coroutines of one actor (or one run()), not from other threads.
//
// Lifetimes: an Event must outlive every coroutine waiting on it (each waiter is linked into it
// until it resumes).
#pragma once

#include <coroutine>

#include <shoal/detail/event_loop.hpp>

namespace shoal {

class Event {
 public:
  Event() = default;
  explicit Event(bool initially_set) : set_(initially_set) {}
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  // Sets the flag and schedules every waiter to resume on its loop; none resumes inside set().
  void set() noexcept {
    set_ = true;
    while (head_ != nullptr) {
      Node* n = head_;
      unlink(n);
      n->fire();
    }
  }
  void clear() noexcept { set_ = false; }
  bool is_set() const noexcept { return set_; }

 private:
  struct Node : detail::WaitNode {
    Event* event = nullptr;
    Node* prev = nullptr;
    Node* next = nullptr;
    bool listed = false;
  };

 public:
  // `co_await ev.wait()`: returns at once if set, else when set() is called.
  // Throws TaskCancelledError if the call is cancelled while waiting.
  class Awaiter {
   public:
    explicit Awaiter(Event* ev) noexcept { node_.event = ev; }
    bool await_ready() const noexcept { return node_.event->set_; }
    void await_suspend(std::coroutine_handle<> h) noexcept {
      node_.detach = [](detail::WaitNode* w) noexcept {
        auto* n = static_cast<Node*>(w);
        if (n->listed) n->event->unlink(n);
      };
      node_.event->append(&node_);
      node_.enter(h);  // last: may deliver a pending cancellation at once
    }
    void await_resume() {
      if (node_.handle) node_.leave();
    }

   private:
    Node node_;
  };

  Awaiter wait() noexcept { return Awaiter(this); }

 private:
  void append(Node* n) noexcept {
    n->prev = tail_;
    n->next = nullptr;
    if (tail_) {
      tail_->next = n;
    } else {
      head_ = n;
    }
    tail_ = n;
    n->listed = true;
  }
  void unlink(Node* n) noexcept {
    if (n->prev) {
      n->prev->next = n->next;
    } else {
      head_ = n->next;
    }
    if (n->next) {
      n->next->prev = n->prev;
    } else {
      tail_ = n->prev;
    }
    n->prev = n->next = nullptr;
    n->listed = false;
  }

  bool set_ = false;
  Node* head_ = nullptr;
  Node* tail_ = nullptr;
};

}  // namespace shoal
