// Streams (core/src/stream_link.hpp has their shape): the producer's StreamWriter, the
// consumer's reading of links, dropping a stream and cancelling one.
#include <cstring>

#include <shoal/detail/object_ref_stream_impl.hpp>
#include <shoal/detail/stream_writer.hpp>
#include <shoal/errors.hpp>
#include <shoal/generator.hpp>

#include "core/src/call_trace.hpp"
#include "core/src/runtime.hpp"
#include "core/src/session_gate.hpp"
#include "core/src/stream_link.hpp"

namespace shoal::detail {

namespace {

uint64_t packed(const RefRecord* rec) {
  return (uint64_t(rec->slot) << 32) | rec->gen;
}

// A new ref to an object a link names (and so holds): pinned through the table, which checks
// the slot and the generation.
RefRecord* pin_named(store::Store& s, uint64_t id, const char* what) {
  auto rec = s.pin(uint32_t(id >> 32), uint32_t(id));
  if (!rec) {
    throw StoreCorruptError(std::string("shoal: a stream link names ") + what +
                            " that is not in the store (corrupt segment)");
  }
  return *rec;
}

// Writes `link` as the payload of the claimed object `slot` (it fits inline: no allocation).
void write_link(store::Store& s, uint32_t slot, const StreamLink& link) {
  auto dst = s.objects().reserve_payload(slot, sizeof(link), s.me());
  if (!dst) throw_store_error(dst.error(), "writing a stream link", sizeof(link));
  std::memcpy(*dst, &link, sizeof(link));
  s.objects().describe(slot, store::Codec::kRaw, kStreamLinkFingerprint, sizeof(link));
}

// The consumer took the item: seals its ack, which the producer may be waiting for. An ack
// the producer already retired (the stream ended meanwhile) is left alone.
void seal_ack(store::Store& s, uint64_t id) {
  const uint32_t slot = uint32_t(id >> 32);
  if (!s.objects().valid_slot(slot)) return;
  if (s.objects().claim(slot, uint32_t(id), s.me()) == store::ClaimResult::kGone) return;
  auto dst = s.objects().reserve_payload(slot, 0, s.me());
  (void)dst;  // an empty payload is inline: it cannot fail
  s.objects().describe(slot, store::Codec::kNone, fingerprint_of<void>(), 0);
  s.objects().seal(slot, s.me());
}

bool ack_abandoned_rec(const RefRecord* rec) noexcept {
  Runtime* rt = runtime_or_null();
  if (rt == nullptr) return true;
  // acquire: pairs with the release of the unpin that dropped the link holding the ack (the
  // consumer's, or the supervisor's for a dead consumer). Only this process holds it then, and
  // nobody can pin it again: its id is in no live link.
  const uint64_t c = rt->store->objects().entry(rec->slot).ctrl.load(std::memory_order_acquire);
  return store::Ctrl::pins(c) <= 1;
}

// Wakes the event loop of the process running the generator whose link `rec` is (the actor
// that writes it), so that a producer waiting for the consumer looks again.
void wake_writer(store::Store& s, uint32_t writer) {
  if (store::WriterId::kind(writer) != store::WriterId::kActorKind) return;
  const uint32_t a = store::WriterId::id(writer);
  if (a >= s.actor_count()) return;
  // acquire: pairs with the release store of process in ActorProcess::run().
  const uint32_t p = s.actor(a).process.load(std::memory_order_acquire);
  if (s.processes().valid(ipc::ProcessSlotId(p)))
    s.processes().slot(ipc::ProcessSlotId(p)).wake.notify();
}

}  // namespace

[[noreturn]] void throw_generator_cancelled() {
  throw TaskCancelledError("the stream was cancelled");
}

// ---- the producer ----

StreamWriter::StreamWriter(const CallTarget& head, uint16_t consumer) : consumer_(consumer) {
  Runtime& rt = runtime();
  store::Store& s = *rt.store;
  bound_ = s.objects().call_bound(head.slot);  // the caller's CallOptions
  if (bound_ == 0 && rt.role == Role::kActor && rt.actor_index < s.actor_count())
    bound_ = s.actor(rt.actor_index).generator_backpressure;
  ctx_ = current_context();
  ObjectRefBase first = RefAccess::adopt<char>(new_link());
  StreamLink h{};
  h.kind = uint32_t(StreamLinkKind::kHeader);
  h.producer = uint16_t(s.me());
  h.bound = bound_;
  h.next = packed(RefAccess::record(first));
  write_link(s, head.slot, h);
  // The head's first child place holds its call's arguments; the second is free.
  if (!s.objects().add_child(head.slot, 1, h.next)) {
    throw StoreCorruptError("shoal: the result object of a streaming call has no free child place");
  }
  const bool cancelled = s.objects().seal(head.slot, s.me());
  pending_ = std::move(first);
  if (bound_ != 0) acks_.resize(bound_);
  // From here on failures and cancel() go to the pending link, not to the sealed head.
  point_context_at_pending();
  if (cancelled) note_late_cancel();
}

void StreamWriter::note_late_cancel() noexcept {
  // The intake looks for the cancel on the pending link, which did not get it: deliver it here,
  // as the intake would have, at the generator's next co_yield or co_await.
  cancel_seen_ = true;
  if (ctx_ != nullptr && !ctx_->cancelled) ctx_->cancel();
}

StreamWriter::~StreamWriter() {
  retire_acks();
}

RefRecord* StreamWriter::new_link() {
  Runtime& rt = runtime();
  auto created = rt.store->create_object(store::ObjectState::kWriting,
                                         store::WriterId::actor(rt.actor_index), 0);
  if (!created) throw_store_error(created.error(), "yielding a value of a stream");
  return *created;
}

void StreamWriter::point_context_at_pending() noexcept {
  if (ctx_ == nullptr) return;
  const RefRecord* rec = RefAccess::record(pending_);
  ctx_->stream_slot = rec->slot;
  ctx_->stream_gen = rec->gen;
}

void StreamWriter::yield(const PutArgs& value) {
  store::Store& s = *runtime().store;
  ObjectRefBase item = RefAccess::adopt<char>(put_object(value));
  ObjectRefBase next = RefAccess::adopt<char>(new_link());
  ObjectRefBase ack;
  if (bound_ != 0 && !consumer_gone_) {
    auto created = s.create_object(store::ObjectState::kPending,
                                   store::WriterId::process(ipc::ProcessSlotId(consumer_)), 0);
    if (!created) throw_store_error(created.error(), "yielding a value of a bounded stream");
    ack = RefAccess::adopt<char>(*created);
  }
  StreamLink l{};
  l.kind = uint32_t(StreamLinkKind::kItem);
  l.producer = uint16_t(s.me());
  l.bound = bound_;
  l.index = index_;
  l.item = packed(RefAccess::record(item));
  l.next = packed(RefAccess::record(next));
  l.ack = ack.valid() ? packed(RefAccess::record(ack)) : 0;
  const uint32_t slot = RefAccess::record(pending_)->slot;
  write_link(s, slot, l);
  const uint64_t children[3] = {l.item, l.next, l.ack};
  auto held = s.objects().set_children(slot, children, ack.valid() ? 3 : 2, s.me());
  if (!held) throw_store_error(held.error(), "yielding a value of a stream");
  // A cancel() that reached the link just before the seal is still a cancel of the stream.
  const bool cancelled = s.objects().seal(slot, s.me());
  if (ack.valid()) acks_[index_ % bound_] = std::move(ack);
  pending_ = std::move(next);  // drops our pin on the sealed link: freed if the consumer is gone
  ++index_;
  point_context_at_pending();
  if (cancelled) note_late_cancel();
}

void StreamWriter::finish() {
  store::Store& s = *runtime().store;
  StreamLink l{};
  l.kind = uint32_t(StreamLinkKind::kEnd);
  l.producer = uint16_t(s.me());
  l.bound = bound_;
  l.index = index_;
  write_link(s, RefAccess::record(pending_)->slot, l);
  if (timeline::recording()) [[unlikely]]
    end_trace_of_stream();  // seen in the timeline once the stream is seen ended
  s.objects().seal(RefAccess::record(pending_)->slot, s.me());
  retire_acks();
}

bool StreamWriter::has_room() {
  if (bound_ == 0 || consumer_gone_ || index_ < bound_) return true;
  const ObjectRefBase& ack = blocking_ack();
  if (!ack.valid()) return true;
  const RefRecord* rec = RefAccess::record(ack);
  if (is_sealed(rec)) return true;  // taken, or failed: its consumer died
  if (ack_abandoned_rec(rec)) {
    consumer_gone_ = true;  // nobody will take anything any more: never wait again
    retire_acks();
    return true;
  }
  return false;
}

bool StreamWriter::cancel_requested() const {
  if (cancel_seen_ || (ctx_ != nullptr && ctx_->cancelled)) return true;
  const RefRecord* rec = RefAccess::record(pending_);
  return rec != nullptr && runtime().store->objects().cancel_requested(rec->slot);
}

bool StreamWriter::ack_abandoned(const RefWaitNode* node) noexcept {
  return ack_abandoned_rec(node->rec);
}

void StreamWriter::RoomAwaiter::await_suspend(std::coroutine_handle<> h) {
  EventLoop* loop = EventLoop::current();
  if (loop == nullptr) throw UsageError("a stream's generator runs outside an event loop");
  node.rec = RefAccess::record(w->blocking_ack());
  node.also_ready = &StreamWriter::ack_abandoned;
  node.detach = [](WaitNode* n) noexcept {
    auto* r = static_cast<RefWaitNode*>(n);
    if (r->listed()) r->loop->remove_ref_wait(r);
  };
  loop->add_ref_wait(&node);
  node.enter(h);
}

void StreamWriter::retire_acks() noexcept {
  Runtime* rt = runtime_or_null();
  for (ObjectRefBase& ack : acks_) {
    if (!ack.valid()) continue;
    const RefRecord* rec = RefAccess::record(ack);
    // An ack left pending would never be freed (its writer, the consumer, may never see it):
    // seal it ourselves unless the consumer has claimed it.
    if (rt != nullptr && !is_sealed(rec)) {
      store::Store& s = *rt->store;
      if (s.objects().claim_for_failure(rec->slot, rec->gen, s.me())) {
        s.objects().describe(rec->slot, store::Codec::kNone, fingerprint_of<void>(), 0);
        s.objects().seal(rec->slot, s.me());
      }
    }
    ack = ObjectRefBase();
  }
}

// ---- the consumer ----

bool stream_step(ObjectRefBase& link, RefRecord** item) {
  *item = nullptr;
  RefRecord* rec = RefAccess::record(link);
  check_live(rec, RefAccess::epoch(link));
  store::Store& s = *runtime().store;
  StreamLink l{};
  try {
    const ObjectBytes b = read_sealed(rec);  // throws the error of a failed link
    if (b.codec != CodecKind::kRaw || b.type_fp != kStreamLinkFingerprint ||
        b.size != sizeof(StreamLink)) {
      throw StoreCorruptError("shoal: object " + record_id(rec).to_string() +
                              " is not a link of a stream");
    }
    std::memcpy(&l, b.data, sizeof(l));
    switch (StreamLinkKind(l.kind)) {
      case StreamLinkKind::kEnd:
        link = ObjectRefBase();
        return true;
      case StreamLinkKind::kHeader:
        link = RefAccess::adopt<char>(pin_named(s, l.next, "a next link"));
        return false;
      case StreamLinkKind::kItem: {
        ObjectRefBase next = RefAccess::adopt<char>(pin_named(s, l.next, "a next link"));
        RefRecord* it = pin_named(s, l.item, "an item");
        if (l.ack != 0) seal_ack(s, l.ack);
        link = std::move(next);
        *item = it;
        return true;
      }
    }
    throw StoreCorruptError("shoal: a stream link of unknown kind " + std::to_string(l.kind));
  } catch (...) {
    link = ObjectRefBase();
    throw;
  }
}

RefRecord* stream_take_blocking(ObjectRefBase& link) {
  for (;;) {
    if (!link.valid()) return nullptr;
    RefRecord* rec = RefAccess::record(link);
    check_live(rec, RefAccess::epoch(link));
    try {
      (void)wait_and_read(rec, std::nullopt);
    } catch (...) {
      link = ObjectRefBase();
      throw;
    }
    RefRecord* item = nullptr;
    if (stream_step(link, &item)) return item;
  }
}

}  // namespace shoal::detail

