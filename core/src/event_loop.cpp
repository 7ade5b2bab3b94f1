// The event loop (detail/event_loop.hpp): ready coroutines in FIFO order, the
// actor's intake, ref waits, timers (an intrusive heap), posts from other threads, and parking on
// the process's wake word when there is nothing to do.
#include <shoal/detail/event_loop.hpp>

#include <sched.h>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <vector>

#include <shoal/errors.hpp>

#include "core/src/call_trace.hpp"
#include "core/src/runtime.hpp"
#include "core/src/timer_heap.hpp"
#include "ipc/spin.hpp"
#include "ipc/wake_word.hpp"

namespace shoal::detail {

namespace {
thread_local EventLoop* t_loop = nullptr;
}  // namespace

uint64_t steady_now_ns() noexcept {
  return ipc::now_ns();
}

std::string timeout_message(std::chrono::nanoseconds timeout) {
  char buf[96];
  std::snprintf(buf, sizeof(buf), "shoal::wait_for: timed out after %.3f ms",
                double(timeout.count()) / 1e6);
  return buf;
}

// ---------------------------------------------------------------- root tasks

namespace {

struct RootCoro {
  struct promise_type {
    static void* operator new(std::size_t n) { return frame_alloc(n); }
    static void operator delete(void* p, std::size_t n) noexcept { frame_free(p, n); }
    RootCoro get_return_object() noexcept {
      return RootCoro{std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }
  };
  std::coroutine_handle<promise_type> handle;
};

RootCoro run_root(Task<void> task, void (*on_done)(void*, std::exception_ptr), void* arg) {
  std::exception_ptr error;
  try {
    co_await std::move(task);
  } catch (...) {
    error = std::current_exception();
  }
  if (on_done) on_done(arg, error);
}

}  // namespace

// ---------------------------------------------------------------- the loop

struct EventLoop::Impl {
  struct Item {
    std::coroutine_handle<> h;
    CallContext* ctx;
  };

  std::vector<Item> ready;  // a ring: head, count, capacity a power of two
  size_t head = 0;
  size_t count = 0;

  IntrusiveList<RefWaitNode, &RefWaitNode::loop_hook> refs;  // in the order they began

  TimerHeap timers;
  uint64_t timer_seq = 0;

  std::mutex inbox_mu;
  std::vector<std::function<void()>> inbox;
  std::vector<std::function<void()>> inbox_work;
  std::atomic<bool> inbox_flag{false};

  ipc::IdleSpin idle;  // how long the loop spins before it parks

  store::Store* store = nullptr;
  ipc::WakeWord private_wake;

  ipc::WakeWord& wake() { return store ? store->my_wake() : private_wake; }

  void push(std::coroutine_handle<> h, CallContext* ctx) {
    if (count == ready.size()) {
      std::vector<Item> bigger(ready.empty() ? 64 : ready.size() * 2);
      for (size_t i = 0; i < count; ++i)
        bigger[i] = ready[(head + i) & (ready.size() - 1)];
      ready.swap(bigger);
      head = 0;
    }
    ready[(head + count) & (ready.size() - 1)] = Item{h, ctx};
    ++count;
  }
  Item pop() {
    Item it = ready[head];
    head = (head + 1) & (ready.size() - 1);
    --count;
    return it;
  }

  bool sealed(const RefWaitNode* n) const {
    return store != nullptr &&
           (store->objects().sealed(n->rec->slot) || (n->also_ready && n->also_ready(n)));
  }

  bool poll_refs() {
    bool any = false;
    for (RefWaitNode* n = refs.front(); n != nullptr;) {
      RefWaitNode* next = refs.next(n);
      if (sealed(n)) {
        refs.remove(n);
        if (n->on_sealed) n->on_sealed(n);
        n->fire();
        any = true;
      }
      n = next;
    }
    return any;
  }

  bool fire_timers(uint64_t now) {
    bool any = false;
    while (!timers.empty()) {
      TimerNode* t = timers.top();
      if (t->deadline_ns > now) break;
      timers.remove(t);
      t->armed = false;
      if (t->on_expired) {
        t->on_expired(t);
      } else {
        t->fire();
      }
      any = true;
    }
    return any;
  }

