// The event loop (detail/event_loop.hpp): ready coroutines in FIFO order, the
// actor's intake, ref waits, timers (an intrusive heap), posts from other threads, and parking on
// the process's wake word when there is nothing to do.
//
// Ref waits: the loop that owns its process's ReadyQueue (store/ready_queue.hpp) registers each
// wait with the object's sealer, which queues the object there; each round the loop resumes only
// the waits of the objects queued, and checks all of them when the queue overflowed and at least
// every kFallbackScanNs. Waits it cannot have queued (another loop of the process owns the queue,
// another process waits for the same object, or the wait can also end without a seal) are
// checked every round.
#include <shoal/detail/event_loop.hpp>

#include <sched.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <unordered_map>
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
// The process whose loop owns its ReadyQueue (0: none). A pid, not a flag: a
// forked child inherits the parent's value but is another process.
std::atomic<pid_t> g_ready_owner{0};
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

  using RefList = IntrusiveList<RefWaitNode, &RefWaitNode::loop_hook>;
  RefList refs;    // checked every round, in the order they began
  RefList queued;  // resumed from the ready list, in the order they began
  std::unordered_multimap<uint32_t, RefWaitNode*> by_slot;  // the queued waits by object slot
  std::vector<uint32_t> sealed_early;  // objects of queued waits sealed before they registered
  std::vector<uint32_t> sealed_work;
  store::ReadyQueue* ready_list = nullptr;  // this process's, if this loop owns it
  uint64_t next_full_ns = 0;                // when the queued waits are all checked next

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

  void unlist(RefWaitNode* n) noexcept {
    if (!n->queued) {
      refs.remove(n);
      return;
    }
    queued.remove(n);
    auto [it, end] = by_slot.equal_range(n->rec->slot);
    for (; it != end; ++it) {
      if (it->second == n) {
        by_slot.erase(it);
        break;
      }
    }
  }

  void resume(RefWaitNode* n) {
    unlist(n);
    if (n->on_sealed) n->on_sealed(n);
    n->fire();
  }

  bool poll_list(RefList& list) {
    bool any = false;
    for (RefWaitNode* n = list.front(); n != nullptr;) {
      RefWaitNode* next = list.next(n);
      if (sealed(n)) {
        resume(n);
        any = true;
      }
      n = next;
    }
    return any;
  }

  // Resumes the queued waits for object `slot` if it is sealed (a stale or
  // early entry of the ready list is not).
  bool resume_slot(uint32_t slot) {
    if (!store->objects().sealed(slot)) return false;
    bool any = false;
    for (auto it = by_slot.find(slot); it != by_slot.end(); it = by_slot.find(slot)) {
      resume(it->second);
      any = true;
    }
    return any;
  }

  // The ready list's round: the objects queued since the last one, and every
  // queued wait after an overflow or once kFallbackScanNs has passed.
  bool poll_ready() {
    if (queued.empty()) {
      // Nothing waits: drop what is queued (stale), so the loop can park.
      ready_list->drain([](uint32_t) {});
      sealed_early.clear();
      return false;
    }
    bool any = false;
    const uint64_t now = ipc::now_ns();
    const bool due = now >= next_full_ns;
    const bool all =
        ready_list->drain([&](uint32_t slot) { any = resume_slot(slot) || any; }, due) || due;
    if (!sealed_early.empty()) {
      sealed_work.swap(sealed_early);
      for (uint32_t slot : sealed_work)
        any = resume_slot(slot) || any;
      sealed_work.clear();
    }
    if (all) {
      any = poll_list(queued) || any;
      next_full_ns = now + store::kFallbackScanNs;
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
  if (impl_->store != nullptr) {
    const pid_t self = ::getpid();
    // acq_rel: pairs with the release store in ~EventLoop() of the loop that
    // owned the queue before (its waits are gone with it).
    pid_t seen = g_ready_owner.load(std::memory_order_acquire);
    if (seen != self && g_ready_owner.compare_exchange_strong(seen, self, std::memory_order_acq_rel,
                                                              std::memory_order_acquire)) {
      impl_->ready_list = impl_->store->objects().ready_queue(impl_->store->me());
      if (impl_->ready_list == nullptr) g_ready_owner.store(0, std::memory_order_release);
    }
  }
  previous_ = t_loop;
  t_loop = this;
}

EventLoop::~EventLoop() {
  // release: pairs with the acquire CAS in EventLoop().
  if (impl_->ready_list != nullptr) g_ready_owner.store(0, std::memory_order_release);
  t_loop = previous_;
}

void EventLoop::schedule(std::coroutine_handle<> h, CallContext* ctx) {
  impl_->push(h, ctx);
}

void EventLoop::add_ref_wait(RefWaitNode* node) {
  Impl& m = *impl_;
  node->loop = this;
  node->registered = false;
  node->queued = false;
  const uint32_t slot = node->rec->slot;
  if (m.ready_list != nullptr && node->also_ready == nullptr &&
      m.store->objects().register_loop_waiter(slot, m.store->me())) {
    node->registered = true;
    node->queued = true;
    if (m.queued.empty()) m.next_full_ns = ipc::now_ns() + store::kFallbackScanNs;
    m.queued.push_back(node);
    m.by_slot.emplace(slot, node);
    // A seal before the registration queued nothing (register_loop_waiter()'s
    // seq_cst CAS orders this read after it).
    if (m.store->objects().sealed(slot)) m.sealed_early.push_back(slot);
    return;
  }
  m.refs.push_back(node);
}

void EventLoop::remove_ref_wait(RefWaitNode* node) noexcept {
  if (node->listed()) impl_->unlist(node);
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
    if (!m.refs.empty() && m.poll_list(m.refs)) worked = true;
    if (m.ready_list != nullptr && m.poll_ready()) worked = true;
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
    // seq_cst (has_work()): as the load above; pairs with the fence of the
    // notify() that follows a push.
    if (m.ready_list != nullptr && (m.ready_list->has_work() || !m.sealed_early.empty()))
      due = true;
    for (auto it = m.refs.begin(); it != m.refs.end() && !due; ++it)
      due = m.sealed(*it);
    uint64_t park_ns = 100'000'000;
    if (!m.queued.empty()) {
      // The next check of every queued wait (a sealer killed before its push).
      const uint64_t t = ipc::now_ns();
      if (m.next_full_ns <= t) {
        due = true;
      } else if (m.next_full_ns - t < park_ns) {
        park_ns = m.next_full_ns - t;
      }
    }
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
