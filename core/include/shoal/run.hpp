// shoal::run: asyncio.run. Drives `task` to completion on the calling thread
// and returns its result (or rethrows its exception). The thread's event loop
// also serves every other coroutine scheduled on it meanwhile.
//
// Lifetimes: run() makes the thread's event loop if it has none and destroys it on return; the
// task, and everything it awaits, has finished by then.
#pragma once

#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include <shoal/detail/event_loop.hpp>
#include <shoal/detail/run_state.hpp>
#include <shoal/detail/runtime.hpp>
#include <shoal/task.hpp>

namespace shoal {

// Every coroutine it runs resumes on this thread. Works without a session too (for coroutines that
// touch no object). Rethrows the task's exception; throws EventLoopBlockedError on an async
// actor's event-loop thread.
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
