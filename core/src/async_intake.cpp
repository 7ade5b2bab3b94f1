// AsyncIntake: how an async actor (or a worker) serves its calls: every call
// is a coroutine on the process's one event loop; at most max_concurrency run
// at once, the rest wait in the ring in order. The intake also delivers
// cancel() to the calls it runs and to those still queued.
//
// Concurrency groups: each group has its own limit of calls in progress. With
// the default group alone, calls beyond the limit wait in the ring, as ever.
// With more, the intake keeps taking calls out of the ring and a call whose
// group is full waits in that group's queue (in order), so that the calls of
// the other groups behind it in the ring still start at once; only
// kMaxQueuedCalls waiting calls in all make the intake leave the rest in the
// ring, whose back-pressure then holds the callers.
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

// Calls the intake holds for full groups before it leaves calls in the ring: enough that a
// group's callers may queue a burst far beyond a ring's 1024 cells, few enough (~200 bytes each)
// that a flood of one group cannot take the process's memory.
constexpr uint32_t kMaxQueuedCalls = 65536;

// A call in progress, with the context its coroutines run in.
struct AsyncCall {
  CallContext ctx;
  CallTarget target;
  const char* method = "?";
  uint32_t group = 0;
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

// A call taken out of the ring while its group was full.
struct QueuedCall {
  CallInput in;
  ListHook<QueuedCall> hook;  // in its group's queue
};

// One concurrency group of the actor, as the intake runs it.
struct GroupState {
  uint32_t limit = 1;
  uint32_t running = 0;
  uint32_t queued = 0;
  IntrusiveList<QueuedCall, &QueuedCall::hook> queue;  // oldest first
  bool full() const { return running >= limit; }
};

class AsyncIntake final : public LoopIntake {
 public:
  AsyncIntake(ActorProcess& actor, EventLoop& loop, uint32_t max_concurrency)
      : a_(actor), loop_(loop), groups_(actor.group_count()) {
    // cancel_epoch_ starts at 0, not at the entry's epoch: cancels made
    // before this process started (or by callers of an earlier incarnation)
    // are found by the first poll's scan of the queued calls.
    groups_[0].limit = max_concurrency;
    for (uint32_t g = 1; g < groups_.size(); ++g)
      groups_[g].limit = actor.group_limit(g);
  }
  ~AsyncIntake() override {
    for (GroupState& g : groups_)
      g.queue.clear();
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
    if (queued_ != 0) did = start_queued() || did;
    while (intake_open()) {
      ipc::RingCell* cell = nullptr;
      const auto p = a_.ring().try_peek(&cell);
      if (p == ipc::RequestRing::Peek::kSkipped) continue;
      if (p == ipc::RequestRing::Peek::kEmpty && running_ == 0 && queued_ == 0 &&
          a_.unreferenced() && a_.ring_empty_after_unreferenced()) {
        a_.exit_unreferenced();  // an owned actor no handle refers to
      }
      if (p != ipc::RequestRing::Peek::kReady) break;
      const bool ok = a_.copy_call(cell, scratch_);
      a_.ring().release_head();
      a_.prefetch_next_result();
      uint32_t group = 0;
      if (ok && a_.group_of(scratch_, &group)) route(scratch_, group);
      did = true;
    }
    return did;
  }

  bool has_work() override {
    // acquire: pairs with the seq_cst fetch_add in cancel(), as in poll().
    if (a_.entry().cancel_epoch.load(std::memory_order_acquire) != cancel_epoch_) return true;
    if (queued_ != 0) {
      for (const GroupState& g : groups_) {
        if (!g.queue.empty() && !g.full()) return true;
      }
    }
    if (!intake_open()) return false;
    ipc::RingCell* cell;
    return a_.ring().try_peek(&cell) != ipc::RequestRing::Peek::kEmpty;
  }

 private:
  // Whether the next call of the ring may be taken out now. With one group: while it has room
  // (the rest wait in the ring). With several: while the intake may hold more waiting calls.
  bool intake_open() const {
    return groups_.size() == 1 ? !groups_[0].full() : queued_ < kMaxQueuedCalls;
  }

