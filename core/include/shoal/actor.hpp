// Actors: stateful objects living in their own process.
//
//   SHOAL_ACTOR(Counter, &Counter::add, &Counter::get);   // at namespace scope
//   auto c = shoal::actor<Counter>().options({.name = "c"}).remote(10);
//   shoal::ObjectRef<int> r = c.task(&Counter::add).remote(5);
//
// A class with at least one method returning shoal::Task<...> is an async
// actor: all of its calls, plain ones too, run on one event-loop thread, at
// most max_concurrency (default 1000) at once. Any other class is a threaded
// actor: calls run on a pool of max_concurrency threads (default 1, which runs
// each caller's calls in order).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include <shoal/detail/call.hpp>
#include <shoal/detail/macros.hpp>
#include <shoal/detail/registry.hpp>
#include <shoal/detail/type_name.hpp>
#include <shoal/errors.hpp>
#include <shoal/object_ref.hpp>

namespace shoal {

struct ActorOptions {
  std::optional<int> max_concurrency;  // async actor default 1000, threaded actor default 1
  std::optional<int> cpu;              // pin the actor process to this core
  std::string name;                    // visible to every process of the session
  int max_restarts = 0;                // -1: forever; a restart reruns the constructor
  uint32_t ring_capacity = 0;          // request ring cells (a power of two); 0: 1024
};

// A name given twice, or looked up but absent.
class ActorNotFoundError : public Error {
 public:
  using Error::Error;
};

namespace detail {

// Specialised by SHOAL_ACTOR; using an unregistered class fails to compile here.
template <class A>
struct ActorDef;

struct ActorId {
  uint32_t index = 0xffffffffu;
  uint32_t gen = 0;
};

struct ActorSpec {
  uint64_t class_id = 0;
  uint64_t ctor_id = 0;
  std::string_view class_name;
  bool is_async = false;
  const ActorOptions* options = nullptr;
  const ArgWriter* ctor_args = nullptr;
};

ActorId create_actor(const ActorSpec& spec);
ActorId find_actor(const std::string& name, uint64_t class_id, std::string_view class_name);
pid_t actor_pid(ActorId id);
void kill_actor(ActorId id);

template <class A>
constexpr uint64_t class_id_of() {
  return type_fingerprint<A>();
}

template <class A>
using methods_t = std::remove_cvref_t<decltype(ActorDef<A>::methods)>;

template <class A, size_t I>
constexpr auto method_at() {
  return std::get<I>(ActorDef<A>::methods);
}

template <class A, size_t I>
void invoke_method_blocking(void* self, const CallInput& in, const CallTarget& target) {
  constexpr auto m = method_at<A, I>();
  invoke_blocking_impl<decltype(m)>(
      [self](auto&&... a) -> decltype(auto) {
        return (static_cast<A*>(self)->*m)(std::forward<decltype(a)>(a)...);
      },
      in, target);
}

template <class A, size_t I>
Task<void> invoke_method_async(void* self, CallInput in, CallTarget target) {
  constexpr auto m = method_at<A, I>();
  auto fn = [self](auto&&... a) -> decltype(auto) {
    return (static_cast<A*>(self)->*m)(std::forward<decltype(a)>(a)...);
  };
  return invoke_async_impl<decltype(m)>(fn, std::move(in), target);
}

template <class A, size_t I>
inline constexpr uint32_t kMethodSignature =
    signature_of(type_name<A>(), type_name<std::tuple_element_t<I, methods_t<A>>>(), I);

template <class A, size_t I>
constexpr uint32_t method_signature() {
  return kMethodSignature<A, I>;
}

template <class A>
constexpr bool is_async_class() {
  return []<size_t... I>(std::index_sequence<I...>) {
    return (is_coroutine_v<std::tuple_element_t<I, methods_t<A>>> || ...);
  }(std::make_index_sequence<std::tuple_size_v<methods_t<A>>>{});
}

template <class A>
bool register_actor() {
  using Methods = methods_t<A>;
  constexpr size_t n = std::tuple_size_v<Methods>;
  ClassInfo info;
  info.name = std::string(ActorDef<A>::name);
  info.class_id = class_id_of<A>();
  info.is_async = is_async_class<A>();
  info.destroy = [](void* self) { delete static_cast<A*>(self); };
  const std::vector<std::string> names = split_names(ActorDef<A>::method_list);
  [&]<size_t... I>(std::index_sequence<I...>) {
    (info.methods.push_back(MethodInfo{
         I < names.size() ? names[I] : "method#" + std::to_string(I), method_signature<A, I>(),
         is_coroutine_v<std::tuple_element_t<I, Methods>>, &invoke_method_blocking<A, I>,
         &invoke_method_async<A, I>}),
     ...);
  }(std::make_index_sequence<n>{});
  register_class(std::move(info));
  return true;
}

template <class A, class... Args>
struct CtorRegistrar {
  static constexpr uint64_t kId = type_fingerprint<std::tuple<A, Args...>>();
  static void* construct(std::span<const std::byte> args) {
    const std::vector<ObjectRefBase> resolved = resolve_args_blocking(args);
    auto stored = decode_args<Args...>(args, resolved);
    return std::apply([](auto&... a) { return static_cast<void*>(new A(std::move(a)...)); },
                      stored);
  }
  static inline const uint64_t registered = register_ctor(class_id_of<A>(), kId, &construct);
};

}  // namespace detail

template <class A>
class ActorHandle;

// handle.task(&A::method) -> .remote(args...) -> ObjectRef<R>
template <class A, class M>
class MethodCaller {
 public:
  using Result = detail::call_result_t<M A::*>;

