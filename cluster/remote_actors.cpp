#include "cluster/remote_actors.hpp"

#include <cstring>

#include <shoal/detail/call.hpp>

#include "ipc/spin.hpp"
#include "launcher/actor_lifecycle.hpp"
#include "launcher/actor_requests.hpp"
#include "launcher/actor_start.hpp"
#include "launcher/supervisor.hpp"
#include "store/error_payload.hpp"

namespace shoal::cluster {

namespace {

using detail::CallHeader;
using launcher::ActorKind;
using launcher::DeathCause;

// How often the slow checks run: proxies' handles and owners, the pids of
// the actors started here, a look at every result in case a seal's notice
// was lost (ReadyQueue).
constexpr uint64_t kSlowEveryNs = 10'000'000;
// Calls forwarded from one proxy's ring per turn: the others get their turn.
constexpr int kCellsPerTurn = 256;
// The most a call's arguments or a result may carry across nodes today.
constexpr uint64_t kMaxCallArgs = kMaxBody - sizeof(CallBody);
constexpr uint64_t kMaxResult = kMaxBody - sizeof(ResultBody);

std::string text(const char* field, size_t cap) {
  return std::string(field, strnlen(field, cap));
}

uint64_t call_id(uint32_t slot, uint32_t gen) {
  return (uint64_t(slot) << 32) | gen;
}

template <class T>
bool read_body(std::span<const std::byte> body, T* out) {
  if (body.size() < sizeof(T)) return false;
  std::memcpy(out, body.data(), sizeof(T));
  return true;
}

}  // namespace

RemoteActors::RemoteActors(Gateway& gateway, store::Store& store) : gw_(gateway), s_(store) {}

void RemoteActors::install() {
  gw_.add_service(this);
  // release: pairs with the acquire loads of creators (create_actor()) and
  // of kill()/cancel(); our slot is claimed and the rings we serve exist.
  s_.header().gateway_slot.store(uint32_t(s_.me()) + 1, std::memory_order_release);
}

bool RemoteActors::handles(MessageType type) const {
  return uint16_t(type) >= uint16_t(MessageType::kCreateActor) &&
         uint16_t(type) <= uint16_t(MessageType::kLookedUp);
}

void RemoteActors::deliver(int from, MessageType type, std::span<const std::byte> body) {
  switch (type) {
    case MessageType::kCreateActor:
      return on_create(from, body);
    case MessageType::kActorCreated:
      return on_created(from, body);
    case MessageType::kActorPid:
      return on_pid(from, body);
    case MessageType::kKillActor:
      return on_kill(from, body, true);
    case MessageType::kReleaseActor:
      return on_kill(from, body, false);
    case MessageType::kCall:
      return on_call(from, body);
    case MessageType::kResult:
      return on_result(from, body);
    case MessageType::kCancel:
      return on_cancel(from, body);
    case MessageType::kLookup:
      return on_lookup(from, body);
    case MessageType::kLookedUp:
      return on_looked_up(from, body);
    default:
      return;
  }
}

bool RemoteActors::poll() {
  bool worked = false;
  // acquire: pairs with the release fetch_add of notify_gateway(): the
  // entries created or killed before it are seen.
  const uint32_t epoch = s_.header().remote_epoch.load(std::memory_order_acquire);
  const uint64_t now = ipc::now_ns();
  const bool slow = now >= next_slow_ns_;
  if (slow) next_slow_ns_ = now + kSlowEveryNs;
  if (epoch != epoch_seen_ || slow) {
    epoch_seen_ = epoch;
    scan_proxies();
  }
  for (auto it = proxies_.begin(); it != proxies_.end();) {
    const uint32_t index = it->first;
    Proxy& p = it->second;
    ++it;  // check_proxy() may erase this one
    if (p.created) worked |= forward_calls(index, p);
    check_proxy(index, p, slow);
  }
  worked |= push_waiting();
  worked |= collect_results(slow);
  if (slow) report_pids();
  return worked;
}

// ------------------------------------------------------------------ outbound

void RemoteActors::scan_proxies() {
  const uint32_t me = uint32_t(s_.me());
  for (uint32_t i = 0; i < s_.actor_count(); ++i) {
    ipc::ActorEntry& e = s_.actor(i);
    // acquire: pairs with start_actor()'s seq_cst store of kAlive, after it
    // filled the entry and formatted the ring.
    const auto st = ipc::ActorState(e.state.load(std::memory_order_acquire));
    if (e.kind != uint32_t(ActorKind::kRemote)) continue;
    // relaxed: written before the state store that published the entry.
    const bool lookup =
        e.lookup.load(std::memory_order_relaxed) == uint32_t(launcher::Lookup::kSearching);
    if (st != ipc::ActorState::kAlive && !(lookup && st == ipc::ActorState::kStarting)) continue;
    const uint32_t gen = e.gen.load(std::memory_order_relaxed);
    if (auto known = proxies_.find(i); known != proxies_.end() && known->second.gen == gen) {
      continue;
    }
    auto ring = ipc::RequestRing::attach(s_.base() + e.ring_off, e.ring_bytes);
    // relaxed: written before the state store that published the entry.
    if (!ring || ring->header().consumer.load(std::memory_order_relaxed) != me) continue;
    Proxy p;
    p.gen = gen;
    p.node = e.home_node;
    p.owned = e.lifetime == uint32_t(launcher::ActorLifetime::kOwned);
    p.ring = *ring;
    // relaxed: the epoch only tells us to look at the results again.
    p.cancel_epoch = e.cancel_epoch.load(std::memory_order_relaxed);
    p.lookup = lookup;
    Proxy& placed = proxies_[i] = p;
    if (!lookup) {
      send_creation(i, placed);
      continue;
    }
    // get_actor() of a name this node does not have: every other node is asked.
    LookupBody b{};
    b.proxy_index = i;
    b.proxy_gen = gen;
    b.class_id = e.class_id;
    std::memcpy(b.name, e.name, kWireNameBytes);
    for (int n = 0; n < gw_.num_nodes(); ++n) {
      if (n == gw_.node()) continue;
      gw_.send(n, MessageType::kLookup, &b, sizeof(b));
      ++placed.answers_pending;
    }
    if (placed.answers_pending == 0) {
      end_proxy(i, ipc::ActorState::kDead, launcher::Lookup::kNotFound,
                "shoal::get_actor: no live actor named \"" + text(e.name, sizeof(e.name)) + "\"");
    }
  }
}

void RemoteActors::send_creation(uint32_t index, Proxy& p) {
  ipc::ActorEntry& e = s_.actor(index);
  auto fail_creation = [&](const std::string& why) {
    end_proxy(index, ipc::ActorState::kDead, launcher::Lookup::kNone, why);
  };

  CreateActorBody b{};
  b.proxy_index = index;
  b.proxy_gen = p.gen;
  b.class_id = e.class_id;
  b.ctor_id = e.ctor_id;
  b.kind = e.home_kind;
  b.max_concurrency = e.max_concurrency;
  b.max_restarts = e.max_restarts;
  b.cpu = e.cpu;
  b.generator_backpressure = e.generator_backpressure;
  b.ring_cells = uint32_t((e.ring_bytes - sizeof(ipc::RingHeader)) / sizeof(ipc::RingCell));
  b.group_count = e.group_count > 0 ? e.group_count - 1 : 0;
  if (b.group_count > kWireGroups) b.group_count = kWireGroups;
  for (uint32_t g = 0; g < b.group_count; ++g) {
    b.group_limit[g] = e.group_limit[g + 1];
    std::memcpy(b.group_name[g], e.group_name[g + 1], kWireGroupNameBytes);
  }
  std::memcpy(b.class_name, e.class_name, kWireNameBytes);
  std::memcpy(b.name, e.name, kWireNameBytes);
  // The constructor's arguments: the entry's object, held by the actor's
  // token (owned) or the supervisor (detached) while the actor lives.
  store::PayloadView args{};
  store::RefRecord* held = nullptr;
  if (e.ctor_args != 0) {
    auto pinned = s_.pin(uint32_t(e.ctor_args >> 32), uint32_t(e.ctor_args));
    if (!pinned) {
      return fail_creation("actor " + text(e.class_name, sizeof(e.class_name)) +
                           " could not be created on node " + std::to_string(p.node) +
                           ": its constructor's arguments are gone");
    }
    held = *pinned;
    auto read = s_.objects().read(held->slot);
    if (read) args = *read;
  }
  if (args.size > kMaxBody - sizeof(CreateActorBody)) {
    if (held) s_.unpin(held);
    return fail_creation("actor " + text(e.class_name, sizeof(e.class_name)) +
                         " could not be created on node " + std::to_string(p.node) + ": its " +
                         std::to_string(args.size) + " bytes of constructor arguments exceed the " +
                         std::to_string(kMaxBody - sizeof(CreateActorBody)) +
                         " bytes that cross nodes with a creation");
  }
  b.args_type_fp = args.type_fp;
  b.args_bytes = uint32_t(args.size);
  std::byte* out =
      gw_.append(int(p.node), MessageType::kCreateActor, uint32_t(sizeof(b) + args.size));
  if (out != nullptr) {
    std::memcpy(out, &b, sizeof(b));
    if (args.size != 0) std::memcpy(out + sizeof(b), args.data, args.size);
  }
  if (held) s_.unpin(held);
  if (out == nullptr) fail_creation("the job is ending: no actor can be created on another node");
}

void RemoteActors::on_created(int from, std::span<const std::byte> body) {
  ActorCreatedBody b;
  if (!read_body(body, &b)) return;
  auto it = proxies_.find(b.proxy_index);
  if (it == proxies_.end() || it->second.gen != b.proxy_gen) {
    // The proxy died meanwhile (killed, unreferenced): so does the actor.
    if (b.ok) {
      const ActorRefBody r{b.index, b.gen, b.proxy_index, b.proxy_gen};
      gw_.send(from, MessageType::kKillActor, &r, sizeof(r));
    }
    return;
  }
  Proxy& p = it->second;
  if (!b.ok) {
    const size_t n =
        body.size() - sizeof(b) < b.message_bytes ? body.size() - sizeof(b) : b.message_bytes;
    const std::string message(reinterpret_cast<const char*>(body.data() + sizeof(b)), n);
    end_proxy(b.proxy_index, ipc::ActorState::kDead, launcher::Lookup::kNone, message);
    return;
  }
  p.created = true;
  p.remote_index = b.index;
  p.remote_gen = b.gen;
}

void RemoteActors::on_pid(int, std::span<const std::byte> body) {
  ActorPidBody b;
  if (!read_body(body, &b)) return;
  auto it = proxies_.find(b.proxy_index);
  if (it == proxies_.end() || it->second.gen != b.proxy_gen) return;
  // release: pairs with actor_pid()'s acquire load.
  s_.actor(b.proxy_index).remote_pid.store(b.pid, std::memory_order_release);
}

// Fails the pending result (slot, gen) of a call that cannot cross nodes.
void RemoteActors::fail_call_here(uint32_t slot, uint32_t gen, const std::string& message) {
  if (!s_.objects().claim_for_failure(slot, gen, s_.me())) return;
  store::ErrorPayload e;
  e.kind = store::ErrorKind::kTask;
  e.exception_type = "shoal::Error";
  e.message = message;
  (void)store::seal_error(s_, slot, e);
}

bool RemoteActors::forward_calls(uint32_t index, Proxy& p) {
  bool worked = false;
  for (int n = 0; n < kCellsPerTurn; ++n) {
    ipc::RingCell* cell = nullptr;
    const auto peek = p.ring.try_peek(&cell);
    if (peek == ipc::RequestRing::Peek::kSkipped) {
      worked = true;
      continue;
    }
    if (peek != ipc::RequestRing::Peek::kReady) break;
    worked = true;
    CallHeader h;
    std::memcpy(&h, cell->payload, sizeof(h));
    const uint64_t id = call_id(h.result_slot, h.result_gen);
    std::span<const std::byte> args;
    store::RefRecord* args_rec = nullptr;
    std::string refused;
    if ((h.flags & detail::kArgsInObject) != 0) {
      auto pinned = s_.pin(h.args_slot, h.args_gen);
      if (!pinned) {
        refused = "shoal: the call's arguments object is gone";
      } else {
        args_rec = *pinned;
        auto kids = s_.objects().children(args_rec->slot);
        auto read = s_.objects().read(args_rec->slot);
        if (kids && !kids->empty()) {
          refused =
              "shoal: ObjectRefs among a call's arguments do not cross nodes yet (the actor "
              "lives on node " +
              std::to_string(p.node) + "); pass the values instead";
        } else if (!read) {
          refused = "shoal: the call's arguments object cannot be read";
        } else if (read->size > kMaxCallArgs) {
          refused = "shoal: a call's arguments of " + std::to_string(read->size) +
                    " bytes exceed the " + std::to_string(kMaxCallArgs) +
                    " bytes a call to another node carries today";
        } else {
          args = {read->data, read->size};
        }
      }
    } else {
      const uint32_t len = h.args_len <= detail::kInlineArgBytes ? h.args_len : 0;
      args = {cell->payload + sizeof(CallHeader), len};
    }
    std::byte* out = nullptr;
    if (refused.empty()) {
      out = gw_.append(int(p.node), MessageType::kCall, uint32_t(sizeof(CallBody) + args.size()));
      if (out == nullptr) refused = "shoal: the job is ending: the call cannot reach its node";
    }
    if (out != nullptr) {
      CallBody b{};
      b.call_id = id;
      b.index = p.remote_index;
      b.gen = p.remote_gen;
      b.method = h.method;
      b.signature = h.signature;
      b.flags = uint16_t(h.flags & detail::kCallGroupMask);
      b.stream_bound = s_.objects().call_bound(h.result_slot);
      b.args_bytes = uint32_t(args.size());
      std::memcpy(out, &b, sizeof(b));
      if (!args.empty()) std::memcpy(out + sizeof(b), args.data(), args.size());
      outbound_[id] = Outbound{index, false};
      ++p.in_flight;
      s_.header().calls_out.fetch_add(1, std::memory_order_relaxed);  // a counter for status
    }
    if (args_rec) s_.unpin(args_rec);
    p.ring.release_head();
    if (!refused.empty()) fail_call_here(h.result_slot, h.result_gen, refused);
  }
  return worked;
}

void RemoteActors::check_proxy(uint32_t index, Proxy& p, bool slow) {
  ipc::ActorEntry& e = s_.actor(index);
  // acquire: pairs with the seq_cst stores of kDead (kill_actor(), the
  // supervisor's kill_owned_actors()), which failed the calls here first.
  const auto st = ipc::ActorState(e.state.load(std::memory_order_acquire));
  const bool searching = p.lookup && !p.created && st == ipc::ActorState::kStarting;
  if (e.gen.load(std::memory_order_relaxed) != p.gen ||
      (st != ipc::ActorState::kAlive && !searching)) {
    if (p.created) {
      // kill() ends the actor there; so does its creator's death, for one it
      // created. Otherwise (a found actor, or its handles gone) it is let go.
      // acquire: pairs with the seq_cst CAS that set the cause.
      const auto cause = DeathCause(e.death_cause.load(std::memory_order_acquire));
      const bool kill =
          cause == DeathCause::kKilled || (cause == DeathCause::kOwnerDied && !p.lookup);
      const ActorRefBody r{p.remote_index, p.remote_gen, index, p.gen};
      gw_.send(int(p.node), kill ? MessageType::kKillActor : MessageType::kReleaseActor, &r,
               sizeof(r));
    }
    // Its calls in flight were failed with its death; their answers are dropped.
    for (auto it = outbound_.begin(); it != outbound_.end();) {
      it = it->second.proxy == index ? outbound_.erase(it) : std::next(it);
    }
    proxies_.erase(index);
    return;
  }
  // acquire: pairs with request_cancel()'s seq_cst bump after it flagged a result.
  const uint32_t cancels = e.cancel_epoch.load(std::memory_order_acquire);
  if (cancels != p.cancel_epoch) {
    p.cancel_epoch = cancels;
    for (auto& [id, out] : outbound_) {
      if (out.proxy != index || out.cancel_sent) continue;
      if (!s_.objects().cancel_requested(uint32_t(id >> 32))) continue;
      out.cancel_sent = true;
      const CancelBody c{id};
      gw_.send(int(p.node), MessageType::kCancel, &c, sizeof(c));
    }
  }
  if (!slow || !p.owned || !p.created || p.in_flight != 0 || e.token == 0) return;
  // An owned actor whose handles are all gone, with nothing queued or in
  // flight: it ends (its node ends it once its ring is empty), as a local
  // one does (ActorProcess::unreferenced()).
  const uint32_t slot = uint32_t(e.token >> 32), gen = uint32_t(e.token);
  if (!s_.objects().valid_slot(slot)) return;
  const store::ObjectEntry& t = s_.objects().entry(slot);
  // acquire: pairs with the release store that unlocks the entry after the
  // last holder's unpin; what it pushed into the ring before is visible.
  const uint64_t c = t.ctrl.load(std::memory_order_acquire);
  const bool unreferenced = t.gen.load(std::memory_order_relaxed) != gen ||
                            (store::Ctrl::lock(c) == 0 && store::Ctrl::pins(c) == 0);
  // depth() counts cells still being written too: none may be left behind.
  if (!unreferenced || p.ring.depth() != 0) return;
  uint32_t none = uint32_t(DeathCause::kNone);
  // seq_cst, as kill_actor()'s CAS: the first cause set writes the notice.
  if (e.death_cause.compare_exchange_strong(none, uint32_t(DeathCause::kUnreferenced),
                                            std::memory_order_seq_cst)) {
    launcher::copy_text(e.death_message, sizeof(e.death_message),
                        "actor " + text(e.class_name, sizeof(e.class_name)) +
                            " exited: no handle referred to it any more (Lifetime::kOwned)");
  }
  // seq_cst: pairs with the seq_cst state load in submit_call()'s dead().
  e.state.store(uint32_t(ipc::ActorState::kDead), std::memory_order_seq_cst);
  launcher::fail_calls_of(s_, index);  // none pending; retires the token
  const ActorRefBody r{p.remote_index, p.remote_gen, index, p.gen};
  gw_.send(int(p.node), MessageType::kReleaseActor, &r, sizeof(r));
  proxies_.erase(index);
}

void RemoteActors::on_result(int, std::span<const std::byte> body) {
  ResultBody b;
  if (!read_body(body, &b) || body.size() - sizeof(b) < b.bytes) return;
  auto it = outbound_.find(b.call_id);
  if (it == outbound_.end()) return;  // its proxy died: failed already
  if (auto p = proxies_.find(it->second.proxy); p != proxies_.end() && p->second.in_flight > 0) {
    --p->second.in_flight;
  }
  outbound_.erase(it);
  const uint32_t slot = uint32_t(b.call_id >> 32), gen = uint32_t(b.call_id);
  // kClaimedCancelled too: the other node's answer is the call's outcome
  // (a cancel that came too late there leaves the value).
  if (s_.objects().claim(slot, gen, s_.me()) == store::ClaimResult::kGone) return;
  const std::byte* data = body.data() + sizeof(b);
  auto dst = s_.objects().reserve_payload(slot, b.bytes, s_.me(), (b.flags & kResultInlineOk) != 0);
  if (!dst) {
    store::ErrorPayload e;
    e.kind = store::ErrorKind::kStoreFull;
    e.message = "shoal: the call's result (" + std::to_string(b.bytes) +
                " bytes, from another node) does not fit in this node's object store: " +
                store::to_string(dst.error());
    (void)store::seal_error(s_, slot, e);
    return;
  }
  if (b.bytes != 0) std::memcpy(*dst, data, b.bytes);
  s_.objects().describe(slot, store::Codec(b.codec), b.type_fp, b.bytes);
  s_.objects().seal(slot, s_.me());
}

// ------------------------------------------------------------------- inbound

void RemoteActors::on_create(int from, std::span<const std::byte> body) {
  CreateActorBody b;
  if (!read_body(body, &b) || body.size() - sizeof(b) < b.args_bytes) return;
  auto answer_failure = [&](const std::string& message) {
    ActorCreatedBody r{b.proxy_index, b.proxy_gen, 0, 0, 0, uint32_t(message.size())};
    std::byte* out =
        gw_.append(from, MessageType::kActorCreated, uint32_t(sizeof(r) + r.message_bytes));
    if (out == nullptr) return;
    std::memcpy(out, &r, sizeof(r));
    std::memcpy(out + sizeof(r), message.data(), message.size());
  };
  const std::string cls = text(b.class_name, sizeof(b.class_name));
  const std::string here = " on node " + std::to_string(gw_.node());
  // acquire: pairs with the node server's release store of its slot.
  const uint32_t spawner = s_.header().node_spawner.load(std::memory_order_acquire);
  if (spawner == 0 || s_.processes().is_dead(ipc::ProcessSlotId(spawner - 1))) {
    return answer_failure("actor " + cls + " could not be created" + here +
                          ": that node has no node server running (the program must call "
                          "shoal::init() before anything that could fail or exit)");
  }
  // The constructor's arguments, as the creator's node has them.
  auto created = s_.create_object(store::ObjectState::kWriting, store::WriterId::process(s_.me()));
  if (!created) {
    return answer_failure("actor " + cls + " could not be created" + here + ": " +
                          store::to_string(created.error()));
  }
  store::RefRecord* args = *created;
  auto dst = s_.objects().reserve_payload(args->slot, b.args_bytes, s_.me(), false);
  if (!dst) {
    s_.objects().describe(args->slot, store::Codec::kNone, 0, 0);
    s_.objects().seal(args->slot, s_.me());
    s_.unpin(args);
    return answer_failure("actor " + cls + " could not be created" + here +
                          ": its constructor's arguments do not fit in the object store: " +
                          store::to_string(dst.error()));
  }
  if (b.args_bytes != 0) std::memcpy(*dst, body.data() + sizeof(b), b.args_bytes);
  s_.objects().describe(args->slot, store::Codec::kRaw, b.args_type_fp, b.args_bytes);
  s_.objects().seal(args->slot, s_.me());
  // The actor is owned by this gateway: its token (which holds the
  // arguments) lives while the creator's node holds handles to it.
  auto token = s_.create_object(store::ObjectState::kPending, store::WriterId::process(s_.me()), 1);
  if (!token) {
    s_.unpin(args);
    return answer_failure("actor " + cls + " could not be created" + here + ": " +
                          store::to_string(token.error()));
  }
  const uint64_t child = store::pack_child(args->slot, args->gen);
  (void)s_.objects().set_children((*token)->slot, &child, 1, s_.me());
  launcher::NewActor n;
  n.class_name = cls;
  n.class_id = b.class_id;
  n.ctor_id = b.ctor_id;
  n.kind = ActorKind(b.kind);
  n.max_concurrency = b.max_concurrency;
  n.max_restarts = b.max_restarts;
  n.cpu = b.cpu;
  n.generator_backpressure = b.generator_backpressure;
  n.name = text(b.name, sizeof(b.name));
  n.ring_cells = b.ring_cells;
  n.ctor_args = child;
  n.lifetime = launcher::ActorLifetime::kOwned;
  n.token = store::pack_child((*token)->slot, (*token)->gen);
  for (uint32_t g = 0; g < b.group_count && g < kWireGroups; ++g) {
    n.groups.push_back(
        launcher::GroupLimit{text(b.group_name[g], sizeof(b.group_name[g])), b.group_limit[g]});
  }
  n.owner = s_.me();
  n.spawner = spawner - 1;
  const bool valid_kind =
      n.kind == ActorKind::kThreaded || n.kind == ActorKind::kAsync || n.kind == ActorKind::kWorker;
  auto started =
      valid_kind ? launcher::start_actor(s_, n)
                 : Result<launcher::StartedActor, launcher::StartError>(fail(launcher::StartError{
                       launcher::StartFailure::kNameTaken, "shoal: not an actor kind", {}, 0}));
  s_.unpin(args);  // the token holds them
  if (!started) {
    s_.unpin(*token);
    const launcher::StartError& e = started.error();
    return answer_failure(e.what == launcher::StartFailure::kRingDoesNotFit
                              ? "actor " + cls + " could not be created" + here +
                                    ": its request ring does not " +
                                    "fit in the object store: " + store::to_string(e.store_error)
                              : "actor " + cls + " could not be created" + here + ": " + e.message);
  }
  Hosted h;
  h.index = started->index;
  h.gen = started->gen;
  h.from = from;
  h.proxy_index = b.proxy_index;
  h.proxy_gen = b.proxy_gen;
  h.token = *token;
  hosted_[{from, b.proxy_index, b.proxy_gen}] = h;
  const ActorCreatedBody r{b.proxy_index, b.proxy_gen, started->index, started->gen, 1, 0};
  gw_.send(from, MessageType::kActorCreated, &r, sizeof(r));
}

void RemoteActors::report_pids() {
  for (auto it = hosted_.begin(); it != hosted_.end();) {
    Hosted& h = it->second;
    const ipc::ActorEntry& e = s_.actor(h.index);
    if (e.gen.load(std::memory_order_relaxed) != h.gen) {
      unpin_token(h);
      it = hosted_.erase(it);
      continue;
    }
    // acquire: pairs with the release store of pid in ActorProcess::run().
    const int32_t pid = e.pid.load(std::memory_order_acquire);
    if (pid > 0 && pid != h.pid_sent) {
      h.pid_sent = pid;
      const ActorPidBody b{h.proxy_index, h.proxy_gen, pid, 0};
      gw_.send(h.from, MessageType::kActorPid, &b, sizeof(b));
    }
    ++it;
  }
}

void RemoteActors::on_kill(int from, std::span<const std::byte> body, bool kill) {
  ActorRefBody b;
  if (!read_body(body, &b)) return;
  auto it = hosted_.find({from, b.proxy_index, b.proxy_gen});
  if (it == hosted_.end() || it->second.index != b.index || it->second.gen != b.gen) return;
  if (kill) (void)launcher::kill_actor(s_, b.index, b.gen);
  // Released: the actor ends once its ring is empty and nobody here holds
  // a handle either (ActorProcess::unreferenced()).
  unpin_token(it->second);
  hosted_.erase(it);
}

void RemoteActors::answer_error(int from, uint64_t id, uint32_t kind, const std::string& message,
                                const ipc::ActorEntry* actor) {
  store::ErrorPayload e;
  e.kind = store::ErrorKind(kind);
  e.message = message;
  if (actor) e.actor_class = text(actor->class_name, sizeof(actor->class_name));
  const std::string bytes = store::encode_error(e);
  std::byte* out =
      gw_.append(from, MessageType::kResult, uint32_t(sizeof(ResultBody) + bytes.size()));
  if (out == nullptr) return;
  const ResultBody r{id, 0, uint32_t(store::Codec::kError), kResultInlineOk, 0, bytes.size()};
  std::memcpy(out, &r, sizeof(r));
  std::memcpy(out + sizeof(r), bytes.data(), bytes.size());
}

ipc::RequestRing* RemoteActors::ring_of(uint32_t index, uint32_t gen) {
  Attached& a = rings_[index];
  if (a.ring.valid() && a.gen == gen) return &a.ring;
  const ipc::ActorEntry& e = s_.actor(index);
  auto ring = ipc::RequestRing::attach(s_.base() + e.ring_off, e.ring_bytes);
  if (!ring) return nullptr;
  a.gen = gen;
  a.ring = *ring;
  return &a.ring;
}

void RemoteActors::on_call(int from, std::span<const std::byte> body) {
  CallBody b;
  if (!read_body(body, &b) || body.size() - sizeof(b) < b.args_bytes) return;
  const uint32_t kDied = uint32_t(store::ErrorKind::kActorDied);
  s_.header().calls_in.fetch_add(1, std::memory_order_relaxed);  // a counter for status
  if (b.index >= s_.actor_count()) {
    return answer_error(from, b.call_id, kDied, "the actor no longer exists", nullptr);
  }
  ipc::ActorEntry& a = s_.actor(b.index);
  auto created = s_.create_object(store::ObjectState::kPending, store::WriterId::actor(b.index), 2);
  if (!created) {
    return answer_error(from, b.call_id, uint32_t(store::ErrorKind::kStoreFull),
                        "shoal: no room to record the call on node " + std::to_string(gw_.node()) +
                            ": " + store::to_string(created.error()),
                        &a);
  }
  store::RefRecord* rec = *created;
  if (b.stream_bound != 0) s_.objects().set_call_bound(rec->slot, b.stream_bound);
  Inbound in{rec, from, b.call_id};
  inbound_[rec->slot] = in;
  inbound_by_call_[{from, b.call_id}] = rec->slot;
  // The seal puts the result on our ReadyQueue; a seal before this finds no
  // waiter, which the look at the state in collect_results() catches.
  (void)s_.objects().register_loop_waiter(rec->slot, s_.me());

  CallHeader h{};
  h.method = b.method;
  h.signature = b.signature;
  h.result_slot = rec->slot;
  h.result_gen = rec->gen;
  h.caller = uint16_t(s_.me());
  h.flags = uint16_t(b.flags & detail::kCallGroupMask);
  Cell cell{};
  const std::byte* args = body.data() + sizeof(b);
  if (b.args_bytes <= detail::kInlineArgBytes) {
    h.args_len = b.args_bytes;
    if (b.args_bytes != 0) std::memcpy(cell.data() + sizeof(h), args, b.args_bytes);
  } else {
    auto obj = s_.create_object(store::ObjectState::kWriting, store::WriterId::process(s_.me()));
    std::optional<std::string> error;
    if (!obj) {
      error = store::to_string(obj.error());
    } else {
      auto dst = s_.objects().reserve_payload((*obj)->slot, b.args_bytes, s_.me(), false);
      if (!dst) {
        error = store::to_string(dst.error());
        s_.objects().describe((*obj)->slot, store::Codec::kNone, 0, 0);
      } else {
        std::memcpy(*dst, args, b.args_bytes);
        s_.objects().describe((*obj)->slot, store::Codec::kRaw, 0, b.args_bytes);
      }
      s_.objects().seal((*obj)->slot, s_.me());
      if (!error) {
        // The result holds the arguments from here on, as a local call's does.
        (void)s_.objects().add_child(rec->slot, 0, store::pack_child((*obj)->slot, (*obj)->gen));
        h.args_slot = (*obj)->slot;
        h.args_gen = (*obj)->gen;
        h.flags |= detail::kArgsInObject;
      }
      s_.unpin(*obj);
    }
    if (error) {
      if (s_.objects().claim_for_failure(rec->slot, rec->gen, s_.me())) {
        store::ErrorPayload e;
        e.kind = store::ErrorKind::kStoreFull;
        e.message = "shoal: the call's arguments (" + std::to_string(b.args_bytes) +
                    " bytes) do not fit in the object store of node " + std::to_string(gw_.node()) +
                    ": " + *error;
        (void)store::seal_error(s_, rec->slot, e);
      }
      return;
    }
  }
  std::memcpy(cell.data(), &h, sizeof(h));
  // Our result exists before we read the actor's state; the supervisor sets
  // the state before scanning for results to fail (Dekker, as submit_call()).
  // seq_cst fence: orders create_object()'s CAS before the state load;
  // pairs with the supervisor's seq_cst state store in on_death().
  std::atomic_thread_fence(std::memory_order_seq_cst);
  // seq_cst: the load of that Dekker.
  const auto st = ipc::ActorState(a.state.load(std::memory_order_seq_cst));
  const bool gone = a.gen.load(std::memory_order_relaxed) != b.gen ||
                    st == ipc::ActorState::kDead || st == ipc::ActorState::kFree ||
                    a.kind == uint32_t(ActorKind::kRemote);
  if (gone) {
    if (s_.objects().claim_for_failure(rec->slot, rec->gen, s_.me())) {
      store::ErrorPayload e;
      e.kind = store::ErrorKind::kActorDied;
      e.actor_class = text(a.class_name, sizeof(a.class_name));
      // acquire: pairs with the release of death_cause after its notice.
      a.death_cause.load(std::memory_order_acquire);
      e.message = a.gen.load(std::memory_order_relaxed) != b.gen
                      ? std::string("the actor no longer exists")
                      : text(a.death_message, sizeof(a.death_message));
      if (e.message.empty()) e.message = "actor " + e.actor_class + " is dead";
      (void)store::seal_error(s_, rec->slot, e);
    }
    return;
  }
  // In arrival order: behind the calls already waiting for room.
  auto w = waiting_.find(b.index);
  if (w != waiting_.end() && !w->second.empty()) {
    w->second.push_back(Waiting{in, cell});
    return;
  }
  if (!push_cell(b.index, cell)) waiting_[b.index].push_back(Waiting{in, cell});
}

// Pushes one cell into actor `index`'s ring; false if the ring is full.
bool RemoteActors::push_cell(uint32_t index, const Cell& cell) {
  ipc::ActorEntry& a = s_.actor(index);
  ipc::RequestRing* ring = ring_of(index, a.gen.load(std::memory_order_relaxed));
  CallHeader h;
  std::memcpy(&h, cell.data(), sizeof(h));
  // A ring that fails validation: the call ends with an error naming it.
  auto corrupt = [&] {
    if (!s_.objects().claim_for_failure(h.result_slot, h.result_gen, s_.me())) return true;
    store::ErrorPayload e;
    e.kind = store::ErrorKind::kObjectLost;
    e.message = "shoal: the request ring of actor " + text(a.class_name, sizeof(a.class_name)) +
                " on node " + std::to_string(gw_.node()) + " is corrupt";
    (void)store::seal_error(s_, h.result_slot, e);
    return true;
  };
  if (ring == nullptr) return corrupt();
  auto claim = ring->try_claim(s_.me());
  if (!claim) return claim.error() == ipc::RingError::kFull ? false : corrupt();
  std::memcpy(claim->cell->payload, cell.data(), cell.size());
  ring->publish(*claim, s_.me());
  // relaxed: the consumer's slot; a stale one only costs a wake-up, as in submit_call().
  const uint32_t consumer = ring->header().consumer.load(std::memory_order_relaxed);
  if (s_.processes().valid(ipc::ProcessSlotId(consumer))) {
    s_.processes().slot(ipc::ProcessSlotId(consumer)).wake.notify();
  }
  return true;
}

bool RemoteActors::push_waiting() {
  bool worked = false;
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    std::deque<Waiting>& q = it->second;
    const ipc::ActorEntry& a = s_.actor(it->first);
    // acquire: as the Dekker load in on_call(); a dead actor's queued
    // calls were failed by the supervisor's scan (their results exist).
    const auto st = ipc::ActorState(a.state.load(std::memory_order_acquire));
    if (st == ipc::ActorState::kDead || st == ipc::ActorState::kFree) {
      q.clear();  // failed with the actor; collect_results() sends the errors
    }
    while (!q.empty() && push_cell(it->first, q.front().cell)) {
      q.pop_front();
      worked = true;
    }
    it = q.empty() ? waiting_.erase(it) : std::next(it);
  }
  return worked;
}

