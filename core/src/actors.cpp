// Actors from the caller's side: creating, finding, killing; stateless tasks;
// cancellation.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include <shoal/actor.hpp>
#include <shoal/remote.hpp>
#include <shoal/session.hpp>

#include "core/src/attached_rings.hpp"
#include "core/src/runtime.hpp"
#include "ipc/request_ring.hpp"
#include "ipc/spin.hpp"
#include "launcher/actor_lifecycle.hpp"
#include "launcher/actor_requests.hpp"
#include "launcher/actor_start.hpp"
#include "launcher/mailbox.hpp"

namespace shoal {

namespace detail {

namespace {

static_assert(kMaxGroupsPerActor == ipc::kMaxGroups && kGroupNameBytesMax == ipc::kGroupNameBytes);

constexpr uint32_t kDefaultRingCells = 1024;
constexpr uint64_t kCtorArgsFingerprint = fnv1a("shoal::detail::CtorArgs");
constexpr uint64_t kWorkerClassId = fnv1a("shoal::worker");

using launcher::copy_text;
using launcher::live_state;

// The largest request ring an actor may ask for (ActorOptions::ring_capacity).
constexpr uint32_t kMaxRingCells = 1u << 20;
struct NewActor {
  std::string_view class_name;
  uint64_t class_id = 0;
  uint64_t ctor_id = 0;
  launcher::ActorKind kind = launcher::ActorKind::kThreaded;
  int max_concurrency = 1;
  int max_restarts = 0;
  int cpu = -1;
  uint32_t generator_backpressure = 0;
  std::string name;
  uint32_t ring_cells = kDefaultRingCells;
  const RefRecord* ctor_args = nullptr;
  launcher::ActorLifetime lifetime = launcher::ActorLifetime::kDetached;
  const RefRecord* token = nullptr;  // an owned actor's token (see ipc::ActorEntry::token)
  std::vector<GroupInfo> groups;     // beyond the default group (whose limit is max_concurrency)
  uint32_t home_node = 0;            // kRemote: the node the actor lives on
  launcher::ActorKind home_kind = launcher::ActorKind::kThreaded;  // kRemote: its kind there
  bool lookup = false;         // kRemote made by get_actor() (launcher::NewActor::lookup)
  uint32_t ring_consumer = 0;  // kRemote: the gateway's process slot
};

// The group table of an actor of class `cls` created with `o`: the declared groups in order
// (their indices are the ones the class's methods name), then the groups `o` adds, in name order.
// Throws std::invalid_argument naming the group that is wrong.
std::vector<GroupInfo> group_table(const ClassInfo* cls, const ActorOptions& o) {
  if (cls != nullptr && !cls->group_error.empty()) throw std::invalid_argument(cls->group_error);
  std::vector<GroupInfo> groups;
  if (cls != nullptr) groups = cls->groups;
  for (const auto& [name, limit] : o.concurrency_groups) {
    const std::string what = "shoal: ActorOptions::concurrency_groups: group \"" + name + "\"";
    if (name.empty()) throw std::invalid_argument(what + ": a group needs a name");
    if (name == kDefaultGroupName) {
      throw std::invalid_argument(what + ": the default group's limit is max_concurrency");
    }
    if (name.size() >= ipc::kGroupNameBytes) {
      throw std::invalid_argument(what + ": the name is longer than " +
                                  std::to_string(ipc::kGroupNameBytes - 1) + " bytes");
    }
    if (limit < 1) {
      throw std::invalid_argument(what + ": its limit " + std::to_string(limit) + " is below 1");
    }
    bool declared = false;
    for (GroupInfo& g : groups) {
      if (g.name == name) {
        g.limit = limit;
        declared = true;
      }
    }
    if (!declared) groups.push_back(GroupInfo{name, limit});
  }
  if (groups.size() + 1 > ipc::kMaxGroups) {
    throw std::invalid_argument("shoal: an actor has at most " + std::to_string(ipc::kMaxGroups) +
                                " concurrency groups, the default one included; this one would "
                                "have " +
                                std::to_string(groups.size() + 1));
  }
  return groups;
}

ActorId start_actor(const NewActor& spec) {
  Runtime& rt = runtime();
  store::Store& s = *rt.store;
  if (rt.session.helper_watch && rt.session.helper_watch->dead()) {
    throw Error(
        "shoal: cannot create an actor: the session's helper process (supervisor and "
        "fork server, pid " +
        std::to_string(rt.session.helper_watch->helper()) +
        ") died; end the session with shoal::shutdown() and start a new one");
  }
  launcher::NewActor n;
  n.class_name = spec.class_name;
  n.class_id = spec.class_id;
  n.ctor_id = spec.ctor_id;
  n.kind = spec.kind;
  n.max_concurrency = spec.max_concurrency;
  n.max_restarts = spec.max_restarts;
  n.cpu = spec.cpu;
  n.generator_backpressure = spec.generator_backpressure;
  n.name = spec.name;
  n.ring_cells = spec.ring_cells;
  n.ctor_args = spec.ctor_args ? store::pack_child(spec.ctor_args->slot, spec.ctor_args->gen) : 0;
  n.lifetime = spec.lifetime;
  n.token = spec.token ? store::pack_child(spec.token->slot, spec.token->gen) : 0;
  for (const GroupInfo& g : spec.groups)
    n.groups.push_back(launcher::GroupLimit{g.name, g.limit});
  n.owner = s.me();
  // An entry standing for an actor of another node has no fork server here:
  // it names its gateway, so that no fork server counts it as its own.
  n.spawner = spec.kind == launcher::ActorKind::kRemote ? spec.ring_consumer : rt.spawner;
  n.home_node = spec.home_node;
  n.home_kind = spec.home_kind;
  n.ring_consumer = spec.ring_consumer;
  n.lookup = spec.lookup;
  auto started = launcher::start_actor(s, n);
  if (!started) {
    const launcher::StartError& e = started.error();
    switch (e.what) {
      case launcher::StartFailure::kNameTaken:
        throw UsageError(e.message);
      case launcher::StartFailure::kActorTableFull:
      case launcher::StartFailure::kProcessTableFull:
        throw Error(e.message);
      case launcher::StartFailure::kRingDoesNotFit:
        throw_store_error(e.store_error, e.message.c_str(), e.bytes);
    }
  }
  return ActorId{started->index, started->gen};
}

// True once actor `id` will never run its constructor again: killed, ended,
// dead, or its entry reused.
bool gone_for_good(store::Store& s, ActorId id) {
  const ipc::ActorEntry& e = s.actor(id.index);
  if (e.gen.load(std::memory_order_relaxed) != id.gen) return true;
  // acquire (both): pair with the seq_cst stores of the state and the CASes
  // of the cause (kill_actor(), the supervisor); a cause set means no restart.
  const auto st = ipc::ActorState(e.state.load(std::memory_order_acquire));
  return st == ipc::ActorState::kDead || st == ipc::ActorState::kFree ||
         e.death_cause.load(std::memory_order_acquire) != uint32_t(launcher::DeathCause::kNone);
}

// Drops the constructor arguments of the actors that are gone for good (with
// created_mu held).
void prune_ctor_args(Runtime& rt) {
  std::erase_if(rt.ctor_args,
                [&](const Runtime::CtorArgs& c) { return gone_for_good(*rt.store, c.actor); });
}

// A detached actor outlives its creator, and so must its constructor's
// arguments, which a restart needs: the session's supervisor holds them. Waits
// until it does, briefly: the creator's own reference (kept as long as it
// lives) covers the wait, and a creator that ends sooner than that is rare.
void hand_args_to_supervisor(store::Store& s, ActorId id) {
  const ipc::ActorEntry& e = s.actor(id.index);
  if (!launcher::send_message(
          launcher::supervisor_mailbox(s.session_tag()),
          launcher::Message{launcher::MessageType::kHoldArgs, id.index, id.gen, 0})) {
    return;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  // acquire: pairs with the supervisor's release store once it holds them.
  while (e.args_held.load(std::memory_order_acquire) == 0 && !gone_for_good(s, id) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

uint32_t round_up_pow2(uint32_t v) {
  uint32_t p = 2;
  while (p < v && p < (1u << 24))
    p <<= 1;
  return p;
}

}  // namespace

namespace {

// For an actor to be created on `node`: 0 if that is this node, else this
// node's gateway's process slot + 1. Throws std::invalid_argument for a node
// the job does not have, shoal::Error for what cannot cross nodes.
uint32_t remote_gateway(int node, const ActorSpec& spec) {
  if (node == shoal::node()) return 0;
  const int n = shoal::num_nodes();
  if (node < 0 || node >= n) {
    throw std::invalid_argument("shoal: ActorOptions::node " + std::to_string(node) +
                                " is not a node of this job (num_nodes() is " + std::to_string(n) +
                                ")");
  }
  if (!spec.ctor_args->refs().empty()) {
    throw Error("shoal: ActorOptions::node " + std::to_string(node) +
                ": ObjectRefs among the constructor's arguments do not cross nodes yet; pass "
                "the values, or create the actor on this node");
  }
  // acquire: pairs with the gateway's release store once it serves.
  const uint32_t g = runtime().store->header().gateway_slot.load(std::memory_order_acquire);
  if (g == 0) {
    throw Error("shoal: ActorOptions::node " + std::to_string(node) +
                ": this node's session has no gateway to the other nodes");
  }
  return g;
}

}  // namespace

ActorId create_actor(const ActorSpec& spec, ObjectRefBase* token) {
  Runtime& rt = runtime();
  const ActorOptions& o = *spec.options;
  if (o.max_concurrency && *o.max_concurrency < 1) {
    throw std::invalid_argument("shoal: max_concurrency must be at least 1");
  }
  const uint32_t gateway = o.node ? remote_gateway(*o.node, spec) : 0;
  const bool remote = gateway != 0;
  if (o.cpu && remote && (*o.cpu < 0 || *o.cpu >= CPU_SETSIZE)) {
    throw std::invalid_argument("shoal: no core " + std::to_string(*o.cpu));
  }
  if (o.cpu && !remote &&
      (*o.cpu < 0 || *o.cpu >= CPU_SETSIZE || *o.cpu >= ::sysconf(_SC_NPROCESSORS_CONF))) {
    throw std::invalid_argument("shoal: no core " + std::to_string(*o.cpu) + " on this machine");
  }
  if (o.ring_capacity > kMaxRingCells) {
    throw std::invalid_argument("shoal: ring_capacity " + std::to_string(o.ring_capacity) +
                                " is above the limit of " + std::to_string(kMaxRingCells) +
                                " cells (kMaxRingCells in core/src/actors.cpp)");
  }
  if (o.generator_backpressure && *o.generator_backpressure < 1) {
    throw std::invalid_argument("shoal: generator_backpressure must be at least 1 (" +
                                std::to_string(*o.generator_backpressure) + " given)");
  }
  if (o.name.size() >= sizeof(ipc::ActorEntry::name)) {
    throw std::invalid_argument("shoal: actor names are at most 63 bytes");
  }
  std::vector<GroupInfo> groups = group_table(find_class(spec.class_id), o);
  // The constructor's arguments live in the store as long as the actor may
  // start or restart: a restart runs the constructor again.
  PutArgs pa;
  pa.codec = CodecKind::kRaw;
  pa.type_fp = kCtorArgsFingerprint;
  pa.type_name = "shoal::detail::CtorArgs";
  pa.data = spec.ctor_args->data();
  pa.size = spec.ctor_args->size();
  pa.children = spec.ctor_args->refs().data();
  pa.child_count = uint32_t(spec.ctor_args->refs().size());
  ObjectRefBase args = RefAccess::adopt<char>(put_object(pa));

  NewActor n;
  n.class_name = spec.class_name;
  n.class_id = spec.class_id;
  n.ctor_id = spec.ctor_id;
  n.kind = spec.is_async ? launcher::ActorKind::kAsync : launcher::ActorKind::kThreaded;
  n.max_concurrency = o.max_concurrency.value_or(spec.is_async ? 1000 : 1);
  n.max_restarts = o.max_restarts;
  n.cpu = o.cpu.value_or(-1);
  n.generator_backpressure = uint32_t(o.generator_backpressure.value_or(0));
  n.name = o.name;
  n.ring_cells = o.ring_capacity ? round_up_pow2(o.ring_capacity) : kDefaultRingCells;
  n.ctor_args = RefAccess::record(args);
  // An owned actor's token: a pending object nobody will seal (the actor
  // frees it when it ends), whose pins are the handles of the session. Its
  // writer is this process, so the token goes when this process does, and
  // the actor with it (kill_owned_actors). It holds the constructor's
  // arguments, which a restart needs, for as long as the actor may live.
  ObjectRefBase own_token;
  if (o.lifetime == Lifetime::kOwned) {
    store::Store& s = *rt.store;
    auto rec = s.create_object(store::ObjectState::kPending, store::WriterId::process(s.me()), 1);
    if (!rec) throw_store_error(rec.error(), "creating an actor's token", 0);
    own_token = RefAccess::adopt<char>(*rec);
    const RefRecord* a = RefAccess::record(args);
    const uint64_t child = store::pack_child(a->slot, a->gen);
    auto held = s.objects().set_children((*rec)->slot, &child, 1, s.me());
    if (!held) throw_store_error(held.error(), "creating an actor's token", 0);
    n.lifetime = launcher::ActorLifetime::kOwned;
    n.token = RefAccess::record(own_token);
  }
  n.groups = std::move(groups);
  if (remote) {
    n.home_kind = n.kind;
    n.kind = launcher::ActorKind::kRemote;
    n.home_node = uint32_t(*o.node);
    n.ring_consumer = gateway - 1;
  }
  const ActorId id = start_actor(n);
  if (remote) launcher::notify_gateway(*rt.store);
  *token = std::move(own_token);
  if (n.lifetime == launcher::ActorLifetime::kOwned) return id;  // the token holds the arguments
  hand_args_to_supervisor(*rt.store, id);
  std::lock_guard<std::mutex> lock(rt.created_mu);
  prune_ctor_args(rt);
  if (!gone_for_good(*rt.store, id)) rt.ctor_args.push_back(Runtime::CtorArgs{id, std::move(args)});
  return id;
}

uint32_t check_call_options(const CallOptions& o) {
  if (o.generator_backpressure && *o.generator_backpressure < 1) {
    throw std::invalid_argument("shoal: CallOptions::generator_backpressure must be at least 1 (" +
                                std::to_string(*o.generator_backpressure) + " given)");
  }
  return uint32_t(o.generator_backpressure.value_or(0));
}

namespace {

// The live actor named `name` in this session, if any (an entry standing for
// one of another node included, once its node has answered): a new
// reference on its token in *token. Throws TypeMismatchError for another class.
std::optional<ActorId> find_local(store::Store& s, const std::string& name, uint64_t class_id,
                                  std::string_view class_name, ObjectRefBase* token) {
  for (uint32_t i = 0; i < s.actor_count(); ++i) {
    ipc::ActorEntry& e = s.actor(i);
    // acquire: pairs with the state stores of start_actor(): the entry's
    // name, class and generation are read after it.
    auto st = ipc::ActorState(e.state.load(std::memory_order_acquire));
    if (!live_state(st) || std::strncmp(e.name, name.c_str(), sizeof(e.name)) != 0 ||
        name.empty()) {
      continue;
    }
    // Its creator may still be writing the entry (class, ring): that takes
    // microseconds, and if the creator dies the supervisor marks it dead. A
    // search of the other nodes for the name takes a round trip to each.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    auto searching = [&] {
      // relaxed: written before the state store that ends the search.
      return st == ipc::ActorState::kStarting && e.kind == uint32_t(launcher::ActorKind::kRemote) &&
             e.lookup.load(std::memory_order_relaxed) == uint32_t(launcher::Lookup::kSearching);
    };
    while ((st == ipc::ActorState::kCreating || searching()) &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::microseconds(20));
      // acquire: as above; the gateway's seq_cst store ends a search.
      st = ipc::ActorState(e.state.load(std::memory_order_acquire));
    }
    if (e.kind == uint32_t(launcher::ActorKind::kRemote) &&
        e.lookup.load(std::memory_order_relaxed) == uint32_t(launcher::Lookup::kWrongClass)) {
      // Another node has the name, with the class the gateway wrote here.
      const std::string actual(e.class_name, strnlen(e.class_name, sizeof(e.class_name)));
      throw TypeMismatchError("shoal::get_actor: actor \"" + name + "\" is a " + actual +
                                  ", not a " + std::string(class_name),
                              std::string(class_name), actual);
    }
    if (!live_state(st) || st == ipc::ActorState::kCreating || searching()) continue;
    if (e.class_id != class_id) {
      const std::string actual(e.class_name, strnlen(e.class_name, sizeof(e.class_name)));
      throw TypeMismatchError("shoal::get_actor: actor \"" + name + "\" is a " + actual +
                                  ", not a " + std::string(class_name),
                              std::string(class_name), actual);
    }
    const ActorId id{i, e.gen.load(std::memory_order_relaxed)};
    if (e.token != 0) {
      // A new reference on the token. It fails once the actor has freed it,
      // its last handle gone: the actor is ending, as good as not there.
      auto rec = s.pin(uint32_t(e.token >> 32), uint32_t(e.token));
      if (!rec && rec.error() == store::StoreError::kNotFound) continue;
      if (!rec) throw_store_error(rec.error(), "shoal::get_actor", 0);
      *token = RefAccess::adopt<char>(*rec);
    }
    return id;
  }
  return std::nullopt;
}

}  // namespace

ActorId find_actor(const std::string& name, uint64_t class_id, std::string_view class_name,
                   ObjectRefBase* token) {
  Runtime& rt = runtime();
  store::Store& s = *rt.store;
  // Not here: the other nodes are asked through an entry standing for the
  // actor of that name (kRemote, kStarting while its gateway asks them). A
  // name another process of this node is looking up already is that search's.
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (auto id = find_local(s, name, class_id, class_name, token)) return *id;
    // acquire: pairs with the gateway's release store once it serves.
    const uint32_t gateway = s.header().gateway_slot.load(std::memory_order_acquire);
    if (shoal::num_nodes() <= 1 || gateway == 0 || name.empty()) break;
    // Its own token, as an owned actor's: the entry ends (and lets go of the
    // actor on its node) when no handle here refers to it any more.
    auto rec = s.create_object(store::ObjectState::kPending, store::WriterId::process(s.me()), 1);
    if (!rec) throw_store_error(rec.error(), "shoal::get_actor", 0);
    ObjectRefBase own_token = RefAccess::adopt<char>(*rec);
    NewActor n;
    n.class_name = class_name;
    n.class_id = class_id;
    n.kind = launcher::ActorKind::kRemote;
    n.name = name;
    n.lifetime = launcher::ActorLifetime::kOwned;
    n.token = RefAccess::record(own_token);
    n.home_node = launcher::kAnyNode;
    n.ring_consumer = gateway - 1;
    n.lookup = true;
    try {
      (void)start_actor(n);
    } catch (const UsageError&) {
      continue;  // the name was just taken here: look again
    }
    launcher::notify_gateway(s);
    if (auto id = find_local(s, name, class_id, class_name, token)) return *id;
    break;
  }
  throw ActorNotFoundError("shoal::get_actor: no live actor named \"" + name + "\"" +
                           (shoal::num_nodes() > 1 ? " on any node" : ""));
}

uint32_t find_group(ActorId id, const std::string& name) {
  Runtime& rt = runtime();
  store::Store& s = *rt.store;
  if (id.index >= s.actor_count())
    throw UsageError("shoal: call on an empty or invalid ActorHandle");
  const ipc::ActorEntry& e = s.actor(id.index);
  // relaxed: a handle exists only once its creator published the entry (the seq_cst store of
  // kStarting, which the handle's holder saw before, or get_actor()'s acquire); the group table
  // is immutable from then on. An entry reused since holds another actor's table.
  if (e.gen.load(std::memory_order_relaxed) != id.gen) return kOwnGroup;
  const uint32_t count = e.group_count < ipc::kMaxGroups ? e.group_count : ipc::kMaxGroups;
  for (uint32_t g = 0; g < count; ++g) {
    if (std::strncmp(e.group_name[g], name.c_str(), sizeof(e.group_name[g])) == 0 &&
        name.size() < sizeof(e.group_name[g])) {
      return g;
    }
  }
  const std::string cls(e.class_name, strnlen(e.class_name, sizeof(e.class_name)));
  throw std::invalid_argument("shoal: CallOptions::concurrency_group: actor " + cls +
                              " has no concurrency group \"" + name + "\"");
}

pid_t actor_pid(ActorId id) {
  Runtime& rt = runtime();
  store::Store& s = *rt.store;
  if (id.index >= s.actor_count()) return 0;
  ipc::ActorEntry& e = s.actor(id.index);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (e.gen.load(std::memory_order_relaxed) != id.gen) return 0;
    // acquire: pairs with the seq_cst CAS to kAlive in ActorProcess::run()
    // and the supervisor's state stores.
    const auto st = ipc::ActorState(e.state.load(std::memory_order_acquire));
    // acquire: pairs with the release store of pid in ActorProcess::run(),
    // or of remote_pid by the gateway (an actor of another node).
    const pid_t pid = e.kind == uint32_t(launcher::ActorKind::kRemote)
                          ? e.remote_pid.load(std::memory_order_acquire)
                          : e.pid.load(std::memory_order_acquire);
    if (st == ipc::ActorState::kAlive && pid > 0) return pid;
    if (st == ipc::ActorState::kDead || st == ipc::ActorState::kFree) return 0;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return 0;
}

void kill_actor(ActorId id) {
  Runtime& rt = runtime();
  if (!launcher::kill_actor(*rt.store, id.index, id.gen)) return;
  // It will not run its constructor again: its arguments may go. (One still
  // starting may read them yet; without them its creation fails, as the
  // kill ends it anyway.)
  std::lock_guard<std::mutex> lock(rt.created_mu);
  std::erase_if(rt.ctor_args, [&](const Runtime::CtorArgs& c) {
    return c.actor.index == id.index && c.actor.gen == id.gen;
  });
}

namespace {

// Starts this process's task workers, once.
void start_workers(Runtime& rt) {
  std::lock_guard<std::mutex> lock(rt.workers_mu);
  if (rt.workers_started.load(std::memory_order_relaxed)) return;  // under workers_mu
  for (int i = 0; i < rt.num_workers; ++i) {
    NewActor n;
    n.class_name = "task";
    n.class_id = kWorkerClassId;
    n.kind = launcher::ActorKind::kWorker;
    n.max_concurrency = 1000;
    n.max_restarts = -1;
    rt.workers.push_back(start_actor(n));
  }
  // release: the workers vector before the flag; pairs with the acquire load
  // in submit_task(), which then reads the vector without the lock.
  rt.workers_started.store(true, std::memory_order_release);
}

// Whether worker `w` has no task queued in its ring (as far as this thread
// can tell without attaching it) and runs none: a hint, read without order.
bool worker_idle(store::Store& s, const ActorId& w) {
  const ipc::RequestRing* ring = AttachedRings::mine().find(s, w.index, w.gen);
  if (ring != nullptr && ring->depth() != 0) return false;
  return s.actor(w.index).in_progress.load(std::memory_order_relaxed) == 0;  // a hint, as above
}

// The worker for the next task: the one the last task went to while it is
// idle (a task waited for at once keeps finding the same worker awake in its
// spin window, as calls to one actor do), else the next idle one, else the
// next in turn.
const ActorId& pick_worker(Runtime& rt) {
  store::Store& s = *rt.store;
  const uint32_t n = uint32_t(rt.workers.size());
  // relaxed: a hint; any worker is a correct choice.
  const uint32_t last = rt.last_worker.load(std::memory_order_relaxed) % n;
  uint32_t chosen = last;
  if (!worker_idle(s, rt.workers[last])) {
    chosen = (last + 1) % n;
    for (uint32_t i = 1; i < n; ++i) {
      const uint32_t w = (last + i) % n;
      if (worker_idle(s, rt.workers[w])) {
        chosen = w;
        break;
      }
    }
    rt.last_worker.store(chosen, std::memory_order_relaxed);  // a hint, as above
  }
  return rt.workers[chosen];
}

}  // namespace

bool request_call_cancel(const RefRecord* rec) {
  return launcher::request_cancel(*runtime().store, rec->slot, rec->gen);
}

namespace {

// The worker on node `node` for this process's next task there: entries
// standing for workers that node starts for this process (made at the first
// task there, as many as this process has here), taken in turn. They live as
// long as this process (Lifetime::kOwned without a token), as its own do.
ActorId remote_worker(Runtime& rt, int node) {
  store::Store& s = *rt.store;
  std::lock_guard<std::mutex> lock(rt.workers_mu);
  Runtime::RemoteWorkers& w = rt.remote_workers[node];
  if (w.workers.empty()) {
    // acquire: pairs with the gateway's release store once it serves.
    const uint32_t gateway = s.header().gateway_slot.load(std::memory_order_acquire);
    if (gateway == 0) {
      throw Error("shoal: TaskOptions::node " + std::to_string(node) +
                  ": this node's session has no gateway to the other nodes");
    }
    for (int i = 0; i < rt.num_workers; ++i) {
      NewActor n;
      n.class_name = "task";
      n.class_id = kWorkerClassId;
      n.kind = launcher::ActorKind::kRemote;
      n.home_kind = launcher::ActorKind::kWorker;
      n.max_concurrency = 1000;
      n.max_restarts = -1;
      n.lifetime = launcher::ActorLifetime::kOwned;
      n.home_node = uint32_t(node);
      n.ring_consumer = gateway - 1;
      w.workers.push_back(start_actor(n));
    }
    launcher::notify_gateway(s);
  }
  return w.workers[w.next++ % w.workers.size()];
}

}  // namespace

RefRecord* submit_task(uint32_t function, const ArgWriter& args, uint32_t stream_bound, int node) {
  Runtime& rt = runtime();
  const FunctionInfo* f = find_function(function);
  if (f == nullptr) throw UsageError("shoal::task: unknown function");
  if (node >= 0 && node != shoal::node()) {
    const ActorId worker = remote_worker(rt, node);
    return submit_call(worker.index, worker.gen, function, f->signature, args, stream_bound);
  }
  // acquire: pairs with the release store in start_workers().
  if (!rt.workers_started.load(std::memory_order_acquire)) start_workers(rt);
  const ActorId worker = pick_worker(rt);
  return submit_call(worker.index, worker.gen, function, f->signature, args, stream_bound);
}

}  // namespace detail

void cancel(const ObjectRefBase& ref) {
  detail::check_live(detail::RefAccess::record(ref), detail::RefAccess::epoch(ref));
  (void)detail::request_call_cancel(detail::RefAccess::record(ref));
}

void exit_actor() {
  detail::Runtime* rt = detail::runtime_or_null();
  if (rt == nullptr || (rt->role != detail::Role::kActor && rt->role != detail::Role::kWorker)) {
    throw UsageError("shoal::exit_actor called outside an actor");
  }
  ipc::ActorEntry& e = rt->store->actor(rt->actor_index);
  // seq_cst: pairs with the supervisor's acquire load of death_cause once it
  // sees this process die (the _exit below comes after this store).
  e.death_cause.store(uint32_t(launcher::DeathCause::kExited), std::memory_order_seq_cst);
  const std::string cls(e.class_name, strnlen(e.class_name, sizeof(e.class_name)));
  detail::copy_text(e.death_message, sizeof(e.death_message),
                    "actor " + cls + " exited (shoal::exit_actor)");
  std::fflush(nullptr);
  ::_exit(0);
}

}  // namespace shoal
