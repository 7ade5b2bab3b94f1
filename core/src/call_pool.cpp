#include "core/src/call_pool.hpp"

#include <chrono>

#include "ipc/spin.hpp"

namespace shoal::detail {

namespace {

// How many idle threads spin on the queue at once: one takes up a stream of
// calls; more would only burn cores the callers need.
constexpr uint32_t kMaxSpinners = 1;
// How long the spinning thread looks for a call before it parks.
constexpr uint64_t kSpinNs = ipc::SpinPolicy::kIdleSpinMinNs;
// How long submit() gives busy threads to come back for a call before it
// wakes the parked ones: a short call ends within it.
constexpr uint64_t kHandOffNs = ipc::SpinPolicy::kPauseNs;

}  // namespace

CallPool::CallPool(int threads, std::function<void(CallInput&)> execute, int inputs)
    : execute_(std::move(execute)) {
  if (threads < 1) threads = 1;
  if (inputs < threads) inputs = threads * 4;
  for (int i = 0; i < inputs; ++i) {
    inputs_.push_back(std::make_unique<CallInput>());
    spare_.enqueue(inputs_.back().get());
  }
  for (int i = 0; i < threads; ++i)
    threads_.emplace_back([this] { work(); });
}

CallPool::~CallPool() {
  // release: pairs with the acquire load in work() before it parks.
  stopping_.store(true, std::memory_order_release);
  { std::lock_guard<std::mutex> lock(park_mu_); }
  parked_.notify_all();
  for (std::thread& t : threads_)
    t.join();
}

CallInput* CallPool::acquire() {
  CallInput* in = nullptr;
  while (!spare_.try_dequeue(in)) {
    // Every input is in use: more calls than threads are running or queued.
    std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
  return in;
}

void CallPool::submit(CallInput* in) {
  calls_.enqueue(in);
  // seq_cst fence: orders the enqueue before the load of spinners_ (Dekker);
  // pairs with the fence in spin_for_call() after a spinner stops: either we
  // see it spinning, or it sees the call when it looks a last time.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (spinners_.load(std::memory_order_relaxed) != 0) return;  // ordered by the fence above
  // Nobody is looking: a thread running a short call takes this one when it
  // is done, with no wake-up.
  ipc::Backoff hand_off(kHandOffNs);
  while (calls_.size_approx() != 0 && spinners_.load(std::memory_order_relaxed) == 0 &&
         hand_off.step()) {
  }
  if (calls_.size_approx() == 0) return;
  // seq_cst: as the load after the fence above (a spinner that started
  // meanwhile takes the call).
  if (spinners_.load(std::memory_order_seq_cst) != 0) return;
  // seq_cst: after the fence above; pairs with the seq_cst increment in
  // work() before its last look at the queue (Dekker): it sees our call, or
  // we see it parking.
  if (sleepers_.load(std::memory_order_seq_cst) == 0) return;
  // One call, one thread: the others stay parked. Taking the mutex orders
  // the wake after a sleeper's last look (it looks under the mutex).
  { std::lock_guard<std::mutex> lock(park_mu_); }
  parked_.notify_one();
}

bool CallPool::spin_for_call(CallInput** in) {
  // acq_rel: the count of spinners is a hint for submit() except at the end
  // of a spin (the fence below).
  if (spinners_.fetch_add(1, std::memory_order_acq_rel) >= kMaxSpinners) {
    spinners_.fetch_sub(1, std::memory_order_acq_rel);  // as the fetch_add above
    return false;
  }
  ipc::Backoff spin(kSpinNs);
  bool got = false;
  while (!(got = calls_.try_dequeue(*in)) && spin.step()) {
  }
  spinners_.fetch_sub(1, std::memory_order_seq_cst);
  if (got) return true;
  // seq_cst fence: orders our leaving the spinners before the last look at
  // the queue; pairs with the fence in submit() after its enqueue.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return calls_.try_dequeue(*in);
}

void CallPool::run(CallInput* in) {
  execute_(*in);
  in->args_object = ObjectRefBase();
  spare_.enqueue(in);
}

void CallPool::work() {
  CallInput* in = nullptr;
  bool spin = true;  // not after a park that timed out: an idle pool stays quiet
  for (;;) {
    if (calls_.try_dequeue(in) || (spin && spin_for_call(&in))) {
      run(in);
      spin = true;
      continue;
    }
    std::unique_lock<std::mutex> lock(park_mu_);
    // seq_cst: pairs with the seq_cst load of sleepers_ in submit().
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    bool got = calls_.try_dequeue(in);
    // acquire: pairs with the release store in the destructor.
    const bool stop = !got && stopping_.load(std::memory_order_acquire);
    if (!got && !stop) {
      spin = parked_.wait_for(lock, std::chrono::milliseconds(100)) == std::cv_status::no_timeout;
    }
    // relaxed: only ever read as a hint before the fence and seq_cst load in submit().
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
    lock.unlock();
    if (stop) return;
    if (got) {
      run(in);
      spin = true;
    }
  }
}

}  // namespace shoal::detail
