// ThreadedPool: how a threaded actor serves its calls. With max_concurrency 1
// the ring's own thread runs every call, in submission order; with more, that
// thread only takes calls out of the ring and a pool of max_concurrency
// threads runs them.
#include <concurrentqueue/blockingconcurrentqueue.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/src/actor_process.hpp"
#include "core/src/call_trace.hpp"

namespace shoal::detail {

namespace {

class ThreadedPool {
 public:
  explicit ThreadedPool(ActorProcess& actor) : a_(actor) {}

  void run() {
    const int threads = a_.entry().max_concurrency > 1 ? a_.entry().max_concurrency : 1;
    if (threads == 1) {
      CallInput in;
      for (;;) {
        if (a_.next_call(in)) execute(in);
      }
    }
    // Inputs travel between the ring's thread and the pool through the
    // queues, which order each one's writes before its reader's reads.
    std::vector<std::unique_ptr<CallInput>> inputs;
    for (int i = 0; i < threads * 4; ++i) {
      inputs.push_back(std::make_unique<CallInput>());
      spare_.enqueue(inputs.back().get());
    }
    std::vector<std::thread> pool;
    for (int i = 0; i < threads; ++i) {
      pool.emplace_back([this, i] {
        timeline::set_thread_label("pool " + std::to_string(i + 1));
        CallInput* in = nullptr;
        for (;;) {
          work_.wait_dequeue(in);
          execute(*in);
          in->args_object = ObjectRefBase();
          spare_.enqueue(in);
        }
      });
    }
    for (;;) {
      CallInput* in = nullptr;
      while (!spare_.try_dequeue(in)) {
        // Every input is in use: more calls than threads are running or queued.
        std::this_thread::sleep_for(std::chrono::microseconds(20));
      }
      while (!a_.next_call(*in)) {
      }
      work_.enqueue(in);
    }
  }

 private:
  // Runs one call on the calling thread and settles its result.
  void execute(CallInput& in) {
    const char* method = "?";
    if (!a_.begin(in, &method)) return;
    const CallTarget t{in.header.result_slot, in.header.result_gen};
    ipc::ActorEntry& e = a_.entry();
    e.in_progress.fetch_add(1, std::memory_order_relaxed);
    CallTrace trace;
    const bool traced = timeline::recording();
    if (traced) [[unlikely]]
      begin_trace(a_, in, trace);
    std::exception_ptr error;
    try {
      a_.cls()->methods[in.header.method].blocking(a_.self(), in, t);
    } catch (...) {
      error = std::current_exception();
      a_.fail_with(t, error, method);
    }
    if (traced) [[unlikely]]
      end_trace(a_, trace, error);
    e.in_progress.fetch_sub(1, std::memory_order_relaxed);
    e.calls_served.fetch_add(1, std::memory_order_relaxed);
  }

  ActorProcess& a_;
  moodycamel::BlockingConcurrentQueue<CallInput*> work_;  // calls taken out of the ring
  moodycamel::ConcurrentQueue<CallInput*> spare_;         // inputs free for the next call
};

}  // namespace

void serve_threaded(ActorProcess& actor) {
  ThreadedPool(actor).run();
}

}  // namespace shoal::detail
