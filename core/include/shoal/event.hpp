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
#include <shoal/detail/intrusive_list.hpp>

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
    while (!waiters_.empty())
      waiters_.pop_front()->fire();
  }
  void clear() noexcept { set_ = false; }
  bool is_set() const noexcept { return set_; }

 private:
  struct Node : detail::WaitNode {
    Event* event = nullptr;
    detail::ListHook<Node> hook;  // in event->waiters_
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
        if (n->hook.linked) n->event->waiters_.remove(n);
      };
      node_.event->waiters_.push_back(&node_);
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
  bool set_ = false;
  detail::IntrusiveList<Node, &Node::hook> waiters_;  // in the order they started waiting
};

}  // namespace shoal
