// CallPool: a fixed set of threads that run the calls handed to them
// (core/src only). Self-contained: a threaded actor runs one; anything that
// needs its own set of threads (a group of an actor's methods) can run
// another.
//
// The hand-off: submit() puts a call in a lock-free queue. At most one idle
// thread at a time spins on that queue for a short window after its last
// call, so a stream of calls is taken up without waking anybody; the others
// park on a condition variable. submit() wakes one parked thread, and only
// when no thread is spinning and the busy ones have not come back for the call
// within a few microseconds (every thread is running a long call): one call
// wakes one thread, never the whole pool.
//
// Thread-safety: acquire() and submit() from any thread; the CallInputs live
// as long as the pool. Lifetimes: the destructor stops and joins the threads
// once they are idle.
#pragma once

#include <concurrentqueue/concurrentqueue.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <shoal/detail/call.hpp>

namespace shoal::detail {

class CallPool {
 public:
  // Starts `threads` threads, each running `execute` on the calls it takes; `inputs` calls may be
  // running or waiting at once (0: four per thread).
  CallPool(int threads, std::function<void(CallInput&)> execute, int inputs = 0);
  ~CallPool();
  CallPool(const CallPool&) = delete;
  CallPool& operator=(const CallPool&) = delete;

  // An input to copy the next call into; waits while every input is in use
  // (more calls than threads are running or queued).
  CallInput* acquire();
  // Hands a filled input to a thread; it returns to the spare ones once run.
  void submit(CallInput* in);

 private:
  void work();
  bool spin_for_call(CallInput** in);
  void run(CallInput* in);

  std::function<void(CallInput&)> execute_;
  moodycamel::ConcurrentQueue<CallInput*> calls_;  // submitted, not yet taken
  moodycamel::ConcurrentQueue<CallInput*> spare_;  // free for the next call
  std::vector<std::unique_ptr<CallInput>> inputs_;
  std::atomic<uint32_t> spinners_{0};  // threads spinning on calls_ right now
  std::atomic<bool> stopping_{false};
  std::atomic<uint32_t> sleepers_{0};  // threads parked (or about to) on parked_
  std::mutex park_mu_;                 // held by a thread from its last look until it waits
  std::condition_variable parked_;     // where idle threads park
  std::vector<std::thread> threads_;
};

}  // namespace shoal::detail
