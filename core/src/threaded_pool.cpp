// ThreadedPool: how a threaded actor serves its calls. With max_concurrency 1
// the ring's own thread runs every call, in submission order; with more, that
// thread only takes calls out of the ring and a CallPool of max_concurrency
// threads runs them.
#include <atomic>
#include <string>

#include "core/src/actor_process.hpp"
#include "core/src/call_pool.hpp"
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
    // pool's queues, which order each one's writes before its reader's reads.
    CallPool pool(threads, [this](CallInput& in) {
      label_pool_thread();
      execute(in);
      // release: pairs with the acquire load in next_call(): the call's
      // effects come before the actor may decide it is idle for good.
      a_.outstanding().fetch_sub(1, std::memory_order_release);
    });
    for (;;) {
      CallInput* in = pool.acquire();
      while (!a_.next_call(*in)) {
      }
      // relaxed: only this thread increments; the pool's queue orders the
      // increment before the fetch_sub of the thread that runs the call.
      a_.outstanding().fetch_add(1, std::memory_order_relaxed);
      pool.submit(in);
    }
  }

 private:
  // Names the calling pool thread on the timeline once ("pool 1", "pool 2", ...).
  void label_pool_thread() {
    thread_local bool labelled = false;
    if (labelled) [[likely]]
      return;
    labelled = true;
    // relaxed: a counter for names only; nothing is ordered by it.
    timeline::set_thread_label("pool " +
                               std::to_string(next_label_.fetch_add(1, std::memory_order_relaxed)));
  }

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
  std::atomic<int> next_label_{1};  // the number of the next pool thread named
};

}  // namespace

void serve_threaded(ActorProcess& actor) {
  ThreadedPool(actor).run();
}

}  // namespace shoal::detail
