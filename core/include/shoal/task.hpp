// shoal::Task<T>: a lazy coroutine. Nothing runs until it is awaited (or
// handed to shoal::run); the awaiting coroutine resumes, by symmetric transfer,
// on the thread that completes the task. An exception thrown inside propagates
// to whoever awaits it. Move-only; destroying an unstarted or finished Task
// frees its frame.
//
// Lifetimes: a started Task must live until it finishes: destroying one while it is suspended
// at a co_await is undefined behaviour, since its awaiter is still linked into an event loop, an
// Event, a Semaphore or a call, which would later resume or touch the freed frame. A Task is
// awaited once, by one coroutine, on one thread: it is not thread-safe.
#pragma once

#include <coroutine>
#include <cstddef>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

namespace shoal {

template <class T = void>
class Task;

namespace detail {

// Coroutine frames come from a per-thread pool: a call's frame allocates
// nothing from the heap in steady state.
void* frame_alloc(std::size_t bytes);
void frame_free(void* frame, std::size_t bytes) noexcept;

struct PromiseBase {
  std::coroutine_handle<> continuation = std::noop_coroutine();
  std::exception_ptr exception;

  static void* operator new(std::size_t bytes) { return frame_alloc(bytes); }
  static void operator delete(void* frame, std::size_t bytes) noexcept { frame_free(frame, bytes); }

  std::suspend_always initial_suspend() noexcept { return {}; }

  struct FinalAwaiter {
    bool await_ready() noexcept { return false; }
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
      return h.promise().continuation;  // symmetric transfer to the awaiter
    }
    void await_resume() noexcept {}
  };
  FinalAwaiter final_suspend() noexcept { return {}; }
  void unhandled_exception() noexcept { exception = std::current_exception(); }
};

template <class T>
struct Promise : PromiseBase {
  std::optional<T> value;

  Task<T> get_return_object() noexcept;
  template <class U>
  requires std::is_convertible_v<U&&, T>
  void return_value(U&& v) { value.emplace(std::forward<U>(v)); }
  T result() {
    if (exception) std::rethrow_exception(exception);
    return std::move(*value);
  }
};

template <>
struct Promise<void> : PromiseBase {
  Task<void> get_return_object() noexcept;
  void return_void() noexcept {}
  void result() {
    if (exception) std::rethrow_exception(exception);
  }
};

}  // namespace detail

template <class T>
class [[nodiscard]] Task {
 public:
  using promise_type = detail::Promise<T>;
  using handle_type = std::coroutine_handle<promise_type>;
  using value_type = T;

  Task() noexcept = default;
  explicit Task(handle_type h) noexcept : h_(h) {}
  Task(Task&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  Task& operator=(Task&& o) noexcept {
    if (this != &o) {
      if (h_) h_.destroy();
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() {
    if (h_) h_.destroy();
  }

  bool valid() const noexcept { return static_cast<bool>(h_); }  // false once moved from
  bool done() const noexcept { return h_ && h_.done(); }

  // `co_await task`: starts the task on this thread and resumes the awaiting coroutine when it
  // finishes, with its value or its exception.
  struct Awaiter {
    handle_type h;
    bool await_ready() const noexcept { return !h || h.done(); }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) noexcept {
      h.promise().continuation = awaiting;
      return h;  // start the task now, on this thread
    }
    T await_resume() { return h.promise().result(); }
  };
  Awaiter operator co_await() const& noexcept { return Awaiter{h_}; }
  Awaiter operator co_await() && noexcept { return Awaiter{h_}; }

  // For the runtime: the frame, still owned by this Task.
  handle_type handle() const noexcept { return h_; }

 private:
  handle_type h_ = nullptr;
};

namespace detail {

template <class T>
Task<T> Promise<T>::get_return_object() noexcept {
  return Task<T>(std::coroutine_handle<Promise<T>>::from_promise(*this));
}
inline Task<void> Promise<void>::get_return_object() noexcept {
  return Task<void>(std::coroutine_handle<Promise<void>>::from_promise(*this));
}

template <class T>
struct is_task : std::false_type {};
template <class T>
struct is_task<Task<T>> : std::true_type {};
template <class T>
inline constexpr bool is_task_v = is_task<std::remove_cvref_t<T>>::value;

template <class T>
struct task_value {
  using type = T;
};
template <class T>
struct task_value<Task<T>> {
  using type = T;
};

}  // namespace detail
}  // namespace shoal
