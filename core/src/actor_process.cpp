// The life of an actor (or worker) process (actor_process.hpp): construct the
// object, then hand the request ring to the way its calls are served; and
// what every way shares: taking a call out of a cell, claiming its result,
// and answering it with an error.
#include "core/src/actor_process.hpp"

#include <cxxabi.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <typeinfo>

#include <shoal/actor.hpp>
#include <shoal/detail/registry.hpp>

#include "core/src/call_trace.hpp"
#include "core/src/runtime.hpp"
#include "launcher/actor_lifecycle.hpp"
#include "store/error_payload.hpp"

namespace shoal::detail {

namespace {

std::string demangle(const char* name) {
  int status = 0;
  char* d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string out = (status == 0 && d) ? d : name;
  std::free(d);
  return out;
}

}  // namespace

// ---------------------------------------------------------------- setup

void ActorProcess::creation_failed(const std::string& why) {
  const std::string msg = "actor " + class_name_ + " could not be created: " + why;
  uint32_t none = uint32_t(launcher::DeathCause::kNone);
  // seq_cst, as kill_actor()'s CAS: the first cause set writes the notice (a
  // kill while we started, which may have taken our arguments with it, keeps
  // its own); pairs with the supervisor's acquire load of death_cause once it
  // sees this process die (the _exit below comes after this CAS).
  if (!entry_.death_cause.compare_exchange_strong(
          none, uint32_t(launcher::DeathCause::kCreationFailed), std::memory_order_seq_cst)) {
    std::fflush(nullptr);
    ::_exit(1);
  }
  std::snprintf(entry_.death_message, sizeof(entry_.death_message), "%s", msg.c_str());
  std::fprintf(stderr, "shoal: %s\n", msg.c_str());
  std::fflush(nullptr);
  ::_exit(1);
}

void ActorProcess::run() {
  class_name_.assign(entry_.class_name, strnlen(entry_.class_name, sizeof(entry_.class_name)));
  worker_ = entry_.kind == uint32_t(launcher::ActorKind::kWorker);
  if (!worker_) {
    cls_ = find_class(entry_.class_id);
    if (cls_ == nullptr) creation_failed("the class is not registered in this executable");
    const CtorFn ctor = find_ctor(entry_.class_id, entry_.ctor_id);
    if (ctor == nullptr) creation_failed("no constructor with these argument types is registered");
    try {
      ObjectRefBase args = RefAccess::adopt<char>(pin_id(ObjectId(
          store_.session_tag(), uint32_t(entry_.ctor_args >> 32), uint32_t(entry_.ctor_args))));
      const ObjectBytes b = read_sealed(RefAccess::record(args));
      self_ = ctor(std::span<const std::byte>(b.data, b.size));
    } catch (const std::exception& e) {
      creation_failed("the constructor threw " + demangle(typeid(e).name()) + ": " + e.what());
    } catch (...) {
      creation_failed("the constructor threw a non-standard exception");
    }
  }
  group_count_ = entry_.group_count;
  if (group_count_ < 1 || group_count_ > ipc::kMaxGroups) {
    creation_failed("its concurrency group table is corrupt (" + std::to_string(group_count_) +
                    " groups)");
  }
  for (uint32_t g = 0; g < group_count_; ++g) {
    if (entry_.group_limit[g] < 1) creation_failed("its concurrency group table is corrupt");
  }
  if (cls_ != nullptr) {
    for (const MethodInfo& m : cls_->methods) {
      if (m.group >= group_count_) creation_failed("its concurrency group table is corrupt");
    }
  }
  if (entry_.ring_off == 0 || entry_.ring_off + entry_.ring_bytes > store_.segment().size()) {
    creation_failed("its request ring is missing");
  }
  auto ring = ipc::RequestRing::attach(store_.base() + entry_.ring_off, entry_.ring_bytes);
  if (!ring) creation_failed("its request ring is corrupt");
  ring_ = *ring;
  // release: callers get it through the CAS to kAlive below (they read the
  // state first); all they need is the slot whose wake word they notify.
  ring_.header().consumer.store(store_.me(), std::memory_order_release);
  // release: pairs with the acquire loads of pid in actor_pid() and
  // kill_actor(), and the supervisor's.
  entry_.pid.store(::getpid(), std::memory_order_release);
  // release: pairs with the acquire loads of process in cancel() and the
  // supervisor's on_death().
  entry_.process.store(store_.me(), std::memory_order_release);
  // acquire: pairs with the seq_cst store of kStarting in start_actor() (or
  // of kRestarting by the supervisor): the entry's fields are read after it.
  uint32_t st = entry_.state.load(std::memory_order_acquire);
  for (;;) {
    if (st != uint32_t(ipc::ActorState::kStarting) &&
        st != uint32_t(ipc::ActorState::kRestarting)) {
      std::fflush(nullptr);
      ::_exit(0);  // killed while we were starting
    }
    // seq_cst: races kill_actor()'s CAS to kDead (one wins), and pairs with
    // the seq_cst state load in submit_call()'s dead().
    if (entry_.state.compare_exchange_weak(st, uint32_t(ipc::ActorState::kAlive),
                                           std::memory_order_seq_cst, std::memory_order_seq_cst)) {
      break;
    }
  }
  if (worker_ || cls_->is_async) {
    serve_async(*this);
  } else {
    serve_threaded(*this);
  }
  std::fflush(nullptr);
  ::_exit(0);
}

// ---------------------------------------------------------------- calls

bool ActorProcess::copy_call(ipc::RingCell* cell, CallInput& in) {
  const CallHeader& h = in.header;
  const char* problem =
      decode_call_cell(std::span<const std::byte, kCallPayloadBytes>(cell->payload),
                       store_.objects().size(), store_.processes().size(), in);
  if (problem != nullptr) {
    std::fprintf(stderr,
                 "shoal: %s dropped a malformed call cell: %s (flags %u, %u argument bytes, "
                 "result slot %u, caller %u)\n",
                 class_name_.c_str(), problem, unsigned(h.flags), unsigned(h.args_len),
                 unsigned(h.result_slot), unsigned(h.caller));
    // If the cell still names a pending result, answer it with the error.
    if (store_.objects().valid_slot(h.result_slot) &&
        store_.objects().claim(h.result_slot, h.result_gen, store_.me()) !=
            store::ClaimResult::kGone) {
      store::ErrorPayload e;
      e.kind = store::ErrorKind::kTask;
      e.pid = ::getpid();
      e.exception_type = "shoal::Error";
      e.message = std::string("malformed call cell: ") + problem;
      e.actor_class = class_name_;
      (void)store::seal_error(store_, h.result_slot, e);
    }
    return false;
  }
  if ((h.flags & kArgsInObject) == 0) {
    in.args_object = ObjectRefBase();
  } else {
    auto rec = store_.pin(h.args_slot, h.args_gen);
    in.args_object = rec ? ObjectRefBase(RefAccess::adopt<char>(*rec)) : ObjectRefBase();
  }
  if (h.flags & kCallStamped) [[unlikely]]
    copy_stamp(cell->payload, in);
  return true;
}

void ActorProcess::prefetch_next_result() const noexcept {
  const ipc::RingCell* next = ring_.ready_at_head();
  if (next == nullptr) return;
  uint32_t slot;
  std::memcpy(&slot, next->payload + offsetof(CallHeader, result_slot), sizeof(slot));
  if (!store_.objects().valid_slot(slot)) return;  // copy_call() will say what is wrong
  const std::byte* e = reinterpret_cast<const std::byte*>(&store_.objects().entry(slot));
  ipc::prefetch_for_write(e);  // control word, inline payload
  ipc::prefetch_for_write(e + offsetof(store::ObjectEntry, data_off));  // children, spill word
}

void ActorProcess::idle_wait() {
  if (idle_.step()) return;
  ipc::WakeWord& wake = store_.my_wake();
  const uint32_t token = wake.prepare();
  ipc::RingCell* cell;
  if (ring_.try_peek(&cell) != ipc::RequestRing::Peek::kEmpty) return;
  wake.park(token, std::chrono::milliseconds(100));
}

bool ActorProcess::next_call(CallInput& in, bool* waited) {
  for (;;) {
    ipc::RingCell* cell = nullptr;
    switch (ring_.try_peek(&cell)) {
      case ipc::RequestRing::Peek::kReady: {
        if (waited != nullptr) *waited = idle_.timing();
        const bool ok = copy_call(cell, in);
        ring_.release_head();
        prefetch_next_result();
        idle_.worked();  // how long calls keep us waiting sets the spin window
        return ok;
      }
      case ipc::RequestRing::Peek::kSkipped:
        continue;
      case ipc::RequestRing::Peek::kInProgress:
        ipc::cpu_relax();  // the caller is writing it
        continue;
      case ipc::RequestRing::Peek::kEmpty:
        // acquire: pairs with the release fetch_sub of the thread that
        // finished the last outstanding call (ThreadedPool).
        if (outstanding_.load(std::memory_order_acquire) == 0 && unreferenced() &&
            ring_empty_after_unreferenced()) {
          exit_unreferenced();
        }
        idle_wait();
        continue;
    }
  }
}

bool ActorProcess::begin(const CallInput& in, const char** method_name) {
  const CallHeader& h = in.header;
  const CallTarget t{h.result_slot, h.result_gen};
  *method_name = "?";
  const store::ClaimResult claim = store_.objects().claim(h.result_slot, h.result_gen, store_.me());
  if (claim == store::ClaimResult::kGone) return false;  // failed, cancelled or freed meanwhile
  std::string unknown;
  if (worker_) {
    const FunctionInfo* f = find_function(h.method);
    if (f == nullptr || f->signature != h.signature) {
      unknown = "task #" + std::to_string(h.method) + " is not registered in this executable";
    } else {
      *method_name = f->name.c_str();
    }
  } else if (h.method >= cls_->methods.size() || cls_->methods[h.method].signature != h.signature) {
    unknown = class_name_ + " has no registered method #" + std::to_string(h.method) +
              " with this signature (caller and actor built from different code?)";
  } else {
    *method_name = cls_->methods[h.method].name.c_str();
  }
  if (!unknown.empty()) {
    store::ErrorPayload e;
    e.kind = store::ErrorKind::kTask;
    e.pid = ::getpid();
    e.exception_type = "shoal::UsageError";
    e.message = unknown;
    e.actor_class = worker_ ? "" : class_name_;
    (void)store::seal_error(store_, t.slot, e);
    return false;
  }
  if (claim == store::ClaimResult::kClaimedCancelled) {
    seal_cancelled(t, *method_name);
    return false;
  }
  return true;
}

bool ActorProcess::group_of(const CallInput& in, uint32_t* group) {
  const uint32_t named = call_group(in.header);
  if (named == kOwnGroup) {
    // An unknown method runs (and fails, in begin()) in the default group.
    *group = !worker_ && in.header.method < cls_->methods.size()
                 ? cls_->methods[in.header.method].group
                 : 0;
    return true;
  }
  if (named < group_count_) {
    *group = named;
    return true;
  }
  const CallHeader& h = in.header;
  if (store_.objects().claim(h.result_slot, h.result_gen, store_.me()) ==
      store::ClaimResult::kGone) {
    return false;
  }
  store::ErrorPayload e;
  e.kind = store::ErrorKind::kTask;
  e.pid = ::getpid();
  e.exception_type = "shoal::Error";
  e.message = class_name_ + " has no concurrency group #" + std::to_string(named) + " (it has " +
              std::to_string(group_count_) + "): a corrupt call cell?";
  e.actor_class = worker_ ? "" : class_name_;
  (void)store::seal_error(store_, h.result_slot, e);
  return false;
}

void ActorProcess::seal_cancelled(const CallTarget& t, const char* method) {
  store::ErrorPayload e;
  e.kind = store::ErrorKind::kCancelled;
  e.pid = ::getpid();
  e.actor_class = worker_ ? "" : class_name_;
  e.method = method;
  e.message = (worker_ ? std::string(method) : class_name_ + "." + method) + " was cancelled";
  (void)store::seal_error(store_, t.slot, e);
}

void ActorProcess::fail_with(const CallTarget& t, std::exception_ptr error, const char* method) {
  store::ErrorPayload e;
  e.kind = store::ErrorKind::kTask;
  e.pid = ::getpid();
  e.actor_class = worker_ ? "" : class_name_;
  e.method = method;
  try {
    std::rethrow_exception(error);
  } catch (const TaskCancelledError&) {
    seal_cancelled(t, method);
    return;
  } catch (const std::exception& ex) {
    e.exception_type = demangle(typeid(ex).name());
    e.message = ex.what();
  } catch (...) {
    e.exception_type = "unknown";
    e.message = "a non-standard exception";
  }
  entry_.calls_failed.fetch_add(1, std::memory_order_relaxed);
  // A result half written before the throw is replaced by the error.
  (void)store::seal_error(store_, t.slot, e);
}

// ---------------------------------------------------------------- owned actors

bool ActorProcess::unreferenced() const {
  if (entry_.token == 0) return false;
  const uint32_t slot = uint32_t(entry_.token >> 32);
  const uint32_t gen = uint32_t(entry_.token);
  store::ObjectTable& t = store_.objects();
  if (!t.valid_slot(slot)) return false;  // a corrupt entry: never end on garbage
  const store::ObjectEntry& e = t.entry(slot);
  // acquire: pairs with the release store that unlocks the entry after the
  // last holder's unpin (ObjectTable::finish_unpin()), so what that holder
  // did before letting go (its last push into our ring) is visible to the
  // ring peek that follows.
  const uint64_t c = e.ctrl.load(std::memory_order_acquire);
  if (e.gen.load(std::memory_order_relaxed) != gen) return true;  // freed: nobody holds it
  return store::Ctrl::lock(c) == 0 && store::Ctrl::pins(c) == 0;
}

bool ActorProcess::ring_empty_after_unreferenced() {
  ipc::RingCell* cell = nullptr;
  return ring_.try_peek(&cell) == ipc::RequestRing::Peek::kEmpty;
}

void ActorProcess::exit_unreferenced() {
  uint32_t none = uint32_t(launcher::DeathCause::kNone);
  // seq_cst, as kill_actor()'s CAS: the first cause set writes the notice;
  // pairs with the supervisor's acquire load of death_cause once it sees this
  // process die (the _exit below comes after this CAS).
  if (entry_.death_cause.compare_exchange_strong(
          none, uint32_t(launcher::DeathCause::kUnreferenced), std::memory_order_seq_cst)) {
    const std::string msg =
        "actor " + class_name_ + " exited: no handle referred to it any more (Lifetime::kOwned)";
    std::snprintf(entry_.death_message, sizeof(entry_.death_message), "%s", msg.c_str());
  }
  // The token goes with us: claimed and sealed without pins, it is freed. A
  // get_actor() that pinned it meanwhile holds a sealed object of a dead
  // actor, whose calls fail with ActorDiedError.
  const uint32_t slot = uint32_t(entry_.token >> 32);
  const uint32_t gen = uint32_t(entry_.token);
  if (store_.objects().claim(slot, gen, store_.me()) != store::ClaimResult::kGone) {
    store_.objects().describe(slot, store::Codec::kNone, 0, 0);
    store_.objects().seal(slot, store_.me());
  }
  std::fflush(nullptr);
  ::_exit(0);
}

void actor_main(store::Store& store, uint32_t index) {
  install_actor_runtime(store, index);
  ActorProcess(store, index).run();
}

}  // namespace shoal::detail
