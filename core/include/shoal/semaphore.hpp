// shoal::Semaphore: asyncio.Semaphore for shoal coroutines. acquire() waits
// for a permit, release() hands one to the longest waiter (FIFO) or returns it.
// Belongs to one event loop, like Event: not for use from other threads.
//
// Lifetimes: a Semaphore must outlive every coroutine waiting on it (each waiter is linked into it
// until it resumes); nothing checks that permits are released.
#pragma once

#include <coroutine>
#include <cstddef>

#include <shoal/detail/event_loop.hpp>
#include <shoal/detail/intrusive_list.hpp>

namespace shoal {

class Semaphore {
 public:
  explicit Semaphore(std::size_t permits) noexcept : permits_(permits) {}
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;

  // The permits free now.
  std::size_t available() const noexcept { return permits_; }
  // Takes a permit if one is free and no coroutine is waiting for one (waiters go first).
  bool try_acquire() noexcept {
    if (permits_ == 0 || !waiters_.empty()) return false;
    --permits_;
    return true;
  }
  // Hands the permit to the longest waiter, which resumes later on its loop, or returns it to the
  // pool.
  void release() noexcept {
    if (!waiters_.empty()) {  // the permit goes straight to the first waiter
      waiters_.pop_front()->fire();
      return;
    }
    ++permits_;
  }

 private:
  struct Node : detail::WaitNode {
    Semaphore* sem = nullptr;
    detail::ListHook<Node> hook;  // in sem->waiters_
  };

 public:
  // `co_await sem.acquire()`. Throws TaskCancelledError (holding no permit) if
  // the call is cancelled while waiting.
  class Awaiter {
   public:
    explicit Awaiter(Semaphore* s) noexcept { node_.sem = s; }
    bool await_ready() noexcept { return node_.sem->try_acquire(); }
    void await_suspend(std::coroutine_handle<> h) noexcept {
      node_.detach = [](detail::WaitNode* w) noexcept {
        auto* n = static_cast<Node*>(w);
        if (n->hook.linked) n->sem->waiters_.remove(n);
      };
      node_.sem->waiters_.push_back(&node_);
      node_.enter(h);  // last: may deliver a pending cancellation at once
    }
    void await_resume() {
      if (node_.handle) node_.leave();
    }

   private:
    Node node_;
  };

  Awaiter acquire() noexcept { return Awaiter(this); }

 private:
  std::size_t permits_;
  detail::IntrusiveList<Node, &Node::hook> waiters_;  // longest waiter first
};

}  // namespace shoal
