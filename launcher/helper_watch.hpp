// HelperWatch: a plain driver's watch on its session's helper process (the
// supervisor and fork server, forked by init()).
//
// Without the helper nobody forks actors or repairs a death, so a helper that
// dies (killed -9, the OOM killer) would leave every pending call waiting
// forever. A thread waits on a pidfd of the helper; when it fires, every actor
// of the session is marked dead with a notice naming the helper, and every
// call still pending on one fails with ActorDiedError at once. New calls then
// fail at submission (the actors are dead), and creating an actor fails
// (dead() below).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <thread>

#include "store/store.hpp"

namespace shoal::launcher {

class HelperWatch {
 public:
  HelperWatch(store::Store& store, pid_t helper);
  ~HelperWatch();  // stops and joins (before the helper is asked to exit)
  HelperWatch(const HelperWatch&) = delete;
  HelperWatch& operator=(const HelperWatch&) = delete;

  // True once the helper died while the session ran.
  bool dead() const {
    // acquire: pairs with run()'s release store, after it marked the actors dead.
    return dead_.load(std::memory_order_acquire);
  }
  pid_t helper() const { return helper_; }

 private:
  void run();
  void on_helper_death();

  store::Store& store_;
  pid_t helper_;
  int pidfd_ = -1;
  int stop_fd_ = -1;  // eventfd: the destructor wakes the thread
  std::atomic<bool> dead_{false};
  std::thread thread_;
};

}  // namespace shoal::launcher
