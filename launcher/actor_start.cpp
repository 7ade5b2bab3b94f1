#include "launcher/actor_start.hpp"

#include <cstring>

#include "ipc/request_ring.hpp"
#include "ipc/spin.hpp"
#include "launcher/mailbox.hpp"

namespace shoal::launcher {

namespace {

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
        e.process.load(std::memory_order_relaxed) == ipc::kNoProcess &&
        e.kind != uint32_t(ActorKind::kRemote)) {
      ++used;
    }
  }
  return used + 1 > procs.size();
}

Failure<StartError> failed(StartFailure what, std::string message) {
  StartError e;
  e.what = what;
  e.message = std::move(message);
  return fail(std::move(e));
}

}  // namespace

bool live_state(ipc::ActorState st) {
  return st == ipc::ActorState::kCreating || st == ipc::ActorState::kStarting ||
         st == ipc::ActorState::kAlive || st == ipc::ActorState::kRestarting;
}

void copy_text(char* dst, size_t cap, std::string_view src) {
  const size_t n = src.size() < cap - 1 ? src.size() : cap - 1;
  if (n != 0) std::memcpy(dst, src.data(), n);  // an empty view may hold no pointer at all
  dst[n] = '\0';
}

Result<StartedActor, StartError> start_actor(store::Store& s, const NewActor& spec) {
  const ipc::ProcessTable& procs = s.processes();
  store::SegmentHeader& h = s.header();
  const bool remote = spec.kind == ActorKind::kRemote;
  // The registry lock makes a name check and an entry claim one step.
  h.registry_lock.lock(s.me(), procs);
  int64_t found = -1;
  for (uint32_t i = 0; i < s.actor_count(); ++i) {
    ipc::ActorEntry& e = s.actor(i);
    // acquire: pairs with the state stores below and the supervisor's: the
    // entry's name was written before them.
    const auto st = ipc::ActorState(e.state.load(std::memory_order_acquire));
    // A get_actor() still asking the other nodes for the name holds no name:
    // an actor created meanwhile takes it (and the search may find it).
    // relaxed: written before the state store that published the entry.
    const bool searching =
        e.kind == uint32_t(ActorKind::kRemote) &&
        e.lookup.load(std::memory_order_relaxed) == uint32_t(Lookup::kSearching) &&
        st == ipc::ActorState::kStarting;
    if (!spec.name.empty() && live_state(st) && !searching && !spec.lookup &&
        std::strncmp(e.name, spec.name.c_str(), sizeof(e.name)) == 0) {
      h.registry_lock.unlock();
      return failed(StartFailure::kNameTaken,
                    "shoal: an actor named \"" + spec.name + "\" already exists in this session");
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
    return failed(StartFailure::kActorTableFull,
                  "shoal: the session's actor table is full (" + std::to_string(s.actor_count()) +
                      " actors alive or starting; the limit is ipc::kMaxActors in "
                      "ipc/actor_table.hpp): end actors no longer needed with shoal::kill");
  }
  // An actor needs a process slot; the table holds the session's processes
  // and the actors still waiting for theirs. An actor of another node needs none here.
  if (!remote && spawn_would_overflow(s)) {
    h.registry_lock.unlock();
    return failed(StartFailure::kProcessTableFull,
                  "shoal: the session's process table is full (" + std::to_string(procs.size()) +
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
  e.owner = uint16_t(spec.owner);
  e.spawner = uint16_t(spec.spawner);
  e.class_id = spec.class_id;
  e.ctor_id = spec.ctor_id;
  e.ctor_args = spec.ctor_args;
  e.lifetime = uint32_t(spec.lifetime);
  e.token = spec.token;
  e.home_node = spec.home_node;
  e.home_kind = uint32_t(spec.home_kind);
  e.process.store(ipc::kNoProcess, std::memory_order_relaxed);
  e.pid.store(0, std::memory_order_relaxed);
  e.remote_pid.store(0, std::memory_order_relaxed);
  e.lookup.store(uint32_t(spec.lookup ? Lookup::kSearching : Lookup::kNone),
                 std::memory_order_relaxed);
  e.incarnation.store(0, std::memory_order_relaxed);
  e.restarts.store(0, std::memory_order_relaxed);
  e.cancel_epoch.store(0, std::memory_order_relaxed);
  e.death_cause.store(uint32_t(DeathCause::kNone), std::memory_order_relaxed);
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
              g == 0                    ? std::string_view("default")
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
    StartError err;
    err.what = StartFailure::kRingDoesNotFit;
    err.message = "creating an actor's request ring";
    err.store_error = ring_off.error();
    err.bytes = ring_bytes;
    return fail(std::move(err));
  }
  ipc::RequestRing ring = ipc::RequestRing::format(s.base() + *ring_off, spec.ring_cells);
  if (remote) {
    // relaxed: published with the ring by the state store below.
    ring.header().consumer.store(spec.ring_consumer, std::memory_order_relaxed);
    // seq_cst, like every store of an actor's state (submit_call()'s Dekker
    // with the supervisor). It publishes the fields above and the ring to
    // callers and to the gateway, which serves the entry from now on (a
    // lookup's once a node has answered: kAlive then).
    e.state.store(uint32_t(spec.lookup ? ipc::ActorState::kStarting : ipc::ActorState::kAlive),
                  std::memory_order_seq_cst);
    return StartedActor{index, gen};
  }
  // seq_cst, like every store of an actor's state: the state is the flag of
  // submit_call()'s Dekker with the supervisor (its fence and seq_cst load).
  // It also publishes the fields above and the formatted ring to the actor
  // (the acquire load in ActorProcess::run()) and to callers.
  e.state.store(uint32_t(ipc::ActorState::kStarting), std::memory_order_seq_cst);
  // Patient: the fork server may be forking a burst of other actors; giving
  // up would leave this one dead.
  if (!send_message(fork_server_mailbox(s.session_tag(), ipc::ProcessSlotId(spec.spawner)),
                    Message{MessageType::kSpawn, index, 0, 0}, kSpawnPatienceMs)) {
    copy_text(e.death_message, sizeof(e.death_message),
              "actor " + std::string(spec.class_name) + " could not be started: no fork server");
    e.death_cause.store(uint32_t(DeathCause::kCreationFailed), std::memory_order_relaxed);
    // seq_cst: pairs with the seq_cst state load in submit_call()'s dead().
    e.state.store(uint32_t(ipc::ActorState::kDead), std::memory_order_seq_cst);
  }
  return StartedActor{index, gen};
}

}  // namespace shoal::launcher
