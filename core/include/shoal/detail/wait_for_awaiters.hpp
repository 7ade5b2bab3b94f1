// The awaiters behind shoal::wait_for (<shoal/wait_for.hpp>): a ref raced against a timer, and
// any other awaitable run as a child call that a timer cancels. Nothing here is public.
//
// Lifetimes: each awaiter and its WaitNodes live in the awaiting coroutine's frame, which stays
// suspended until they have left every list (loop, timer, call); a WaitForState is shared by the
// child and its parent and lives until the last of them is done with it.
#pragma once

#include <chrono>
#include <coroutine>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include <shoal/detail/event_loop.hpp>
#include <shoal/errors.hpp>
#include <shoal/object_ref.hpp>
#include <shoal/sleep.hpp>
#include <shoal/task.hpp>

namespace shoal::detail {

std::string timeout_message(std::chrono::nanoseconds timeout);

// Waits for a ref or a deadline, whichever comes first.
template <class T>
class RefTimeoutAwaiter {
 public:
  RefTimeoutAwaiter(ObjectRefBase ref, std::chrono::nanoseconds timeout)
      : ref_(std::move(ref)), timeout_(timeout) {}

  bool await_ready() {
    check_live(RefAccess::record(ref_), RefAccess::epoch(ref_));
    return is_sealed(RefAccess::record(ref_));
  }
  void await_suspend(std::coroutine_handle<> h) {
    EventLoop* loop = EventLoop::current();
    if (loop == nullptr) throw UsageError("shoal::wait_for outside shoal::run or an actor");
    ref_node_.rec = RefAccess::record(ref_);
    ref_node_.owner = this;
    timer_.owner = this;
    ref_node_.detach = [](WaitNode* w) noexcept {
      auto* n = static_cast<RefWaitNode*>(w);
      if (n->listed()) n->loop->remove_ref_wait(n);
      auto* self = owner_of(n);
      if (self->timer_.armed) self->timer_.loop->remove_timer(&self->timer_);
    };
    ref_node_.on_sealed = [](RefWaitNode* n) noexcept {
      auto* self = owner_of(n);
      if (self->timer_.armed) self->timer_.loop->remove_timer(&self->timer_);
    };
    loop->add_ref_wait(&ref_node_);
    timer_.handle = h;
    timer_.loop = loop;
    timer_.on_expired = [](TimerNode* t) noexcept {
      auto* self = static_cast<RefTimeoutAwaiter*>(t->owner);
      if (self->ref_node_.listed()) self->ref_node_.loop->remove_ref_wait(&self->ref_node_);
      self->timed_out_ = true;
      self->ref_node_.fire();
    };
    const auto ns = timeout_.count() > 0 ? uint64_t(timeout_.count()) : 0;
    timer_.deadline_ns = steady_now_ns() + ns;
    loop->add_timer(&timer_);
    ref_node_.enter(h);
  }
  T await_resume() {
    if (ref_node_.handle) ref_node_.leave();
    if (timed_out_) throw TimeoutError(timeout_message(timeout_));
    const RefRecord* rec = RefAccess::record(ref_);
    return decode_object<T>(read_sealed(rec), rec);
  }

 private:
  static RefTimeoutAwaiter* owner_of(RefWaitNode* n) {
    return static_cast<RefTimeoutAwaiter*>(n->owner);
  }

