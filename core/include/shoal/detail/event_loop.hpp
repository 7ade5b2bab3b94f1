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
// awaits, cancel() and post() from other threads all notify that word. One loop
// per process (the first one made) owns the process's ready list: a seal of an
// object it awaits puts the object there, and the loop resumes only those waits
// (plus every wait at least every 50 ms); other loops check their waits each round.
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

#include <shoal/detail/call_context.hpp>
#include <shoal/detail/intrusive_list.hpp>
#include <shoal/detail/ref_record.hpp>
#include <shoal/task.hpp>

namespace shoal::detail {

class EventLoop;

// Waiting for an object to be sealed.
struct RefWaitNode : WaitNode {
  const RefRecord* rec = nullptr;
  ListHook<RefWaitNode> loop_hook;  // in the loop's list of ref waits
  bool registered = false;          // asked the object's sealer to notify this process
  bool queued = false;  // the sealer queues the object on the loop's ready list (else polled)
  // Runs when the object is sealed, before the coroutine is scheduled.
  void (*on_sealed)(RefWaitNode*) noexcept = nullptr;
  // When set, the wait also ends once this returns true (checked wherever the seal is: each
  // time the loop looks at its waits, and before it parks). Whoever makes it true notifies the
  // process's wake word, as a seal does.
  bool (*also_ready)(const RefWaitNode*) noexcept = nullptr;

  bool listed() const noexcept { return loop_hook.linked; }
};

// Waiting for a point in time (steady clock nanoseconds).
struct TimerNode : WaitNode {
  uint64_t deadline_ns = 0;
  uint64_t seq = 0;
  uint32_t heap_index = 0;  // its place in the loop's timer heap while armed
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

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  LoopIntake* intake_ = nullptr;
  bool forbid_blocking_ = false;
  EventLoop* previous_ = nullptr;
  friend struct Impl;
};

}  // namespace shoal::detail
