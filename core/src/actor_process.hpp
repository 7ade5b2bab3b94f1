// ActorProcess: the life of an actor (or worker) process: construct the
// object, then serve its request ring until the process is killed or calls
// exit_actor() (core/src only).
//
// How calls are served is apart from the setup: threaded actors through a
// ThreadedPool (threaded_pool.cpp), async actors and workers through an
// AsyncIntake on one event loop (async_intake.cpp). Both take calls out of the
// ring and settle their results with the helpers here.
#pragma once

#include <cstdint>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>

#include <shoal/detail/call.hpp>
#include <shoal/detail/registry.hpp>

#include "ipc/actor_table.hpp"
#include "ipc/request_ring.hpp"
#include "ipc/spin.hpp"
#include "store/store.hpp"

namespace shoal::detail {

class ActorProcess {
 public:
  ActorProcess(store::Store& store, uint32_t index) : store_(store), entry_(store.actor(index)) {}

  [[noreturn]] void run();

  // ---- for the serving loops ----
  store::Store& store() const { return store_; }
  ipc::ActorEntry& entry() const { return entry_; }
  ipc::RequestRing& ring() { return ring_; }
  const ClassInfo* cls() const { return cls_; }  // null in a worker
  bool worker() const { return worker_; }
  void* self() const { return self_; }

  // Copies the call in `cell` into `in`; false (after reporting it, and
  // answering the call if it names a pending result) for a malformed cell.
  bool copy_call(ipc::RingCell* cell, CallInput& in);
  // Waits for the next call and copies it; false only for a dropped cell. `*waited` (if given)
  // is set when the thread idled long enough for its idle loop to read the clock (from
  // SpinPolicy::kClockEvery steps, under a microsecond, on) before the call came.
  bool next_call(CallInput& in, bool* waited = nullptr);
  // Claims the call's result; false if the call is to be dropped (or was
  // answered here: cancelled, unknown method).
  bool begin(const CallInput& in, const char** method_name);
  void fail_with(const CallTarget& t, std::exception_ptr error, const char* method);

  // ---- concurrency groups (the table of the actor's entry, checked at start) ----
  uint32_t group_count() const { return group_count_; }
  uint32_t group_limit(uint32_t group) const { return uint32_t(entry_.group_limit[group]); }
  std::string_view group_name(uint32_t group) const {
    return {entry_.group_name[group], strnlen(entry_.group_name[group], ipc::kGroupNameBytes)};
  }
  // The group call `in` runs in: the one its header names, or its method's. A header naming a
  // group the actor does not have (a corrupt cell) answers the call with an error and gives false.
  bool group_of(const CallInput& in, uint32_t* group);
  void seal_cancelled(const CallTarget& t, const char* method);

  // ---- owned actors (Lifetime::kOwned) ----
  // Whether no process of the session holds a handle to this actor any more:
  // its token has no pins (or is gone). One load; false without a token.
  // Call when no call is queued or running, then look at the ring again
  // (ring_empty_after_unreferenced()): a call pushed by the last holder
  // before it let go is then seen.
  bool unreferenced() const;
  bool ring_empty_after_unreferenced();
  // Ends the actor for good: no handle is left to call it. Frees the token
  // and exits; the supervisor does not restart it.
  [[noreturn]] void exit_unreferenced();
  // Calls taken out of the ring and not finished yet, for the serving loops
  // that hand calls to other threads (next_call() exits the actor only while
  // it is 0).
  std::atomic<uint32_t>& outstanding() { return outstanding_; }
  // After release_head(): if the next call is in the ring already, starts moving its result
  // entry's lines (which its caller wrote when it created the entry) to this core while the
  // call just taken is started: its claim and seal then find them here.
  void prefetch_next_result() const noexcept;

 private:
  [[noreturn]] void creation_failed(const std::string& why);
  void idle_wait();  // one step of waiting for a call: spin, or park

  store::Store& store_;
  ipc::ActorEntry& entry_;
  ipc::RequestRing ring_;
  const ClassInfo* cls_ = nullptr;
  bool worker_ = false;
  void* self_ = nullptr;
  std::string class_name_;
  ipc::IdleSpin idle_;
  std::atomic<uint32_t> outstanding_{0};
  uint32_t group_count_ = 1;
};

// Serves a threaded actor's calls on max_concurrency threads, for ever.
void serve_threaded(ActorProcess& actor);
// Serves an async actor's (or a worker's) calls on this thread's event loop,
// for ever.
void serve_async(ActorProcess& actor);

}  // namespace shoal::detail
