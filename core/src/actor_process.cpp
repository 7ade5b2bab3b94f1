// The life of an actor (or worker) process: construct the object, then serve
// its request ring until the process is killed or calls exit_actor().
//
// Threaded actors serve calls on max_concurrency threads (one: this thread,
// in submission order). Async actors and workers run every call as a coroutine
// on one event loop, at most max_concurrency at once, the rest waiting in the
// ring in order.
#include <cxxabi.h>
#include <unistd.h>

#include <concurrentqueue/blockingconcurrentqueue.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <typeinfo>
#include <vector>

#include <shoal/actor.hpp>
#include <shoal/detail/event_loop.hpp>
#include <shoal/detail/registry.hpp>

#include "core/src/runtime.hpp"
#include "ipc/request_ring.hpp"
#include "launcher/actor_lifecycle.hpp"
#include "ipc/spin.hpp"
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

class ActorProcess {
 public:
  ActorProcess(store::Store& store, uint32_t index)
      : store_(store), index_(index), entry_(store.actor(index)) {}

  [[noreturn]] void run();

 private:
  [[noreturn]] void creation_failed(const std::string& why);
  bool copy_call(ipc::RingCell* cell, CallInput& in);
  bool next_call(CallInput& in);  // blocks; false only for a dropped cell
  void idle_wait();  // one step of waiting for a call: spin, or park
  // Claims the call's result; false if the call is to be dropped (or was
  // answered here: cancelled, unknown method).
  bool begin(const CallInput& in, const char** method_name);
  void fail_with(const CallTarget& t, std::exception_ptr error, const char* method);
  void seal_cancelled(const CallTarget& t, const char* method);
  void run_threaded();
  void run_async();
  void execute_blocking(CallInput& in);
  void cancel_queued();

  friend class AsyncIntake;

  store::Store& store_;
  uint32_t index_;
  ipc::ActorEntry& entry_;
  ipc::RequestRing ring_;
  const ClassInfo* cls_ = nullptr;
  bool worker_ = false;
  void* self_ = nullptr;
  std::string class_name_;
  ipc::IdleSpin idle_;
};

// ---------------------------------------------------------------- setup

void ActorProcess::creation_failed(const std::string& why) {
  const std::string msg = "actor " + class_name_ + " could not be created: " + why;
  std::snprintf(entry_.death_message, sizeof(entry_.death_message), "%s", msg.c_str());
  entry_.death_cause.store(uint32_t(launcher::DeathCause::kCreationFailed), std::memory_order_seq_cst);
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
      ObjectRefBase args = RefAccess::adopt<char>(
          pin_id(ObjectId(store_.session_tag(), uint32_t(entry_.ctor_args >> 32),
                          uint32_t(entry_.ctor_args))));
      const ObjectBytes b = read_sealed(RefAccess::record(args));
      self_ = ctor(std::span<const std::byte>(b.data, b.size));
    } catch (const std::exception& e) {
      creation_failed("the constructor threw " + demangle(typeid(e).name()) + ": " + e.what());
    } catch (...) {
      creation_failed("the constructor threw a non-standard exception");
    }
  }
  if (entry_.ring_off == 0 || entry_.ring_off + entry_.ring_bytes > store_.segment().size()) {
    creation_failed("its request ring is missing");
  }
  auto ring = ipc::RequestRing::attach(store_.base() + entry_.ring_off, entry_.ring_bytes);
  if (!ring) creation_failed("its request ring is corrupt");
  ring_ = *ring;
  ring_.header().consumer.store(store_.me(), std::memory_order_release);
  entry_.pid.store(::getpid(), std::memory_order_release);
  entry_.process.store(store_.me(), std::memory_order_release);
  uint32_t st = entry_.state.load(std::memory_order_acquire);
  for (;;) {
    if (st != uint32_t(ipc::ActorState::kStarting) && st != uint32_t(ipc::ActorState::kRestarting)) {
      std::fflush(nullptr);
      ::_exit(0);  // killed while we were starting
    }
    if (entry_.state.compare_exchange_weak(st, uint32_t(ipc::ActorState::kAlive),
                                           std::memory_order_seq_cst)) {
      break;
    }
  }
  if (worker_ || cls_->is_async) {
    run_async();
  } else {
    run_threaded();
  }
  std::fflush(nullptr);
  ::_exit(0);
}

// ---------------------------------------------------------------- calls

