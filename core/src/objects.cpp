// Objects: ObjectRef records (copy, release, check), put, get and wait: the
// public API's way into the store.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include <shoal/errors.hpp>

#include "core/src/call_trace.hpp"
#include "core/src/runtime.hpp"
#include "core/src/session_gate.hpp"
#include "ipc/spin.hpp"

namespace shoal::detail {

namespace {

std::string id_text(const RefRecord* rec) {
  return record_id(rec).to_string();
}

// True if a ref made in session `epoch` belongs to the session now open. Only
// inside an open SessionGate::Pass, which keeps the epoch from changing.
bool current(uint32_t epoch) noexcept {
  return epoch == detail::epoch();
}

}  // namespace

// ---- references ----

void retain_ref(RefRecord* rec, uint32_t epoch) noexcept {
  SessionGate::Pass pass;
  if (!pass || !current(epoch)) return;
  rec->local.fetch_add(1, std::memory_order_relaxed);
}

void release_ref(RefRecord* rec, uint32_t epoch) noexcept {
  SessionGate::Pass pass;
  if (!pass || !current(epoch)) return;
  // acq_rel: the last copy's release sees every other copy's uses (each
  // copy's release is a release on this count, and the one that reaches zero
  // acquires them) before it unpins the object.
  if (rec->local.fetch_sub(1, std::memory_order_acq_rel) == 1) runtime_or_null()->store->unpin(rec);
}

bool ref_ready(const RefRecord* rec, uint32_t epoch) noexcept {
  SessionGate::Pass pass;
  return pass && current(epoch) && is_sealed(rec);
}

ObjectId ref_id(const RefRecord* rec, uint32_t epoch) {
  {
    SessionGate::Pass pass;
    if (pass && current(epoch)) return record_id(rec);
  }
  throw UsageError("shoal: use of an ObjectRef from a session that has ended");
}

bool same_object(const RefRecord* a, uint32_t a_epoch, const RefRecord* b,
                 uint32_t b_epoch) noexcept {
  SessionGate::Pass pass;
  return pass && current(a_epoch) && current(b_epoch) && a->slot == b->slot && a->gen == b->gen;
}

ObjectId record_id(const RefRecord* rec) {
  return ObjectId(runtime().store->session_tag(), rec->slot, rec->gen);
}

RefRecord* pin_id(const ObjectId& id) {
  Runtime& rt = runtime();
  if (id.session() != rt.store->session_tag()) {
    throw ObjectNotFoundError("ObjectRef(" + id.to_string() +
                              "): the id belongs to another session (or is not an id)");
  }
  auto rec = rt.store->pin(id.slot(), id.generation());
  if (!rec) throw_store_error(rec.error(), ("ObjectRef(" + id.to_string() + ")").c_str());
  return *rec;
}

bool is_sealed(const RefRecord* rec) noexcept {
  Runtime* rt = runtime_or_null();
  return rt != nullptr && rt->store->objects().valid_slot(rec->slot) &&
         rt->store->objects().sealed(rec->slot);
}

void check_live(const RefRecord* rec, uint32_t ref_epoch) {
  if (rec == nullptr) throw UsageError("shoal: use of an empty ObjectRef");
  if (runtime_or_null() == nullptr || ref_epoch != epoch()) {
    throw UsageError("shoal: use of an ObjectRef from a session that has ended");
  }
}

void note_type(uint64_t fp, std::string_view name) {
  if (Runtime* rt = runtime_or_null()) rt->store->types().add(fp, name);
}

// ---- children of containers ----

namespace {
thread_local ChildCollector* t_collector = nullptr;
}

ChildCollector::ChildCollector() : outer_(t_collector) {
  t_collector = this;
}
ChildCollector::~ChildCollector() {
  t_collector = outer_;
}
void ChildCollector::add(uint64_t packed) {
  if (t_collector != nullptr) t_collector->children_.push_back(packed);
}

MsgpackBuffer& msgpack_scratch() {
  static thread_local MsgpackBuffer buf;
  return buf;
}

void pack_object_id(const ObjectRefBase& ref, char out[16]) {
  check_live(RefAccess::record(ref), RefAccess::epoch(ref));
  const ObjectId id = ref.id();
  const uint64_t session = id.session();
  const uint32_t slot = id.slot(), gen = id.generation();
  std::memcpy(out, &session, 8);
  std::memcpy(out + 8, &slot, 4);
  std::memcpy(out + 12, &gen, 4);
  ChildCollector::add((uint64_t(slot) << 32) | gen);
}

ObjectId unpack_object_id(const char* data, uint32_t size) {
  if (size != 16) throw_decode_failure("ObjectRef", "an object id is 16 bytes");
  uint64_t session;
  uint32_t slot, gen;
  std::memcpy(&session, data, 8);
  std::memcpy(&slot, data + 8, 4);
  std::memcpy(&gen, data + 12, 4);
  return ObjectId(session, slot, gen);
}

// ---- put ----

RefRecord* put_object(const PutArgs& a) {
  Runtime& rt = runtime();
  const uint64_t traced_since =
      a.size >= timeline::kObjectEventMinBytes && timeline::recording() ? timeline::ticks() : 0;
  store::Store& s = *rt.store;
  auto created = s.create_object(store::ObjectState::kWriting, store::WriterId::process(s.me()), 0);
  if (!created) throw_store_error(created.error(), "shoal::put", a.size);
  RefRecord* rec = *created;
  const uint32_t slot = rec->slot;
  auto abandon = [&](store::StoreError error, const char* what) {
    // Keep the size: it is what frees a payload block already reserved.
    s.objects().describe(slot, store::Codec::kNone, 0, s.objects().entry(slot).size);
    s.objects().seal(slot, s.me());
    s.unpin(rec);  // the last pin of a sealed object: freed
    throw_store_error(error, what, a.size);
  };
  auto dst = s.objects().reserve_payload(slot, a.size, s.me(), a.align <= 16);
  if (!dst) abandon(dst.error(), "shoal::put");
  if (a.size != 0) std::memcpy(*dst, a.data, a.size);
  s.objects().describe(slot, store::Codec(a.codec), a.type_fp, a.size);
  if (a.child_count != 0) {
    auto r = s.objects().set_children(slot, a.children, a.child_count, s.me());
    if (!r) abandon(r.error(), "shoal::put (an ObjectRef inside the value)");
  }
  s.objects().seal(slot, s.me());
  if (traced_since != 0) [[unlikely]]
    record_put((uint64_t(slot) << 32) | rec->gen, a.type_name, a.size, traced_since);
  return rec;
}

// ---- get ----

void check_blocking_allowed(const char* operation) {
  EventLoop* loop = EventLoop::current();
  if (loop != nullptr && loop->forbid_blocking()) {
    throw EventLoopBlockedError(std::string(operation) +
                                " would block the event loop of an async actor; "
                                "use co_await on the ObjectRef instead");
  }
}

ObjectBytes read_sealed(const RefRecord* rec) {
  Runtime& rt = runtime();
  // The record is the caller's: only the read count in it changes.
  auto v = rt.store->objects().begin_read(const_cast<RefRecord*>(rec), rt.store->me());
  if (!v) {
    throw_store_error(v.error(), ("reading object " + id_text(rec)).c_str(),
                      rt.store->objects().entry(rec->slot).size);
  }
  ObjectBytes b{CodecKind(v->codec), v->type_fp, v->data, v->size, ReadHold(rec, epoch())};
  if (v->codec == store::Codec::kError) throw_error_object(v->data, v->size);
  return b;
}

void end_read(const RefRecord* rec, uint32_t ref_epoch) noexcept {
  SessionGate::Pass pass;
  if (!pass || !current(ref_epoch)) return;
  runtime_or_null()->store->objects().end_read(const_cast<RefRecord*>(rec));
}

void add_read(const RefRecord* rec, uint32_t ref_epoch) noexcept {
  SessionGate::Pass pass;
  if (!pass || !current(ref_epoch)) return;
  runtime_or_null()->store->objects().add_reader(const_cast<RefRecord*>(rec));
}

ObjectBytes wait_and_read(const RefRecord* rec, std::optional<std::chrono::nanoseconds> timeout) {
  Runtime& rt = runtime();
  check_blocking_allowed("shoal::get");
  // A get of a sealed object is a zero-copy read that takes no time: the clock (~20 ns a read)
  // is read for it only if its object is large enough to be recorded. A get that waits is timed
  // from its start.
  const bool traced = timeline::recording();
  uint64_t traced_since = 0;
  store::Store& s = *rt.store;
  if (!s.objects().sealed(rec->slot)) {
    if (traced) [[unlikely]]
      traced_since = timeline::ticks();
    uint64_t deadline = 0;
    if (timeout) {
      const int64_t t = timeout->count() > 0 ? timeout->count() : 0;
      deadline = ipc::now_ns() + uint64_t(t);
      if (deadline == 0) deadline = 1;
    }
    switch (s.wait_sealed(rec->slot, rec->gen, deadline, ipc::SpinPolicy::kWaitSpinNs)) {
      case store::Store::Wait::kSealed:
        break;
      case store::Store::Wait::kTimedOut: {
        char buf[64];
        std::snprintf(buf, sizeof(buf), "%.3f ms", double(timeout->count()) / 1e6);
        throw GetTimeoutError("shoal::get: object " + id_text(rec) + " was not ready within " +
                              buf);
      }
      case store::Store::Wait::kCorrupt:
        throw StoreCorruptError("shoal::get: object " + id_text(rec) +
                                " changed under a reference (corrupt segment)");
    }
  }
  ObjectBytes b = read_sealed(rec);
  if (traced && b.size >= timeline::kObjectEventMinBytes) [[unlikely]] {
    record_get((uint64_t(rec->slot) << 32) | rec->gen, b.type_fp, b.size,
               traced_since != 0 ? traced_since : timeline::ticks());
  }
  return b;
}

void throw_type_mismatch(std::string_view expected_name, uint64_t actual_fp, const RefRecord* rec) {
  Runtime& rt = runtime();
  const std::string actual = rt.store->types().lookup(actual_fp);
  throw TypeMismatchError("shoal::get: object " + id_text(rec) + " holds a " + actual + ", not a " +
                              std::string(expected_name),
                          std::string(expected_name), actual);
}

void throw_decode_failure(std::string_view type_name, const char* why) {
  throw Error("shoal: cannot decode a " + std::string(type_name) + ": " + why);
}

uint64_t pins_made() noexcept {
  Runtime* rt = runtime_or_null();
  return rt != nullptr && rt->store != nullptr ? rt->store->pins_made() : 0;
}

WaitListMemo& wait_list_memo() {
  thread_local WaitListMemo memo;
  return memo;
}

void check_distinct_slots(std::vector<uint32_t> slots) {
  // Refs made one after another usually have slots in rising or falling
  // order: then they are distinct without sorting.
  bool rising = true, falling = true;
  for (size_t i = 1; i < slots.size(); ++i) {
    rising = rising && slots[i] > slots[i - 1];
    falling = falling && slots[i] < slots[i - 1];
  }
  if (rising || falling) return;
  std::sort(slots.begin(), slots.end());
  if (std::adjacent_find(slots.begin(), slots.end()) != slots.end()) {
    throw std::invalid_argument("shoal::wait: the same ObjectRef is listed twice");
  }
}

size_t wait_refs(const std::vector<const RefRecord*>& recs, size_t num_returns,
                 std::optional<std::chrono::nanoseconds> timeout, std::vector<char>& ready) {
  Runtime& rt = runtime();
  check_blocking_allowed("shoal::wait");
  store::Store& s = *rt.store;
  std::vector<uint64_t> packed;
  packed.reserve(recs.size());
  for (const RefRecord* r : recs)
    packed.push_back((uint64_t(r->slot) << 32) | r->gen);
  uint64_t deadline = 0;
  if (timeout) {
    const int64_t t = timeout->count() > 0 ? timeout->count() : 0;
    deadline = ipc::now_ns() + uint64_t(t);
    if (deadline == 0) deadline = 1;
  }
  if (s.wait_some(packed, num_returns, deadline, ipc::SpinPolicy::kWaitSpinNs) ==
      store::Store::Wait::kCorrupt) {
    throw StoreCorruptError("shoal::wait: an object changed under a reference (corrupt segment)");
  }
  ready.assign(recs.size(), 0);
  size_t n = 0;
  for (size_t i = 0; i < recs.size(); ++i) {
    if (s.objects().sealed(recs[i]->slot)) {
      ready[i] = 1;
      ++n;
    }
  }
  return n;
}

}  // namespace shoal::detail