bool RemoteActors::collect_results(bool force) {
  store::ReadyQueue* q = s_.objects().ready_queue(s_.me());
  bool worked = false;
  bool scan = force;
  if (q != nullptr) {
    scan |= q->drain(
        [&](uint32_t slot) {
          auto it = inbound_.find(slot);
          if (it == inbound_.end() || !s_.objects().sealed(slot)) return;
          send_result(slot);
          worked = true;
        },
        force);
  }
  if (!scan) return worked;
  std::vector<uint32_t> sealed;
  for (const auto& [slot, in] : inbound_) {
    if (s_.objects().sealed(slot)) sealed.push_back(slot);
  }
  for (uint32_t slot : sealed)
    send_result(slot);
  return worked || !sealed.empty();
}

void RemoteActors::send_result(uint32_t slot) {
  auto it = inbound_.find(slot);
  if (it == inbound_.end()) return;
  const Inbound in = it->second;
  inbound_.erase(it);
  inbound_by_call_.erase({in.from, in.call_id});
  auto read = s_.objects().read(slot);
  auto kids = s_.objects().children(slot);
  // Child place 1 holds the refs inside a result (complete_call()); place 0
  // the arguments, which stay here.
  const bool holds_refs = kids && kids->size() > 1 && (*kids)[1] != 0;
  const ipc::ActorEntry* actor = nullptr;
  const uint32_t writer = s_.objects().entry(slot).writer;
  if (store::WriterId::kind(writer) == store::WriterId::kActorKind &&
      store::WriterId::id(writer) < s_.actor_count()) {
    actor = &s_.actor(store::WriterId::id(writer));
  }
  if (!read) {
    answer_error(in.from, in.call_id, uint32_t(store::ErrorKind::kObjectLost),
                 std::string("shoal: the call's result cannot be read on node ") +
                     std::to_string(gw_.node()) + ": " + store::to_string(read.error()),
                 actor);
  } else if (holds_refs) {
    answer_error(in.from, in.call_id, uint32_t(store::ErrorKind::kTask),
                 "shoal: the result holds ObjectRefs, which do not cross nodes yet (or it is a "
                 "stream of a Generator method, which does not either)",
                 actor);
  } else if (read->size > kMaxResult) {
    answer_error(in.from, in.call_id, uint32_t(store::ErrorKind::kTask),
                 "shoal: a result of " + std::to_string(read->size) + " bytes exceeds the " +
                     std::to_string(kMaxResult) + " bytes a call from another node carries today",
                 actor);
  } else if (std::byte* out = gw_.append(in.from, MessageType::kResult,
                                         uint32_t(sizeof(ResultBody) + read->size))) {
    ResultBody r{};
    r.call_id = in.call_id;
    r.type_fp = read->type_fp;
    r.codec = uint32_t(read->codec);
    // A payload the store kept inline (not 64-byte aligned in the heap)
    // tolerates 16-byte alignment on the caller's node too.
    r.flags = (reinterpret_cast<uintptr_t>(read->data) % 64) != 0 || read->size == 0
                  ? kResultInlineOk
                  : 0;
    r.bytes = read->size;
    std::memcpy(out, &r, sizeof(r));
    if (read->size != 0) std::memcpy(out + sizeof(r), read->data, read->size);
  }
  s_.unpin(in.result);
}

