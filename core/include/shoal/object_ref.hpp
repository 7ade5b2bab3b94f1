// ObjectRef<T>: a reference to an object in the session's shared-memory store.
//
// Copyable and cheap (two words); every copy in any process keeps the object
// alive, and the object is freed when the last reference anywhere is dropped.
// A ref can be awaited in a shoal::Task (`T v = co_await ref;`), turned into a
// std::future, fetched with get(), waited on, and passed to other actors.
#pragma once

#include <algorithm>
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <cstring>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <shoal/detail/codec.hpp>
#include <shoal/detail/event_loop.hpp>
#include <shoal/detail/ref_record.hpp>
#include <shoal/detail/runtime.hpp>
#include <shoal/errors.hpp>
#include <shoal/object_id.hpp>

namespace shoal {

class ObjectRefBase {
 public:
  ObjectRefBase() noexcept = default;
  ObjectRefBase(const ObjectRefBase& o) noexcept : rec_(o.rec_), epoch_(o.epoch_) { retain(); }
  ObjectRefBase(ObjectRefBase&& o) noexcept
      : rec_(std::exchange(o.rec_, nullptr)), epoch_(o.epoch_) {}
  ObjectRefBase& operator=(const ObjectRefBase& o) noexcept {
    if (this != &o) {
      ObjectRefBase copy(o);
      swap(copy);
    }
    return *this;
  }
  ObjectRefBase& operator=(ObjectRefBase&& o) noexcept {
    if (this != &o) {
      release();
      rec_ = std::exchange(o.rec_, nullptr);
      epoch_ = o.epoch_;
    }
    return *this;
  }
  ~ObjectRefBase() { release(); }

  // The object's id (nil for a default-constructed ref).
  ObjectId id() const { return rec_ ? detail::id_of(rec_) : ObjectId(); }
  bool valid() const noexcept { return rec_ != nullptr; }
  // True once the object is sealed (a call's result has arrived). Never blocks.
  bool ready() const noexcept { return rec_ && epoch_ == detail::epoch() && detail::is_sealed(rec_); }

  detail::RefRecord* record() const noexcept { return rec_; }
  uint32_t session_epoch() const noexcept { return epoch_; }
  void swap(ObjectRefBase& o) noexcept {
    std::swap(rec_, o.rec_);
    std::swap(epoch_, o.epoch_);
  }
  // For wait(): slides the `count` refs at `src` down to `dst` (dst < src),
  // where every place from dst up to src holds an empty ref; the places left
  // behind end up empty. No reference count changes hands. Writes their
  // records to `records` (which may be `expected` shifted down) and returns
  // whether they were exactly `expected` (null: nothing expected) and all of
  // session `epoch`.
  template <class R>
  static bool slide_down(R* dst, R* src, size_t count, const detail::RefRecord** records,
                         const detail::RefRecord* const* expected, uint32_t epoch) noexcept {
    uintptr_t differ = expected == nullptr;
    uint32_t stale = 0;
    for (size_t k = 0; k < count; ++k) {
      const ObjectRefBase& s = src[k];
      detail::RefRecord* const rec = s.rec_;
      const uint32_t e = s.epoch_;
      if (expected != nullptr) {
        differ |= reinterpret_cast<uintptr_t>(rec) ^ reinterpret_cast<uintptr_t>(expected[k]);
      }
      stale |= e ^ epoch;
      ObjectRefBase& d = dst[k];
      d.rec_ = rec;
      d.epoch_ = e;
      records[k] = rec;
    }
    for (R* p = std::max(src, dst + count); p < src + count; ++p) {
      static_cast<ObjectRefBase&>(*p).rec_ = nullptr;
    }
    return differ == 0 && stale == 0;
  }
  friend bool operator==(const ObjectRefBase& a, const ObjectRefBase& b) noexcept {
    return a.rec_ == b.rec_ || (a.rec_ && b.rec_ && a.id() == b.id());
  }

 protected:
  // Takes over the one local count a fresh record starts with.
  struct Adopt {};
  ObjectRefBase(Adopt, detail::RefRecord* rec) noexcept : rec_(rec), epoch_(detail::epoch()) {}

