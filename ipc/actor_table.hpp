// ActorTable: one entry per actor of the session (stateless-task workers are
// actors too), in shared memory, so that any process can find an actor by name,
// reach its request ring and see whether it lives.
//
// This layer keeps the entries and their lifecycle states only; what an
// actor's kind and cause of death mean is the launcher's business
// (launcher/actor_lifecycle.hpp).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <type_traits>

#include "ipc/process_table.hpp"

namespace shoal::ipc {

inline constexpr uint32_t kMaxActors = 4096;
// Concurrency groups per actor, the default group included: eight fill one cache line of counters
// (two 32-bit words per group) and are more than Ray programs declare.
inline constexpr uint32_t kMaxGroups = 8;
// Bytes of a group name, its terminating NUL included.
inline constexpr uint32_t kGroupNameBytes = 24;

enum class ActorState : uint32_t {
  kFree = 0,
  kCreating = 1,    // the creator is filling the entry in
  kStarting = 2,    // waiting for its process; calls already queue in the ring
  kAlive = 3,       // its process serves the ring
  kRestarting = 4,  // died; a new incarnation is being started
  kDead = 5,        // gone for good: every call fails with ActorDiedError
};
const char* to_string(ActorState state);

struct alignas(64) ActorEntry {
  // Line 0: lifecycle, read by every caller.
  std::atomic<uint32_t> state;         // ActorState; seq_cst (see ActorHandle calls)
  std::atomic<uint32_t> gen;           // bumped when the entry is freed; handles carry it
  std::atomic<uint32_t> process;       // process slot of the live incarnation, or kNoProcess
  std::atomic<int32_t> pid;            // pid of the live incarnation, 0 if none
  std::atomic<uint32_t> incarnation;   // 0 for the first process, +1 per restart
  std::atomic<int32_t> restarts;       // restarts so far
  std::atomic<uint32_t> cancel_epoch;  // bumped by cancel(); the actor rescans its calls
  std::atomic<uint32_t> death_cause;   // why it died (launcher::DeathCause), 0 while it lives
  uint32_t kind;                       // how it runs its calls (launcher::ActorKind)
  int32_t max_concurrency;
  int32_t max_restarts;  // -1: forever
  int32_t cpu;           // core to pin to, -1: none
  uint16_t owner;        // process slot of the creator
  uint16_t spawner;      // process slot of the fork server that forks it
  // Seconds (CLOCK_MONOTONIC, + 1) when a scan (a creator's, the
  // supervisor's) first saw the entry kDead with no process running it; 0
  // before. Read and written under the registry lock only: an entry's ring
  // goes back to the heap only a while after its death (dead_entry_settled()).
  uint32_t dead_seen_s;
  uint64_t ring_off;  // segment offset of its RequestRing

  // Line 1: identity, written while kCreating, immutable afterwards. (Lines
  // are fetched in 128-byte pairs: this one shares line 0's pair, and the
  // counters the actor writes at every call stay out of the callers' way.)
  alignas(64) uint64_t class_id;     // fingerprint of the class name
  uint64_t ctor_id;                  // fingerprint of the constructor signature
  uint64_t ctor_args;                // (slot << 32) | gen of the constructor-arguments object
  std::atomic<int32_t> exit_status;  // wait status of the last incarnation
  uint32_t lifetime;                 // launcher::ActorLifetime
  uint64_t ring_bytes;
  // (slot << 32) | gen of the owned actor's token: a pending object every
  // handle holds a reference on, so that its pins count the handles of the
  // whole session (copies, arguments, handles inside objects). 0: none (a
  // detached actor, a worker). The actor ends once it has no pins.
  uint64_t token;
  uint32_t generator_backpressure;  // items a stream's consumer may leave untaken, 0: no bound
  // 1 once the session's supervisor holds a detached actor's constructor arguments (kHoldArgs),
  // so that they outlive its creator; 0 before, and for other actors.
  std::atomic<uint32_t> args_held;
  // An entry standing for an actor of another node (launcher::ActorKind::kRemote): that node.
  // Written while kCreating, immutable afterwards.
  uint32_t home_node;
  uint32_t home_kind;  // kRemote entries: the actor's kind on its node

