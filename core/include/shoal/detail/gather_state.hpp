// The state behind gather() over Tasks (<shoal/gather.hpp>): one child coroutine per task, which
// records its result and wakes the gathering coroutine when the last one finishes. Nothing here
// is public.
//
// Lifetimes: the GatherState lives in the gathering coroutine's frame, which stays suspended
// until every child (holding a pointer to it) has finished.
#pragma once

#include <coroutine>
#include <cstddef>
#include <exception>
#include <optional>
#include <type_traits>
#include <vector>

#include <shoal/detail/event_loop.hpp>
#include <shoal/task.hpp>

namespace shoal::detail {

template <class T>
struct GatherState {
  using Slot = std::conditional_t<std::is_void_v<T>, char, std::optional<T>>;
  std::vector<Slot> results;
  std::vector<std::exception_ptr> errors;
  size_t remaining = 0;
  WaitNode waiter;  // the gathering coroutine; not cancellable itself: its
                    // children take the cancellation and finish first
};

template <class T>
Task<void> gather_child(Task<T> task, GatherState<T>* state, size_t index) {
  try {
    if constexpr (std::is_void_v<T>) {
      co_await std::move(task);
    } else {
      state->results[index].emplace(co_await std::move(task));
    }
  } catch (...) {
    state->errors[index] = std::current_exception();
  }
  if (--state->remaining == 0 && state->waiter.handle) state->waiter.fire();
}

template <class T>
struct GatherAwaiter {
  GatherState<T>* state;
  bool await_ready() const noexcept { return state->remaining == 0; }
  void await_suspend(std::coroutine_handle<> h) noexcept {
    state->waiter.handle = h;
    state->waiter.loop = EventLoop::current();
    state->waiter.ctx = current_context();
  }
  void await_resume() const noexcept {}
};

}  // namespace shoal::detail
