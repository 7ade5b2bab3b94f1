// The definitions behind <shoal/object_ref.hpp>: how a ref counts its copies, the runtime's way
// to the record behind a ref, reading and decoding an object, the awaiter of `co_await ref`,
// put() and future(). Included at the end of <shoal/object_ref.hpp>; nothing here is public.
// It ends by including wait()'s definition (detail/wait_list.hpp).
//
// Lifetimes: a RefRecord lives in this process's region of the segment until the last local copy
// of its ref releases it; the count operations of a ref whose session has ended never touch its
// record (they compare the ref's epoch with the session's first).
#pragma once

#include <chrono>
#include <coroutine>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <utility>

#include <shoal/detail/codec.hpp>
#include <shoal/detail/event_loop.hpp>
#include <shoal/detail/runtime.hpp>
#include <shoal/object_ref.hpp>

namespace shoal {

// ---- counting copies ----------------------------------------------------------------------

inline ObjectRefBase::ObjectRefBase(Adopt, detail::RefRecord* rec) noexcept
    : rec_(rec), epoch_(detail::epoch()) {}

inline ObjectRefBase::ObjectRefBase(const ObjectRefBase& o) noexcept
    : rec_(o.rec_), epoch_(o.epoch_) {
  retain();
}

inline ObjectRefBase::ObjectRefBase(ObjectRefBase&& o) noexcept
    : rec_(std::exchange(o.rec_, nullptr)), epoch_(o.epoch_) {}

inline ObjectRefBase& ObjectRefBase::operator=(const ObjectRefBase& o) noexcept {
  if (this != &o) {
    ObjectRefBase copy(o);
    swap(copy);
  }
  return *this;
}

inline ObjectRefBase& ObjectRefBase::operator=(ObjectRefBase&& o) noexcept {
  if (this != &o) {
    release();
    rec_ = std::exchange(o.rec_, nullptr);
    epoch_ = o.epoch_;
  }
  return *this;
}

inline ObjectRefBase::~ObjectRefBase() {
  release();
}

inline ObjectId ObjectRefBase::id() const {
  return rec_ ? detail::ref_id(rec_, epoch_) : ObjectId();
}

inline bool ObjectRefBase::ready() const noexcept {
  return rec_ && detail::ref_ready(rec_, epoch_);
}

inline void ObjectRefBase::swap(ObjectRefBase& o) noexcept {
  std::swap(rec_, o.rec_);
  std::swap(epoch_, o.epoch_);
}

inline void ObjectRefBase::retain() noexcept {
  if (rec_) detail::retain_ref(rec_, epoch_);
}

inline void ObjectRefBase::release() noexcept {
  if (rec_) detail::release_ref(rec_, epoch_);
  rec_ = nullptr;
}

template <class T>
ObjectRef<T>::ObjectRef(ObjectId id) : ObjectRefBase(Adopt{}, detail::pin_id(id)) {}

namespace detail {

// The runtime's way to the record behind a ref (ObjectRef keeps it private).
struct RefAccess {
  static RefRecord* record(const ObjectRefBase& ref) noexcept { return ref.rec_; }
  // The session epoch the ref was made in.
  static uint32_t epoch(const ObjectRefBase& ref) noexcept { return ref.epoch_; }
  // Wraps a record that carries one local count (from put_object, pin_id, submit_call, ...).
  template <class T>
  static ObjectRef<T> adopt(RefRecord* rec) noexcept {
    return ObjectRef<T>(ObjectRefBase::Adopt{}, rec);
  }
  // Sets the ref's record and epoch without any count changing hands: for wait(), which moves
  // refs within a list it owns.
  static void overwrite(ObjectRefBase& ref, RefRecord* rec, uint32_t epoch) noexcept {
    ref.rec_ = rec;
    ref.epoch_ = epoch;
  }
  // Empties the ref without dropping its count (which has been moved elsewhere by overwrite).
  static void forget(ObjectRefBase& ref) noexcept { ref.rec_ = nullptr; }
};

// ---- reading ------------------------------------------------------------------------------

// Decodes a sealed object as T, checking its type first.
template <class T>
T decode_object(const ObjectBytes& b, const RefRecord* rec) {
  if (b.type_fp != fingerprint_of<T>()) {
    throw_type_mismatch(type_name<T>(), b.type_fp, rec);
  }
  if constexpr (!std::is_void_v<T>) return decode<T>(b.data, b.size);
}

template <class T>
T fetch(const ObjectRefBase& ref, std::optional<std::chrono::nanoseconds> timeout) {
  RefRecord* const rec = RefAccess::record(ref);
  check_live(rec, RefAccess::epoch(ref));
  const ObjectBytes b = wait_and_read(rec, timeout);
  return decode_object<T>(b, rec);
}

// co_await ref: suspends on the current loop until the object is sealed.
template <class T>
struct RefAwaiter {
  ObjectRefBase ref;
  RefWaitNode node;

