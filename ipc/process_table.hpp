// ProcessTable: one slot per process attached to a session, in shared memory.
//
// A slot is claimed by one CAS on `owner` (0 -> pid|kAlive), so a claim is
// never half done. Only the session supervisor moves a slot from kAlive to kDead
// (it watches every registered pid through a pidfd) and, once it has repaired
// whatever the dead process held, back to kFree. A slot is therefore never
// reused while any lock or object still names it.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <optional>
#include <type_traits>

#include "ipc/wake_word.hpp"

namespace shoal::ipc {

inline constexpr uint32_t kMaxProcesses = 1024;  // process slots per session
using ProcessSlotId = uint16_t;                  // index into the table
inline constexpr ProcessSlotId kNoProcess = 0xffff;

enum class ProcessKind : uint32_t {
  kDriver = 1,      // a program that called init() itself
  kRank = 2,        // a rank of `shoal launch`
  kForkServer = 3,  // forks actors and workers for one driver or rank
  kActor = 4,
  kWorker = 5,  // runs stateless tasks
  kSupervisor = 6,
  kTool = 7,  // `shoal status` and friends (never hold objects)
};

const char* to_string(ProcessKind kind);

enum class ProcessState : uint32_t { kFree = 0, kAlive = 1, kDead = 2 };

struct alignas(64) ProcessSlot {
  // owner: (pid << 8) | ProcessState. Written by the claiming process (CAS from
  // 0) and by the supervisor (kAlive -> kDead -> 0). Readers use acquire.
  std::atomic<uint64_t> owner;
  std::atomic<uint32_t> kind;         // ProcessKind, set right after the claim
  std::atomic<int32_t> actor;         // actor table index for actors and workers, else -1
  std::atomic<uint64_t> held_head;    // heap offset of this process's first HeldChunk (0: none)
  std::atomic<uint32_t> incarnation;  // bumped at every claim of this slot
  std::atomic<uint32_t> creator;      // slot of the process that spawned this one, or kNoProcess
  std::atomic<uint64_t> objects_created;  // written only by the owner
  std::atomic<uint64_t> objects_freed;    // written by whoever frees an object it created
  uint8_t pad0[16];

  // Line 1: the process's wake word. Event loops and blocked getters of this
  // process park here; whoever seals an object they wait for, or pushes a call
  // to their actor ring, notifies it.
  alignas(64) WakeWord wake;
  uint8_t pad1[60];

  alignas(64) char label[64];  // "driver", "AsyncActor", ... for `shoal status`
  uint8_t pad2[64];
};

static_assert(sizeof(ProcessSlot) == 256);
static_assert(std::is_standard_layout_v<ProcessSlot>);
// Every field above is shared between processes: lock-free atomics only.
static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(std::atomic<uint32_t>::is_always_lock_free);
static_assert(std::atomic<int32_t>::is_always_lock_free);

inline constexpr uint64_t make_owner(pid_t pid, ProcessState state) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(pid)) << 8) | static_cast<uint64_t>(state);
}
inline constexpr pid_t owner_pid(uint64_t owner) {
  return static_cast<pid_t>(owner >> 8);
}
inline constexpr ProcessState owner_state(uint64_t owner) {
  return static_cast<ProcessState>(owner & 0xff);
}

// A view over the table in a mapped segment. Cheap to copy.
class ProcessTable {
 public:
  ProcessTable() = default;
  ProcessTable(ProcessSlot* slots, uint32_t count) : slots_(slots), count_(count) {}

  uint32_t size() const { return count_; }
  ProcessSlot& slot(ProcessSlotId id) const { return slots_[id]; }
  bool valid(ProcessSlotId id) const { return id < count_; }

  // Claims a free slot for `pid`; nullopt when all slots are taken.
  std::optional<ProcessSlotId> claim(pid_t pid, ProcessKind kind, ProcessSlotId creator,
                                     const char* label);

  // True once the supervisor has seen the process die (or the slot is free).
  bool is_dead(ProcessSlotId id) const {
    if (!valid(id)) return true;
    const uint64_t o = slots_[id].owner.load(std::memory_order_acquire);  // pairs with mark_dead
    return owner_state(o) != ProcessState::kAlive;
  }
  pid_t pid(ProcessSlotId id) const {
    // acquire: pairs with claim()'s CAS of the owner word.
    return owner_pid(slots_[id].owner.load(std::memory_order_acquire));
  }

  // Supervisor only.
  bool mark_dead(ProcessSlotId id, pid_t pid);
  void release(ProcessSlotId id);

 private:
  ProcessSlot* slots_ = nullptr;
  uint32_t count_ = 0;
};

}  // namespace shoal::ipc
