// ThreadedPool: how a threaded actor serves its calls. With max_concurrency 1
// the ring's own thread runs every call, in submission order; with more, that
// thread only takes calls out of the ring and a CallPool of max_concurrency
// threads runs them.
//
// Concurrency groups: an actor with groups beyond the default one runs a
// CallPool per group, of the group's limit in threads (the default group's
// is max_concurrency). The ring's thread hands each call to its group's pool;
// a pool holds up to kGroupInputs calls waiting for its threads, so a group
// whose threads are all blocked does not hold up the calls of the others.
#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "core/src/actor_process.hpp"
#include "core/src/call_pool.hpp"
#include "core/src/call_trace.hpp"

namespace shoal::detail {

namespace {

// Calls a group's pool holds (running or waiting for a thread) before the ring's thread waits for
// one to end: a ring's worth, so that the calls of one group fill the ring before they delay
// another's.
constexpr int kGroupInputs = 1024;

class ThreadedPool {
 public:
  explicit ThreadedPool(ActorProcess& actor) : a_(actor) {}

  void run() {
    const int threads = a_.entry().max_concurrency > 1 ? a_.entry().max_concurrency : 1;
    if (a_.group_count() > 1) run_groups(threads);
    if (threads == 1) {
      CallInput in;
      bool traced = false;  // the previous call's event is written
      for (;;) {
        bool waited = false;
        if (!a_.next_call(in, &waited)) {
          traced = false;
          continue;
        }
        // A call the thread went to from the end of the previous traced one without idling
        // long starts, on the timeline, where that one ended or where it was submitted,
        // whichever is later (see begin_trace()).
        traced = execute(in, kOwnGroup, traced && !waited);
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
  // One pool per concurrency group; never returns.
  void run_groups(int default_threads) {
    std::vector<std::unique_ptr<CallPool>> pools;
    for (uint32_t group = 0; group < a_.group_count(); ++group) {
      const int threads = group == 0 ? default_threads : int(a_.group_limit(group));
      pools.push_back(std::make_unique<CallPool>(
          threads,
          [this, group](CallInput& in) {
            label_pool_thread(group);
            execute(in, group);
            // release: pairs with the acquire load in next_call(), as in run().
            a_.outstanding().fetch_sub(1, std::memory_order_release);
          },
          std::max(threads * 4, kGroupInputs)));
    }
    ipc::ActorEntry& e = a_.entry();
    CallInput scratch;
    for (;;) {
      uint32_t group = 0;
      if (!a_.next_call(scratch) || !a_.group_of(scratch, &group)) continue;
      CallInput* in = pools[group]->acquire();
      *in = std::move(scratch);
      scratch.args_object = ObjectRefBase();
      // relaxed: a count for `shoal status`; execute() takes it back when the call starts.
      e.group_queued[group].fetch_add(1, std::memory_order_relaxed);
      // relaxed: as in run(); the pool's queue orders it before the pool thread's fetch_sub.
      a_.outstanding().fetch_add(1, std::memory_order_relaxed);
      pools[group]->submit(in);
    }
  }

  // Names the calling pool thread on the timeline once ("pool 1", "pool 2", ..., and
  // "<group> pool 3" for a thread of a concurrency group other than the default one).
  void label_pool_thread(uint32_t group = 0) {
    thread_local bool labelled = false;
    if (labelled) [[likely]]
      return;
    labelled = true;
    const std::string prefix = group == 0 ? "" : std::string(a_.group_name(group)) + " ";
    // relaxed: a counter for names only; nothing is ordered by it.
    timeline::set_thread_label(prefix + "pool " +
                               std::to_string(next_label_.fetch_add(1, std::memory_order_relaxed)));
  }

  // Runs one call of `group` on the calling thread and settles its result. With several groups
  // (run_groups()) it also keeps the group's counters. `follows`: this thread took the call
  // straight after the previous call it traced (begin_trace()). True if the call was traced.
  bool execute(CallInput& in, uint32_t group = kOwnGroup, bool follows = false) {
    ipc::ActorEntry& e = a_.entry();
    const bool grouped = group != kOwnGroup;
    // relaxed (all the group counters): a snapshot for `shoal status`.
    if (grouped) e.group_queued[group].fetch_sub(1, std::memory_order_relaxed);
    const char* method = "?";
    if (!a_.begin(in, &method)) return false;
    const CallTarget t{in.header.result_slot, in.header.result_gen};
    e.in_progress.fetch_add(1, std::memory_order_relaxed);
    if (grouped) e.group_running[group].fetch_add(1, std::memory_order_relaxed);
    CallTrace trace;
    const bool traced = timeline::recording();
    if (traced) [[unlikely]] {
      begin_trace(a_, in, trace, grouped ? group : 0, follows);
      set_thread_trace(&trace);  // complete_call() ends it before sealing the result
    }
    try {
      a_.cls()->methods[in.header.method].blocking(a_.self(), in, t);
    } catch (...) {
      const std::exception_ptr error = std::current_exception();
      if (traced) [[unlikely]]
        end_trace(trace, error);  // before the error is sealed
      a_.fail_with(t, error, method);
    }
    if (traced) [[unlikely]] {
      end_trace(trace, nullptr);  // if nothing above did
      set_thread_trace(nullptr);
    }
    if (grouped) e.group_running[group].fetch_sub(1, std::memory_order_relaxed);
    e.in_progress.fetch_sub(1, std::memory_order_relaxed);
    e.calls_served.fetch_add(1, std::memory_order_relaxed);
    return traced;
  }

  ActorProcess& a_;
  std::atomic<int> next_label_{1};  // the number of the next pool thread named
};

}  // namespace

void serve_threaded(ActorProcess& actor) {
  ThreadedPool(actor).run();
}

}  // namespace shoal::detail
