// shoal::gather: asyncio.gather. Over ObjectRefs it awaits each in turn (they
// are computed elsewhere anyway); over Tasks it runs them concurrently on the
// current loop and resumes once all have finished. Results keep input order;
// if any threw, the first exception (in input order) is rethrown after all
// have finished.
//
// Lifetimes: the Task gather returns owns its refs or tasks; the gathered tasks run as part of the
// awaiting call (cancelling it cancels them) and have all finished before it resumes, on the
// same thread's event loop.
#pragma once

#include <exception>
#include <type_traits>
#include <vector>

#include <shoal/detail/event_loop.hpp>
#include <shoal/detail/gather_state.hpp>
#include <shoal/errors.hpp>
#include <shoal/object_ref.hpp>
#include <shoal/task.hpp>

namespace shoal {

// The values of `refs`, awaited in turn. Throws the first failed ref's error once every ref is
// sealed; TaskCancelledError at once if the call is cancelled; UsageError if it has to wait
// outside shoal::run or an actor.
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

// The results of `tasks`, run concurrently on the current loop. Throws the first task's exception
// (in input order) once all have finished, UsageError outside shoal::run or an actor.
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
    for (auto& r : state.results)
      out.push_back(std::move(*r));
    co_return out;
  }
}

}  // namespace shoal
