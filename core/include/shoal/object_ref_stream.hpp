// ObjectRefStream<T>: what .remote() of a method or remote function returning
// shoal::Generator<T> gives back (Ray's ObjectRefGenerator). It hands out one ObjectRef<T> per
// value the generator yields, in yield order; each is an ordinary object of the store (get,
// get_view, co_await, passing it on), sealed as it was yielded, so the first ref arrives while
// the generator still runs.
//
//   auto s = actor.task(&Reader::lines).remote("log.txt");
//   for (shoal::ObjectRef<std::string> line : s) std::cout << shoal::get(line) << "\n";
//
// Lifetimes: the stream owns the part of the stream not taken yet. Dropping it before the end
// frees what was yielded and not taken, and whatever the generator yields afterwards; the
// generator itself runs on (cancel() stops it). Refs taken from it are independent of it.
// Thread-safety: one consumer. A stream is movable, not copyable; one thread at a time may use
// it, and it cannot be passed to another process (pass the refs it hands out instead).
#pragma once

#include <cstdint>
#include <iterator>
#include <optional>
#include <utility>

#include <shoal/detail/ref_record.hpp>
#include <shoal/object_ref.hpp>
#include <shoal/task.hpp>

namespace shoal {

namespace detail {
struct StreamAccess;
}  // namespace detail

// The untyped part of every ObjectRefStream<T>, which cancel() takes.
class ObjectRefStreamBase {
 public:
  ObjectRefStreamBase() noexcept = default;  // an empty stream: ended at once
  ObjectRefStreamBase(ObjectRefStreamBase&& o) noexcept;
  ObjectRefStreamBase& operator=(ObjectRefStreamBase&& o) noexcept;
  ObjectRefStreamBase(const ObjectRefStreamBase&) = delete;
  ObjectRefStreamBase& operator=(const ObjectRefStreamBase&) = delete;
  ~ObjectRefStreamBase();

  // True once iteration has ended: the generator returned, or its error has been thrown.
  bool done() const noexcept { return !link_.valid(); }

 private:
  friend struct detail::StreamAccess;
  explicit ObjectRefStreamBase(ObjectRefBase head) noexcept : link_(std::move(head)) {}
  void drop() noexcept;

  ObjectRefBase link_;  // the next link of the stream to read; empty at the end
};

template <class T>
class ObjectRefStream : public ObjectRefStreamBase {
 public:
  using value_type = ObjectRef<T>;

  ObjectRefStream() noexcept = default;

  // Blocking iteration: operator++ (and begin()) block the calling thread until the generator
  // yields its next value or ends. Throws what get() of a call's result throws: TaskError when
  // the generator threw (after every ref yielded before it), ActorDiedError when its actor died
  // (WorkerCrashedError for a remote function's worker), TaskCancelledError after cancel();
  // EventLoopBlockedError inside an async actor (use next() there). Ends when the generator
  // returns. An input range: begin() once.
  class iterator {
   public:
    using value_type = ObjectRef<T>;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(ObjectRefStream* s) : s_(s) { advance(); }
    const ObjectRef<T>& operator*() const { return current_; }
    const ObjectRef<T>* operator->() const { return &current_; }
    iterator& operator++() {
      advance();
      return *this;
    }
    void operator++(int) { advance(); }
    friend bool operator==(const iterator& a, const iterator& b) { return a.s_ == b.s_; }

   private:
    void advance();
    ObjectRefStream* s_ = nullptr;
    ObjectRef<T> current_;
  };
  iterator begin() { return iterator(this); }
  iterator end() { return iterator(); }

  // `std::optional<ObjectRef<T>> r = co_await s.next();` in a shoal::Task: the next ref, or
  // nullopt at the end, suspending the coroutine (not the thread) while the generator has not
  // yielded it; resumes on the event loop of the thread that awaited. Throws what iteration
  // throws (but EventLoopBlockedError), TaskCancelledError if the awaiting call is cancelled.
  // The stream must outlive the awaiting.
  Task<std::optional<ObjectRef<T>>> next();

 private:
  friend struct detail::StreamAccess;
  using ObjectRefStreamBase::ObjectRefStreamBase;
};

// Stops the generator feeding `stream` at its next co_yield or co_await (TaskCancelledError
// there); iteration then ends with TaskCancelledError after the refs yielded before. A stream
// whose call is still queued is dropped from the queue. Does nothing for an ended stream;
// returns at once; throws UsageError once the session has ended.
void cancel(const ObjectRefStreamBase& stream);

}  // namespace shoal

#include <shoal/detail/object_ref_stream_impl.hpp>