  bool await_ready() {
    check_live(RefAccess::record(ref), RefAccess::epoch(ref));
    return is_sealed(RefAccess::record(ref));
  }
  void await_suspend(std::coroutine_handle<> h) {
    EventLoop* loop = EventLoop::current();
    if (loop == nullptr)
      throw UsageError("co_await on an ObjectRef outside shoal::run or an actor");
    node.rec = RefAccess::record(ref);
    node.detach = [](WaitNode* w) noexcept {
      auto* n = static_cast<RefWaitNode*>(w);
      if (n->listed()) n->loop->remove_ref_wait(n);
    };
    loop->add_ref_wait(&node);
    node.enter(h);
  }
  T await_resume() {
    if (node.loop != nullptr) node.leave();
    const RefRecord* rec = RefAccess::record(ref);
    return decode_object<T>(read_sealed(rec), rec);
  }
};

// Calls fn on the process's watcher thread once ref's object is sealed.
void when_sealed(const ObjectRefBase& ref, std::function<void()> fn);

}  // namespace detail

template <class T>
detail::RefAwaiter<T> ObjectRef<T>::operator co_await() const {
  return detail::RefAwaiter<T>{*this, {}};
}

// ---- put / get ----------------------------------------------------------------------------

template <class T>
ObjectRef<T> put(const T& value) {
  detail::note_type_once<T>();
  if constexpr (detail::is_raw_codec_v<T>) {
    const detail::Encoded enc = detail::encode(value);
    detail::PutArgs a;
    a.codec = enc.codec;
    a.type_fp = detail::fingerprint_of<T>();
    a.type_name = detail::type_name<T>();
    a.data = enc.data;
    a.size = enc.size;
    a.align = alignof(T);
    return detail::RefAccess::adopt<T>(detail::put_object(a));
  } else {
    detail::ChildCollector children;  // ObjectRefs inside the value stay alive with it
    const detail::Encoded enc = detail::encode(value);
    detail::PutArgs a;
    a.codec = enc.codec;
    a.type_fp = detail::fingerprint_of<T>();
    a.type_name = detail::type_name<T>();
    a.data = enc.data;
    a.size = enc.size;
    a.children = children.children().data();
    a.child_count = uint32_t(children.children().size());
    return detail::RefAccess::adopt<T>(detail::put_object(a));
  }
}

template <class T>
T get(const ObjectRef<T>& ref) {
  return detail::fetch<T>(ref, std::nullopt);
}

template <class T>
T get(const ObjectRef<T>& ref, std::chrono::nanoseconds timeout) {
  return detail::fetch<T>(ref, timeout);
}

template <class T>
auto get(const std::vector<ObjectRef<T>>& refs) {
  if constexpr (std::is_void_v<T>) {
    for (const auto& r : refs)
      get(r);
  } else {
    std::vector<T> out;
    out.reserve(refs.size());
    for (const auto& r : refs)
      out.push_back(get(r));
    return out;
  }
}

template <class T>
auto get(const std::vector<ObjectRef<T>>& refs, std::chrono::nanoseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto left = [&] {
    const auto d = deadline - std::chrono::steady_clock::now();
    return d.count() > 0 ? std::chrono::duration_cast<std::chrono::nanoseconds>(d)
                         : std::chrono::nanoseconds(0);
  };
  if constexpr (std::is_void_v<T>) {
    for (const auto& r : refs)
      get(r, left());
  } else {
    std::vector<T> out;
    out.reserve(refs.size());
    for (const auto& r : refs)
      out.push_back(get(r, left()));
    return out;
  }
}

// ---- futures ------------------------------------------------------------------------------

template <class T>
std::future<T> ObjectRef<T>::future() const {
  auto promise = std::make_shared<std::promise<T>>();
  std::future<T> fut = promise->get_future();
  auto settle = [promise, ref = *this]() {
    const detail::RefRecord* rec = detail::RefAccess::record(ref);
    try {
      if constexpr (std::is_void_v<T>) {
        detail::decode_object<void>(detail::read_sealed(rec), rec);
        promise->set_value();
      } else {
        promise->set_value(detail::decode_object<T>(detail::read_sealed(rec), rec));
      }
    } catch (...) {
      promise->set_exception(std::current_exception());
    }
  };
  try {
    detail::check_live(detail::RefAccess::record(*this), detail::RefAccess::epoch(*this));
    detail::check_blocking_allowed("ObjectRef::future");
  } catch (...) {
    promise->set_exception(std::current_exception());
    return fut;
  }
  if (ready()) {
    settle();
  } else {
    detail::when_sealed(*this, std::move(settle));
  }
  return fut;
}

}  // namespace shoal

// Last: wait()'s definition uses RefAccess, defined above.
#include <shoal/detail/wait_list.hpp>