 private:
  void retain() noexcept {
    if (rec_ && epoch_ == detail::epoch()) rec_->local.fetch_add(1, std::memory_order_relaxed);
  }
  void release() noexcept {
    // acq_rel: the last copy's release sees every other copy's uses.
    if (rec_ && epoch_ == detail::epoch() &&
        rec_->local.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      detail::release_ref(rec_);
    }
    rec_ = nullptr;
  }

  detail::RefRecord* rec_ = nullptr;
  uint32_t epoch_ = 0;
};

template <class T>
class ObjectRef;

namespace detail {

// Reads and decodes a sealed object as T, checking the type first.
template <class T>
T decode_object(const ObjectBytes& b, const RefRecord* rec) {
  if (b.type_fp != fingerprint_of<T>()) throw_type_mismatch(fingerprint_of<T>(), type_name<T>(), b.type_fp, rec);
  if constexpr (!std::is_void_v<T>) return decode<T>(b.data, b.size);
}

template <class T>
T fetch(const ObjectRefBase& ref, std::optional<std::chrono::nanoseconds> timeout) {
  check_live(ref.record(), ref.session_epoch());
  const ObjectBytes b = wait_and_read(ref.record(), timeout);
  return decode_object<T>(b, ref.record());
}

// co_await ref: suspends on the current loop until the object is sealed.
template <class T>
struct RefAwaiter {
  ObjectRefBase ref;
  RefWaitNode node;

  bool await_ready() {
    check_live(ref.record(), ref.session_epoch());
    return is_sealed(ref.record());
  }
  void await_suspend(std::coroutine_handle<> h) {
    EventLoop* loop = EventLoop::current();
    if (loop == nullptr) throw UsageError("co_await on an ObjectRef outside shoal::run or an actor");
    node.rec = ref.record();
    node.detach = [](WaitNode* w) noexcept {
      auto* n = static_cast<RefWaitNode*>(w);
      if (n->listed) n->loop->remove_ref_wait(n);
    };
    loop->add_ref_wait(&node);
    node.enter(h);
  }
  T await_resume() {
    if (node.loop != nullptr) node.leave();
    return decode_object<T>(read_sealed(ref.record()), ref.record());
  }
};

// Calls fn on the process's watcher thread once rec's object is sealed.
void when_sealed(const ObjectRefBase& ref, std::function<void()> fn);

}  // namespace detail

template <class T>
class ObjectRef : public ObjectRefBase {
 public:
  using value_type = T;

  ObjectRef() noexcept = default;
  // A new reference to the object `id` names. Throws ObjectNotFoundError if it
  // is not a live object of this session.
  explicit ObjectRef(ObjectId id) : ObjectRefBase(Adopt{}, detail::pin_id(id)) {}

  // For the runtime: wraps a record that carries one local count.
  static ObjectRef adopt(detail::RefRecord* rec) noexcept { return ObjectRef(Adopt{}, rec); }

  // A std::future that becomes ready when the object is sealed (Ray's
  // ref.future()). On an async actor's event loop the future holds
  // EventLoopBlockedError instead: await the ref there.
  std::future<T> future() const;

  detail::RefAwaiter<T> operator co_await() const { return detail::RefAwaiter<T>{*this, {}}; }

 private:
  ObjectRef(Adopt a, detail::RefRecord* rec) noexcept : ObjectRefBase(a, rec) {}
};

// ---- put / get ----------------------------------------------------------

// Stores a copy of `value` in the shared-memory store, sealed. Throws
// ObjectStoreFullError when the store has no room.
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
    return ObjectRef<T>::adopt(detail::put_object(a));
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
    return ObjectRef<T>::adopt(detail::put_object(a));
  }
}

// Blocks until the object is sealed and returns a copy. Rethrows a failed
// call's error (TaskError, ActorDiedError, ...); TypeMismatchError if the object
// is not a T; EventLoopBlockedError on an async actor's loop thread.
template <class T>
T get(const ObjectRef<T>& ref) {
  return detail::fetch<T>(ref, std::nullopt);
}

