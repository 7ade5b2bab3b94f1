// EventLoop: one thread's coroutine scheduler. An async actor runs one; run()
// makes one on the calling thread; workers and the future watcher run one.
//
// Every awaiter in shoal suspends its coroutine on a WaitNode that lives in the
// awaiter itself (no allocation) and resumes it through the loop of the thread
// that suspended it, in FIFO order. A WaitNode also links into the CallContext
// of the call it belongs to, so cancel() can find every point a call is
// suspended at and resume it there with TaskCancelledError.
//
// The loop sleeps on its process's wake word: ring pushes, seals of objects it
// awaits, cancel() and post() from other threads all notify that word.
//
// Lifetimes: an EventLoop belongs to the thread that made it (its current loop until it is
// destroyed) and must outlive every coroutine suspended on it; only post() may be called from
// other threads. A WaitNode lives in its awaiter, in the suspended coroutine's frame, and is
// linked into the loop, its call's context and what it waits on only while the coroutine waits.
#pragma once

#include <coroutine>
#include <cstdint>
#include <functional>
#include <memory>

#include <shoal/detail/ref_record.hpp>
#include <shoal/task.hpp>

namespace shoal::detail {

struct CallContext;

class EventLoop;

struct WaitNode {
  std::coroutine_handle<> handle;
  EventLoop* loop = nullptr;    // the loop of the thread that suspended
  CallContext* ctx = nullptr;   // the call this wait belongs to (may be null)
  WaitNode* ctx_prev = nullptr;
  WaitNode* ctx_next = nullptr;
  bool in_ctx = false;
  bool fired = false;           // already scheduled to resume: nothing may fire it again
  bool cancelled = false;       // resumed by cancellation, not by its event
  void* owner = nullptr;        // the awaiter holding the node, for its callbacks
  // Takes the node off whatever it waits on; set by the awaiter.
  void (*detach)(WaitNode*) noexcept = nullptr;

  // Schedules the coroutine on its loop unless something already did.
  // Returns false if the node had already fired.
  bool fire() noexcept;

  // In await_suspend: remembers the coroutine and joins the current call's waits.
  void enter(std::coroutine_handle<> h) noexcept;
  // In await_resume: leaves the call's waits; throws TaskCancelledError if the
  // call was cancelled while suspended here.
  void leave();
  // Leaves without the cancellation check (for waits that must not throw).
  void leave_quietly() noexcept;
};

// A call in progress (or the root of run()). Cancelling it resumes every
// coroutine of the call at its current co_await with TaskCancelledError, and
// cancels its child contexts (wait_for's inner awaitables).
struct CallContext {
  bool cancelled = false;
  WaitNode* waits = nullptr;
  CallContext* parent = nullptr;
  CallContext* first_child = nullptr;
  CallContext* next_sibling = nullptr;
  CallContext* prev_sibling = nullptr;

  CallContext() = default;
  explicit CallContext(CallContext* parent_ctx);  // a child of parent_ctx
  ~CallContext();
  CallContext(const CallContext&) = delete;
  CallContext& operator=(const CallContext&) = delete;

  void cancel() noexcept;
};

// The context of the coroutine running on this thread right now.
CallContext* current_context() noexcept;
void set_current_context(CallContext* ctx) noexcept;

// Waiting for an object to be sealed.
struct RefWaitNode : WaitNode {
  const RefRecord* rec = nullptr;
  RefWaitNode* prev = nullptr;
  RefWaitNode* next = nullptr;
  bool listed = false;      // in the loop's list of ref waits
  bool registered = false;  // asked the object's sealer to notify this process
  // Runs when the object is sealed, before the coroutine is scheduled.
  void (*on_sealed)(RefWaitNode*) noexcept = nullptr;
};

// Waiting for a point in time (steady clock nanoseconds).
struct TimerNode : WaitNode {
  uint64_t deadline_ns = 0;
  uint64_t seq = 0;
  bool armed = false;
  // Runs when the deadline passes, instead of scheduling the coroutine.
  void (*on_expired)(TimerNode*) noexcept = nullptr;
};

// Where an actor's calls come from: polled by the loop between coroutines.
class LoopIntake {
 public:
  virtual ~LoopIntake() = default;
  // Takes in new work (starts calls); true if it did anything.
  virtual bool poll() = 0;
  // True if poll() would find work now (checked right before parking).
  virtual bool has_work() = 0;
};

class EventLoop {
 public:
  // The loop of the calling thread, or null.
  static EventLoop* current() noexcept;

  EventLoop();  // becomes the current loop of the calling thread
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Resumes `h` later on this loop, as part of call `ctx`. Loop thread only.
  void schedule(std::coroutine_handle<> h, CallContext* ctx);

  void add_ref_wait(RefWaitNode* node);
  void remove_ref_wait(RefWaitNode* node) noexcept;
  void add_timer(TimerNode* node);
  void remove_timer(TimerNode* node) noexcept;

  // Runs `fn` on this loop's thread soon. Any thread.
  void post(std::function<void()> fn);

  // Schedules `task` to start as a root coroutine of call `ctx` (which must
  // outlive it), in FIFO order with everything else ready on this loop;
  // `on_done` runs when it finishes, with its exception if it threw.
  void spawn(Task<void> task, CallContext* ctx,
             void (*on_done)(void* arg, std::exception_ptr) = nullptr, void* arg = nullptr);

  // Runs coroutines, intake and timers until done() holds.
  void run_until(const std::function<bool()>& done);

  void set_intake(LoopIntake* intake) { intake_ = intake; }
  // Async actors: blocking get()/wait() on this thread throw EventLoopBlockedError.
  void set_forbid_blocking(bool forbid);
  bool forbid_blocking() const { return forbid_blocking_; }

  size_t ready_count() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  LoopIntake* intake_ = nullptr;
  bool forbid_blocking_ = false;
  EventLoop* previous_ = nullptr;
  friend struct Impl;
};

}  // namespace shoal::detail
