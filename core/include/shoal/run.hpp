// shoal::run: asyncio.run. Drives `task` to completion on the calling thread
// and returns its result (or rethrows its exception). The thread's event loop
// also serves every other coroutine scheduled on it meanwhile.
#pragma once

#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include <shoal/detail/event_loop.hpp>
#include <shoal/detail/runtime.hpp>
#include <shoal/task.hpp>

namespace shoal {

namespace detail {

template <class T>
struct RunState {
  std::conditional_t<std::is_void_v<T>, char, std::optional<T>> value;
  std::exception_ptr error;
  bool done = false;
};

template <class T>
Task<void> run_root(Task<T> task, RunState<T>* state) {
  try {
    if constexpr (std::is_void_v<T>) {
      co_await std::move(task);
    } else {
      state->value.emplace(co_await std::move(task));
    }
  } catch (...) {
    state->error = std::current_exception();
  }
  state->done = true;
}

}  // namespace detail

template <class T>
T run(Task<T> task) {
  detail::check_blocking_allowed("shoal::run");
  std::optional<detail::EventLoop> own;
  detail::EventLoop* loop = detail::EventLoop::current();
  if (loop == nullptr) loop = &own.emplace();
  detail::RunState<T> state;
  detail::CallContext ctx;
  loop->spawn(detail::run_root<T>(std::move(task), &state), &ctx);
  loop->run_until([&] { return state.done; });
  if (state.error) std::rethrow_exception(state.error);
  if constexpr (!std::is_void_v<T>) return std::move(*state.value);
}

}  // namespace shoal
