// Actors: stateful objects, each living in its own process and called through ActorHandles.
//
//   SHOAL_ACTOR(Counter, &Counter::add, &Counter::get);   // at namespace scope
//   auto c = shoal::actor<Counter>().options({.name = "c"}).remote(10);
//   shoal::ObjectRef<int> r = c.task(&Counter::add).remote(5);
//
// A class with at least one method returning shoal::Task<...> or shoal::Generator<...> is an
// async actor: all of its
// calls, plain ones too, run on one event-loop thread, at most max_concurrency (default 1000) at
// once. Any other class is a threaded actor: calls run on a pool of max_concurrency threads
// (default 1, which runs each caller's calls in order).
//
// Concurrency groups (Ray's concurrency_groups): SHOAL_CONCURRENCY_GROUP puts methods in a named
// group with its own limit of calls in progress; the other methods are in the default group,
// whose limit is max_concurrency. A call waits only for room in its own group: a group whose
// calls are all blocked never delays the calls of another. On an async actor every group shares
// the one event loop; on a threaded actor each group is its own pool of `limit` threads.
//
// Lifetimes (ActorOptions::lifetime): an owned actor (the default) lives while any process of the
// session holds a handle to it, and at most as long as the process that created it; a detached one
// until kill() or exit_actor(). Either ends earlier at a crash it may not be restarted from, and
// at the end of the session. Handles may outlive their actor: their calls then fail with
// ActorDiedError.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include <shoal/detail/actor_def.hpp>
#include <shoal/detail/call.hpp>
#include <shoal/detail/macros.hpp>
#include <shoal/errors.hpp>
#include <shoal/object_ref.hpp>

namespace shoal {

// How long an actor lives (Ray's default lifetime, and lifetime="detached").
enum class Lifetime {
  // Until no process of the session holds a handle to it, or its creator exits. Every handle
  // counts: copies, handles passed as call arguments or stored inside objects, and those found
  // with get_actor(). Calls submitted before the last handle went still run; the actor then
  // exits (within about 100 ms) and is not restarted. A MethodCaller (handle.task(&A::m)) alone
  // does not keep it.
  kOwned,
  // Until kill(), exit_actor() or the end of the session, whoever holds handles; it outlives
  // its creator. Find it again with get_actor() from any process.
  kDetached,
};

// How shoal::actor<A>().options(...) creates an actor; read once, at creation.
struct ActorOptions {
  std::optional<int> max_concurrency;  // async actor default 1000, threaded actor default 1
  std::optional<int> cpu;              // pin the actor process to this core
  std::string name;                    // visible to every process of the session; at most 63 bytes
  int max_restarts = 0;                // -1: forever; a restart (after a crash, never after kill()
                                       // or exit_actor()) reruns the constructor
  uint32_t ring_capacity = 0;          // request ring cells, rounded up to a power of two; 0: 1024
  Lifetime lifetime = Lifetime::kOwned;  // see Lifetime
  // Streams of the actor's Generator methods (Ray's _generator_backpressure_num_objects): a
  // generator suspends at co_yield while its consumer has this many values it has not taken.
  // None: no bound. At least 1.
  std::optional<int> generator_backpressure;
  // Concurrency groups by name and limit: overrides the limit of a group declared with
  // SHOAL_CONCURRENCY_GROUP, or adds a group (holding no method of its own: calls reach it through
  // CallOptions). At most 8 groups per actor, the default one included; names of at most 23
  // bytes, not "default" (whose limit is max_concurrency).
  std::map<std::string, int> concurrency_groups;
  // The node of a multi-node job the actor lives on (0..num_nodes()-1); none: the creator's own
  // node(). Another node's actor is started by that node's node server and called through the
  // nodes' gateways; its handle works as a local one (calls, order, errors, kill(), pid()). Not a
  // node of the job: std::invalid_argument.
  std::optional<int> node;
};

template <class A>
class ActorHandle;

// How one call is made: handle.task(&A::m).options(CallOptions{...}).remote(args...).
struct CallOptions {
  // The concurrency group the call runs in; "": the method's own. A group the actor does not
  // have: std::invalid_argument at .remote(), naming it.
  std::string concurrency_group;
  // For a Generator method: the stream's back-pressure bound (as
  // ActorOptions::generator_backpressure, which it overrides for this call). At least 1;
  // std::invalid_argument at .remote() otherwise.
  std::optional<int> generator_backpressure;
};

// handle.task(&A::method) -> .remote(args...) -> ObjectRef<R>. A plain value; any thread may call
// remote() at once.
template <class A, class M>
class MethodCaller {
 public:
  using Result = detail::call_result_t<M A::*>;

