// The process-wide runtime state behind the public API (core/src only).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <shoal/actor.hpp>
#include <shoal/detail/runtime.hpp>
#include <shoal/msgpack_codec.hpp>  // msgpack_scratch()
#include <shoal/object_ref.hpp>

#include "launcher/session.hpp"
#include "store/store.hpp"
#include "store/store_error.hpp"

namespace shoal::detail {

class Watcher;

enum class Role { kDriver, kRank, kActor, kWorker };

struct Runtime {
  launcher::Session session;
  store::Store* store = nullptr;
  Role role = Role::kDriver;
  uint32_t actor_index = 0xffffffffu;  // in actor and worker processes
  // The process whose fork server starts the actors we create: ourselves for
  // drivers and ranks, our own spawner for actors.
  ipc::ProcessSlotId spawner = ipc::kNoProcess;
  int num_workers = 1;

  std::mutex workers_mu;
  // This process's stateless-task workers, started lazily (under workers_mu)
  // and never changed once workers_started is set.
  std::vector<ActorId> workers;
  std::atomic<bool> workers_started{false};
  // The workers this process runs tasks on in other nodes (TaskOptions::node):
  // per node, entries standing for workers there, made at its first task and
  // kept for the life of this process (under workers_mu), and the next in turn.
  struct RemoteWorkers {
    std::vector<ActorId> workers;
    uint32_t next = 0;
  };
  std::map<int, RemoteWorkers> remote_workers;
  // The worker the last task went to: the next goes there too while it is idle.
  std::atomic<uint32_t> last_worker{0};

  // Constructor arguments of the actors we created, kept while the actor may
  // still (re)start: a restart runs the constructor again. Dropped once it is
  // dead for good (prune_ctor_args()).
  struct CtorArgs {
    ActorId actor;
    ObjectRefBase args;
  };
  std::mutex created_mu;
  std::vector<CtorArgs> ctor_args;

  std::mutex watcher_mu;
  std::unique_ptr<Watcher> watcher;  // fulfils ObjectRef::future()
};

// The runtime (null, or UsageError from runtime(), if init() has not run).
// Inline: every put, get and call reads it.
extern std::atomic<Runtime*> g_runtime;  // session.cpp; set by init(), cleared by shutdown()
inline Runtime* runtime_or_null() noexcept {
  // acquire: pairs with the release stores of install() and shutdown() in session.cpp.
  return g_runtime.load(std::memory_order_acquire);
}
[[noreturn]] void throw_no_runtime();
inline Runtime& runtime() {
  Runtime* rt = runtime_or_null();
  if (rt == nullptr) throw_no_runtime();
  return *rt;
}

// The id of the object a record of the live session holds.
ObjectId record_id(const RefRecord* rec);

// Throws the public exception for a store error met while doing `what`.
[[noreturn]] void throw_store_error(store::StoreError error, const char* what,
                                    uint64_t requested = 0);

// The error a failed object holds, as an exception.
[[noreturn]] void throw_error_object(const std::byte* data, size_t size);

// cancel() of the call whose result (or stream link) `rec` is: marks it and tells its actor.
// False if it is sealed already (nothing to cancel).
bool request_call_cancel(const RefRecord* rec);

// Runs an actor process (launcher::ActorMainFn).
void actor_main(store::Store& store, uint32_t index);
// Makes this freshly forked process an actor's: a runtime over `store`.
void install_actor_runtime(store::Store& store, uint32_t index);

}  // namespace shoal::detail
