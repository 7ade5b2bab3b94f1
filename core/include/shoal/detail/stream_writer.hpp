// StreamWriter: the producer's side of a stream (core/src/stream_link.hpp has its shape), and
// run_stream(), which drives a Generator on its call's event loop and writes what it yields.
// Nothing here is public.
//
// Lifetimes: a StreamWriter lives in the frame of run_stream(), on the event-loop thread of the
// call, inside the call's CallContext, which outlives it; it holds pins on the link it will seal
// next and on the acks it may wait for, and drops them when it is destroyed.
#pragma once

#include <coroutine>
#include <cstdint>
#include <vector>

#include <shoal/detail/call.hpp>
#include <shoal/detail/call_context.hpp>
#include <shoal/detail/codec.hpp>
#include <shoal/detail/event_loop.hpp>
#include <shoal/detail/runtime.hpp>
#include <shoal/generator.hpp>
#include <shoal/object_ref.hpp>
#include <shoal/task.hpp>

namespace shoal::detail {

class StreamWriter {
 public:
  // Starts the stream whose head is the call's result `head` (claimed by this process): creates
  // link 1 and seals the head naming it. `consumer`: the caller's process slot, which takes the
  // values. Makes the running call's context point at the link to seal next, so that cancel()
  // and failures find it. Throws ObjectStoreFullError when the store has no room.
  StreamWriter(const CallTarget& head, uint16_t consumer);
  ~StreamWriter();
  StreamWriter(const StreamWriter&) = delete;
  StreamWriter& operator=(const StreamWriter&) = delete;

  // Stores `value` as the stream's next item and seals the pending link naming it (and a new
  // pending link). Throws ObjectStoreFullError when the store has no room.
  void yield(const PutArgs& value);
  // Seals the pending link as the end of the stream.
  void finish();
  // True if the generator may go on: the consumer holds fewer than the bound of items it has not
  // taken, or the stream is unbounded, or the consumer is gone.
  bool has_room();
  // True once cancel() asked for the stream to stop.
  bool cancel_requested() const;

  // `co_await w.room()`: suspends until has_room() may have changed (the consumer took an item,
  // dropped the stream or died). Resumes on this loop; throws TaskCancelledError on cancel().
  struct RoomAwaiter {
    StreamWriter* w;
    RefWaitNode node;
    bool await_ready() { return w->has_room(); }
    void await_suspend(std::coroutine_handle<> h);
    void await_resume() {
      if (node.loop != nullptr) node.leave();
    }
  };
  RoomAwaiter room() { return RoomAwaiter{this, {}}; }

 private:
  RefRecord* new_link();
  void point_context_at_pending() noexcept;
  void note_late_cancel() noexcept;
  // The ack of the item the producer waits for now.
  const ObjectRefBase& blocking_ack() const { return acks_[index_ % bound_]; }
  static bool ack_abandoned(const RefWaitNode* node) noexcept;
  void retire_acks() noexcept;

  CallContext* ctx_ = nullptr;
  ObjectRefBase pending_;  // the link the next yield (or the end) seals
  uint16_t consumer_ = 0;
  uint32_t bound_ = 0;  // 0: unbounded
  uint32_t index_ = 0;  // items yielded so far
  bool consumer_gone_ = false;
  bool cancel_seen_ = false;         // a link was cancelled as it was sealed
  std::vector<ObjectRefBase> acks_;  // bound_ of them: the ack of item k at k % bound_
};

// Drives `gen` as the call whose result is `head`: every co_yield becomes an item of the stream,
// the end a kEnd link. What the generator throws propagates; the intake then fails the link the
// context points at.
template <class T>
Task<void> run_stream(Generator<T> gen, CallTarget head, uint16_t consumer) {
  StreamWriter w(head, consumer);
  auto& p = gen.promise();
  for (;;) {
    if (!co_await gen.advance()) break;
    note_type_once<T>();
    {
      ChildCollector collect;  // ObjectRefs inside the value stay alive with it
      const Encoded enc = encode(*p.value);
      PutArgs a;
      a.codec = enc.codec;
      a.type_fp = fingerprint_of<T>();
      a.type_name = type_name<T>();
      a.data = enc.data;
      a.size = enc.size;
      a.children = collect.children().data();
      a.child_count = uint32_t(collect.children().size());
      a.align = alignof(T);
      w.yield(a);
    }
    while (!w.has_room())
      co_await w.room();
    if (w.cancel_requested()) p.cancelled = true;  // the generator throws at its co_yield
  }
  w.finish();
}

}  // namespace shoal::detail