void RemoteActors::on_cancel(int from, std::span<const std::byte> body) {
  CancelBody b;
  if (!read_body(body, &b)) return;
  auto it = inbound_by_call_.find({from, b.call_id});
  if (it == inbound_by_call_.end()) return;  // finished already
  const uint32_t slot = it->second;
  auto in = inbound_.find(slot);
  if (in == inbound_.end()) return;
  (void)launcher::request_cancel(s_, slot, in->second.result->gen);
}

void RemoteActors::unpin_token(Hosted& h) {
  if (h.token != nullptr) s_.unpin(h.token);
  h.token = nullptr;
}

// Ends proxy `index` here: its calls fail with `message` (and so does a
// get_actor() waiting for it, through `lookup`).
void RemoteActors::end_proxy(uint32_t index, ipc::ActorState state, launcher::Lookup lookup,
                             const std::string& message) {
  ipc::ActorEntry& e = s_.actor(index);
  uint32_t none = uint32_t(DeathCause::kNone);
  // seq_cst, as every setter of the cause: the first one writes the notice.
  if (e.death_cause.compare_exchange_strong(none, uint32_t(DeathCause::kCreationFailed),
                                            std::memory_order_seq_cst)) {
    launcher::copy_text(e.death_message, sizeof(e.death_message), message);
  }
  // relaxed: published by the state store below.
  e.lookup.store(uint32_t(lookup), std::memory_order_relaxed);
  // seq_cst: pairs with the seq_cst state load in submit_call()'s dead(),
  // and with get_actor()'s acquire load, which then reads `lookup`.
  e.state.store(uint32_t(state), std::memory_order_seq_cst);
  launcher::fail_calls_of(s_, index);
  proxies_.erase(index);
}

