// shoal::wait_for: asyncio.wait_for. Awaits `awaitable` for at most `timeout` and throws
// TimeoutError if it has not finished by then.
//
// For an ObjectRef the ref is only watched: after a timeout it stays usable and can be awaited
// again; an error object (say the actor died) is rethrown as itself, never as TimeoutError. Any
// other awaitable (a Task, an Event wait) runs as a child of the current call and is cancelled on
// timeout; the TimeoutError comes once it has finished (its cleanup has run).
//
// Lifetimes: the Task wait_for returns owns the awaitable (moved in); like every Task it starts
// when awaited, on the awaiting coroutine's thread, and resumes that coroutine there.
#pragma once

#include <chrono>
#include <type_traits>
#include <utility>

#include <shoal/detail/wait_for_awaiters.hpp>
#include <shoal/object_ref.hpp>
#include <shoal/task.hpp>

namespace shoal {

// `T v = co_await wait_for(ref, 100ms);`. Throws TimeoutError after `timeout`, what get() throws
// for a failed object, UsageError outside shoal::run or an actor, TaskCancelledError if the call
// is cancelled while it waits.
template <class T>
Task<T> wait_for(ObjectRef<T> ref, std::chrono::nanoseconds timeout) {
  co_return co_await detail::RefTimeoutAwaiter<T>(std::move(ref), timeout);
}

// `co_await wait_for(some_task(), 1s);`. Throws TimeoutError after `timeout` (once the cancelled
// awaitable has finished), what the awaitable throws, UsageError outside shoal::run or an actor.
template <detail::not_object_ref A>
Task<detail::awaitable_result_t<A>> wait_for(A awaitable, std::chrono::nanoseconds timeout) {
  return detail::wait_for_awaitable<detail::awaitable_result_t<A>, A>(std::move(awaitable),
                                                                      timeout);
}

}  // namespace shoal