  MethodCaller(detail::ActorId actor, uint32_t method, uint32_t signature)
      : actor_(actor), method_(method), signature_(signature) {}

  // The same caller, making its calls with `options`; the group name is looked up at remote().
  MethodCaller options(CallOptions options) const {
    MethodCaller c = *this;
    c.options_ = std::move(options);
    return c;
  }

  // Submits the call and returns at once, unless the actor's request ring is full: then it waits
  // for a free cell. Arguments convert to the method's parameters; an ObjectRef<U> for a
  // parameter U is resolved before the call runs. The call ends in exactly one outcome, which the
  // ref holds: the result, or the error get() rethrows (TaskError if the method threw,
  // ActorDiedError if the actor died first, TaskCancelledError after cancel(), ...). Throws
  // UsageError for an empty handle, without a session, or for a ref argument of an ended session;
  // ObjectStoreFullError when the store has no room to record the call; std::invalid_argument,
  // naming it, for a CallOptions::concurrency_group the actor does not have or a bad bound.
  // A method returning Generator<T> gives an ObjectRefStream<T> instead, whose iteration
  // throws those errors.
  template <class... Args>
  typename detail::RemoteReturn<M A::*>::type remote(Args&&... args) const {
    const uint32_t group = options_.concurrency_group.empty()
                               ? detail::kOwnGroup
                               : detail::find_group(actor_, options_.concurrency_group);
    const uint32_t stream_bound =
        options_.generator_backpressure ? detail::check_call_options(options_) : 0;
    detail::ArgWriter w;
    detail::encode_call_args<M A::*>(w, std::forward<Args>(args)...);
    return detail::RemoteReturn<M A::*>::adopt(
        detail::submit_call(actor_.index, actor_.gen, method_, signature_, w, stream_bound, group));
  }

 private:
  detail::ActorId actor_;
  uint32_t method_;
  uint32_t signature_;
  CallOptions options_;
};

// A handle to one actor of one session: copyable and comparable, passable as a call argument or
// inside a stored value. Any thread may use it, and copies of it, at once. A handle to an owned
// actor keeps it alive (see Lifetime): it holds a reference, counted like an ObjectRef's, on the
// actor's token object. Calls on a dead actor fail with ActorDiedError; after shutdown() they
// throw UsageError, and a handle must not be used in a later session.
template <class A>
class ActorHandle {
 public:
  ActorHandle() = default;  // an empty handle: valid() is false
  // For the runtime: the actor `id`, kept alive by `token` (empty: not kept).
  explicit ActorHandle(detail::ActorId id, ObjectRefBase token = {})
      : index_(id.index), gen_(id.gen), token_(std::move(token)) {}

  // The caller of one of A's methods, which must be listed in SHOAL_ACTOR (a method of a type the
  // list does not hold fails to compile; one of the right type but not listed throws UsageError).
  template <class M>
  MethodCaller<A, M> task(M A::*method) const {
    const detail::MethodSlot m = detail::find_method<A, M>(method);
    return MethodCaller<A, M>(id(), m.index, m.signature);
  }

  // The pid of the actor's current process; waits up to 10 s for it to start. 0 for an actor
  // that is dead, not started by then, or another one's (a stale or empty handle).
  pid_t pid() const { return detail::actor_pid(id()); }

  // For the runtime: the actor table entry and generation the handle names, and the reference
  // that keeps an owned actor alive.
  detail::ActorId id() const { return detail::ActorId{index_, gen_}; }
  const ObjectRefBase& token() const { return token_; }
  bool valid() const { return index_ != detail::kNoActor; }
  friend bool operator==(const ActorHandle& a, const ActorHandle& b) {
    return a.index_ == b.index_ && a.gen_ == b.gen_;
  }

 private:
  uint32_t index_ = detail::kNoActor;
  uint32_t gen_ = 0;
  ObjectRefBase token_;
};

// shoal::actor<A>().options(...).remote(constructor args...) -> ActorHandle<A>
template <class A>
class ActorCreator {
 public:
  ActorCreator options(ActorOptions options) const {
    ActorCreator c = *this;
    c.options_ = std::move(options);
    return c;
  }