bool ActorProcess::copy_call(ipc::RingCell* cell, CallInput& in) {
  std::memcpy(&in.header, cell->payload, sizeof(CallHeader));
  const CallHeader& h = in.header;
  const bool in_object = (h.flags & kArgsInObject) != 0;
  if ((h.flags & ~kArgsInObject) != 0 || h.args_len > kInlineArgBytes ||
      !store_.objects().valid_slot(h.result_slot) || h.caller >= store_.processes().size()) {
    std::fprintf(stderr,
                 "shoal: %s dropped a malformed call cell (flags %u, %u argument bytes, result "
                 "slot %u)\n",
                 class_name_.c_str(), unsigned(h.flags), unsigned(h.args_len),
                 unsigned(h.result_slot));
    // If the cell still names a pending result, answer it with the error.
    if (store_.objects().valid_slot(h.result_slot) &&
        store_.objects().claim(h.result_slot, h.result_gen, store_.me()) !=
            store::ClaimResult::kGone) {
      store::ErrorPayload e;
      e.kind = store::ErrorKind::kTask;
      e.pid = ::getpid();
      e.exception_type = "shoal::Error";
      e.message = "malformed call cell";
      e.actor_class = class_name_;
      (void)store::seal_error(store_, h.result_slot, e);
    }
    return false;
  }
  if (!in_object) {
    std::memcpy(in.inline_args, cell->payload + sizeof(CallHeader), h.args_len);
    in.args_object = ObjectRefBase();
  } else {
    auto rec = store_.pin(h.args_slot, h.args_gen);
    in.args_object = rec ? ObjectRefBase(RefAccess::adopt<char>(*rec)) : ObjectRefBase();
  }
  return true;
}

void ActorProcess::idle_wait() {
  if (idle_.step()) return;
  ipc::WakeWord& wake = store_.my_wake();
  const uint32_t token = wake.prepare();
  ipc::RingCell* cell;
  if (ring_.try_peek(&cell) != ipc::RequestRing::Peek::kEmpty) return;
  wake.park(token, std::chrono::milliseconds(100));
}

