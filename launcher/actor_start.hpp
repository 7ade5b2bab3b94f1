// start_actor: claims and fills an actor-table entry for a new actor, formats
// its request ring, and asks its fork server to start it. Shared by the
// runtime (shoal::actor<A>().remote()) and a node's gateway, which creates
// the actors other nodes ask it for.
//
// Thread-safety: any thread of any process of the session; the registry lock
// makes a name check and an entry claim one step.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ipc/result.hpp"
#include "launcher/actor_lifecycle.hpp"
#include "store/store.hpp"

namespace shoal::launcher {

// A concurrency group beyond the default one: its name and limit.
struct GroupLimit {
  std::string name;
  int limit = 0;
};

struct NewActor {
  std::string_view class_name;
  uint64_t class_id = 0;
  uint64_t ctor_id = 0;
  ActorKind kind = ActorKind::kThreaded;
  int max_concurrency = 1;
  int max_restarts = 0;
  int cpu = -1;
  uint32_t generator_backpressure = 0;
  std::string name;
  uint32_t ring_cells = 1024;  // a power of two
  uint64_t ctor_args = 0;      // packed (slot, gen) of the constructor-arguments object, 0: none
  ActorLifetime lifetime = ActorLifetime::kDetached;
  uint64_t token = 0;              // packed (slot, gen) of an owned actor's token, 0: none
  std::vector<GroupLimit> groups;  // beyond the default group (whose limit is max_concurrency)
  uint32_t owner = 0;              // process slot of the creator
  uint32_t spawner = 0;            // process slot whose fork server forks it
  // ActorKind::kRemote: the node the actor lives on, and the process slot
  // (the node's gateway) that serves the entry's ring. Nothing is spawned.
  uint32_t home_node = 0;
  ActorKind home_kind = ActorKind::kThreaded;  // the kind it has on its node
  uint32_t ring_consumer = 0;
  // kRemote made by get_actor(): the entry stays kStarting (calls queue) while
  // the gateway asks the other nodes for the name (home_node is kAnyNode).
  bool lookup = false;
};

struct StartedActor {
  uint32_t index = 0;
  uint32_t gen = 0;
};

enum class StartFailure {
  kNameTaken,         // a live actor of the session has the name
  kActorTableFull,    // no free entry
  kProcessTableFull,  // no process slot would be left for it
  kRingDoesNotFit,    // the store has no room for its request ring (store_error, bytes)
};

struct StartError {
  StartFailure what = StartFailure::kNameTaken;
  std::string message;  // names the problem and the limit
  store::StoreError store_error{};
  uint64_t bytes = 0;
};

// Creates the actor described by `spec` in `s`'s session and returns its
// entry and generation. The entry is kStarting (kAlive for kRemote) when this
// returns; if the fork server cannot be told, the actor is dead, with a
// notice saying so, and calls on it fail with ActorDiedError.
Result<StartedActor, StartError> start_actor(store::Store& s, const NewActor& spec);

// Whether an actor in `state` counts as existing (names are taken, calls queue).
bool live_state(ipc::ActorState state);

// Copies `src` into the NUL-terminated field `dst` of `cap` bytes, cut to fit.
void copy_text(char* dst, size_t cap, std::string_view src);

}  // namespace shoal::launcher