  // Line 2: counters written by the actor's own process.
  alignas(64) std::atomic<uint64_t> calls_served;
  std::atomic<uint64_t> calls_failed;
  std::atomic<uint32_t> in_progress;
  // kRemote entries: the pid of the actor's process on its node, 0 until that node reports it.
  // Written by this node's gateway; never a pid of this machine to signal.
  std::atomic<int32_t> remote_pid;
  // kRemote entries made by get_actor() for a name on another node: how the
  // search went (launcher::Lookup), written by this node's gateway.
  std::atomic<uint32_t> lookup;
  uint8_t pad1[36];

  // Lines 3..: identity (immutable after kCreating) and the death notice.
  char name[64];  // "" for unnamed actors
  char class_name[64];
  char death_message[192];

  // Lines 8..11: the concurrency groups, written while kCreating, immutable afterwards. Group 0
  // is the default group (its limit is max_concurrency); a call's header names its group by
  // index into these arrays.
  alignas(64) uint32_t group_count;  // 1..kMaxGroups
  int32_t group_limit[kMaxGroups];   // calls of the group in progress at once, at most
  uint8_t pad3[28];
  char group_name[kMaxGroups][kGroupNameBytes];

  // Line 12: per-group counters written by the actor's own process, read by `shoal status`
  // (relaxed: a snapshot; nothing is ordered by them).
  alignas(64) std::atomic<uint32_t> group_running[kMaxGroups];  // calls in progress
  std::atomic<uint32_t> group_queued[kMaxGroups];  // taken out of the ring, waiting for the group
};
static_assert(sizeof(ActorEntry) == 832);
static_assert(offsetof(ActorEntry, class_id) == 64 && offsetof(ActorEntry, calls_served) == 128);
static_assert(offsetof(ActorEntry, token) == 104);
static_assert(offsetof(ActorEntry, group_count) == 512 && offsetof(ActorEntry, group_name) == 576 &&
              offsetof(ActorEntry, group_running) == 768);
static_assert(std::is_standard_layout_v<ActorEntry>);
// Every process of the session reads and writes these words.
static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(std::atomic<uint32_t>::is_always_lock_free);
static_assert(std::atomic<int32_t>::is_always_lock_free);

// Seconds an entry stays dead, no process running it, before its request
// ring may go back to the heap: a caller that read the actor alive just
// before it died has left the ring long since (a full ring's waiter rechecks
// every 10 ms), and an incarnation killed while starting (it attaches the
// ring before it publishes its process) has seen kDead and exited.
inline constexpr uint32_t kDeadEntryGraceS = 2;

// True if no process of the session runs the actor of `e` any more: it never
// joined, or its process died or left, or its slot is another process's now.
bool runs_no_process(const ActorEntry& e, const ProcessTable& procs);
// True once `e` is dead for good and settled: kDead, runs_no_process(), and
// kDeadEntryGraceS since a scan first saw that (dead_seen_s, stamped here).
// `now_s`: CLOCK_MONOTONIC seconds + 1. With the registry lock held.
bool dead_entry_settled(ActorEntry& e, const ProcessTable& procs, uint32_t now_s);

// A view over the table in a mapped segment. Cheap to copy.
class ActorTable {
 public:
  ActorTable() = default;
  ActorTable(ActorEntry* entries, uint32_t count) : entries_(entries), count_(count) {}

  uint32_t size() const { return count_; }
  bool valid(uint32_t index) const { return index < count_; }
  ActorEntry& entry(uint32_t index) const { return entries_[index]; }

 private:
  ActorEntry* entries_ = nullptr;
  uint32_t count_ = 0;
};

}  // namespace shoal::ipc
