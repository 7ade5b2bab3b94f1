// What the words `kind` and `death_cause` of an ipc::ActorEntry mean: how the
// actor runs its calls, and why it is dead. The supervisor reads them to
// decide between a restart and a death; the core layer writes them when it
// creates, kills or ends an actor.
#pragma once

#include <cstdint>

namespace shoal::launcher {

enum class ActorKind : uint32_t {
  kThreaded = 0,  // calls run on a pool of max_concurrency threads
  kAsync = 1,     // calls run as coroutines on one event loop
  kWorker = 2,    // runs stateless tasks, as coroutines on one event loop
  // Stands for an actor of another node of the job: no process; this node's
  // gateway serves the entry's ring, forwarding its calls to that node.
  kRemote = 3,
};

// Why an actor is dead; the message in death_message says more.
enum class DeathCause : uint32_t {
  kNone = 0,
  kCrashed = 1,         // its process died (signal or exit) with no restarts left
  kKilled = 2,          // shoal::kill()
  kExited = 3,          // exit_actor()
  kCreationFailed = 4,  // the constructor threw, or the class is unknown
  kOwnerDied = 5,       // the process that created it is gone
  kUnreferenced = 6,    // an owned actor no handle referred to any more
};

// The word `lookup` of a kRemote entry that get_actor() made to find a name
// on the other nodes (its home_node is kAnyNode until one answers).
enum class Lookup : uint32_t {
  kNone = 0,        // not a lookup (an actor created on another node)
  kSearching = 1,   // asked; the entry is kStarting
  kFound = 2,       // bound to the actor of that name: kAlive
  kNotFound = 3,    // no node has it: kDead
  kWrongClass = 4,  // a node has it with another class (death_message says which): kDead
};
inline constexpr uint32_t kAnyNode = 0xffffffffu;

// How long an actor lives (the word `lifetime` of an ipc::ActorEntry).
enum class ActorLifetime : uint32_t {
  kOwned = 0,     // until no handle refers to it, or its creator is gone
  kDetached = 1,  // until kill(), exit_actor() or the end of the session
};

}  // namespace shoal::launcher