  // Starts the actor's process and returns its handle at once; calls made meanwhile queue up. If
  // the constructor throws, every call fails with ActorDiedError naming the exception. Any thread
  // may create actors. Throws std::invalid_argument for a bad option (max_concurrency below 1, no
  // such cpu, a name over 63 bytes, a concurrency group limit below 1 or a bad group name, more
  // than 8 groups) or a bad SHOAL_CONCURRENCY_GROUP declaration, naming the group, UsageError for a
  // name a live actor of the session has, or without a session, shoal::Error when the session's
  // actor table is full, and ObjectStoreFullError when the constructor's arguments or the request
  // ring do not fit.
  template <class... Args>
  ActorHandle<A> remote(Args&&... args) const {
    static_assert(std::is_constructible_v<A, std::decay_t<Args>&&...>,
                  "shoal: the actor class has no constructor taking these arguments");
    using Registrar = detail::CtorRegistrar<A, std::decay_t<Args>...>;
    (void)Registrar::registered;
    detail::ArgWriter w;
    (w.template add<std::decay_t<Args>>(std::forward<Args>(args)), ...);
    detail::ActorSpec spec;
    spec.class_id = detail::class_id_of<A>();
    spec.ctor_id = Registrar::kId;
    spec.class_name = detail::ActorDef<A>::name;
    spec.is_async = detail::is_async_class<A>();
    spec.options = &options_;
    spec.ctor_args = &w;
    ObjectRefBase token;
    const detail::ActorId id = detail::create_actor(spec, &token);
    return ActorHandle<A>(id, std::move(token));
  }

 private:
  ActorOptions options_;
};

template <class A>
ActorCreator<A> actor() {
  return {};
}

// The live actor registered under `name` by any process of the session; the handle keeps an owned
// actor alive like any other. In a multi-node job, a name this node's session does not have is
// asked of the other nodes (a round trip to each), and the handle calls that node's actor. Throws
// ActorNotFoundError if there is none (an owned actor whose last handle is gone counts as none),
// TypeMismatchError if it is not an A, UsageError without a session.
template <class A>
ActorHandle<A> get_actor(const std::string& name) {
  ObjectRefBase token;
  const detail::ActorId id =
      detail::find_actor(name, detail::class_id_of<A>(), detail::ActorDef<A>::name, &token);
  return ActorHandle<A>(id, std::move(token));
}

// Kills the actor's process at once (no restart) and returns without waiting for it to die; its
// pending and later calls fail with ActorDiedError. Does nothing for an actor already dead or
// killed, or an empty or stale handle; throws UsageError without a session.
template <class A>
void kill(const ActorHandle<A>& handle) {
  detail::kill_actor(handle.id());
}

// Inside an actor: ends it now, for good (no restart). Its in-progress and queued calls, and
// every later one, fail with ActorDiedError. Does not return; throws UsageError outside an actor.
[[noreturn]] void exit_actor();

}  // namespace shoal

// Registers an actor class and the methods callable on it. Use at global scope, once per class,
// in a translation unit of the executable every process of the session runs.
#define SHOAL_ACTOR(Class, ...)                                                           \
  template <>                                                                             \
  struct shoal::detail::ActorDef<Class> {                                                 \
    static constexpr std::string_view name = #Class;                                      \
    static constexpr auto methods = std::make_tuple(__VA_ARGS__);                         \
    static constexpr std::string_view method_list = #__VA_ARGS__;                         \
  };                                                                                      \
  [[maybe_unused]] static const bool SHOAL_PP_CAT(shoal_actor_registered_, __COUNTER__) = \
      ::shoal::detail::register_actor<Class>()

// Declares concurrency group `name` of Class: at most `limit` of the listed methods' calls are in
// progress at once. Use at global scope after SHOAL_ACTOR(Class, ...), in the same translation
// unit, once per group; a method is in at most one group. A bad declaration (a limit below 1, a
// method in two groups, more than 7 groups, a name over 23 bytes or "default") makes creating a
// Class throw std::invalid_argument naming the group.
#define SHOAL_CONCURRENCY_GROUP(Class, name, limit, ...)                                  \
  [[maybe_unused]] static const bool SHOAL_PP_CAT(shoal_group_registered_, __COUNTER__) = \
      ::shoal::detail::register_concurrency_group<Class>(name, limit, __VA_ARGS__)
