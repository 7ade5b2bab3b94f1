// shoal::Generator<T>: a streaming coroutine. An actor method or a remote function returning
// Generator<T> may `co_yield` values of T, `co_await` anything a shoal::Task may, and `co_return`;
// its caller's .remote() returns an ObjectRefStream<T> (<shoal/object_ref_stream.hpp>) that hands
// out one ObjectRef<T> per yielded value, in yield order, each sealed as it is yielded (Ray's
// num_returns="streaming"). A class with a Generator method is an async actor.
//
//   shoal::Generator<int> count(int n) {
//     for (int i = 0; i < n; ++i) co_yield i;
//   }
//
// The runtime drives the coroutine on the actor's (or worker's) event loop: `co_yield v` stores v
// as its own object and goes on at once, unless the stream's back-pressure bound is reached
// (ActorOptions::generator_backpressure): then it suspends there until the consumer takes a
// value. After cancel() of the stream, the next co_yield or co_await throws TaskCancelledError.
//
// Lifetimes: a Generator is made and consumed by the runtime, on one thread; user code only
// writes the coroutine. Move-only; destroying it frees the coroutine's frame.
#pragma once

#include <coroutine>
#include <exception>
#include <memory>
#include <type_traits>
#include <utility>

#include <shoal/task.hpp>

namespace shoal {

template <class T>
class Generator;

namespace detail {

template <class T>
struct GeneratorPromise;

// What the runtime reads of a suspended generator (see detail/stream_driver.hpp).
struct GeneratorPromiseBase {
  std::coroutine_handle<> consumer = std::noop_coroutine();  // resumed at each co_yield and at
                                                             // the end
  std::exception_ptr exception;
  bool cancelled = false;  // set by the runtime: the suspended co_yield throws TaskCancelledError

  static void* operator new(std::size_t bytes) { return frame_alloc(bytes); }
  static void operator delete(void* frame, std::size_t bytes) noexcept { frame_free(frame, bytes); }

  std::suspend_always initial_suspend() noexcept { return {}; }
  struct ToConsumer {
    bool await_ready() noexcept { return false; }
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
      return h.promise().consumer;  // symmetric transfer back to the runtime's driver
    }
    void await_resume() noexcept {}
  };
  ToConsumer final_suspend() noexcept { return {}; }
  void unhandled_exception() noexcept { exception = std::current_exception(); }
  void return_void() noexcept {}
};

// Thrown at a co_yield after cancel(); defined in core/src (errors.hpp is not needed here).
[[noreturn]] void throw_generator_cancelled();

template <class T>
struct GeneratorPromise : GeneratorPromiseBase {
  const T* value = nullptr;  // the value of the co_yield the coroutine is suspended at

  Generator<T> get_return_object() noexcept;

  struct YieldAwaiter {
    GeneratorPromise* p;
    bool await_ready() noexcept { return false; }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<>) noexcept { return p->consumer; }
    void await_resume() {
      p->value = nullptr;
      if (p->cancelled) throw_generator_cancelled();
    }
  };
  // `co_yield v`: a temporary lives until the end of the full expression, which spans the
  // suspension, so pointing at it is safe while the runtime stores it.
  YieldAwaiter yield_value(const T& v) noexcept {
    value = std::addressof(v);
    return YieldAwaiter{this};
  }
  YieldAwaiter yield_value(T&& v) noexcept {
    value = std::addressof(v);
    return YieldAwaiter{this};
  }
};

}  // namespace detail

template <class T>
class [[nodiscard]] Generator {
  static_assert(!std::is_void_v<T> && !std::is_reference_v<T>,
                "shoal::Generator<T>: T is the type of the values yielded, an object type");

 public:
  using promise_type = detail::GeneratorPromise<T>;
  using handle_type = std::coroutine_handle<promise_type>;
  using value_type = T;

  Generator() noexcept = default;
  explicit Generator(handle_type h) noexcept : h_(h) {}
  Generator(Generator&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  Generator& operator=(Generator&& o) noexcept {
    if (this != &o) {
      if (h_) h_.destroy();
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }
  Generator(const Generator&) = delete;
  Generator& operator=(const Generator&) = delete;
  ~Generator() {
    if (h_) h_.destroy();
  }

  // For the runtime: `co_await g.advance()` runs the coroutine on this thread up to its next
  // co_yield (true; promise().value points at the value) or its end (false), and rethrows what
  // it threw.
  struct Advance {
    handle_type h;
    bool await_ready() const noexcept { return h.done(); }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<> driver) noexcept {
      h.promise().consumer = driver;
      return h;
    }
    bool await_resume() {
      if (h.promise().exception) std::rethrow_exception(std::exchange(h.promise().exception, {}));
      return !h.done();
    }
  };
  Advance advance() const noexcept { return Advance{h_}; }
  promise_type& promise() const noexcept { return h_.promise(); }
  bool valid() const noexcept { return static_cast<bool>(h_); }

 private:
  handle_type h_ = nullptr;
};

namespace detail {

template <class T>
Generator<T> GeneratorPromise<T>::get_return_object() noexcept {
  return Generator<T>(std::coroutine_handle<GeneratorPromise<T>>::from_promise(*this));
}

template <class T>
struct is_generator : std::false_type {};
template <class T>
struct is_generator<Generator<T>> : std::true_type {
  using value_type = T;
};
template <class T>
inline constexpr bool is_generator_v = is_generator<std::remove_cvref_t<T>>::value;

}  // namespace detail
}  // namespace shoal
