// The cancellation tree (detail/call_context.hpp): contexts, their waits and
// children, and delivering a cancellation at a suspension point.
#include <shoal/detail/call_context.hpp>

#include <shoal/detail/event_loop.hpp>
#include <shoal/errors.hpp>

namespace shoal::detail {

namespace {
thread_local CallContext* t_context = nullptr;
}  // namespace

CallContext* current_context() noexcept {
  return t_context;
}
void set_current_context(CallContext* ctx) noexcept {
  t_context = ctx;
}

CallContext::CallContext(CallContext* parent_ctx) : parent(parent_ctx) {
  if (parent == nullptr) return;
  parent->children.push_front(this);
  cancelled = parent->cancelled;
}

CallContext::~CallContext() {
  if (parent != nullptr) parent->children.remove(this);
  for (CallContext* c : children)
    c->parent = nullptr;
  children.clear();
  for (WaitNode* w : waits)
    w->ctx = nullptr;
  waits.clear();
}

void CallContext::cancel() noexcept {
  cancelled = true;
  for (WaitNode* w : waits) {
    if (w->fired) continue;
    if (w->detach) w->detach(w);
    w->cancelled = true;
    w->fire();
  }
  for (CallContext* c : children)
    c->cancel();
}

bool WaitNode::fire() noexcept {
  if (fired) return false;
  fired = true;
  loop->schedule(handle, ctx);
  return true;
}

void WaitNode::enter(std::coroutine_handle<> h) noexcept {
  handle = h;
  if (loop == nullptr) loop = EventLoop::current();
  ctx = t_context;
  fired = false;
  cancelled = false;
  if (ctx == nullptr) return;
  ctx->waits.push_front(this);
  if (ctx->cancelled) {  // cancelled while it ran: deliver at this suspension point
    if (detach) detach(this);
    cancelled = true;
    fire();
  }
}

void WaitNode::leave_quietly() noexcept {
  if (!ctx_hook.linked) return;
  ctx->waits.remove(this);
}

void WaitNode::leave() {
  leave_quietly();
  if (cancelled) throw TaskCancelledError("the call was cancelled");
}

}  // namespace shoal::detail
