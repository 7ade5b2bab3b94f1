// The exceptions of shoal's public API: every error shoal reports derives from shoal::Error, a
// std::runtime_error whose what() names the problem in words.
//
// Lifetimes: an error is a self-contained value (copied strings and numbers, no reference into the
// store), so it may be kept, rethrown on another thread, or outlive its session.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

namespace shoal {

// Thrown as itself for what has no type of its own: a value that cannot be decoded as the type
// asked for, too many references held by one process, a session that cannot start.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// get() with a timeout ran out before the object was sealed.
class GetTimeoutError : public Error {
 public:
  using Error::Error;
};

// wait_for() ran out before its awaitable finished.
class TimeoutError : public Error {
 public:
  using Error::Error;
};

// The actor that was to produce a result died (crashed, was killed, exited,
// or failed to construct), before or while running the call.
class ActorDiedError : public Error {
 public:
  ActorDiedError(const std::string& what, std::string actor_class, pid_t pid)
      : Error(what), actor_class_(std::move(actor_class)), pid_(pid) {}
  const std::string& actor_class() const noexcept { return actor_class_; }
  pid_t pid() const noexcept { return pid_; }

 private:
  std::string actor_class_;
  pid_t pid_;
};

// The worker process running a stateless task died.
class WorkerCrashedError : public Error {
 public:
  using Error::Error;
};

// The remote method or task threw. Carries the exception's type and what(),
// and where it was thrown.
class TaskError : public Error {
 public:
  TaskError(const std::string& what, std::string exception_type, std::string message,
            std::string actor_class, std::string method, pid_t pid)
      : Error(what),
        exception_type_(std::move(exception_type)),
        message_(std::move(message)),
        actor_class_(std::move(actor_class)),
        method_(std::move(method)),
        pid_(pid) {}
  const std::string& exception_type() const noexcept { return exception_type_; }
  const std::string& message() const noexcept { return message_; }          // the original what()
  const std::string& actor_class() const noexcept { return actor_class_; }  // "" for tasks
  const std::string& method() const noexcept { return method_; }
  pid_t pid() const noexcept { return pid_; }

 private:
  std::string exception_type_, message_, actor_class_, method_;
  pid_t pid_;
};

// The call was cancelled with shoal::cancel() before it finished.
class TaskCancelledError : public Error {
 public:
  using Error::Error;
};

// The store has no room for the object.
class ObjectStoreFullError : public Error {
 public:
  ObjectStoreFullError(const std::string& what, uint64_t requested, uint64_t free)
      : Error(what), requested_(requested), free_(free) {}
  uint64_t requested_bytes() const noexcept { return requested_; }
  uint64_t free_bytes() const noexcept { return free_; }

 private:
  uint64_t requested_, free_;
};

// get<T>() of an object that was put as another type, or get_actor<A>() of an actor of another
// class.
class TypeMismatchError : public Error {
 public:
  TypeMismatchError(const std::string& what, std::string expected, std::string actual)
      : Error(what), expected_(std::move(expected)), actual_(std::move(actual)) {}
  const std::string& expected_type() const noexcept { return expected_; }
  const std::string& actual_type() const noexcept { return actual_; }

 private:
  std::string expected_, actual_;
};

// A blocking get()/wait()/future().get()/run() on an async actor's event-loop
// thread, which would stall every coroutine of the actor. Use co_await.
class EventLoopBlockedError : public Error {
 public:
  using Error::Error;
};

// An ObjectId that names no live object of this session: never created,
// already freed, or from another session.
class ObjectNotFoundError : public Error {
 public:
  using Error::Error;
};

// Shared memory failed validation (a corrupt segment), or the session is gone.
class StoreCorruptError : public Error {
 public:
  using Error::Error;
};

// A call on a method or function that was not registered, a session API used before init() or
// after shutdown(), an empty ObjectRef or one of an ended session, an actor name already in use,
// or co_await, sleep_for(), wait_for() or gather() outside shoal::run or an actor.
class UsageError : public Error {
 public:
  using Error::Error;
};

// get_actor() found no live actor of that name in the session.
class ActorNotFoundError : public Error {
 public:
  using Error::Error;
};

}  // namespace shoal
