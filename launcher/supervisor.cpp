#include "launcher/supervisor.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>

#include "ipc/request_ring.hpp"
#include "ipc/spin.hpp"
#include "launcher/actor_lifecycle.hpp"
#include "launcher/fork_server.hpp"
#include "store/error_payload.hpp"
#include "timeline/recorder.hpp"

namespace shoal::launcher {

using ipc::ActorState;

int open_pidfd(pid_t pid) {
  return int(::syscall(SYS_pidfd_open, pid, 0));
}

namespace {

// An actor's lifecycle event on the supervisor's track (while recording).
void record_lifecycle(timeline::EventKind kind, const ipc::ActorEntry& e, uint32_t actor,
                      pid_t pid) {
  const uint16_t cls =
      timeline::intern(std::string_view(e.class_name, strnlen(e.class_name, sizeof(e.class_name))));
  const uint16_t message =
      kind == timeline::EventKind::kActorDied
          ? timeline::intern(std::string_view(e.death_message,
                                              strnlen(e.death_message, sizeof(e.death_message))))
          : 0;
  timeline::record_actor(kind, cls, int32_t(pid), actor, e.restarts.load(std::memory_order_relaxed),
                         message, timeline::ticks());
}

// True if the pidfd `fd` says its process has exited.
bool exited(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

}  // namespace

bool is_session_process(void* store, pid_t pid) {
  auto& s = *static_cast<store::Store*>(store);
  if (pid <= 0) return false;
  // relaxed: a record of who created the session, written before any process forked.
  if (s.header().creator_pid.load(std::memory_order_relaxed) == pid) return true;
  ipc::ProcessTable& procs = s.processes();
  for (uint32_t i = 0; i < procs.size(); ++i) {
    // acquire: pairs with ProcessTable::claim()'s CAS of the owner word.
    const uint64_t owner = procs.slot(ipc::ProcessSlotId(i)).owner.load(std::memory_order_acquire);
    if (ipc::owner_state(owner) == ipc::ProcessState::kAlive && ipc::owner_pid(owner) == pid) {
      return true;
    }
  }
  return false;
}

Supervisor::Supervisor(store::Store& store, Mailbox mailbox, Options options)
    : store_(store),
      mailbox_(std::move(mailbox)),
      options_(options),
      fd_of_slot_(store.processes().size(), -1) {
  mailbox_.admit(&is_session_process, &store_);
}

Supervisor::~Supervisor() {
  for (auto& [fd, w] : by_fd_)
    ::close(fd);
  for (auto& [fd, c] : children_)
    ::close(fd);
}

void Supervisor::add_fds(std::vector<pollfd>& fds) const {
  fds.push_back(pollfd{mailbox_.fd(), POLLIN, 0});
  for (const auto& [fd, w] : by_fd_)
    fds.push_back(pollfd{fd, POLLIN, 0});
  for (const auto& [fd, c] : children_)
    fds.push_back(pollfd{fd, POLLIN, 0});
}

void Supervisor::watch(ipc::ProcessSlotId slot) {
  if (!store_.processes().valid(slot) || fd_of_slot_[slot] >= 0 || slot == store_.me()) return;
  // acquire: pairs with ProcessTable::claim()'s CAS of the owner word.
  const uint64_t owner = store_.processes().slot(slot).owner.load(std::memory_order_acquire);
  if (ipc::owner_state(owner) != ipc::ProcessState::kAlive) return;
  const pid_t pid = ipc::owner_pid(owner);
  int fd = -1;
  if (auto c = child_fd_.find(pid); c != child_fd_.end()) {
    // A forked actor process joined: its pidfd from the fork on now watches its slot.
    fd = c->second;
    children_.erase(fd);
    child_fd_.erase(c);
  } else {
    fd = open_pidfd(pid);
  }
  if (fd < 0) {
    on_death(slot, pid);  // gone before we could watch it
    return;
  }
  fd_of_slot_[slot] = fd;
  by_fd_[fd] = Watched{slot, pid};
  if (timeline::recording()) {
    ipc::ProcessSlot& ps = store_.processes().slot(slot);
    const int32_t actor = ps.actor.load(std::memory_order_relaxed);
    if (ipc::ProcessKind(ps.kind.load(std::memory_order_relaxed)) == ipc::ProcessKind::kActor &&
        actor >= 0 && uint32_t(actor) < store_.actor_count()) {
      const ipc::ActorEntry& e = store_.actor(uint32_t(actor));
      record_lifecycle(e.restarts.load(std::memory_order_relaxed) == 0
                           ? timeline::EventKind::kActorCreated
                           : timeline::EventKind::kActorRestarted,
                       e, uint32_t(actor), pid);
    }
  }
}

void Supervisor::handle(const std::vector<pollfd>& fds) {
  for (const pollfd& p : fds) {
    if (p.revents == 0) continue;
    if (p.fd == mailbox_.fd()) {
      pid_t sender = 0;
      while (auto m = mailbox_.receive(&sender)) {
        switch (m->type) {
          case MessageType::kJoined:
            watch(ipc::ProcessSlotId(m->a));
            break;
          case MessageType::kShutdown:
            over_ = true;
            break;
          case MessageType::kActorGone:
            fail_actor_calls(m->a);
            break;
          case MessageType::kForked:
            on_forked(m->a, m->b, m->pid);
            break;
          case MessageType::kSpawnFailed:
            on_spawn_failed(m->a, m->b, m->pid);
            break;
          case MessageType::kOwnerLeaving:
            // Only a process for itself: the slot must be the sender's.
            if (m->a < store_.processes().size() &&
                !store_.processes().is_dead(ipc::ProcessSlotId(m->a)) &&
                store_.processes().pid(ipc::ProcessSlotId(m->a)) == sender) {
              kill_owned_actors(ipc::ProcessSlotId(m->a));
            }
            break;
          case MessageType::kHoldArgs:
            hold_args(m->a, m->b);
            break;
          default:
            break;
        }
      }
      continue;
    }
    // A pidfd closed and reopened while this batch was handled carries a
    // readiness that is not its own: only a process that has exited counts.
    if (!exited(p.fd)) continue;
    if (auto c = children_.find(p.fd); c != children_.end()) {
      on_child_death(p.fd, c->second);
      continue;
    }
    auto it = by_fd_.find(p.fd);
    if (it == by_fd_.end()) continue;
    const Watched w = it->second;
    on_death(w.slot, w.pid);
  }
}

void Supervisor::hold_args(uint32_t actor, uint32_t gen) {
  if (actor >= store_.actor_count() || held_args_.count(actor) != 0) return;
  ipc::ActorEntry& e = store_.actor(actor);
  // acquire: pairs with create_actor()'s seq_cst store of kStarting, made
  // once ctor_args and lifetime are written.
  const auto st = ActorState(e.state.load(std::memory_order_acquire));
  if (e.gen.load(std::memory_order_relaxed) != gen || st == ActorState::kFree ||
      st == ActorState::kCreating || e.lifetime != uint32_t(ActorLifetime::kDetached) ||
      e.ctor_args == 0) {
    return;
  }
  // The creator still holds its reference while it waits for args_held.
  auto rec = store_.pin(uint32_t(e.ctor_args >> 32), uint32_t(e.ctor_args));
  if (rec) held_args_[actor] = HeldArgs{gen, *rec};
  // release: pairs with the creator's acquire load; it may let go of its
  // own reference once it sees this.
  e.args_held.store(1, std::memory_order_release);
}

void Supervisor::release_args_of_gone_actors() {
  for (auto it = held_args_.begin(); it != held_args_.end();) {
    const ipc::ActorEntry& e = store_.actor(it->first);
    // acquire: pairs with the seq_cst stores of kDead (kill_actor(), the
    // supervisor's own): a dead actor starts no incarnation again.
    const auto st = ActorState(e.state.load(std::memory_order_acquire));
    if (e.gen.load(std::memory_order_relaxed) == it->second.gen && st != ActorState::kDead &&
        st != ActorState::kFree) {
      ++it;
      continue;
    }
    store_.unpin(it->second.args);
    it = held_args_.erase(it);
  }
}

void Supervisor::release_rings_of_gone_actors() {
  bool any_dead = false;
  for (uint32_t i = 0; i < store_.actor_count() && !any_dead; ++i) {
    // relaxed: a hint; the scan below looks again under the registry lock.
    any_dead =
        ActorState(store_.actor(i).state.load(std::memory_order_relaxed)) == ActorState::kDead;
  }
  if (!any_dead) return;
  const ipc::ProcessTable& procs = store_.processes();
  const uint32_t now_s = uint32_t(ipc::now_ns() / 1'000'000'000) + 1;
  // The registry lock: start_actor() frees a reused entry's ring and
  // stamps dead_seen_s under it too.
  store_.header().registry_lock.lock(store_.me(), procs);
  for (uint32_t i = 0; i < store_.actor_count(); ++i) {
    ipc::ActorEntry& e = store_.actor(i);
    if (!ipc::dead_entry_settled(e, procs, now_s) || e.ring_off == 0) continue;
    (void)store_.heap().free(e.ring_off, e.ring_bytes, store_.objects().offset_of(&e.ring_off),
                             store_.me());
    e.ring_off = 0;
  }
  store_.header().registry_lock.unlock();
}

void Supervisor::tick() {
  const uint64_t now = ipc::now_ns();
  if (now - last_scan_ns_ < 200'000'000) return;
  last_scan_ns_ = now;
  release_args_of_gone_actors();
  release_rings_of_gone_actors();
  ipc::ProcessTable& procs = store_.processes();
  for (uint32_t i = 0; i < procs.size(); ++i) {
    const uint64_t owner = procs.slot(ipc::ProcessSlotId(i)).owner.load(std::memory_order_relaxed);
    if (ipc::owner_state(owner) == ipc::ProcessState::kAlive && fd_of_slot_[i] < 0) {
      watch(ipc::ProcessSlotId(i));
    } else if (ipc::owner_state(owner) == ipc::ProcessState::kFree && fd_of_slot_[i] >= 0) {
      // The process left the session (Store::leave) and may live on.
      const int fd = fd_of_slot_[i];
      by_fd_.erase(fd);
      ::close(fd);
      fd_of_slot_[i] = -1;
    }
  }
}

bool Supervisor::writer_dead(uint32_t writer) const {
  using store::WriterId;
  if (WriterId::kind(writer) == WriterId::kProcessKind) {
    return store_.processes().is_dead(ipc::ProcessSlotId(WriterId::id(writer)));
  }
  if (WriterId::kind(writer) == WriterId::kActorKind) {
    const uint32_t a = WriterId::id(writer);
    if (a >= store_.actor_count()) return true;
    // seq_cst: pairs with the seq_cst stores of the state (on_death()'s,
    // kill_actor()'s): the death being repaired is what this reads.
    const auto st = ActorState(store_.actor(a).state.load(std::memory_order_seq_cst));
    // A restarting actor's calls are failed by the repair of its own death
    // only: those submitted since wait for its next incarnation, whatever
    // other death is repaired meanwhile.
    return st == ActorState::kDead || st == ActorState::kFree ||
           (st == ActorState::kRestarting && int64_t(a) == recovering_actor_);
  }
  return true;  // no writer at all: nobody will seal it
}

namespace {

void fail_result(store::Store& store, uint32_t slot) {
  const std::optional<uint32_t> claimed =
      store.objects().claim_current_for_failure(slot, store.me());
  if (!claimed) return;
  const uint32_t writer = *claimed;
  store::ErrorPayload err;
  if (store::WriterId::kind(writer) == store::WriterId::kActorKind &&
      store::WriterId::id(writer) < store.actor_count()) {
    const ipc::ActorEntry& a = store.actor(store::WriterId::id(writer));
    const bool worker = a.kind == uint32_t(ActorKind::kWorker);
    err.kind = worker ? store::ErrorKind::kWorkerCrashed : store::ErrorKind::kActorDied;
    err.actor_class =
        worker ? "" : std::string(a.class_name, strnlen(a.class_name, sizeof(a.class_name)));
    err.message = std::string(a.death_message, strnlen(a.death_message, sizeof(a.death_message)));
    if (err.message.empty()) {
      err.message = worker ? "the worker process running the task died"
                           : "actor " + err.actor_class + " died before finishing the call";
    }
  } else {
    err.kind = store::ErrorKind::kObjectLost;
    err.message = "the process writing this object died before sealing it";
  }
  // Without room even for the error, an empty error is sealed: readers fail either way.
  (void)store::seal_error(store, slot, err);
}

}  // namespace

namespace {

// An owned actor dead for good no longer needs its token pending: sealed (as
// an error nobody reads), it is freed with the last handle, like any object.
// Does nothing while the actor lives or restarts, or once the token is gone
// (the actor freed it when it ended unreferenced).
void retire_token(store::Store& store, uint32_t actor) {
  const ipc::ActorEntry& e = store.actor(actor);
  // seq_cst: as the state stores that declared it dead (read after them).
  if (ActorState(e.state.load(std::memory_order_seq_cst)) != ActorState::kDead || e.token == 0) {
    return;
  }
  const uint32_t slot = uint32_t(e.token >> 32), gen = uint32_t(e.token);
  if (!store.objects().valid_slot(slot) ||
      !store.objects().claim_for_failure(slot, gen, store.me()))
    return;
  store::ErrorPayload err;
  err.kind = store::ErrorKind::kActorDied;
  err.actor_class = std::string(e.class_name, strnlen(e.class_name, sizeof(e.class_name)));
  err.message = "the actor's token: the actor is dead";
  (void)store::seal_error(store, slot, err);
}

}  // namespace

void fail_calls_of(store::Store& store, uint32_t actor) {
  if (actor >= store.actor_count()) return;
  // seq_cst: the actor's death (its state, stored seq_cst) comes before this
  // scan; pairs with submit_call()'s fence between creating a result and
  // reading the state (Dekker): we see the result, or the caller sees the death.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  store.objects().for_each_unsealed_of(store::WriterId::actor(actor),
                                       [&store](uint32_t s) { fail_result(store, s); });
  retire_token(store, actor);
}

void Supervisor::fail_result(uint32_t slot) {
  launcher::fail_result(store_, slot);
}

void Supervisor::fail_actor_calls(uint32_t actor) {
  fail_calls_of(store_, actor);
}

void Supervisor::skip_ring_claims(ipc::ProcessSlotId dead) {
  for (uint32_t a = 0; a < store_.actor_count(); ++a) {
    ipc::ActorEntry& e = store_.actor(a);
    // acquire: pairs with start_actor()'s store of kStarting, after it placed
    // the ring: ring_off and ring_bytes are set.
    const auto st = ActorState(e.state.load(std::memory_order_acquire));
    if (st == ActorState::kFree || st == ActorState::kCreating || e.ring_off == 0) continue;
    auto ring = ipc::RequestRing::attach(store_.base() + e.ring_off, e.ring_bytes);
    if (!ring || ring->depth() == 0) continue;
    if (ring->skip_claims_of(dead) > 0) {
      const uint32_t consumer = ring->header().consumer.load(std::memory_order_relaxed);
      if (store_.processes().valid(ipc::ProcessSlotId(consumer))) {
        store_.processes().slot(ipc::ProcessSlotId(consumer)).wake.notify();
      }
    }
  }
}

void Supervisor::kill_owned_actors(ipc::ProcessSlotId owner) {
  for (uint32_t a = 0; a < store_.actor_count(); ++a) {
    ipc::ActorEntry& e = store_.actor(a);
    // acquire: pairs with start_actor()'s stores of the state: the owner is
    // filled in once the entry leaves kCreating.
    const auto st = ActorState(e.state.load(std::memory_order_acquire));
    if (st == ActorState::kFree || st == ActorState::kDead || e.owner != owner ||
        e.lifetime == uint32_t(ActorLifetime::kDetached)) {
      continue;
    }
    uint32_t none = uint32_t(DeathCause::kNone);
    // seq_cst, as kill_actor()'s CAS of the cause: the first cause set wins;
    // pairs with on_death()'s acquire load of it.
    if (e.death_cause.compare_exchange_strong(none, uint32_t(DeathCause::kOwnerDied),
                                              std::memory_order_seq_cst)) {
      std::snprintf(e.death_message, sizeof(e.death_message),
                    "actor %s died because the process that created it exited", e.class_name);
    }
    // seq_cst: callers read the state seq_cst after creating their result
    // (Dekker with submit_call(), completed by fail_actor_calls()' fence).
    e.state.store(uint32_t(ActorState::kDead), std::memory_order_seq_cst);
    // acquire: pairs with the actor process's release store of its pid.
    const pid_t pid = e.pid.load(std::memory_order_acquire);
    if (pid > 0) {
      ::kill(pid, SIGKILL);  // its own death is handled when its pidfd fires
    }
    fail_actor_calls(a);
  }
}

bool Supervisor::spawner_alive(const ipc::ActorEntry& e) const {
  ipc::ProcessTable& procs = store_.processes();
  if (!procs.is_dead(e.spawner)) return true;
  // A rank's fork server outlives its rank while it serves actors that are to
  // outlive it; its slot names the rank's as its creator.
  for (uint32_t i = 0; i < procs.size(); ++i) {
    if (fork_server_creator(procs, ipc::ProcessSlotId(i)) == e.spawner) return true;
  }
  return false;
}

uint32_t Supervisor::settle_incarnation(uint32_t actor, pid_t pid) {
  ipc::ProcessTable& procs = store_.processes();
  ipc::ActorEntry& e = store_.actor(actor);
  // acquire: pairs with the seq_cst writes of the cause (kill_actor(),
  // exit_actor(), a failed creation): its death message is written too.
  const auto cause = DeathCause(e.death_cause.load(std::memory_order_acquire));
  // A detached actor needs no owner; every actor needs its fork server.
  const bool detached = e.lifetime == uint32_t(ActorLifetime::kDetached);
  const bool owner_alive = (detached || !procs.is_dead(e.owner)) && spawner_alive(e);
  const bool may_restart =
      cause == DeathCause::kNone && owner_alive &&
      (e.max_restarts < 0 || e.restarts.load(std::memory_order_relaxed) < e.max_restarts);
  e.process.store(ipc::kNoProcess, std::memory_order_relaxed);
  e.pid.store(0, std::memory_order_relaxed);
  if (may_restart) {
    // seq_cst: callers read the state seq_cst after creating their result
    // (Dekker with submit_call(), completed by the caller's fence before its
    // scan); a CAS, as kill_actor()'s CAS of a starting or restarting actor
    // to kDead may have come first.
    uint32_t st = e.state.load(std::memory_order_seq_cst);
    while (st != uint32_t(ActorState::kDead) && st != uint32_t(ActorState::kFree) &&
           !e.state.compare_exchange_weak(st, uint32_t(ActorState::kRestarting),
                                          std::memory_order_seq_cst, std::memory_order_seq_cst)) {
    }
    if (st == uint32_t(ActorState::kDead) || st == uint32_t(ActorState::kFree)) return 0;
    // seq_cst: Dekker with kill_actor(), which sets the cause and then reads
    // the state: it sees kRestarting (and ends the actor itself), or we see
    // its cause here and the actor stays dead.
    if (DeathCause(e.death_cause.load(std::memory_order_seq_cst)) != DeathCause::kNone) {
      uint32_t restarting = uint32_t(ActorState::kRestarting);
      e.state.compare_exchange_strong(restarting, uint32_t(ActorState::kDead),
                                      std::memory_order_seq_cst);
      return 0;
    }
    std::snprintf(e.death_message, sizeof(e.death_message),
                  "actor %s died: its process (pid %d) died", e.class_name, int(pid));
    return e.incarnation.load(std::memory_order_relaxed) + 1;
  }
  uint32_t none = uint32_t(DeathCause::kNone);
  // seq_cst, as kill_actor()'s CAS: the first cause set wins and writes the
  // notice; pairs with the acquire loads of death_cause before reading it.
  if (e.death_cause.compare_exchange_strong(none, uint32_t(DeathCause::kCrashed),
                                            std::memory_order_seq_cst)) {
    std::snprintf(e.death_message, sizeof(e.death_message),
                  "actor %s died: its process (pid %d) died", e.class_name, int(pid));
  } else if (e.death_message[0] == '\0' &&
             (cause == DeathCause::kKilled || cause == DeathCause::kExited)) {
    // The cause came with the process's own notice (exit_actor) or a kill
    // whose notice is not written yet: name it ourselves.
    std::snprintf(e.death_message, sizeof(e.death_message), "actor %s died: %s (pid %d)",
                  e.class_name,
                  cause == DeathCause::kKilled ? "it was killed with shoal::kill"
                                               : "it called shoal::exit_actor",
                  int(pid));
  }
  // seq_cst: as for kRestarting above.
  e.state.store(uint32_t(ActorState::kDead), std::memory_order_seq_cst);
  return 0;
}

void Supervisor::declare_dead(uint32_t actor, DeathCause cause, const std::string& message) {
  ipc::ActorEntry& e = store_.actor(actor);
  uint32_t none = uint32_t(DeathCause::kNone);
  // seq_cst, as kill_actor()'s CAS: the first cause set wins and writes the
  // notice; pairs with the acquire loads of death_cause before reading it.
  if (e.death_cause.compare_exchange_strong(none, uint32_t(cause), std::memory_order_seq_cst)) {
    std::snprintf(e.death_message, sizeof(e.death_message), "%s", message.c_str());
  }
  // seq_cst: callers read the state seq_cst after creating their result
  // (Dekker with submit_call(), completed by fail_actor_calls()' fence).
  e.state.store(uint32_t(ActorState::kDead), std::memory_order_seq_cst);
  fail_actor_calls(actor);
}

void Supervisor::restart(uint32_t actor, uint32_t incarnation) {
  ipc::ActorEntry& e = store_.actor(actor);
  e.restarts.fetch_add(1, std::memory_order_relaxed);
  e.death_message[0] = '\0';
  // release: pairs with ForkServer::spawn()'s acquire load, which then sees
  // the cleared death message and the restart count.
  e.incarnation.store(incarnation, std::memory_order_release);
  if (options_.local_spawn != nullptr && e.spawner == options_.local_spawner) {
    options_.local_spawn(options_.local_spawn_ctx, actor, incarnation);  // reports to on_forked
    return;
  }
  if (!send_message(fork_server_mailbox(store_.session_tag(), e.spawner),
                    Message{MessageType::kSpawn, actor, incarnation, 0})) {
    declare_dead(actor, DeathCause::kCrashed,
                 "actor " + std::string(e.class_name, strnlen(e.class_name, sizeof(e.class_name))) +
                     " died and could not be restarted: its fork server does not answer");
  }
}

void Supervisor::on_forked(uint32_t actor, uint32_t incarnation, pid_t pid) {
  if (actor >= store_.actor_count() || pid <= 0) return;
  const int fd = open_pidfd(pid);
  if (fd < 0) {
    on_child_death(-1, Child{actor, incarnation, pid});  // gone (and reaped) already
    return;
  }
  if (auto old = child_fd_.find(pid); old != child_fd_.end()) forget_child(old->second);
  children_[fd] = Child{actor, incarnation, pid};
  child_fd_[pid] = fd;
}

void Supervisor::on_spawn_failed(uint32_t actor, uint32_t incarnation, int error) {
  if (actor >= store_.actor_count()) return;
  ipc::ActorEntry& e = store_.actor(actor);
  // acquire: pairs with the seq_cst state stores of the creator and ours.
  const auto st = ActorState(e.state.load(std::memory_order_acquire));
  if ((st != ActorState::kStarting && st != ActorState::kRestarting) ||
      e.incarnation.load(std::memory_order_relaxed) != incarnation) {
    return;
  }
  declare_dead(actor, DeathCause::kCreationFailed,
               "actor " + std::string(e.class_name, strnlen(e.class_name, sizeof(e.class_name))) +
                   " could not be started: its fork server could not fork it (" +
                   std::strerror(error) + ")");
}

void Supervisor::forget_child(int fd) {
  auto it = children_.find(fd);
  if (it == children_.end()) return;
  child_fd_.erase(it->second.pid);
  children_.erase(it);
  ::close(fd);
}

void Supervisor::on_child_death(int fd, Child child) {
  if (fd >= 0) forget_child(fd);
  // Joined after all (its announcement not handled yet): an ordinary death.
  ipc::ProcessTable& procs = store_.processes();
  for (uint32_t i = 0; i < procs.size(); ++i) {
    // acquire: pairs with ProcessTable::claim()'s CAS of the owner word.
    const uint64_t owner = procs.slot(ipc::ProcessSlotId(i)).owner.load(std::memory_order_acquire);
    if (ipc::owner_state(owner) == ipc::ProcessState::kAlive &&
        ipc::owner_pid(owner) == child.pid) {
      on_death(ipc::ProcessSlotId(i), child.pid);
      return;
    }
  }
  // Died before it claimed a slot: nothing of the store to repair, only its actor.
  ipc::ActorEntry& e = store_.actor(child.actor);
  // acquire (both): pair with the seq_cst state stores and the child's
  // release store of its process slot (ActorProcess::run()).
  const auto st = ActorState(e.state.load(std::memory_order_acquire));
  if ((st != ActorState::kStarting && st != ActorState::kRestarting) ||
      e.incarnation.load(std::memory_order_acquire) != child.incarnation ||
      e.process.load(std::memory_order_acquire) != ipc::kNoProcess) {
    return;  // killed meanwhile, or a later incarnation runs
  }
  const uint32_t next = settle_incarnation(child.actor, child.pid);
  fail_actor_calls(child.actor);
  if (next != 0) restart(child.actor, next);
}

void Supervisor::on_death(ipc::ProcessSlotId slot, pid_t pid) {
  ipc::ProcessTable& procs = store_.processes();
  if (fd_of_slot_[slot] >= 0) {
    const int fd = fd_of_slot_[slot];
    by_fd_.erase(fd);
    ::close(fd);
    fd_of_slot_[slot] = -1;
  }
  if (auto c = child_fd_.find(pid); c != child_fd_.end()) forget_child(c->second);
  if (!procs.mark_dead(slot, pid)) return;  // already handled, or the slot was released
  ipc::ProcessSlot& ps = procs.slot(slot);
  const auto kind = ipc::ProcessKind(ps.kind.load(std::memory_order_relaxed));

  // 1. An actor's incarnation: decide between restart and death first, so that
  //    callers see the new state before we fail what is pending (Dekker with
  //    submit_call, which creates the result, then reads the state).
  int64_t restart_actor = -1;
  uint32_t restart_incarnation = 0;
  const int32_t actor = ps.actor.load(std::memory_order_relaxed);
  if ((kind == ipc::ProcessKind::kActor || kind == ipc::ProcessKind::kWorker) && actor >= 0 &&
      uint32_t(actor) < store_.actor_count()) {
    ipc::ActorEntry& e = store_.actor(uint32_t(actor));
    // acquire (both): pair with the actor process's release store of its
    // process slot and its seq_cst CAS to kAlive (ActorProcess::run()).
    const auto st = ActorState(e.state.load(std::memory_order_acquire));
    const uint32_t cur = e.process.load(std::memory_order_acquire);
    const bool mine =
        cur == slot ||
        (cur == ipc::kNoProcess && (st == ActorState::kStarting || st == ActorState::kRestarting));
    if (mine && st != ActorState::kDead && st != ActorState::kFree) {
      // The counter of calls running in the incarnation that ended.
      e.in_progress.store(0, std::memory_order_relaxed);
      for (uint32_t g = 0; g < ipc::kMaxGroups; ++g) {
        e.group_running[g].store(0, std::memory_order_relaxed);
        e.group_queued[g].store(0, std::memory_order_relaxed);
      }
      restart_incarnation = settle_incarnation(uint32_t(actor), pid);
      if (restart_incarnation != 0) restart_actor = actor;
    }
  }

  if (timeline::recording() && kind == ipc::ProcessKind::kActor && actor >= 0 &&
      uint32_t(actor) < store_.actor_count()) {
    record_lifecycle(timeline::EventKind::kActorDied, store_.actor(uint32_t(actor)),
                     uint32_t(actor), pid);
  }

  // 2. Everything the process held or was doing in the store. seq_cst: the
  //    state stored above comes before the scan for results to fail; pairs
  //    with submit_call()'s fence (the Dekker of step 1).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  recovering_actor_ = restart_actor;
  store_.recover_process(
      slot, [this](uint32_t writer) { return writer_dead(writer); },
      [this](uint32_t s) { fail_result(s); });
  recovering_actor_ = -1;
  if (actor >= 0 && uint32_t(actor) < store_.actor_count() && restart_actor < 0) {
    retire_token(store_, uint32_t(actor));
  }

  // 3. Ring cells it claimed but never published.
  skip_ring_claims(slot);

  // 4. Actors it created die with it.
  kill_owned_actors(slot);

  if (options_.driver_slot == slot) over_ = true;
  procs.release(slot);

  // 5. A new incarnation, now that the old one's calls are settled.
  if (restart_actor >= 0) restart(uint32_t(restart_actor), restart_incarnation);
}

void Supervisor::shutdown_session(pid_t spare) {
  // release, as the session's other state changes (session start): a reader
  // of the header that sees kShuttingDown sees what came before it.
  store_.header().state.store(uint32_t(store::SessionState::kShuttingDown),
                              std::memory_order_release);
  ipc::ProcessTable& procs = store_.processes();
  const pid_t me = ::getpid();
  for (uint32_t i = 0; i < procs.size(); ++i) {
    // acquire: pairs with ProcessTable::claim()'s CAS of the owner word.
    const uint64_t owner = procs.slot(ipc::ProcessSlotId(i)).owner.load(std::memory_order_acquire);
    if (ipc::owner_state(owner) == ipc::ProcessState::kFree) continue;
    const pid_t pid = ipc::owner_pid(owner);
    if (pid > 0 && pid != me && pid != spare) ::kill(pid, SIGKILL);
  }
  store::Segment::remove(store_.segment().name());
}

}  // namespace shoal::launcher