// As get(ref), but throws GetTimeoutError after `timeout`.
template <class T>
T get(const ObjectRef<T>& ref, std::chrono::nanoseconds timeout) {
  return detail::fetch<T>(ref, timeout);
}

template <class T>
auto get(const std::vector<ObjectRef<T>>& refs) {
  if constexpr (std::is_void_v<T>) {
    for (const auto& r : refs) get(r);
  } else {
    std::vector<T> out;
    out.reserve(refs.size());
    for (const auto& r : refs) out.push_back(get(r));
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
    for (const auto& r : refs) get(r, left());
  } else {
    std::vector<T> out;
    out.reserve(refs.size());
    for (const auto& r : refs) out.push_back(get(r, left()));
    return out;
  }
}

// ---- wait / as_completed ------------------------------------------------

struct WaitOptions {
  std::size_t num_returns = 1;
  std::optional<std::chrono::nanoseconds> timeout;  // none: wait as long as it takes
};

template <class T>
struct WaitResult {
  std::vector<ObjectRef<T>> ready, not_ready;  // each in input order
};

namespace detail {
// wait()'s full check of a list given in two parts: throws UsageError for an
// empty ref or one of an ended session, std::invalid_argument for two refs to
// one object.
template <class R>
void check_wait_list(const R* a, size_t na, const R* b, size_t nb, uint32_t now) {
  std::vector<uint32_t> slots;  // a live ref pins its object: its slot names it
  slots.reserve(na + nb);
  auto add = [&](const R* p, size_t count) {
    for (size_t i = 0; i < count; ++i) {
      if (p[i].record() == nullptr || p[i].session_epoch() != now) {
        check_live(p[i].record(), p[i].session_epoch());
      }
      slots.push_back(p[i].record()->slot);
    }
  };
  add(a, na);
  add(b, nb);
  check_distinct_slots(std::move(slots));
}
}  // namespace detail

// Waits until num_returns of refs are ready (or the timeout passes). `ready`
// holds at most num_returns refs: the first ready ones in input order. Throws
// std::invalid_argument for num_returns 0 or above refs.size(), or for a ref
// listed twice. Pass the list as an rvalue to wait on what is left of it in a
// loop: `not_ready = wait(std::move(not_ready)).not_ready;` moves every ref
// instead of copying it.
template <class T>
WaitResult<T> wait(std::vector<ObjectRef<T>> refs, WaitOptions options = {}) {
  const size_t n = refs.size();
  const size_t want = options.num_returns;
  if (want == 0 || want > n) {
    throw std::invalid_argument("shoal::wait: num_returns must be between 1 and the number of refs (" +
                                std::to_string(n) + "), got " + std::to_string(want));
  }
  // Every ref must be live, and name an object no other ref of the list
  // names. A list made of exactly the records of a list this thread already
  // checked (the not_ready of its last wait, passed back) needs no second
  // look, as long as this process has pinned nothing since: only a pin gives
  // it a second record for an object it holds, every other record is made
  // with a new object.
  detail::WaitListMemo& memo = detail::wait_list_memo();
  const uint32_t now = detail::epoch();
  const uint64_t pins = detail::pins_made();
  const bool memo_fits = memo.epoch == now && memo.pins == pins && memo.records.size() == n;
  detail::check_blocking_allowed("shoal::wait");
  // Look for `want` sealed refs from the front, checking each ref passed.
  size_t sealed = 0;
  for (size_t i = 0; i < n && sealed < want; ++i) {
    if (refs[i].record() == nullptr || refs[i].session_epoch() != now) {
      detail::check_live(refs[i].record(), refs[i].session_epoch());
    }
    sealed += detail::is_sealed(refs[i].record());
  }
  bool checked = false;
  if (sealed < want) {
    // About to block: the whole list is checked first.
    detail::check_wait_list(refs.data(), n, refs.data(), 0, now);
    checked = true;
    std::vector<const detail::RefRecord*> recs;
    recs.reserve(n);
    for (const auto& r : refs) recs.push_back(r.record());
    std::vector<char> ready;
    detail::wait_refs(recs, want, options.timeout, ready);
  }
  // The first `want` sealed refs (in input order) move to `ready`; the rest
  // close up behind them and become `not_ready`, remembered as checked once
  // they are. Each record is compared with the memo as it is rewritten.
  memo.epoch = 0;  // no session has epoch 0: the memo is void until rewritten
  memo.records.resize(n);
  const detail::RefRecord** remembered = memo.records.data();
  bool same = memo_fits;
  WaitResult<T> out;
  out.ready.reserve(want);
  size_t kept = 0, i = 0;
  for (; i < n && out.ready.size() < want; ++i) {
    const detail::RefRecord* rec = refs[i].record();
    same = same && remembered[i] == rec;  // read before any write at or below i
    if (detail::is_sealed(rec)) {
      out.ready.push_back(std::move(refs[i]));
    } else {
      remembered[kept] = rec;
      if (kept != i) refs[kept].swap(refs[i]);
      ++kept;
    }
  }
  if (i < n) {
    same = ObjectRefBase::slide_down(refs.data() + kept, refs.data() + i, n - i, remembered + kept,
                                     same ? remembered + i : nullptr, now);
    kept += n - i;
  }
  if (!checked && !same) {
    detail::check_wait_list(out.ready.data(), out.ready.size(), refs.data(), kept, now);
  }
  memo.records.resize(kept);
  memo.epoch = now;
  memo.pins = pins;
  refs.resize(kept);
  out.not_ready = std::move(refs);
  return out;
}

