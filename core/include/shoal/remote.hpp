// Stateless tasks: free functions run by the session's worker processes.
//
//   int square(int x) { return x * x; }
//   SHOAL_REMOTE(square);                       // at namespace scope
//   shoal::ObjectRef<int> r = shoal::task(square).remote(7);
//
// A function returning shoal::Task<R> runs as a coroutine on a worker's event loop (Ray rejects
// async remote functions; shoal runs them).
//
// Lifetimes: a process starts its workers (Config::num_workers of them) at its first task call;
// they live as long as that process and its session, restarted whenever one dies. A TaskCaller
// is a plain value.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>

#include <shoal/detail/call.hpp>
#include <shoal/detail/function_def.hpp>
#include <shoal/detail/macros.hpp>
#include <shoal/errors.hpp>
#include <shoal/object_ref.hpp>

namespace shoal {

// How one stateless task is run: shoal::task(f).options(TaskOptions{...}).remote(args...).
// Both are checked at .remote(); a bad value is std::invalid_argument naming it.
struct TaskOptions {
  // The node whose workers run the task (0..num_nodes()-1); none, or the caller's own node():
  // this process's workers. Another node: workers that node starts for this process (as many as
  // this process has), called through the nodes' gateways with every guarantee of a local task.
  // Not a node of the job: std::invalid_argument.
  std::optional<int> node;
  // For an `f` returning Generator<T>: the stream's back-pressure bound (Ray's
  // _generator_backpressure_num_objects). The generator suspends at co_yield while its consumer
  // has this many values it has not taken. None: no bound. At least 1.
  std::optional<int> generator_backpressure;
};

namespace detail {
// Checks `o` against this process's session; returns the stream bound it asks for (0: none).
uint32_t check_task_options(const TaskOptions& o);
}  // namespace detail

// shoal::task(f).remote(args...) -> ObjectRef<R>. A plain value; any thread may call remote()
// at once.
template <class F>
class TaskCaller {
 public:
  using Result = detail::call_result_t<F>;

  // Throws UsageError if SHOAL_REMOTE did not register `f`.
  explicit TaskCaller(F f) : index_(detail::function_index(reinterpret_cast<const void*>(f))) {
    if (index_ < 0) {
      throw UsageError("shoal::task: function of type " + std::string(detail::type_name<F>()) +
                       " is not registered with SHOAL_REMOTE");
    }
  }

  // The same caller, making its calls with `options` (checked at remote()).
  TaskCaller options(TaskOptions options) const {
    TaskCaller c = *this;
    c.options_ = options;
    return c;
  }

  // Submits the call to one of this process's workers (in turn) and returns at once, unless that
  // worker's request ring is full; arguments as for an actor method. The ref holds the result or
  // the error get() rethrows: TaskError if `f` threw, WorkerCrashedError if the worker died while
  // running it, TaskCancelledError after cancel(). Throws UsageError without a session or for a
  // ref argument of an ended session, ObjectStoreFullError when the store has no room to record
  // the call; std::invalid_argument for options it cannot honour (TaskOptions), shoal::Error
  // for what cannot cross nodes yet (ObjectRefs among the arguments of a task on another node).
  // An `f` returning Generator<T> gives an ObjectRefStream<T>, fed by the worker as it yields.
  template <class... Args>
  typename detail::RemoteReturn<F>::type remote(Args&&... args) const {
    const uint32_t stream_bound = detail::check_task_options(options_);
    detail::ArgWriter w;
    detail::encode_call_args<F>(w, std::forward<Args>(args)...);
    return detail::RemoteReturn<F>::adopt(
        detail::submit_task(uint32_t(index_), w, stream_bound, options_.node.value_or(-1)));
  }

 private:
  int index_;
  TaskOptions options_;
};

// The caller of `f`, a function registered with SHOAL_REMOTE; throws UsageError if it is not.
template <class R, class... Args>
TaskCaller<R (*)(Args...)> task(R (*f)(Args...)) {
  return TaskCaller<R (*)(Args...)>(f);
}

}  // namespace shoal

// Registers free functions as remote tasks. Use at global scope, in a translation unit of the
// executable every process of the session runs.
#define SHOAL_REMOTE(...)                                                                  \
  [[maybe_unused]] static const bool SHOAL_PP_CAT(shoal_remote_registered_, __COUNTER__) = \
      ::shoal::detail::register_functions<__VA_ARGS__>(#__VA_ARGS__)
