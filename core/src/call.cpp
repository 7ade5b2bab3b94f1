// Calls on the caller's side (encoding, submitting) and the callee's side
// (decoding, resolving references, writing the result).
#include <shoal/detail/call.hpp>

#include <cstring>

#include "core/src/attached_rings.hpp"
#include "core/src/call_trace.hpp"
#include "core/src/runtime.hpp"
#include "core/src/sealed_awaiter.hpp"
#include "ipc/request_ring.hpp"
#include "ipc/spin.hpp"
#include "store/error_payload.hpp"

namespace shoal::detail {

static_assert(kCallPayloadBytes == ipc::kRingPayloadBytes);

namespace {

thread_local std::vector<std::byte> t_arg_bytes;
thread_local std::vector<uint64_t> t_arg_refs;

constexpr uint64_t kCallArgsFingerprint = fnv1a("shoal::detail::CallArgs");

}  // namespace

// ---- encoding ----

ArgWriter::ArgWriter() : buf_(t_arg_bytes), refs_(t_arg_refs) {
  buf_.clear();
  refs_.clear();
}

void ArgWriter::append(ArgTag tag, const void* data, size_t len) {
  if (len > UINT32_MAX) throw Error("shoal: an argument larger than 4 GiB");
  const size_t at = buf_.size();
  buf_.resize(at + 5 + len);
  buf_[at] = std::byte(tag);
  const uint32_t n = uint32_t(len);
  std::memcpy(buf_.data() + at + 1, &n, 4);
  if (len != 0) std::memcpy(buf_.data() + at + 5, data, len);
}

void ArgWriter::add_ref(ArgTag tag, const ObjectRefBase& ref) {
  char id[16];
  pack_object_id(ref, id);  // does not collect: we record the child ourselves
  append(tag, id, 16);
  const RefRecord* rec = RefAccess::record(ref);
  refs_.push_back((uint64_t(rec->slot) << 32) | rec->gen);
}

// ---- decoding ----

ArgReader::Item ArgReader::next() {
  if (end_ - p_ < 5) throw_decode_failure("arguments", "fewer arguments than parameters");
  Item it;
  it.tag = ArgTag(uint8_t(*p_));
  std::memcpy(&it.len, p_ + 1, 4);
  p_ += 5;
  if (uint64_t(end_ - p_) < it.len)
    throw_decode_failure("arguments", "an argument runs past the end");
  if (it.tag < ArgTag::kRaw || it.tag > ArgTag::kRefResolve) {
    throw_decode_failure("arguments", "unknown argument tag");
  }
  it.data = p_;
  p_ += it.len;
  return it;
}

std::vector<ObjectId> refs_to_resolve(std::span<const std::byte> args) {
  std::vector<ObjectId> out;
  ArgReader r(args.data(), args.size());
  while (!r.done()) {
    const ArgReader::Item it = r.next();
    if (it.tag == ArgTag::kRefResolve) {
      out.push_back(unpack_object_id(reinterpret_cast<const char*>(it.data), it.len));
    }
  }
  return out;
}

const char* decode_call_cell(std::span<const std::byte, kCallPayloadBytes> payload,
                             uint32_t object_slots, uint32_t process_slots,
                             CallInput& in) noexcept {
  std::memcpy(&in.header, payload.data(), sizeof(CallHeader));
  const CallHeader& h = in.header;
  if ((h.flags & ~(kArgsInObject | kCallStamped | kCallGroupMask)) != 0) return "unknown flags";
  if (h.args_len > kInlineArgBytes) return "more inline argument bytes than the cell holds";
  if (h.result_slot >= object_slots) return "result slot outside the object table";
  if (h.caller >= process_slots) return "caller outside the process table";
  if ((h.flags & kArgsInObject) == 0) {
    std::memcpy(in.inline_args, payload.data() + sizeof(CallHeader), h.args_len);
  }
  return nullptr;
}

std::span<const std::byte> CallInput::args() const {
  if (header.flags & kArgsInObject) {
    if (!args_object.valid()) throw Error("shoal: the call's arguments object is gone");
    const ObjectBytes b = read_sealed(RefAccess::record(args_object));
    return {b.data, b.size};
  }
  return {inline_args, header.args_len};
}

Task<std::vector<ObjectRefBase>> resolve_args(std::span<const std::byte> args) {
  std::vector<ObjectRefBase> out;
  for (const ObjectId& id : refs_to_resolve(args)) {
    out.push_back(RefAccess::adopt<char>(pin_id(id)));
    co_await SealedAwaiter(out.back());
  }
  co_return out;
}

std::vector<ObjectRefBase> resolve_args_blocking(std::span<const std::byte> args) {
  std::vector<ObjectRefBase> out;
  Runtime& rt = runtime();
  for (const ObjectId& id : refs_to_resolve(args)) {
    out.push_back(RefAccess::adopt<char>(pin_id(id)));
    const RefRecord* rec = RefAccess::record(out.back());
    if (rt.store->wait_sealed(rec->slot, rec->gen, 0, ipc::SpinPolicy::kWaitSpinNs) !=
        store::Store::Wait::kSealed) {
      throw StoreCorruptError("shoal: an argument object changed under a reference");
    }
  }
  return out;
}

// ---- results ----

void complete_call(const CallTarget& target, const PutArgs& payload) {
  Runtime& rt = runtime();
  store::Store& s = *rt.store;
  auto fail_full = [&](const char* what) {
    store::ErrorPayload e;
    e.kind = store::ErrorKind::kStoreFull;
    e.message = std::string("shoal: the call's result (") + std::to_string(payload.size) +
                " bytes) does not fit in the object store: " + what;
    (void)store::seal_error(s, target.slot, e);
  };
  auto dst = s.objects().reserve_payload(target.slot, payload.size, s.me(), payload.align <= 16);
  if (!dst) {
    fail_full(store::to_string(dst.error()));
    return;
  }
  if (payload.size != 0) std::memcpy(*dst, payload.data, payload.size);
  s.objects().describe(target.slot, store::Codec(payload.codec), payload.type_fp, payload.size);
  if (payload.child_count != 0) {
    // The references inside the result live in a companion object the result
    // holds (its second child place).
    RefRecord* value = nullptr;
    try {
      value = put_object(payload);
    } catch (const std::exception& e) {
      fail_full(e.what());
      return;
    }
    (void)s.objects().add_child(target.slot, 1, (uint64_t(value->slot) << 32) | value->gen);
    s.unpin(value);
  }
  if (timeline::recording()) [[unlikely]]
    end_trace_of_result(target.slot, target.gen);  // seen in the timeline once seen sealed
  s.objects().seal(target.slot, s.me());
}

namespace {

// The notice of a dead actor, written by whoever declared the death.
std::string death_message(const ipc::ActorEntry& a) {
  // acquire: pairs with the release store of death_cause in kill_actor()
  // after the notice it writes. Notices written by other processes come
  // before the state store that showed us the actor dead.
  a.death_cause.load(std::memory_order_acquire);
  std::string m(a.death_message, strnlen(a.death_message, sizeof(a.death_message)));
  if (m.empty()) {
    m = "actor " + std::string(a.class_name, strnlen(a.class_name, sizeof(a.class_name))) +
        " is dead";
  }
  return m;
}

// Settles a result we created but could not hand to the actor.
void fail_here(store::Store& s, RefRecord* rec, store::ErrorKind kind, const std::string& message,
               const ipc::ActorEntry* a) {
  if (!s.objects().claim_for_failure(rec->slot, rec->gen, s.me())) return;
  store::ErrorPayload e;
  e.kind = kind;
  e.message = message;
  if (a) e.actor_class = std::string(a->class_name, strnlen(a->class_name, sizeof(a->class_name)));
  (void)store::seal_error(s, rec->slot, e);
}

// The actor's request ring failed validation: the call cannot be submitted.
// Settles and frees the result we created (nobody else holds it), then throws
// StoreCorruptError naming the ring and what failed.
[[noreturn]] void ring_corrupt(store::Store& s, RefRecord* rec, const ipc::ActorEntry& a,
                               uint32_t actor_index, const std::string& what) {
  const std::string message =
      "shoal: the request ring of actor " +
      std::string(a.class_name, strnlen(a.class_name, sizeof(a.class_name))) + " (entry " +
      std::to_string(actor_index) + " of the actor table) is corrupt: " + what;
  fail_here(s, rec, store::ErrorKind::kObjectLost, message, &a);
  s.unpin(rec);
  throw StoreCorruptError(message);
}

}  // namespace

RefRecord* submit_call(uint32_t actor_index, uint32_t actor_gen, uint32_t method,
                       uint32_t signature, const ArgWriter& args, uint32_t stream_bound,
                       uint32_t group) {
  Runtime& rt = runtime();
  store::Store& s = *rt.store;
  if (actor_index >= s.actor_count())
    throw UsageError("shoal: call on an empty or invalid ActorHandle");
  ipc::ActorEntry& a = s.actor(actor_index);
  auto created =
      s.create_object(store::ObjectState::kPending, store::WriterId::actor(actor_index), 2);
  if (!created) throw_store_error(created.error(), "submitting a call");
  RefRecord* rec = *created;
  // Published to the actor with the call (the ring's release of the cell).
  // A free entry's spill_word is 0 (free_locked()), so only a bound is written.
  if (stream_bound != 0) s.objects().set_call_bound(rec->slot, stream_bound);

  CallHeader h{};
  h.method = method;
  h.signature = signature;
  h.result_slot = rec->slot;
  h.result_gen = rec->gen;
  h.caller = s.me();
  const bool in_object = args.size() > kInlineArgBytes || !args.refs().empty();
  if (in_object) {
    PutArgs pa;
    pa.codec = CodecKind::kRaw;
    pa.type_fp = kCallArgsFingerprint;
    pa.type_name = "shoal::detail::CallArgs";
    pa.data = args.data();
    pa.size = args.size();
    pa.children = args.refs().data();
    pa.child_count = uint32_t(args.refs().size());
    RefRecord* arg_rec = nullptr;
    try {
      arg_rec = put_object(pa);
    } catch (const ObjectStoreFullError& e) {
      fail_here(s, rec, store::ErrorKind::kStoreFull, e.what(), &a);
      return rec;
    } catch (const std::exception& e) {
      fail_here(s, rec, store::ErrorKind::kObjectLost, e.what(), &a);
      return rec;
    }
    // The result holds the arguments (and every reference in them) from here on.
    (void)s.objects().add_child(rec->slot, 0, (uint64_t(arg_rec->slot) << 32) | arg_rec->gen);
    h.args_slot = arg_rec->slot;
    h.args_gen = arg_rec->gen;
    h.flags = kArgsInObject;
    s.unpin(arg_rec);
  } else {
    h.args_len = uint32_t(args.size());
  }
  if (group != kOwnGroup) h.flags |= uint16_t((group + 1) << kCallGroupShift);

  // Our result exists before we read the actor's state; the supervisor sets
  // the state before scanning for results to fail (Dekker): one of us sees
  // the other.
  // seq_cst fence: orders create_object()'s CAS on our result before the
  // state load below; pairs with the supervisor's seq_cst state store in
  // on_death(), which comes before its scan of the results.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  auto dead = [&]() {
    // seq_cst: the load of that Dekker (see the fence above).
    const auto st = ipc::ActorState(a.state.load(std::memory_order_seq_cst));
    return a.gen.load(std::memory_order_relaxed) != actor_gen || st == ipc::ActorState::kDead ||
           st == ipc::ActorState::kFree;
  };
  if (dead()) {
    fail_here(s, rec, store::ErrorKind::kActorDied,
              a.gen.load(std::memory_order_relaxed) != actor_gen ? "the actor no longer exists"
                                                                 : death_message(a),
              &a);
    return rec;
  }
  std::string ring_failure;
  ipc::RequestRing* ring =
      AttachedRings::mine().attach(s, a, actor_index, actor_gen, &ring_failure);
  if (ring == nullptr) ring_corrupt(s, rec, a, actor_index, ring_failure);
  ipc::RequestRing::Claim claim;
  ipc::Backoff spin(ipc::SpinPolicy::kWaitSpinNs);
  for (;;) {
    auto c = ring->try_claim(s.me());
    if (c) {
      claim = *c;
      break;
    }
    if (c.error() == ipc::RingError::kCorrupt) {
      ring_corrupt(s, rec, a, actor_index,
                   "the sequence word of the cell at its tail is neither free nor a lap behind");
    }
    // Full: the actor is behind. Spin a little, then sleep until it frees a cell.
    if (spin.step()) continue;
    ipc::WakeWord& not_full = ring->header().not_full;
    const uint32_t token = not_full.prepare();
    c = ring->try_claim(s.me());
    if (c) {
      claim = *c;
      break;
    }
    if (dead()) {
      fail_here(s, rec, store::ErrorKind::kActorDied, death_message(a), &a);
      return rec;
    }
    not_full.park(token, std::chrono::milliseconds(10));
  }
  std::byte* payload = claim.cell->payload;
  std::memcpy(payload, &h, sizeof(h));
  if (!in_object && args.size() != 0) std::memcpy(payload + sizeof(h), args.data(), args.size());
  if (timeline::recording()) [[unlikely]]
    stamp_call(payload, in_object ? 0 : args.size());
  ring->publish(claim, s.me());
  const uint32_t consumer = ring->header().consumer.load(std::memory_order_relaxed);
  if (s.processes().valid(ipc::ProcessSlotId(consumer))) {
    s.processes().slot(ipc::ProcessSlotId(consumer)).wake.notify();
  }
  return rec;
}

}  // namespace shoal::detail
