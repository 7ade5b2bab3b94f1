#include "ipc/process_table.hpp"

#include <cstring>

namespace shoal::ipc {

const char* to_string(ProcessKind kind) {
  switch (kind) {
    case ProcessKind::kDriver:
      return "driver";
    case ProcessKind::kRank:
      return "rank";
    case ProcessKind::kForkServer:
      return "fork-server";
    case ProcessKind::kActor:
      return "actor";
    case ProcessKind::kWorker:
      return "worker";
    case ProcessKind::kSupervisor:
      return "supervisor";
    case ProcessKind::kTool:
      return "tool";
  }
  return "unknown";
}

std::optional<ProcessSlotId> ProcessTable::claim(pid_t pid, ProcessKind kind, ProcessSlotId creator,
                                                 const char* label) {
  // Start at a pid-dependent slot so concurrent claimers rarely collide.
  const uint32_t start = static_cast<uint32_t>(pid) % count_;
  for (uint32_t i = 0; i < count_; ++i) {
    const uint32_t id = (start + i) % count_;
    ProcessSlot& s = slots_[id];
    uint64_t expected = 0;
    // acq_rel: acquire pairs with release() of the previous owner's cleanup.
    if (!s.owner.compare_exchange_strong(expected, make_owner(pid, ProcessState::kAlive),
                                         std::memory_order_acq_rel, std::memory_order_relaxed)) {
      continue;
    }
    s.kind.store(static_cast<uint32_t>(kind), std::memory_order_relaxed);
    s.actor.store(-1, std::memory_order_relaxed);
    s.held_head.store(0, std::memory_order_relaxed);
    s.creator.store(creator, std::memory_order_relaxed);
    s.objects_created.store(0, std::memory_order_relaxed);
    s.objects_freed.store(0, std::memory_order_relaxed);
    s.wake.reset();
    std::memset(s.label, 0, sizeof(s.label));
    std::strncpy(s.label, label ? label : "", sizeof(s.label) - 1);
    // release: the fields above before the new incarnation, for a reader that
    // acquires it (none today: readers go by the owner word and by the
    // supervisor's join message).
    s.incarnation.fetch_add(1, std::memory_order_release);
    return static_cast<ProcessSlotId>(id);
  }
  return std::nullopt;
}

bool ProcessTable::mark_dead(ProcessSlotId id, pid_t pid) {
  uint64_t expected = make_owner(pid, ProcessState::kAlive);
  // seq_cst: pairs with is_dead() of lock waiters and with callers that check an
  // actor's liveness after publishing a call (Dekker with the supervisor's scan).
  return slots_[id].owner.compare_exchange_strong(expected, make_owner(pid, ProcessState::kDead),
                                                  std::memory_order_seq_cst);
}

void ProcessTable::release(ProcessSlotId id) {
  slots_[id].owner.store(0, std::memory_order_release);  // pairs with claim()
}

}  // namespace shoal::ipc