// A range over `refs` that yields each ref as its object is sealed (in input
// order among those already sealed). Iterating blocks like get().
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

// ---- futures ------------------------------------------------------------

template <class T>
std::future<T> ObjectRef<T>::future() const {
  auto promise = std::make_shared<std::promise<T>>();
  std::future<T> fut = promise->get_future();
  auto settle = [promise, ref = *this]() {
    try {
      if constexpr (std::is_void_v<T>) {
        detail::decode_object<void>(detail::read_sealed(ref.record()), ref.record());
        promise->set_value();
      } else {
        promise->set_value(detail::decode_object<T>(detail::read_sealed(ref.record()), ref.record()));
      }
    } catch (...) {
      promise->set_exception(std::current_exception());
    }
  };
  try {
    detail::check_live(record(), session_epoch());
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

// Drops a pending call, or interrupts a running coroutine call at its current
// co_await with TaskCancelledError; get() on the ref then throws
// TaskCancelledError. A finished call is left alone.
void cancel(const ObjectRefBase& ref);

}  // namespace shoal

// ---- msgpack: ObjectRefs inside containers travel as refs ----------------

namespace shoal::detail {
inline constexpr int8_t kObjectRefExt = 0x53;  // 'S'
void pack_object_id(const ObjectRefBase& ref, char out[16]);
ObjectId unpack_object_id(const char* data, uint32_t size);
}  // namespace shoal::detail

namespace msgpack {
MSGPACK_API_VERSION_NAMESPACE(MSGPACK_DEFAULT_API_NS) {
  namespace adaptor {

  template <class T>
  struct pack<shoal::ObjectRef<T>> {
    template <class Stream>
    msgpack::packer<Stream>& operator()(msgpack::packer<Stream>& o,
                                        const shoal::ObjectRef<T>& ref) const {
      char bytes[16];
      shoal::detail::pack_object_id(ref, bytes);
      o.pack_ext(16, shoal::detail::kObjectRefExt);
      o.pack_ext_body(bytes, 16);
      return o;
    }
  };

  template <class T>
  struct convert<shoal::ObjectRef<T>> {
    const msgpack::object& operator()(const msgpack::object& o, shoal::ObjectRef<T>& ref) const {
      if (o.type != msgpack::type::EXT || o.via.ext.type() != shoal::detail::kObjectRefExt) {
        throw msgpack::type_error();
      }
      ref = shoal::ObjectRef<T>(shoal::detail::unpack_object_id(o.via.ext.data(), o.via.ext.size));
      return o;
    }
  };

  }  // namespace adaptor
}  // MSGPACK_API_VERSION_NAMESPACE
}  // namespace msgpack
