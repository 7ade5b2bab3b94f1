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

}  // namespace shoal::ipc