void RemoteActors::on_lookup(int from, std::span<const std::byte> body) {
  LookupBody b;
  if (!read_body(body, &b)) return;
  LookedUpBody r{};
  r.proxy_index = b.proxy_index;
  r.proxy_gen = b.proxy_gen;
  r.outcome = kLookupNone;
  const std::string name = text(b.name, sizeof(b.name));
  for (uint32_t i = 0; i < s_.actor_count() && !name.empty(); ++i) {
    const ipc::ActorEntry& e = s_.actor(i);
    // acquire: pairs with start_actor()'s state stores: name, class and kind
    // are written before.
    const auto st = ipc::ActorState(e.state.load(std::memory_order_acquire));
    if (!launcher::live_state(st) || st == ipc::ActorState::kCreating ||
        e.kind == uint32_t(ActorKind::kRemote) || text(e.name, sizeof(e.name)) != name) {
      continue;
    }
    std::memcpy(r.class_name, e.class_name, kWireNameBytes);
    if (e.class_id != b.class_id) {
      r.outcome = kLookupWrongClass;
      break;
    }
    Hosted h;
    h.index = i;
    h.gen = e.gen.load(std::memory_order_relaxed);
    if (e.token != 0) {
      // Our reference keeps an owned actor alive while that node holds handles.
      auto pinned = s_.pin(uint32_t(e.token >> 32), uint32_t(e.token));
      if (!pinned) continue;  // its last handle is gone: it is ending
      h.token = *pinned;
    }
    h.from = from;
    h.proxy_index = b.proxy_index;
    h.proxy_gen = b.proxy_gen;
    // acquire: pairs with the release store of pid in ActorProcess::run().
    h.pid_sent = e.pid.load(std::memory_order_acquire);
    if (auto old = hosted_.find({from, b.proxy_index, b.proxy_gen}); old != hosted_.end()) {
      unpin_token(old->second);
    }
    hosted_[{from, b.proxy_index, b.proxy_gen}] = h;
    r.outcome = kLookupFound;
    r.index = i;
    r.gen = h.gen;
    r.kind = e.kind;
    r.pid = h.pid_sent;
    break;
  }
  gw_.send(from, MessageType::kLookedUp, &r, sizeof(r));
}