  bool drain_inbox() {
    // acquire: pairs with the release store in post(); the inbox itself is
    // under inbox_mu.
    if (!inbox_flag.load(std::memory_order_acquire)) return false;
    {
      std::lock_guard<std::mutex> lock(inbox_mu);
      inbox_work.swap(inbox);
      inbox_flag.store(false, std::memory_order_relaxed);
    }
    for (auto& fn : inbox_work)
      fn();
    inbox_work.clear();
    return true;
  }
};

EventLoop* EventLoop::current() noexcept {
  return t_loop;
}

EventLoop::EventLoop() : impl_(std::make_unique<Impl>()) {
  if (Runtime* rt = runtime_or_null()) impl_->store = rt->store;
  previous_ = t_loop;
  t_loop = this;
}

EventLoop::~EventLoop() {
  t_loop = previous_;
}

void EventLoop::schedule(std::coroutine_handle<> h, CallContext* ctx) {
  impl_->push(h, ctx);
}

void EventLoop::add_ref_wait(RefWaitNode* node) {
  node->loop = this;
  node->registered = false;
  impl_->refs.push_back(node);
}

void EventLoop::remove_ref_wait(RefWaitNode* node) noexcept {
  if (node->listed()) impl_->refs.remove(node);
}

void EventLoop::add_timer(TimerNode* node) {
  node->loop = this;
  node->seq = ++impl_->timer_seq;
  node->armed = true;
  impl_->timers.push(node);
}

void EventLoop::remove_timer(TimerNode* node) noexcept {
  if (!node->armed) return;
  impl_->timers.remove(node);
  node->armed = false;
}

void EventLoop::post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(impl_->inbox_mu);
    impl_->inbox.push_back(std::move(fn));
    // release: pairs with the acquire load in drain_inbox().
    impl_->inbox_flag.store(true, std::memory_order_release);
  }
  impl_->wake().notify();
}

void EventLoop::spawn(Task<void> task, CallContext* ctx,
                      void (*on_done)(void* arg, std::exception_ptr), void* arg) {
  RootCoro root = run_root(std::move(task), on_done, arg);
  impl_->push(root.handle, ctx);
}

void EventLoop::set_forbid_blocking(bool forbid) {
  forbid_blocking_ = forbid;
}

void EventLoop::run_until(const std::function<bool()>& done) {
  Impl& m = *impl_;
  while (!done()) {
    bool worked = m.drain_inbox();
    if (intake_ != nullptr && intake_->poll()) worked = true;
    if (!m.refs.empty() && m.poll_refs()) worked = true;
    if (!m.timers.empty() && m.fire_timers(ipc::now_ns())) worked = true;
    if (m.count != 0) {
      // Run what is ready now; what these schedule runs in the next round,
      // after new calls and events have had their turn (FIFO, like asyncio).
      for (size_t n = m.count; n > 0 && m.count > 0; --n) {
        Impl::Item it = m.pop();
        set_current_context(it.ctx);
        if (timeline::recording()) [[unlikely]] {
          resume_traced(it.h, it.ctx);
        } else {
          it.h.resume();
        }
        set_current_context(nullptr);
      }
      worked = true;
    }
    if (worked) {
      m.idle.worked();
      continue;
    }
    if (m.idle.step()) continue;
    if (m.store != nullptr) {
      for (RefWaitNode* n : m.refs) {
        if (!n->registered) {
          m.store->objects().register_waiter(n->rec->slot, m.store->me());
          n->registered = true;
        }
      }
    }
    ipc::WakeWord& wake = m.wake();
    const uint32_t token = wake.prepare();
    // seq_cst: after prepare()'s seq_cst RMW; pairs with the fence in the
    // notify() that follows post()'s store (Dekker: either we see the flag,
    // or post() sees our waiter bit and wakes us).
    bool due =
        m.inbox_flag.load(std::memory_order_seq_cst) || (intake_ != nullptr && intake_->has_work());
    for (auto it = m.refs.begin(); it != m.refs.end() && !due; ++it)
      due = m.sealed(*it);
    uint64_t park_ns = 100'000'000;
    if (!m.timers.empty()) {
      const uint64_t first = m.timers.top()->deadline_ns;
      const uint64_t t = ipc::now_ns();
      if (first <= t) {
        due = true;
      } else if (first - t < park_ns) {
        park_ns = first - t;
      }
    }
    if (!due) wake.park(token, std::chrono::nanoseconds(park_ns));
  }
}

}  // namespace shoal::detail