  MethodCaller(detail::ActorId actor, uint32_t method, uint32_t signature)
      : actor_(actor), method_(method), signature_(signature) {}

  // Submits the call and returns at once. Arguments convert to the method's
  // parameters; an ObjectRef<U> for a parameter U is resolved before the call.
  template <class... Args>
  ObjectRef<Result> remote(Args&&... args) const {
    detail::ArgWriter w;
    detail::encode_call_args<M A::*>(w, std::forward<Args>(args)...);
    return ObjectRef<Result>::adopt(
        detail::submit_call(actor_.index, actor_.gen, method_, signature_, w));
  }

 private:
  detail::ActorId actor_;
  uint32_t method_;
  uint32_t signature_;
};

template <class A>
class ActorHandle {
 public:
  ActorHandle() = default;
  explicit ActorHandle(detail::ActorId id) : index_(id.index), gen_(id.gen) {}

  template <class M>
  MethodCaller<A, M> task(M A::*method) const {
    using Methods = detail::methods_t<A>;
    constexpr size_t n = std::tuple_size_v<Methods>;
    static_assert([]<size_t... I>(std::index_sequence<I...>) {
      return (std::is_same_v<std::tuple_element_t<I, Methods>, M A::*> || ...);
    }(std::make_index_sequence<n>{}),
                  "shoal: this method is not listed in SHOAL_ACTOR for its class");
    uint32_t index = 0xffffffffu;
    uint32_t signature = 0;
    [&]<size_t... I>(std::index_sequence<I...>) {
      (([&] {
         if constexpr (std::is_same_v<std::tuple_element_t<I, Methods>, M A::*>) {
           if (index == 0xffffffffu && detail::method_at<A, I>() == method) {
             index = uint32_t(I);
             signature = detail::method_signature<A, I>();
           }
         }
       }()),
       ...);
    }(std::make_index_sequence<n>{});
    if (index == 0xffffffffu) {
      throw UsageError(std::string("shoal: a method of ") + std::string(detail::ActorDef<A>::name) +
                       " with signature " + std::string(detail::type_name<M>()) +
                       " is not registered in SHOAL_ACTOR");
    }
    return MethodCaller<A, M>(id(), index, signature);
  }

  // The pid of the actor's current process (waits for it to start).
  pid_t pid() const { return detail::actor_pid(id()); }

  detail::ActorId id() const { return detail::ActorId{index_, gen_}; }
  bool valid() const { return index_ != 0xffffffffu; }
  friend bool operator==(const ActorHandle& a, const ActorHandle& b) {
    return a.index_ == b.index_ && a.gen_ == b.gen_;
  }

 private:
  uint32_t index_ = 0xffffffffu;
  uint32_t gen_ = 0;
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

  // Starts the actor's process and returns its handle at once; calls made
  // meanwhile queue up. If the constructor throws, every call fails with
  // ActorDiedError.
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
    return ActorHandle<A>(detail::create_actor(spec));
  }

 private:
  ActorOptions options_;
};

template <class A>
ActorCreator<A> actor() {
  return {};
}

// The live actor registered under `name` by any process of the session.
// Throws ActorNotFoundError if there is none, TypeMismatchError if it is not an A.
template <class A>
ActorHandle<A> get_actor(const std::string& name) {
  return ActorHandle<A>(detail::find_actor(name, detail::class_id_of<A>(), detail::ActorDef<A>::name));
}

// Kills the actor's process at once (no restart); pending and later calls fail
// with ActorDiedError.
template <class A>
void kill(const ActorHandle<A>& handle) {
  detail::kill_actor(handle.id());
}

// Inside an actor: ends it now. Its in-progress and queued calls, and every
// later one, fail with ActorDiedError. Does not return.
[[noreturn]] void exit_actor();

}  // namespace shoal

// Registers an actor class and the methods callable on it. Use at global scope.
#define SHOAL_ACTOR(Class, ...)                                              \
  template <>                                                                \
  struct shoal::detail::ActorDef<Class> {                                    \
    static constexpr std::string_view name = #Class;                         \
    static constexpr auto methods = std::make_tuple(__VA_ARGS__);            \
    static constexpr std::string_view method_list = #__VA_ARGS__;            \
  };                                                                         \
  [[maybe_unused]] static const bool SHOAL_PP_CAT(shoal_actor_registered_, __COUNTER__) = \
      ::shoal::detail::register_actor<Class>()

// ---- msgpack: ActorHandles inside containers travel as [index, generation] ----

namespace msgpack {
MSGPACK_API_VERSION_NAMESPACE(MSGPACK_DEFAULT_API_NS) {
  namespace adaptor {

  template <class A>
  struct pack<shoal::ActorHandle<A>> {
    template <class Stream>
    msgpack::packer<Stream>& operator()(msgpack::packer<Stream>& o,
                                        const shoal::ActorHandle<A>& h) const {
      o.pack_array(2);
      o.pack(h.id().index);
      o.pack(h.id().gen);
      return o;
    }
  };

  template <class A>
  struct convert<shoal::ActorHandle<A>> {
    const msgpack::object& operator()(const msgpack::object& o, shoal::ActorHandle<A>& h) const {
      if (o.type != msgpack::type::ARRAY || o.via.array.size != 2) throw msgpack::type_error();
      h = shoal::ActorHandle<A>(shoal::detail::ActorId{o.via.array.ptr[0].as<uint32_t>(),
                                                      o.via.array.ptr[1].as<uint32_t>()});
      return o;
    }
  };

  }  // namespace adaptor
}  // MSGPACK_API_VERSION_NAMESPACE
}  // namespace msgpack
