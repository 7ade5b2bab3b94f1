#include "launcher/actor_requests.hpp"

#include <signal.h>

#include <cstring>
#include <string>

#include "launcher/actor_lifecycle.hpp"
#include "launcher/actor_start.hpp"
#include "launcher/mailbox.hpp"
#include "launcher/supervisor.hpp"

namespace shoal::launcher {

void notify_gateway(store::Store& s) {
  // acquire: pairs with the gateway's release store once it serves.
  const uint32_t g = s.header().gateway_slot.load(std::memory_order_acquire);
  if (g == 0) return;
  // release: pairs with the gateway's acquire load; the entry (published by
  // its seq_cst state store before) is seen with the new epoch.
  s.header().remote_epoch.fetch_add(1, std::memory_order_release);
  if (s.processes().valid(ipc::ProcessSlotId(g - 1)))
    s.processes().slot(ipc::ProcessSlotId(g - 1)).wake.notify();
}

bool kill_actor(store::Store& s, uint32_t index, uint32_t gen) {
  if (index >= s.actor_count()) return false;
  ipc::ActorEntry& e = s.actor(index);
  if (e.gen.load(std::memory_order_relaxed) != gen) return false;
  uint32_t none = uint32_t(DeathCause::kNone);
  // seq_cst: one of kill(), exit_actor() and the supervisor names the cause
  // of death; pairs with the supervisor's acquire load of death_cause once it
  // sees the process die.
  if (!e.death_cause.compare_exchange_strong(none, uint32_t(DeathCause::kKilled),
                                             std::memory_order_seq_cst,
                                             std::memory_order_seq_cst)) {
    return false;
  }
  const std::string cls(e.class_name, strnlen(e.class_name, sizeof(e.class_name)));
  copy_text(e.death_message, sizeof(e.death_message), "actor " + cls + " was killed (shoal::kill)");
  // release: publishes the notice to the callers of this process, whose
  // death_message() in call.cpp loads death_cause (acquire) before reading
  // it; the death that shows them the actor dead reaches them through the
  // kernel and the supervisor, outside this process's memory order. An RMW
  // that leaves the cause as it is: it never undoes the supervisor's.
  e.death_cause.fetch_or(0, std::memory_order_release);
  if (e.kind == uint32_t(ActorKind::kRemote)) {
    // An actor of another node: dead here at once (its calls fail as a
    // killed actor's do); the gateway tells its node to kill it there.
    // seq_cst: pairs with the seq_cst state load in submit_call()'s dead().
    e.state.store(uint32_t(ipc::ActorState::kDead), std::memory_order_seq_cst);
    fail_calls_of(s, index);
    notify_gateway(s);
    return true;
  }
  // acquire: pairs with the release store of pid in ActorProcess::run().
  const pid_t pid = e.pid.load(std::memory_order_acquire);
  // The supervisor fails its calls when it sees the death. It may be seeing
  // an earlier death of the actor right now and deciding on a restart: it
  // reads the cause after storing kRestarting, we read the state after
  // setting the cause (seq_cst both), so it keeps the actor dead or we see
  // kRestarting below and end the actor ourselves.
  if (pid > 0) ::kill(pid, SIGKILL);
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
      send_message(supervisor_mailbox(s.session_tag()),
                   Message{MessageType::kActorGone, index, 0, 0});
      return true;
    }
  }
  // acquire: pairs with the release store of pid in ActorProcess::run(),
  // which won the race to kAlive.
  const pid_t later = e.pid.load(std::memory_order_acquire);
  if (later > 0) ::kill(later, SIGKILL);
  return true;
}

bool request_cancel(store::Store& s, uint32_t slot, uint32_t gen) {
  if (!s.objects().request_cancel(slot, gen)) return false;  // finished already
  const uint32_t writer = s.objects().entry(slot).writer;
  if (store::WriterId::kind(writer) != store::WriterId::kActorKind) return true;
  const uint32_t a = store::WriterId::id(writer);
  if (a >= s.actor_count()) return true;
  ipc::ActorEntry& e = s.actor(a);
  // seq_cst: after request_cancel() above; pairs with the acquire loads in
  // AsyncIntake::poll() and has_work(), which then find the request, with
  // the gateway's acquire load (an actor of another node), and with the
  // actor's wake-word prepare() before it parks (notify() below).
  e.cancel_epoch.fetch_add(1, std::memory_order_seq_cst);
  if (e.kind == uint32_t(ActorKind::kRemote)) {
    notify_gateway(s);
    return true;
  }
  // acquire: pairs with the release store of process in ActorProcess::run().
  const uint32_t p = e.process.load(std::memory_order_acquire);
  if (s.processes().valid(ipc::ProcessSlotId(p)))
    s.processes().slot(ipc::ProcessSlotId(p)).wake.notify();
  return true;
}

}  // namespace shoal::launcher
