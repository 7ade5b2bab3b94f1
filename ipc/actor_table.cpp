#include "ipc/actor_table.hpp"

namespace shoal::ipc {

const char* to_string(ActorState state) {
  switch (state) {
    case ActorState::kFree:
      return "free";
    case ActorState::kCreating:
      return "creating";
    case ActorState::kStarting:
      return "starting";
    case ActorState::kAlive:
      return "alive";
    case ActorState::kRestarting:
      return "restarting";
    case ActorState::kDead:
      return "dead";
  }
  return "unknown";
}

bool runs_no_process(const ActorEntry& e, const ProcessTable& procs) {
  // acquire (both): pairs with ActorProcess::run()'s release stores of pid
  // and then process, made once it attached the ring.
  const auto p = ProcessSlotId(e.process.load(std::memory_order_acquire));
  const pid_t pid = e.pid.load(std::memory_order_acquire);
  if (procs.is_dead(p)) return true;  // never joined (kNoProcess), died, or left
  return pid == 0 || procs.pid(p) != pid;
}

bool dead_entry_settled(ActorEntry& e, const ProcessTable& procs, uint32_t now_s) {
  // acquire: pairs with the seq_cst stores of kDead, after which no new
  // caller uses the entry's ring.
  if (ActorState(e.state.load(std::memory_order_acquire)) != ActorState::kDead ||
      !runs_no_process(e, procs)) {
    return false;
  }
  if (e.dead_seen_s == 0) e.dead_seen_s = now_s;
  return now_s - e.dead_seen_s >= kDeadEntryGraceS;
}

}  // namespace shoal::ipc
