// Actors from the caller's side: creating, finding, killing; stateless tasks;
// cancellation.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <vector>

#include <shoal/actor.hpp>
#include <shoal/remote.hpp>

#include "core/src/attached_rings.hpp"
#include "core/src/runtime.hpp"
#include "ipc/request_ring.hpp"
#include "ipc/spin.hpp"
#include "launcher/actor_lifecycle.hpp"
#include "launcher/mailbox.hpp"

namespace shoal {

namespace detail {

namespace {

static_assert(kMaxGroupsPerActor == ipc::kMaxGroups && kGroupNameBytesMax == ipc::kGroupNameBytes);

constexpr uint32_t kDefaultRingCells = 1024;
constexpr uint64_t kCtorArgsFingerprint = fnv1a("shoal::detail::CtorArgs");
constexpr uint64_t kWorkerClassId = fnv1a("shoal::worker");

bool live_state(ipc::ActorState st) {
  return st == ipc::ActorState::kCreating || st == ipc::ActorState::kStarting ||
         st == ipc::ActorState::kAlive || st == ipc::ActorState::kRestarting;
}

void copy_text(char* dst, size_t cap, std::string_view src) {
  const size_t n = src.size() < cap - 1 ? src.size() : cap - 1;
  if (n != 0) std::memcpy(dst, src.data(), n);  // an empty view may hold no pointer at all
  dst[n] = '\0';
}

// The largest request ring an actor may ask for (ActorOptions::ring_capacity).
constexpr uint32_t kMaxRingCells = 1u << 20;
// How long a creator waits for room in its fork server's mailbox.
constexpr int kSpawnPatienceMs = 10'000;

// True if one more actor process would not find a process slot: the slots in
// use plus the actors waiting for a process fill the table. With the
// registry lock held (creators are counted one at a time).
bool spawn_would_overflow(store::Store& s) {
  const ipc::ProcessTable& procs = s.processes();
  uint32_t used = 0;
  for (uint32_t i = 0; i < procs.size(); ++i) {
    // relaxed: a count; a slot claimed or freed meanwhile shifts it by one,
    // and a child refused a slot all the same fails with the same message.
    const uint64_t o = procs.slot(ipc::ProcessSlotId(i)).owner.load(std::memory_order_relaxed);
    if (ipc::owner_state(o) != ipc::ProcessState::kFree) ++used;
  }
  for (uint32_t i = 0; i < s.actor_count(); ++i) {
    const ipc::ActorEntry& e = s.actor(i);
    // relaxed: as above.
    const auto st = ipc::ActorState(e.state.load(std::memory_order_relaxed));
    if ((st == ipc::ActorState::kStarting || st == ipc::ActorState::kRestarting ||
         st == ipc::ActorState::kCreating) &&
        e.process.load(std::memory_order_relaxed) == ipc::kNoProcess) {
      ++used;
    }
  }
  return used + 1 > procs.size();
}

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
  const ipc::ProcessTable& procs = s.processes();
  store::SegmentHeader& h = s.header();
  if (rt.session.helper_watch && rt.session.helper_watch->dead()) {
    throw Error(
        "shoal: cannot create an actor: the session's helper process (supervisor and "
        "fork server, pid " +
        std::to_string(rt.session.helper_watch->helper()) +
        ") died; end the session with shoal::shutdown() and start a new one");
  }
  // The registry lock makes a name check and an entry claim one step.
  h.registry_lock.lock(s.me(), procs);
  int64_t found = -1;
  for (uint32_t i = 0; i < s.actor_count(); ++i) {
    ipc::ActorEntry& e = s.actor(i);
    // acquire: pairs with the state stores below and the supervisor's: the
    // entry's name was written before them.
    const auto st = ipc::ActorState(e.state.load(std::memory_order_acquire));
    if (!spec.name.empty() && live_state(st) &&
        std::strncmp(e.name, spec.name.c_str(), sizeof(e.name)) == 0) {
      h.registry_lock.unlock();
      throw UsageError("shoal: an actor named \"" + spec.name +
                       "\" already exists in this session");
    }
    if (found < 0 && st == ipc::ActorState::kFree) found = i;
  }
  // Reuse the entry of an actor gone for good a while ago, first (its ring,
  // if the supervisor has not freed it yet, goes back to the heap: see
  // ipc::dead_entry_settled()). Dead entries are not left holding their
  // rings until every free entry is used up.
  const uint32_t now_s = uint32_t(ipc::now_ns() / 1'000'000'000) + 1;
  int64_t reusable = -1, any_dead = -1;
  for (uint32_t i = 0; i < s.actor_count(); ++i) {
    ipc::ActorEntry& e = s.actor(i);
    const bool settled = ipc::dead_entry_settled(e, procs, now_s);
    // Stamped above once the entry is dead and runs no process; cleared at reuse.
    if (e.dead_seen_s == 0) continue;
    if (any_dead < 0) any_dead = i;
    if (reusable < 0 && settled) reusable = i;
  }
  if (reusable >= 0) {
    found = reusable;
  } else if (found < 0) {
    found = any_dead;
  }
  if (found >= 0) {
    ipc::ActorEntry& e = s.actor(uint32_t(found));
    if (ipc::ActorState(e.state.load(std::memory_order_relaxed)) == ipc::ActorState::kDead &&
        e.ring_off != 0) {
      (void)s.heap().free(e.ring_off, e.ring_bytes, s.objects().offset_of(&e.ring_off), s.me());
      e.ring_off = 0;
    }
    e.dead_seen_s = 0;
  }
  if (found < 0) {
    h.registry_lock.unlock();
    throw Error("shoal: the session's actor table is full (" + std::to_string(s.actor_count()) +
                " actors alive or starting; the limit is ipc::kMaxActors in ipc/actor_table.hpp): "
                "end actors no longer needed with shoal::kill");
  }
  // An actor needs a process slot; the table holds the session's processes
  // and the actors still waiting for theirs.
  if (spawn_would_overflow(s)) {
    h.registry_lock.unlock();
    throw Error("shoal: the session's process table is full (" + std::to_string(procs.size()) +
                " processes, actors starting included; the limit is ipc::kMaxProcesses in "
                "ipc/process_table.hpp): end actors no longer needed with shoal::kill");
  }
  const uint32_t index = uint32_t(found);
  ipc::ActorEntry& e = s.actor(index);
  const uint32_t gen = e.gen.load(std::memory_order_relaxed) + 1;
  e.gen.store(gen, std::memory_order_relaxed);
  copy_text(e.name, sizeof(e.name), spec.name);
  // release: pairs with the acquire state loads of name checks and
  // find_actor(): the name is written before it.
  e.state.store(uint32_t(ipc::ActorState::kCreating), std::memory_order_release);
  h.registry_lock.unlock();

  copy_text(e.class_name, sizeof(e.class_name), spec.class_name);
  e.death_message[0] = '\0';
  e.kind = uint32_t(spec.kind);
  e.max_concurrency = spec.max_concurrency;
  e.max_restarts = spec.max_restarts;
  e.cpu = spec.cpu;
  e.generator_backpressure = spec.generator_backpressure;
  e.owner = s.me();
  e.spawner = rt.spawner;
  e.class_id = spec.class_id;
  e.ctor_id = spec.ctor_id;
  e.ctor_args = spec.ctor_args ? (uint64_t(spec.ctor_args->slot) << 32) | spec.ctor_args->gen : 0;
  e.lifetime = uint32_t(spec.lifetime);
  e.token = spec.token ? (uint64_t(spec.token->slot) << 32) | spec.token->gen : 0;
  e.process.store(ipc::kNoProcess, std::memory_order_relaxed);
  e.pid.store(0, std::memory_order_relaxed);
  e.incarnation.store(0, std::memory_order_relaxed);
  e.restarts.store(0, std::memory_order_relaxed);
  e.cancel_epoch.store(0, std::memory_order_relaxed);
  e.death_cause.store(uint32_t(launcher::DeathCause::kNone), std::memory_order_relaxed);
  e.calls_served.store(0, std::memory_order_relaxed);
  e.calls_failed.store(0, std::memory_order_relaxed);
  e.in_progress.store(0, std::memory_order_relaxed);
  e.exit_status.store(0, std::memory_order_relaxed);
  e.args_held.store(0, std::memory_order_relaxed);
  e.group_count = uint32_t(spec.groups.size() + 1);
  for (uint32_t g = 0; g < ipc::kMaxGroups; ++g) {
    e.group_limit[g] = g == 0                    ? spec.max_concurrency
                       : g <= spec.groups.size() ? spec.groups[g - 1].limit
                                                 : 0;
    copy_text(e.group_name[g], sizeof(e.group_name[g]),
              g == 0                    ? kDefaultGroupName
              : g <= spec.groups.size() ? std::string_view(spec.groups[g - 1].name)
                                        : std::string_view());
    e.group_running[g].store(0, std::memory_order_relaxed);
    e.group_queued[g].store(0, std::memory_order_relaxed);
  }
  const uint64_t ring_bytes = ipc::RequestRing::bytes_for(spec.ring_cells);
  e.ring_bytes = ring_bytes;
  auto ring_off = s.heap().allocate(ring_bytes, s.objects().offset_of(&e.ring_off), s.me());
  if (!ring_off) {
    e.ring_off = 0;
    // release: pairs with the acquire state loads of the next creator's scan.
    e.state.store(uint32_t(ipc::ActorState::kFree), std::memory_order_release);
    throw_store_error(ring_off.error(), "creating an actor's request ring", ring_bytes);
  }
  ipc::RequestRing::format(s.base() + *ring_off, spec.ring_cells);
  // seq_cst, like every store of an actor's state: the state is the flag of
  // submit_call()'s Dekker with the supervisor (its fence and seq_cst load).
  // It also publishes the fields above and the formatted ring to the actor
  // (the acquire load in ActorProcess::run()) and to callers.
  e.state.store(uint32_t(ipc::ActorState::kStarting), std::memory_order_seq_cst);
  // Patient: the fork server may be forking a burst of other actors; giving
  // up would leave this one dead.
  if (!launcher::send_message(launcher::fork_server_mailbox(s.session_tag(), rt.spawner),
                              launcher::Message{launcher::MessageType::kSpawn, index, 0, 0},
                              kSpawnPatienceMs)) {
    copy_text(e.death_message, sizeof(e.death_message),
              "actor " + std::string(spec.class_name) + " could not be started: no fork server");
    e.death_cause.store(uint32_t(launcher::DeathCause::kCreationFailed), std::memory_order_relaxed);
    // seq_cst: pairs with the seq_cst state load in submit_call()'s dead().
    e.state.store(uint32_t(ipc::ActorState::kDead), std::memory_order_seq_cst);
  }
  return ActorId{index, gen};
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

ActorId create_actor(const ActorSpec& spec, ObjectRefBase* token) {
  Runtime& rt = runtime();
  const ActorOptions& o = *spec.options;
  if (o.max_concurrency && *o.max_concurrency < 1) {
    throw std::invalid_argument("shoal: max_concurrency must be at least 1");
  }
  if (o.cpu && (*o.cpu < 0 || *o.cpu >= CPU_SETSIZE || *o.cpu >= ::sysconf(_SC_NPROCESSORS_CONF))) {
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
  const ActorId id = start_actor(n);
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

ActorId find_actor(const std::string& name, uint64_t class_id, std::string_view class_name,
                   ObjectRefBase* token) {
  Runtime& rt = runtime();
  store::Store& s = *rt.store;
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
    // microseconds, and if the creator dies the supervisor marks it dead.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (st == ipc::ActorState::kCreating && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::microseconds(20));
      // acquire: as above.
      st = ipc::ActorState(e.state.load(std::memory_order_acquire));
    }
    if (!live_state(st) || st == ipc::ActorState::kCreating) continue;
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
  throw ActorNotFoundError("shoal::get_actor: no live actor named \"" + name + "\"");
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
    // acquire: pairs with the release store of pid in ActorProcess::run().
    const pid_t pid = e.pid.load(std::memory_order_acquire);
    if (st == ipc::ActorState::kAlive && pid > 0) return pid;
    if (st == ipc::ActorState::kDead || st == ipc::ActorState::kFree) return 0;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return 0;
}

void kill_actor(ActorId id) {
  Runtime& rt = runtime();
  store::Store& s = *rt.store;
  if (id.index >= s.actor_count()) return;
  ipc::ActorEntry& e = s.actor(id.index);
  if (e.gen.load(std::memory_order_relaxed) != id.gen) return;
  uint32_t none = uint32_t(launcher::DeathCause::kNone);
  // seq_cst: one of kill(), exit_actor() and the supervisor names the cause
  // of death; pairs with the supervisor's acquire load of death_cause once it
  // sees the process die.
  if (!e.death_cause.compare_exchange_strong(none, uint32_t(launcher::DeathCause::kKilled),
                                             std::memory_order_seq_cst,
                                             std::memory_order_seq_cst)) {
    return;
  }
  const std::string cls(e.class_name, strnlen(e.class_name, sizeof(e.class_name)));
  copy_text(e.death_message, sizeof(e.death_message), "actor " + cls + " was killed (shoal::kill)");
  // release: publishes the notice to the callers of this process, whose
  // death_message() in call.cpp loads death_cause (acquire) before reading
  // it; the death that shows them the actor dead reaches them through the
  // kernel and the supervisor, outside this process's memory order. An RMW
  // that leaves the cause as it is: it never undoes the supervisor's.
  e.death_cause.fetch_or(0, std::memory_order_release);
  // acquire: pairs with the release store of pid in ActorProcess::run().
  const pid_t pid = e.pid.load(std::memory_order_acquire);
  // The supervisor fails its calls when it sees the death. It may be seeing
  // an earlier death of the actor right now and deciding on a restart: it
  // reads the cause after storing kRestarting, we read the state after
  // setting the cause (seq_cst both), so it keeps the actor dead or we see
  // kRestarting below and end the actor ourselves.
  if (pid > 0) ::kill(pid, SIGKILL);
  {
    // It will not run its constructor again: its arguments may go. (One still
    // starting may read them yet; without them its creation fails, as the
    // kill ends it anyway.)
    std::lock_guard<std::mutex> lock(rt.created_mu);
    std::erase_if(rt.ctor_args, [&](const Runtime::CtorArgs& c) {
      return c.actor.index == id.index && c.actor.gen == id.gen;
    });
  }
  // Not started (or between incarnations): no process death will tell the
  // supervisor, so say it ourselves.
  // seq_cst: the load of the Dekker above (pairs with the supervisor's
  // seq_cst store of kRestarting); also sees start_actor()'s stores.
  uint32_t st = e.state.load(std::memory_order_seq_cst);
  while (st == uint32_t(ipc::ActorState::kStarting) ||
         st == uint32_t(ipc::ActorState::kRestarting)) {
    // seq_cst: races the actor's CAS to kAlive in ActorProcess::run() (one
    // wins), and pairs with the seq_cst state load in submit_call()'s dead().
    if (e.state.compare_exchange_weak(st, uint32_t(ipc::ActorState::kDead),
                                      std::memory_order_seq_cst, std::memory_order_seq_cst)) {
      launcher::send_message(launcher::supervisor_mailbox(s.session_tag()),
                             launcher::Message{launcher::MessageType::kActorGone, id.index, 0, 0});
      return;
    }
  }
  // acquire: pairs with the release store of pid in ActorProcess::run(),
  // which won the race to kAlive.
  const pid_t later = e.pid.load(std::memory_order_acquire);
  if (later > 0) ::kill(later, SIGKILL);
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
  Runtime& rt = runtime();
  store::Store& s = *rt.store;
  if (!s.objects().request_cancel(rec->slot, rec->gen)) return false;  // finished already
  const uint32_t writer = s.objects().entry(rec->slot).writer;
  if (store::WriterId::kind(writer) != store::WriterId::kActorKind) return true;
  const uint32_t a = store::WriterId::id(writer);
  if (a >= s.actor_count()) return true;
  ipc::ActorEntry& e = s.actor(a);
  // seq_cst: after request_cancel() above; pairs with the acquire loads in
  // AsyncIntake::poll() and has_work(), which then find the request, and
  // with the actor's wake-word prepare() before it parks (notify() below).
  e.cancel_epoch.fetch_add(1, std::memory_order_seq_cst);
  // acquire: pairs with the release store of process in ActorProcess::run().
  const uint32_t p = e.process.load(std::memory_order_acquire);
  if (s.processes().valid(ipc::ProcessSlotId(p)))
    s.processes().slot(ipc::ProcessSlotId(p)).wake.notify();
  return true;
}

RefRecord* submit_task(uint32_t function, const ArgWriter& args, uint32_t stream_bound) {
  Runtime& rt = runtime();
  const FunctionInfo* f = find_function(function);
  if (f == nullptr) throw UsageError("shoal::task: unknown function");
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
