// Watcher (watcher.hpp), and when_sealed(), which hands it the futures.
#include "core/src/watcher.hpp"

#include <memory>

#include "core/src/runtime.hpp"
#include "core/src/sealed_awaiter.hpp"

namespace shoal::detail {

Watcher::Watcher() {
  thread_ = std::thread([this] {
    EventLoop loop;
    {
      std::lock_guard<std::mutex> lock(mu_);
      loop_ = &loop;
    }
    cv_.notify_all();
    // acquire: pairs with the release store in ~Watcher(). The flag guards
    // nothing else; the post() after that store wakes the loop to see it.
    loop.run_until([this] { return stop_.load(std::memory_order_acquire); });
    // The loop may see stop_ while ~Watcher is still inside post(): it
    // lives until post() is done with it.
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return released_; });
  });
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return loop_ != nullptr; });
}

Watcher::~Watcher() {
  // release: pairs with the acquire load in the loop's done() check.
  stop_.store(true, std::memory_order_release);
  loop_->post([] {});
  {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Watcher::watch(ObjectRefBase ref, std::function<void()> fn) {
  EventLoop* loop = loop_;
  loop->post([loop, ref = std::move(ref), fn = std::move(fn)]() mutable {
    loop->spawn(watch_one(std::move(ref), std::move(fn)), nullptr);
  });
}

Task<void> Watcher::watch_one(ObjectRefBase ref, std::function<void()> fn) {
  co_await SealedAwaiter(ref);
  fn();
}

void when_sealed(const ObjectRefBase& ref, std::function<void()> fn) {
  Runtime& rt = runtime();
  std::lock_guard<std::mutex> lock(rt.watcher_mu);
  if (!rt.watcher) rt.watcher = std::make_unique<Watcher>();
  rt.watcher->watch(ref, std::move(fn));
}

}  // namespace shoal::detail
