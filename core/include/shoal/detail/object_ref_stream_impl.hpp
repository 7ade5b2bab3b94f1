// The definitions behind <shoal/object_ref_stream.hpp>: the consumer's side of a stream, whose
// shape is written down in detail/stream_link.hpp. Nothing here is public.
//
// Lifetimes: a stream holds one ref, on the link it reads next; a link holds its item and the
// link after it, so what the consumer has not taken stays alive, and what it dropped is freed.
#pragma once

#include <coroutine>
#include <optional>
#include <utility>

#include <shoal/detail/event_loop.hpp>
#include <shoal/detail/runtime.hpp>
#include <shoal/errors.hpp>
#include <shoal/object_ref.hpp>
#include <shoal/object_ref_stream.hpp>

namespace shoal::detail {

// Reads `link`, which must be sealed, and moves it on: sets `*item` to the record of the item it
// names (one local count) and returns true; or returns true with `*item` null at the end of the
// stream (link empty); or returns false after a link that names no item (read on). Throws the
// error a failed link holds, after emptying `link`.
bool stream_step(ObjectRefBase& link, RefRecord** item);
// The same, blocking the thread until `link` is sealed, and reading on past links without item:
// the item's record, or null at the end.
RefRecord* stream_take_blocking(ObjectRefBase& link);

struct StreamAccess {
  // Wraps the head of a stream: the result object of its call, with one local count.
  template <class T>
  static ObjectRefStream<T> adopt(RefRecord* head) noexcept {
    return ObjectRefStream<T>(RefAccess::adopt<char>(head));
  }
  static ObjectRefBase& link(ObjectRefStreamBase& s) noexcept { return s.link_; }
  static const ObjectRefBase& link(const ObjectRefStreamBase& s) noexcept { return s.link_; }
};

// co_await: suspends on the current loop until `link` is sealed, without reading it.
struct StreamLinkAwaiter {
  const ObjectRefBase& link;
  RefWaitNode node;

  bool await_ready() {
    check_live(RefAccess::record(link), RefAccess::epoch(link));
    return is_sealed(RefAccess::record(link));
  }
  void await_suspend(std::coroutine_handle<> h) {
    EventLoop* loop = EventLoop::current();
    if (loop == nullptr)
      throw UsageError("co_await on an ObjectRefStream outside shoal::run or an actor");
    node.rec = RefAccess::record(link);
    node.detach = [](WaitNode* w) noexcept {
      auto* n = static_cast<RefWaitNode*>(w);
      if (n->listed()) n->loop->remove_ref_wait(n);
    };
    loop->add_ref_wait(&node);
    node.enter(h);
  }
  void await_resume() {
    if (node.loop != nullptr) node.leave();
  }
};

}  // namespace shoal::detail

namespace shoal {

template <class T>
void ObjectRefStream<T>::iterator::advance() {
  if (s_ == nullptr) return;
  ObjectRefBase& link = detail::StreamAccess::link(*s_);
  detail::RefRecord* item = link.valid() ? detail::stream_take_blocking(link) : nullptr;
  if (item == nullptr) {
    s_ = nullptr;
    current_ = ObjectRef<T>();
    return;
  }
  current_ = detail::RefAccess::adopt<T>(item);
}

template <class T>
Task<std::optional<ObjectRef<T>>> ObjectRefStream<T>::next() {
  ObjectRefBase& link = detail::StreamAccess::link(*this);
  for (;;) {
    if (!link.valid()) co_return std::nullopt;
    co_await detail::StreamLinkAwaiter{link, {}};
    detail::RefRecord* item = nullptr;
    if (detail::stream_step(link, &item)) {
      if (item == nullptr) co_return std::nullopt;
      co_return detail::RefAccess::adopt<T>(item);
    }
  }
}

}  // namespace shoal
