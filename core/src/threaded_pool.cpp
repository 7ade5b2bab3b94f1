// ThreadedPool: how a threaded actor serves its calls. With max_concurrency 1
// the ring's own thread runs every call, in submission order; with more, that
// thread only takes calls out of the ring and a CallPool of max_concurrency
// threads runs them.
#include "core/src/actor_process.hpp"
#include "core/src/call_pool.hpp"

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
    CallPool pool(threads, [this](CallInput& in) { execute(in); });
    for (;;) {
      CallInput* in = pool.acquire();
      while (!a_.next_call(*in)) {
      }
      pool.submit(in);
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
    try {
      a_.cls()->methods[in.header.method].blocking(a_.self(), in, t);
    } catch (...) {
      a_.fail_with(t, std::current_exception(), method);
    }
    e.in_progress.fetch_sub(1, std::memory_order_relaxed);
    e.calls_served.fetch_add(1, std::memory_order_relaxed);
  }

  ActorProcess& a_;
};

}  // namespace

void serve_threaded(ActorProcess& actor) {
  ThreadedPool(actor).run();
}

}  // namespace shoal::detail
