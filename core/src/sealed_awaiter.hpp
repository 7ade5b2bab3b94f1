// SealedAwaiter: suspends a coroutine until an object is sealed, without
// reading it (argument resolution and the future watcher decode it later).
#pragma once

#include <coroutine>

#include <shoal/detail/event_loop.hpp>
#include <shoal/errors.hpp>
#include <shoal/object_ref.hpp>

namespace shoal::detail {

class SealedAwaiter {
 public:
  explicit SealedAwaiter(const ObjectRefBase& ref) : ref_(ref) {}
  bool await_ready() const { return is_sealed(RefAccess::record(ref_)); }
  void await_suspend(std::coroutine_handle<> h) {
    EventLoop* loop = EventLoop::current();
    if (loop == nullptr) throw UsageError("waiting for an object outside an event loop");
    node_.rec = RefAccess::record(ref_);
    node_.detach = [](WaitNode* w) noexcept {
      auto* n = static_cast<RefWaitNode*>(w);
      if (n->listed()) n->loop->remove_ref_wait(n);
    };
    loop->add_ref_wait(&node_);
    node_.enter(h);
  }
  void await_resume() {
    if (node_.handle) node_.leave();
  }

 private:
  const ObjectRefBase& ref_;
  RefWaitNode node_;
};

}  // namespace shoal::detail