void RemoteActors::on_looked_up(int from, std::span<const std::byte> body) {
  LookedUpBody b;
  if (!read_body(body, &b)) return;
  auto it = proxies_.find(b.proxy_index);
  const bool waiting = it != proxies_.end() && it->second.gen == b.proxy_gen && it->second.lookup &&
                       !it->second.created;
  if (!waiting) {
    // Found a second time (the name on two nodes), or for a search that ended.
    if (b.outcome == kLookupFound) {
      const ActorRefBody r{b.index, b.gen, b.proxy_index, b.proxy_gen};
      gw_.send(from, MessageType::kReleaseActor, &r, sizeof(r));
    }
    return;
  }
  Proxy& p = it->second;
  ipc::ActorEntry& e = s_.actor(b.proxy_index);
  const std::string name = text(e.name, sizeof(e.name));
  if (b.outcome == kLookupFound) {
    p.created = true;
    p.node = uint32_t(from);
    p.remote_index = b.index;
    p.remote_gen = b.gen;
    // Written before the state store that publishes the binding.
    e.home_node = uint32_t(from);
    e.home_kind = b.kind;
    // release: pairs with actor_pid()'s acquire load.
    e.remote_pid.store(b.pid, std::memory_order_release);
    // relaxed: published by the state store below.
    e.lookup.store(uint32_t(launcher::Lookup::kFound), std::memory_order_relaxed);
    // seq_cst, as every state store; get_actor() (acquire) then hands it out.
    e.state.store(uint32_t(ipc::ActorState::kAlive), std::memory_order_seq_cst);
    return;
  }
  if (b.outcome == kLookupWrongClass) {
    // The class it has there, for get_actor()'s TypeMismatchError.
    std::memcpy(e.class_name, b.class_name, sizeof(e.class_name));
    e.class_name[sizeof(e.class_name) - 1] = '\0';
    return end_proxy(b.proxy_index, ipc::ActorState::kDead, launcher::Lookup::kWrongClass,
                     "shoal::get_actor: actor \"" + name + "\" on node " + std::to_string(from) +
                         " is a " + text(b.class_name, sizeof(b.class_name)));
  }
  if (--p.answers_pending > 0) return;
  end_proxy(b.proxy_index, ipc::ActorState::kDead, launcher::Lookup::kNotFound,
            "shoal::get_actor: no live actor named \"" + name + "\" on any node");
}

