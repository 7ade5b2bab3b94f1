// ObjectRef<T>: a reference to an immutable object in the session's shared-memory store, made
// by put() or by a call, and read with get(), get_view(), `co_await ref`, future() or wait().
//
// Lifetimes: an object lives as long as some ref to it does, in any process (a ref stored inside
// another object counts); a ref outlives its session only as an inert value: after shutdown() it
// may be destroyed, copied or assigned, which does nothing, and get, wait, co_await and future()
// on it throw UsageError.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <future>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include <shoal/detail/ref_record.hpp>
#include <shoal/errors.hpp>
#include <shoal/object_id.hpp>

namespace shoal {

template <class T>
class ObjectRef;

namespace detail {
struct RefAccess;
template <class T>
struct RefAwaiter;
// detail/runtime.hpp: whether two records of live refs hold the same object.
bool same_object(const RefRecord* a, uint32_t a_epoch, const RefRecord* b,
                 uint32_t b_epoch) noexcept;
}  // namespace detail

// The untyped part of every ObjectRef<T>, which cancel() takes. A ref is two words; copying one
// adds a count in this process, and the last copy here drops this process's pin on the object.
//
// Thread-safety, as std::shared_ptr: distinct refs, copies of one another included, may be used,
// copied and destroyed from any threads at once; one ref object may be read from many threads at
// once, but not assigned, moved from or destroyed while another thread uses it.
class ObjectRefBase {
 public:
  ObjectRefBase() noexcept = default;  // an empty ref: valid() is false
  ObjectRefBase(const ObjectRefBase& o) noexcept;
  ObjectRefBase(ObjectRefBase&& o) noexcept;  // leaves `o` empty
  ObjectRefBase& operator=(const ObjectRefBase& o) noexcept;
  ObjectRefBase& operator=(ObjectRefBase&& o) noexcept;
  ~ObjectRefBase();

  // The object's id (nil for an empty ref), to pass to another process as text. Throws
  // UsageError once the ref's session has ended.
  ObjectId id() const;
  // False for a default-constructed or moved-from ref.
  bool valid() const noexcept { return rec_ != nullptr; }
  // True once the object is sealed: put, or the call's result (or its error) has arrived. Never
  // blocks; false for an empty ref or one of an ended session.
  bool ready() const noexcept;
  void swap(ObjectRefBase& o) noexcept;

  // Two refs are equal when they name the same object, or are both empty; a ref of an ended
  // session equals only its own copies.
  friend bool operator==(const ObjectRefBase& a, const ObjectRefBase& b) noexcept {
    return a.rec_ == b.rec_ ||
           (a.rec_ && b.rec_ && detail::same_object(a.rec_, a.epoch_, b.rec_, b.epoch_));
  }

 private:
  friend struct detail::RefAccess;
  template <class T>
  friend class ObjectRef;

  // Takes over the one local count a fresh record starts with.
  struct Adopt {};
  ObjectRefBase(Adopt, detail::RefRecord* rec) noexcept;

  void retain() noexcept;
  void release() noexcept;

  detail::RefRecord* rec_ = nullptr;
  uint32_t epoch_ = 0;  // the session the ref belongs to (detail::epoch() when it was made)
};

// A ref to an object of type T; see ObjectRefBase for copying and threads.
template <class T>
class ObjectRef : public ObjectRefBase {
 public:
  using value_type = T;

  ObjectRef() noexcept = default;
  // A new ref to the object `id` names (an id from ObjectId::parse(), say, sent by another
  // process). Throws ObjectNotFoundError if `id` names no live object of this session,
  // UsageError without a session.
  explicit ObjectRef(ObjectId id);

  // A std::future that becomes ready with a copy of the value, or the error get() would throw,
  // once the object is sealed (Ray's ref.future()). It is fulfilled on the calling thread if the
  // object is sealed already, else on this process's future watcher thread (started by the first
  // future() that has to wait), which also decodes the value. The future holds its own ref: this
  // one may go first. Errors go into the future: UsageError for an empty ref or one of an ended
  // session, EventLoopBlockedError on an async actor's event-loop thread (await the ref there).
  // A future still waiting when shutdown() runs never gets a value: it stays pending, or its
  // get() throws std::future_error (broken_promise).
  std::future<T> future() const;

  // `T v = co_await ref;` in a shoal::Task: goes on at once if the object is sealed, else
  // suspends the coroutine (not the thread), which resumes on the event loop of the thread that
  // suspended it once the object is sealed. Throws what get() throws, except GetTimeoutError and
  // EventLoopBlockedError; UsageError if it has to wait outside shoal::run or an actor;
  // TaskCancelledError if the call is cancelled while it waits.
  detail::RefAwaiter<T> operator co_await() const;

