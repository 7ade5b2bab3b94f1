// shoal::sleep_for: asyncio.sleep for shoal coroutines. Suspends the calling
// coroutine (not the thread) and resumes it on the same loop once `duration`
// has passed. A zero or negative duration just yields to other coroutines.
//
// Lifetimes: the awaiter, and the timer in it, live in the sleeping coroutine's frame until it
// resumes; the loop holds only a link to it.
#pragma once

#include <chrono>
#include <coroutine>

#include <shoal/detail/event_loop.hpp>
#include <shoal/errors.hpp>

namespace shoal {

namespace detail {
uint64_t steady_now_ns() noexcept;
}

// `co_await sleep_for(d)`. Throws UsageError outside shoal::run or an actor, TaskCancelledError if
// the call is cancelled while it sleeps (it then resumes at once).
class SleepAwaiter {
 public:
  explicit SleepAwaiter(std::chrono::nanoseconds d) noexcept : duration_(d) {}
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    detail::EventLoop* loop = detail::EventLoop::current();
    if (loop == nullptr) throw UsageError("shoal::sleep_for outside shoal::run or an actor");
    node_.detach = [](detail::WaitNode* w) noexcept {
      auto* n = static_cast<detail::TimerNode*>(w);
      if (n->armed) n->loop->remove_timer(n);
    };
    const auto ns = duration_.count() > 0 ? uint64_t(duration_.count()) : 0;
    node_.deadline_ns = detail::steady_now_ns() + ns;
    loop->add_timer(&node_);
    node_.enter(h);
  }
  void await_resume() {
    if (node_.handle) node_.leave();
  }

 private:
  std::chrono::nanoseconds duration_;
  detail::TimerNode node_;
};

inline SleepAwaiter sleep_for(std::chrono::nanoseconds duration) noexcept {
  return SleepAwaiter(duration);
}

}  // namespace shoal