bool ActorProcess::next_call(CallInput& in) {
  for (;;) {
    ipc::RingCell* cell = nullptr;
    switch (ring_.try_peek(&cell)) {
      case ipc::RequestRing::Peek::kReady: {
        const bool ok = copy_call(cell, in);
        ring_.release_head();
        idle_.worked();  // how long calls keep us waiting sets the spin window
        return ok;
      }
      case ipc::RequestRing::Peek::kSkipped:
        continue;
      case ipc::RequestRing::Peek::kInProgress:
        ipc::cpu_relax();
        continue;
      case ipc::RequestRing::Peek::kEmpty:
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

// ---------------------------------------------------------------- threaded

void ActorProcess::execute_blocking(CallInput& in) {
  const char* method = "?";
  if (!begin(in, &method)) return;
  const CallTarget t{in.header.result_slot, in.header.result_gen};
  entry_.in_progress.fetch_add(1, std::memory_order_relaxed);
  try {
    cls_->methods[in.header.method].blocking(self_, in, t);
  } catch (...) {
    fail_with(t, std::current_exception(), method);
  }
  entry_.in_progress.fetch_sub(1, std::memory_order_relaxed);
  entry_.calls_served.fetch_add(1, std::memory_order_relaxed);
}

void ActorProcess::run_threaded() {
  const int threads = entry_.max_concurrency > 1 ? entry_.max_concurrency : 1;
  if (threads == 1) {
    CallInput in;
    for (;;) {
      if (next_call(in)) execute_blocking(in);
    }
  }
  // A pool: this thread reads the ring, the pool runs the calls.
  moodycamel::BlockingConcurrentQueue<CallInput*> work;
  moodycamel::ConcurrentQueue<CallInput*> spare;
  std::vector<std::unique_ptr<CallInput>> inputs;
  for (int i = 0; i < threads * 4; ++i) {
    inputs.push_back(std::make_unique<CallInput>());
    spare.enqueue(inputs.back().get());
  }
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&] {
      CallInput* in = nullptr;
      for (;;) {
        work.wait_dequeue(in);
        execute_blocking(*in);
        in->args_object = ObjectRefBase();
        spare.enqueue(in);
      }
    });
  }
  for (;;) {
    CallInput* in = nullptr;
    while (!spare.try_dequeue(in)) {
      // Every input is in use: more calls than threads are running or queued.
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
    while (!next_call(*in)) {
    }
    work.enqueue(in);
  }
}

// ---------------------------------------------------------------- async

struct AsyncCall {
  CallContext ctx;
  CallTarget target;
  const char* method = "?";
  AsyncCall* prev = nullptr;
  AsyncCall* next = nullptr;
  class AsyncIntake* owner = nullptr;
};

class AsyncIntake final : public LoopIntake {
 public:
  AsyncIntake(ActorProcess& actor, EventLoop& loop, uint32_t max_concurrency)
      : a_(actor), loop_(loop), max_(max_concurrency) {
    // cancel_epoch_ starts at 0, not at the entry's epoch: cancels made
    // before this process started (or by callers of an earlier incarnation)
    // are found by the first poll's scan of the queued calls.
  }

  bool poll() override {
    bool did = false;
    const uint32_t epoch = a_.entry_.cancel_epoch.load(std::memory_order_acquire);
    if (epoch != cancel_epoch_) {
      cancel_epoch_ = epoch;
      cancel_requested();
      did = true;
    }
    while (running_ < max_) {
      ipc::RingCell* cell = nullptr;
      const auto p = a_.ring_.try_peek(&cell);
      if (p == ipc::RequestRing::Peek::kSkipped) continue;
      if (p != ipc::RequestRing::Peek::kReady) break;
      const bool ok = a_.copy_call(cell, scratch_);
      a_.ring_.release_head();
      if (ok) start(scratch_);
      did = true;
    }
    return did;
  }

  bool has_work() override {
    if (a_.entry_.cancel_epoch.load(std::memory_order_acquire) != cancel_epoch_) return true;
    if (running_ >= max_) return false;
    ipc::RingCell* cell;
    return a_.ring_.try_peek(&cell) != ipc::RequestRing::Peek::kEmpty;
  }

 private:
  void start(CallInput& in) {
    const char* method = "?";
    if (!a_.begin(in, &method)) return;
    AsyncCall* c = take();
    c->target = CallTarget{in.header.result_slot, in.header.result_gen};
    c->method = method;
    c->prev = nullptr;
    c->next = head_;
    if (head_) head_->prev = c;
    head_ = c;
    ++running_;
    a_.entry_.in_progress.store(running_, std::memory_order_relaxed);
    Task<void> task = a_.worker_
                          ? find_function(in.header.method)->async(nullptr, std::move(in), c->target)
                          : a_.cls_->methods[in.header.method].async(a_.self_, std::move(in), c->target);
    loop_.spawn(std::move(task), &c->ctx, &AsyncIntake::finished, c);
  }

  static void finished(void* arg, std::exception_ptr error) {
    auto* c = static_cast<AsyncCall*>(arg);
    AsyncIntake* self = c->owner;
    if (error) self->a_.fail_with(c->target, error, c->method);
    if (c->prev) {
      c->prev->next = c->next;
    } else {
      self->head_ = c->next;
    }
    if (c->next) c->next->prev = c->prev;
    --self->running_;
    self->a_.entry_.in_progress.store(self->running_, std::memory_order_relaxed);
    self->a_.entry_.calls_served.fetch_add(1, std::memory_order_relaxed);
    self->give_back(c);
  }

  void cancel_requested() {
    // Running calls: interrupt them at their current co_await.
    for (AsyncCall* c = head_; c != nullptr; c = c->next) {
      if (!c->ctx.cancelled && a_.store_.objects().cancel_requested(c->target.slot)) c->ctx.cancel();
    }
    // Calls still queued in the ring: answer them now; their cells are
    // dropped when they come up.
    a_.ring_.for_each_queued([&](ipc::RingCell& cell) {
      CallHeader h;
      std::memcpy(&h, cell.payload, sizeof(h));
      if (!a_.store_.objects().valid_slot(h.result_slot) ||
          !a_.store_.objects().cancel_requested(h.result_slot)) {
        return;
      }
      if (a_.store_.objects().claim(h.result_slot, h.result_gen, a_.store_.me()) ==
          store::ClaimResult::kClaimedCancelled) {
        a_.seal_cancelled(CallTarget{h.result_slot, h.result_gen}, "?");
      }
    });
  }

  AsyncCall* take() {
    if (spare_.empty()) {
      calls_.push_back(std::make_unique<AsyncCall>());
      calls_.back()->owner = this;
      return calls_.back().get();
    }
    AsyncCall* c = spare_.back();
    spare_.pop_back();
    return c;
  }
  void give_back(AsyncCall* c) {
    c->ctx.~CallContext();
    new (&c->ctx) CallContext();
    spare_.push_back(c);
  }

  ActorProcess& a_;
  EventLoop& loop_;
  uint32_t max_;
  uint32_t running_ = 0;
  uint32_t cancel_epoch_ = 0;
  AsyncCall* head_ = nullptr;
  CallInput scratch_;
  std::vector<std::unique_ptr<AsyncCall>> calls_;
  std::vector<AsyncCall*> spare_;
};

void ActorProcess::run_async() {
  EventLoop loop;
  loop.set_forbid_blocking(!worker_);  // workers may block: a task may call get()
  const uint32_t max = entry_.max_concurrency > 0 ? uint32_t(entry_.max_concurrency) : 1000;
  AsyncIntake intake(*this, loop, max);
  loop.set_intake(&intake);
  loop.run_until([] { return false; });
}

}  // namespace

void actor_main(store::Store& store, uint32_t index) {
  install_actor_runtime(store, index);
  ActorProcess(store, index).run();
}

}  // namespace shoal::detail
