// The cancellation tree: every point a call is suspended at is a WaitNode in
// the CallContext of that call, and a call's contexts form a tree (wait_for's
// inner awaitables are children). cancel() walks the tree and resumes every
// suspended coroutine of the call with TaskCancelledError.
//
// Lifetimes: a WaitNode lives in the awaiter that suspends on it, a
// CallContext in whatever runs the call (the actor's intake, run(), a
// wait_for); a context unlinks its waits and children when it is destroyed.
// Everything here belongs to one event-loop thread.
#pragma once

#include <coroutine>
#include <cstdint>

#include <shoal/detail/intrusive_list.hpp>

namespace shoal::detail {

struct CallContext;
struct CallTrace;  // core/src/call_trace.hpp

class EventLoop;

struct WaitNode {
  std::coroutine_handle<> handle;
  EventLoop* loop = nullptr;    // the loop of the thread that suspended
  CallContext* ctx = nullptr;   // the call this wait belongs to (may be null)
  ListHook<WaitNode> ctx_hook;  // in ctx->waits
  bool fired = false;           // already scheduled to resume: nothing may fire it again
  bool cancelled = false;       // resumed by cancellation, not by its event
  void* owner = nullptr;        // the awaiter holding the node, for its callbacks
  // Takes the node off whatever it waits on; set by the awaiter.
  void (*detach)(WaitNode*) noexcept = nullptr;

  // Schedules the coroutine on its loop unless something already did.
  // Returns false if the node had already fired.
  bool fire() noexcept;

  // In await_suspend: remembers the coroutine and joins the current call's waits.
  void enter(std::coroutine_handle<> h) noexcept;
  // In await_resume: leaves the call's waits; throws TaskCancelledError if the
  // call was cancelled while suspended here.
  void leave();
  // Leaves without the cancellation check (for waits that must not throw).
  void leave_quietly() noexcept;
};

// A call in progress (or the root of run()). Cancelling it resumes every
// coroutine of the call at its current co_await with TaskCancelledError, and
// cancels its child contexts (wait_for's inner awaitables).
struct CallContext {
  bool cancelled = false;
  IntrusiveList<WaitNode, &WaitNode::ctx_hook> waits;  // newest first
  CallContext* parent = nullptr;
  ListHook<CallContext> sibling;                               // in parent->children
  IntrusiveList<CallContext, &CallContext::sibling> children;  // newest first
  CallTrace* trace = nullptr;  // a root call the timeline records, else null
  // A streaming call (Generator): the link it seals next, which replaces the call's result
  // object as what cancel() of the stream marks and what a failure of the call is sealed into.
  static constexpr uint32_t kNoStream = 0xffffffffu;
  uint32_t stream_slot = kNoStream;
  uint32_t stream_gen = 0;

  CallContext() = default;
  explicit CallContext(CallContext* parent_ctx);  // a child of parent_ctx
  ~CallContext();
  CallContext(const CallContext&) = delete;
  CallContext& operator=(const CallContext&) = delete;

  void cancel() noexcept;
};

// The context of the coroutine running on this thread right now.
CallContext* current_context() noexcept;
void set_current_context(CallContext* ctx) noexcept;

}  // namespace shoal::detail
