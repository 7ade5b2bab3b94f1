// Watcher: the thread that fulfils ObjectRef::future() (core/src only). It
// runs its own event loop; every future is a coroutine on it that awaits the
// object and then settles the promise, so a future's value (or exception) is
// set on the watcher thread.
//
// Lifetime: made by the first future() of a session whose object is not yet
// sealed, destroyed (its thread joined) by shutdown() before the store goes.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include <shoal/detail/event_loop.hpp>
#include <shoal/object_ref.hpp>

namespace shoal::detail {

class Watcher {
 public:
  Watcher();  // starts the thread; returns once its loop runs
  ~Watcher();
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  // Calls fn on the watcher thread once ref's object is sealed. Any thread.
  void watch(ObjectRefBase ref, std::function<void()> fn);

 private:
  static Task<void> watch_one(ObjectRefBase ref, std::function<void()> fn);

  std::mutex mu_;
  std::condition_variable cv_;
  EventLoop* loop_ = nullptr;  // mu_ until the constructor returns; fixed after
  std::atomic<bool> stop_{false};
  bool released_ = false;  // mu_: ~Watcher no longer touches the loop
  std::thread thread_;
};

}  // namespace shoal::detail
