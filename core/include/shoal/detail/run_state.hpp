// The root coroutine of shoal::run() (<shoal/run.hpp>): it awaits the task and keeps its result
// for run() to return. Nothing here is public.
//
// Lifetimes: the RunState lives on run()'s stack; run() returns only once the root coroutine has
// finished with it.
#pragma once

#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include <shoal/task.hpp>

namespace shoal::detail {

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

}  // namespace shoal::detail
