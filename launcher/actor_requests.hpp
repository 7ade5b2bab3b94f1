// What any process of a session may ask of an actor it holds a handle to:
// its death (shoal::kill()) and the cancellation of one of its calls
// (shoal::cancel()). Shared by the runtime and a node's gateway, which does
// the same for the other nodes.
#pragma once

#include <cstdint>

#include "store/store.hpp"

namespace shoal::launcher {

// Kills actor (index, gen) for good: its calls fail with ActorDiedError and
// it never restarts. False if it was dead or dying already (another cause
// was set first), or if the entry holds another actor now.
bool kill_actor(store::Store& s, uint32_t index, uint32_t gen);

// Asks the writer of the pending result (slot, gen) to cancel the call, and
// wakes it to look. False if the call has finished already.
bool request_cancel(store::Store& s, uint32_t slot, uint32_t gen);

// A kRemote entry was created or killed: the node's gateway rescans.
void notify_gateway(store::Store& s);

}  // namespace shoal::launcher