 private:
  friend struct detail::RefAccess;
  ObjectRef(Adopt a, detail::RefRecord* rec) noexcept : ObjectRefBase(a, rec) {}
};

// ---- put / get ----------------------------------------------------------------------------

// Copies `value` into the store, sealed, and returns a ref to it; any thread may put at once.
// Raw types (trivially copyable types, std::string, std::vector of trivially copyable elements)
// are stored as their bytes, which get_view() reads in place; any other type goes through
// msgpack-cxx, which <shoal/msgpack_codec.hpp> brings (<shoal/shoal.hpp> includes it). Refs inside
// `value` keep their objects alive as long as the new object lives. Throws ObjectStoreFullError
// when the store has no room, UsageError without a session or for a ref of an ended session
// inside `value`.
template <class T>
ObjectRef<T> put(const T& value);

// Blocks the calling thread until the object is sealed and returns a copy of it; any thread may
// get at once. Rethrows a failed call's error (TaskError, ActorDiedError, TaskCancelledError,
// WorkerCrashedError, ...); throws TypeMismatchError if the object is not a T, UsageError for an
// empty ref or one of an ended session, EventLoopBlockedError on an async actor's event-loop
// thread (co_await the ref there).
template <class T>
T get(const ObjectRef<T>& ref);

// As get(ref), but throws GetTimeoutError once `timeout` has passed; the ref stays usable.
template <class T>
T get(const ObjectRef<T>& ref, std::chrono::nanoseconds timeout);

// get() of each ref in turn (void for ObjectRef<void>); the first error ends it.
template <class T>
auto get(const std::vector<ObjectRef<T>>& refs);

// As get(refs), with `timeout` for the whole list.
template <class T>
auto get(const std::vector<ObjectRef<T>>& refs, std::chrono::nanoseconds timeout);

// ---- wait / as_completed ------------------------------------------------------------------

struct WaitOptions {
  std::size_t num_returns = 1;
  std::optional<std::chrono::nanoseconds> timeout;  // none: wait as long as it takes
};

template <class T>
struct WaitResult {
  std::vector<ObjectRef<T>> ready, not_ready;  // each in input order
};

// Blocks the calling thread until num_returns of `refs` are ready, or the timeout passes (then
// `ready` holds fewer; no exception). `ready` holds at most num_returns refs: the first ready ones
// in input order; `not_ready` the others. Any thread may wait at once. Throws
// std::invalid_argument for num_returns 0 or above refs.size(), or for a ref listed twice;
// UsageError for an empty ref or one of an ended session; EventLoopBlockedError on an async
// actor's event-loop thread. Pass the list as an rvalue to wait on what is left of it in a loop:
// `not_ready = wait(std::move(not_ready)).not_ready;` moves every ref instead of copying it.
template <class T>
WaitResult<T> wait(std::vector<ObjectRef<T>> refs, WaitOptions options = {});

// A range over `refs` that yields each ref as its object is sealed (in input order among those
// already sealed). Iterating blocks like wait() and throws what it throws. One thread iterates;
// the range keeps its own copies of the refs and must outlive its iterators.
template <class T>
class AsCompleted {
 public:
  explicit AsCompleted(std::vector<ObjectRef<T>> refs) : pending_(std::move(refs)) {}

  class iterator {
   public:
    using value_type = ObjectRef<T>;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(AsCompleted* owner) : owner_(owner) { advance(); }
    const ObjectRef<T>& operator*() const { return current_; }
    const ObjectRef<T>* operator->() const { return &current_; }
    iterator& operator++() {
      advance();
      return *this;
    }
    void operator++(int) { advance(); }
    friend bool operator==(const iterator& a, const iterator& b) { return a.owner_ == b.owner_; }

   private:
    void advance() {
      if (owner_ == nullptr || owner_->pending_.empty()) {
        owner_ = nullptr;
        return;
      }
      auto result = shoal::wait(std::move(owner_->pending_), WaitOptions{1, std::nullopt});
      current_ = result.ready.front();
      owner_->pending_ = std::move(result.not_ready);
    }
    AsCompleted* owner_ = nullptr;
    ObjectRef<T> current_;
  };

  iterator begin() { return iterator(this); }
  iterator end() { return iterator(); }

 private:
  std::vector<ObjectRef<T>> pending_;
};

template <class T>
AsCompleted<T> as_completed(const std::vector<ObjectRef<T>>& refs) {
  return AsCompleted<T>(refs);
}

// ---- cancel -------------------------------------------------------------------------------

// Drops a call still queued, or interrupts a running coroutine call at its current co_await with
// TaskCancelledError; get() on the ref then throws TaskCancelledError. A finished call, a running
// plain (non-coroutine) call and a put object are left alone. Returns at once; any thread may
// call it. Throws UsageError for an empty ref or one of an ended session.
void cancel(const ObjectRefBase& ref);

}  // namespace shoal

// The definitions of the above (wait()'s in detail/wait_list.hpp, which that header includes).
#include <shoal/detail/object_ref_impl.hpp>
