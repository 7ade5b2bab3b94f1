// shoal::gather: asyncio.gather. Over ObjectRefs it awaits each in turn (they
// are computed elsewhere anyway); over Tasks it runs them concurrently on the
// current loop and resumes once all have finished. Results keep input order;
// if any threw, the first exception (in input order) is rethrown after all
// have finished.
#pragma once

#include <coroutine>
#include <exception>
#include <optional>
#include <type_traits>
#include <vector>

#include <shoal/detail/event_loop.hpp>
#include <shoal/object_ref.hpp>
#include <shoal/task.hpp>

namespace shoal {

template <class T>
Task<std::conditional_t<std::is_void_v<T>, void, std::vector<T>>> gather(
    std::vector<ObjectRef<T>> refs) {
  // A failed ref does not end the wait: its error comes once every ref is
  // sealed, as with tasks. Only a cancellation of this call ends it at once.
  std::exception_ptr first;
  auto note = [&](std::exception_ptr e) {
    if (!first) first = std::move(e);
  };
  std::conditional_t<std::is_void_v<T>, char, std::vector<T>> out{};
  if constexpr (!std::is_void_v<T>) out.reserve(refs.size());
  for (auto& r : refs) {
    try {
      if constexpr (std::is_void_v<T>) {
        co_await r;
      } else {
        out.push_back(co_await r);
      }
    } catch (const TaskCancelledError&) {
      const detail::CallContext* ctx = detail::current_context();
      if (ctx != nullptr && ctx->cancelled) throw;
      note(std::current_exception());
    } catch (...) {
      note(std::current_exception());
    }
  }
  if (first) std::rethrow_exception(first);
  if constexpr (!std::is_void_v<T>) co_return out;
}

namespace detail {

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

}  // namespace detail

template <class T>
Task<std::conditional_t<std::is_void_v<T>, void, std::vector<T>>> gather(
    std::vector<Task<T>> tasks) {
  detail::EventLoop* loop = detail::EventLoop::current();
  if (loop == nullptr) throw UsageError("shoal::gather outside shoal::run or an actor");
  detail::GatherState<T> state;
  state.results.resize(tasks.size());
  state.errors.resize(tasks.size());
  state.remaining = tasks.size();
  detail::CallContext* ctx = detail::current_context();
  for (size_t i = 0; i < tasks.size(); ++i) {
    loop->spawn(detail::gather_child<T>(std::move(tasks[i]), &state, i), ctx);
  }
  co_await detail::GatherAwaiter<T>{&state};
  for (auto& e : state.errors) {
    if (e) std::rethrow_exception(e);
  }
  if constexpr (!std::is_void_v<T>) {
    std::vector<T> out;
    out.reserve(state.results.size());
    for (auto& r : state.results) out.push_back(std::move(*r));
    co_return out;
  }
}

}  // namespace shoal