namespace shoal {

ObjectRefStreamBase::ObjectRefStreamBase(ObjectRefStreamBase&& o) noexcept
    : link_(std::move(o.link_)) {}

ObjectRefStreamBase& ObjectRefStreamBase::operator=(ObjectRefStreamBase&& o) noexcept {
  if (this != &o) {
    drop();
    link_ = std::move(o.link_);
  }
  return *this;
}

ObjectRefStreamBase::~ObjectRefStreamBase() {
  drop();
}

void ObjectRefStreamBase::drop() noexcept {
  if (!link_.valid()) return;
  uint32_t writer = 0;
  {
    detail::SessionGate::Pass pass;
    detail::Runtime* rt = detail::runtime_or_null();
    if (pass && rt != nullptr && detail::RefAccess::epoch(link_) == detail::epoch()) {
      writer = rt->store->objects().entry(detail::RefAccess::record(link_)->slot).writer;
    }
  }
  link_ = ObjectRefBase();  // frees every link and item not taken
  if (writer == 0) return;
  // A producer waiting for us to take an item (back-pressure) sees the stream dropped when it
  // looks again.
  detail::SessionGate::Pass pass;
  detail::Runtime* rt = detail::runtime_or_null();
  if (pass && rt != nullptr) detail::wake_writer(*rt->store, writer);
}

void cancel(const ObjectRefStreamBase& stream) {
  const ObjectRefBase& head = detail::StreamAccess::link(stream);
  if (!head.valid()) return;
  detail::check_live(detail::RefAccess::record(head), detail::RefAccess::epoch(head));
  store::Store& s = *detail::runtime().store;
  // The link the generator will seal next is the first unsealed one from ours on: ask it to
  // stop there, reading on (holding each link) past those sealed meanwhile.
  ObjectRefBase link = head;
  for (;;) {
    const detail::RefRecord* rec = detail::RefAccess::record(link);
    if (detail::request_call_cancel(rec)) return;
    auto v = s.objects().read(rec->slot);
    if (!v || v->codec != store::Codec::kRaw || v->type_fp != detail::kStreamLinkFingerprint ||
        v->size != sizeof(detail::StreamLink)) {
      return;  // an error, or not a link: the stream has ended
    }
    detail::StreamLink l;
    std::memcpy(&l, v->data, sizeof(l));
    if (l.kind == uint32_t(detail::StreamLinkKind::kEnd) || l.next == 0) return;
    link = detail::RefAccess::adopt<char>(detail::pin_named(s, l.next, "a next link"));
  }
}

}  // namespace shoal
