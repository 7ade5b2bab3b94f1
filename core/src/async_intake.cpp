// AsyncIntake: how an async actor (or a worker) serves its calls: every call
// is a coroutine on the process's one event loop; at most max_concurrency run
// at once, the rest wait in the ring in order. The intake also delivers
// cancel() to the calls it runs and to those still queued.
#include <cstring>
#include <memory>
#include <new>
#include <vector>

#include <shoal/detail/event_loop.hpp>
#include <shoal/detail/intrusive_list.hpp>
#include <shoal/detail/registry.hpp>

#include "core/src/actor_process.hpp"
#include "core/src/call_trace.hpp"

namespace shoal::detail {

namespace {

class AsyncIntake;

// A call in progress, with the context its coroutines run in.
struct AsyncCall {
  CallContext ctx;
  CallTarget target;
  const char* method = "?";
  ListHook<AsyncCall> hook;  // in the intake's running calls
  AsyncIntake* owner = nullptr;
  CallTrace trace;  // while ctx.trace points here

  // What the call seals next: its result object, or for a stream the link it is at.
  CallTarget result() const {
    if (ctx.stream_slot != CallContext::kNoStream)
      return CallTarget{ctx.stream_slot, ctx.stream_gen};
    return target;
  }
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
    // acquire: pairs with the seq_cst fetch_add in cancel(), which follows
    // its request_cancel() on the call's result.
    const uint32_t epoch = a_.entry().cancel_epoch.load(std::memory_order_acquire);
    if (epoch != cancel_epoch_) {
      cancel_epoch_ = epoch;
      cancel_requested();
      did = true;
    }
    while (running_ < max_) {
      ipc::RingCell* cell = nullptr;
      const auto p = a_.ring().try_peek(&cell);
      if (p == ipc::RequestRing::Peek::kSkipped) continue;
      if (p == ipc::RequestRing::Peek::kEmpty && running_ == 0 && a_.unreferenced() &&
          a_.ring_empty_after_unreferenced()) {
        a_.exit_unreferenced();  // an owned actor no handle refers to
      }
      if (p != ipc::RequestRing::Peek::kReady) break;
      const bool ok = a_.copy_call(cell, scratch_);
      a_.ring().release_head();
      if (ok) start(scratch_);
      did = true;
    }
    return did;
  }

  bool has_work() override {
    // acquire: pairs with the seq_cst fetch_add in cancel(), as in poll().
    if (a_.entry().cancel_epoch.load(std::memory_order_acquire) != cancel_epoch_) return true;
    if (running_ >= max_) return false;
    ipc::RingCell* cell;
    return a_.ring().try_peek(&cell) != ipc::RequestRing::Peek::kEmpty;
  }

 private:
  void start(CallInput& in) {
    const char* method = "?";
    if (!a_.begin(in, &method)) return;
    AsyncCall* c = take();
    c->target = CallTarget{in.header.result_slot, in.header.result_gen};
    c->method = method;
    running_calls_.push_front(c);
    ++running_;
    a_.entry().in_progress.store(running_, std::memory_order_relaxed);
    if (timeline::recording()) [[unlikely]] {
      begin_trace(a_, in, c->trace);
      c->ctx.trace = &c->trace;
    }
    Task<void> task =
        a_.worker()
            ? find_function(in.header.method)->async(nullptr, std::move(in), c->target)
            : a_.cls()->methods[in.header.method].async(a_.self(), std::move(in), c->target);
    loop_.spawn(std::move(task), &c->ctx, &AsyncIntake::finished, c);
  }

  static void finished(void* arg, std::exception_ptr error) {
    auto* c = static_cast<AsyncCall*>(arg);
    AsyncIntake* self = c->owner;
    if (error) self->a_.fail_with(c->result(), error, c->method);
    if (c->ctx.trace != nullptr) [[unlikely]]
      end_trace(self->a_, c->trace, error);
    self->running_calls_.remove(c);
    --self->running_;
    ipc::ActorEntry& e = self->a_.entry();
    e.in_progress.store(self->running_, std::memory_order_relaxed);
    e.calls_served.fetch_add(1, std::memory_order_relaxed);
    self->give_back(c);
  }

  void cancel_requested() {
    store::Store& s = a_.store();
    // Running calls: interrupt them at their current co_await.
    for (AsyncCall* c : running_calls_) {
      if (!c->ctx.cancelled && s.objects().cancel_requested(c->result().slot)) c->ctx.cancel();
    }
    // Calls still queued in the ring: answer them now; their cells are
    // dropped when they come up.
    a_.ring().for_each_queued([&](ipc::RingCell& cell) {
      CallHeader h;
      std::memcpy(&h, cell.payload, sizeof(h));
      if (!s.objects().valid_slot(h.result_slot) || !s.objects().cancel_requested(h.result_slot)) {
        return;
      }
      if (s.objects().claim(h.result_slot, h.result_gen, s.me()) ==
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
  IntrusiveList<AsyncCall, &AsyncCall::hook> running_calls_;  // newest first
  CallInput scratch_;
  std::vector<std::unique_ptr<AsyncCall>> calls_;
  std::vector<AsyncCall*> spare_;
};

}  // namespace

void serve_async(ActorProcess& actor) {
  timeline::set_thread_label("event loop");
  EventLoop loop;
  loop.set_forbid_blocking(!actor.worker());  // workers may block: a task may call get()
  const uint32_t max =
      actor.entry().max_concurrency > 0 ? uint32_t(actor.entry().max_concurrency) : 1000;
  AsyncIntake intake(actor, loop, max);
  loop.set_intake(&intake);
  loop.run_until([] { return false; });
}

}  // namespace shoal::detail