  ObjectRefBase ref_;
  std::chrono::nanoseconds timeout_;
  RefWaitNode ref_node_;
  TimerNode timer_;
  bool timed_out_ = false;
};

// Any awaitable but an ObjectRef, which wait_for() only watches.
template <class A>
concept not_object_ref = !std::is_base_of_v<ObjectRefBase, std::remove_cvref_t<A>>;

template <class A>
using await_result_t = decltype(std::declval<A>().await_resume());

template <class A>
auto get_awaiter(A&& a) {
  if constexpr (requires { std::forward<A>(a).operator co_await(); }) {
    return std::forward<A>(a).operator co_await();
  } else {
    return std::forward<A>(a);
  }
}

template <class A>
using awaitable_result_t = await_result_t<decltype(get_awaiter(std::declval<A>()))>;

// What a wait_for child and its parent share; it outlives whichever finishes last.
template <class R>
struct WaitForState {
  explicit WaitForState(CallContext* parent) : child_ctx(parent) {}
  CallContext child_ctx;  // the child's calls; cancelled on timeout
  std::conditional_t<std::is_void_v<R>, char, std::optional<R>> value;
  std::exception_ptr error;
  bool done = false;
  WaitNode* waiter = nullptr;
};

template <class R, class A>
Task<void> wait_for_child(A awaitable, std::shared_ptr<WaitForState<R>> state) {
  try {
    if constexpr (std::is_void_v<R>) {
      co_await std::move(awaitable);
    } else {
      state->value.emplace(co_await std::move(awaitable));
    }
  } catch (...) {
    state->error = std::current_exception();
  }
  state->done = true;
  if (state->waiter) state->waiter->fire();
}

template <class R>
class WaitForAwaiter {
 public:
  WaitForAwaiter(std::shared_ptr<WaitForState<R>> state, std::chrono::nanoseconds timeout)
      : state_(std::move(state)), timeout_(timeout) {}
  bool await_ready() const noexcept { return state_->done; }
  void await_suspend(std::coroutine_handle<> h) {
    EventLoop* loop = EventLoop::current();
    node_.detach = [](WaitNode* w) noexcept {
      auto* t = static_cast<TimerNode*>(w);
      if (t->armed) t->loop->remove_timer(t);
    };
    state_->waiter = &node_;
    const auto ns = timeout_.count() > 0 ? uint64_t(timeout_.count()) : 0;
    node_.deadline_ns = steady_now_ns() + ns;
    loop->add_timer(&node_);
    node_.enter(h);  // cancelling the parent cancels this wait (and, via the
                     // context tree, the child)
  }
  void await_resume() {
    state_->waiter = nullptr;
    if (node_.armed) node_.loop->remove_timer(&node_);
    if (node_.handle) node_.leave();
  }

 private:
  std::shared_ptr<WaitForState<R>> state_;
  std::chrono::nanoseconds timeout_;
  TimerNode node_;
};

// After a timeout: waits, without a deadline, for the cancelled child to
// finish. Not cancellable itself: the child already is, and finishes at its
// next co_await.
template <class R>
class WaitForChildAwaiter {
 public:
  explicit WaitForChildAwaiter(std::shared_ptr<WaitForState<R>> state) : state_(std::move(state)) {}
  bool await_ready() const noexcept { return state_->done; }
  void await_suspend(std::coroutine_handle<> h) noexcept {
    node_.handle = h;
    node_.loop = EventLoop::current();
    node_.ctx = current_context();
    state_->waiter = &node_;
  }
  void await_resume() noexcept { state_->waiter = nullptr; }

 private:
  std::shared_ptr<WaitForState<R>> state_;
  WaitNode node_;
};

// wait_for() of any awaitable but a ref: runs it as a child call of the current one, and cancels
// the child if the timeout comes first.
template <class R, class A>
Task<R> wait_for_awaitable(A awaitable, std::chrono::nanoseconds timeout) {
  EventLoop* loop = EventLoop::current();
  if (loop == nullptr) throw UsageError("shoal::wait_for outside shoal::run or an actor");
  auto state = std::make_shared<WaitForState<R>>(current_context());
  loop->spawn(wait_for_child<R, A>(std::move(awaitable), state), &state->child_ctx);
  co_await WaitForAwaiter<R>(state, timeout);
  if (!state->done) {
    // Like asyncio.wait_for: the cancelled awaitable has finished (its
    // cleanup has run) by the time TimeoutError is raised.
    state->child_ctx.cancel();
    co_await WaitForChildAwaiter<R>(state);
    throw TimeoutError(timeout_message(timeout));
  }
  if (state->error) std::rethrow_exception(state->error);
  if constexpr (!std::is_void_v<R>) co_return std::move(*state->value);
}

}  // namespace shoal::detail