void RemoteActors::stopping(const std::string& why) {
  for (auto& [index, p] : proxies_) {
    ipc::ActorEntry& e = s_.actor(index);
    if (e.gen.load(std::memory_order_relaxed) != p.gen) continue;
    uint32_t none = uint32_t(DeathCause::kNone);
    // seq_cst, as every setter of the cause: the first one writes the notice.
    if (e.death_cause.compare_exchange_strong(none, uint32_t(DeathCause::kCrashed),
                                              std::memory_order_seq_cst)) {
      launcher::copy_text(e.death_message, sizeof(e.death_message),
                          "actor " + text(e.class_name, sizeof(e.class_name)) + " on node " +
                              std::to_string(p.node) + " is out of reach: " + why);
    }
    // seq_cst: pairs with the seq_cst state load in submit_call()'s dead().
    e.state.store(uint32_t(ipc::ActorState::kDead), std::memory_order_seq_cst);
    launcher::fail_calls_of(s_, index);
  }
  proxies_.clear();
  outbound_.clear();
  for (auto& [slot, in] : inbound_)
    s_.unpin(in.result);
  inbound_.clear();
  inbound_by_call_.clear();
  waiting_.clear();
  for (auto& [index, h] : hosted_)
    unpin_token(h);
  hosted_.clear();
  // release: pairs with the creators' acquire load: no gateway serves now.
  s_.header().gateway_slot.store(0, std::memory_order_release);
}

}  // namespace shoal::cluster