  // Starts call `in` of `group`, or queues it behind the group's earlier calls.
  void route(CallInput& in, uint32_t group) {
    GroupState& g = groups_[group];
    if (!g.full() && g.queue.empty()) {
      start(in, group);
      return;
    }
    QueuedCall* q = take_queued();
    q->in = std::move(in);
    g.queue.push_back(q);
    ++g.queued;
    ++queued_;
    a_.entry().group_queued[group].store(g.queued, std::memory_order_relaxed);
  }

  // Starts the waiting calls of every group with room; true if it started any.
  bool start_queued() {
    bool did = false;
    for (uint32_t group = 0; group < groups_.size(); ++group) {
      GroupState& g = groups_[group];
      while (!g.full() && !g.queue.empty()) {
        QueuedCall* q = g.queue.pop_front();
        --g.queued;
        --queued_;
        a_.entry().group_queued[group].store(g.queued, std::memory_order_relaxed);
        start(q->in, group);
        q->in.args_object = ObjectRefBase();
        spare_queued_.push_back(q);
        did = true;
      }
    }
    return did;
  }

  void start(CallInput& in, uint32_t group) {
    const char* method = "?";
    if (!a_.begin(in, &method)) return;
    AsyncCall* c = take();
    c->target = CallTarget{in.header.result_slot, in.header.result_gen};
    c->method = method;
    c->group = group;
    running_calls_.push_front(c);
    ++running_;
    GroupState& g = groups_[group];
    ++g.running;
    ipc::ActorEntry& e = a_.entry();
    e.in_progress.store(running_, std::memory_order_relaxed);
    e.group_running[group].store(g.running, std::memory_order_relaxed);
    if (timeline::recording()) [[unlikely]] {
      begin_trace(a_, in, c->trace, group);
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
    // The event goes before the error is sealed; a result or a stream's end ended it already.
    if (c->ctx.trace != nullptr) [[unlikely]]
      end_trace(c->trace, error);
    if (error) self->a_.fail_with(c->result(), error, c->method);
    self->running_calls_.remove(c);
    --self->running_;
    const uint32_t group_running = --self->groups_[c->group].running;
    ipc::ActorEntry& e = self->a_.entry();
    e.in_progress.store(self->running_, std::memory_order_relaxed);
    e.group_running[c->group].store(group_running, std::memory_order_relaxed);
    e.calls_served.fetch_add(1, std::memory_order_relaxed);
    self->give_back(c);
  }

  void cancel_requested() {
    store::Store& s = a_.store();
    // Running calls: interrupt them at their current co_await.
    for (AsyncCall* c : running_calls_) {
      if (!c->ctx.cancelled && s.objects().cancel_requested(c->result().slot)) c->ctx.cancel();
    }
    // Calls waiting for their group: answer them now; they are dropped when
    // they come up (begin() finds their results settled).
    for (GroupState& g : groups_) {
      for (QueuedCall* q : g.queue) {
        const CallHeader& h = q->in.header;
        if (s.objects().cancel_requested(h.result_slot) &&
            s.objects().claim(h.result_slot, h.result_gen, s.me()) ==
                store::ClaimResult::kClaimedCancelled) {
          a_.seal_cancelled(CallTarget{h.result_slot, h.result_gen}, "?");
        }
      }
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
  QueuedCall* take_queued() {
    if (spare_queued_.empty()) {
      queued_calls_.push_back(std::make_unique<QueuedCall>());
      return queued_calls_.back().get();
    }
    QueuedCall* q = spare_queued_.back();
    spare_queued_.pop_back();
    return q;
  }
  void give_back(AsyncCall* c) {
    c->ctx.~CallContext();
    new (&c->ctx) CallContext();
    spare_.push_back(c);
  }

  ActorProcess& a_;
  EventLoop& loop_;
  std::vector<GroupState> groups_;  // by index in the actor's group table
  uint32_t running_ = 0;            // in progress, all groups
  uint32_t queued_ = 0;             // waiting in the groups' queues, all groups
  uint32_t cancel_epoch_ = 0;
  IntrusiveList<AsyncCall, &AsyncCall::hook> running_calls_;  // newest first
  CallInput scratch_;
  std::vector<std::unique_ptr<AsyncCall>> calls_;
  std::vector<AsyncCall*> spare_;
  std::vector<std::unique_ptr<QueuedCall>> queued_calls_;  // every QueuedCall made
  std::vector<QueuedCall*> spare_queued_;
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
