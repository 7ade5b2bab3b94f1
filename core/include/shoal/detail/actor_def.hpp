// An actor class as the runtime sees it: ActorDef<A>, which SHOAL_ACTOR specialises, the method
// table and invokers generated from it, constructors registered on first use, and the runtime's
// operations on actors (defined in core/src/actors.cpp). Nothing here is public.
//
// Lifetimes: everything here is built during static initialisation and lives as long as the
// program; an ActorId is a plain value naming a table entry of one session (the token an
// ActorHandle holds beside it is what keeps an owned actor alive).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <shoal/detail/call.hpp>
#include <shoal/detail/registry.hpp>
#include <shoal/detail/type_name.hpp>
#include <shoal/errors.hpp>
#include <shoal/object_ref.hpp>

namespace shoal {
struct ActorOptions;
struct CallOptions;
}  // namespace shoal

namespace shoal::detail {

// Specialised by SHOAL_ACTOR; using an unregistered class fails to compile here.
template <class A>
struct ActorDef;

// The actor index of no actor: what an empty ActorHandle holds. No actor table is that large.
inline constexpr uint32_t kNoActor = 0xffffffffu;
// The method index of no method: what a method lookup finds for a method not in SHOAL_ACTOR.
inline constexpr uint32_t kNoMethod = 0xffffffffu;

// An actor table entry, and the generation of the actor that holds it.
struct ActorId {
  uint32_t index = kNoActor;
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

// Both set *token to the reference that keeps an owned actor alive (empty for a detached one).
ActorId create_actor(const ActorSpec& spec, ObjectRefBase* token);
ActorId find_actor(const std::string& name, uint64_t class_id, std::string_view class_name,
                   ObjectRefBase* token);
// Checks a call's stream bound (std::invalid_argument naming what is wrong); returns it, 0 for
// none.
uint32_t check_call_options(const CallOptions& options);
// The index of concurrency group `name` in the table of actor `id`, for a call's header; throws
// std::invalid_argument naming the group if the actor has none of that name. An actor gone (a
// stale handle) gives kOwnGroup: the call then fails as every call on it does.
uint32_t find_group(ActorId id, const std::string& name);
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

template <class A, size_t... I>
constexpr bool any_coroutine(std::index_sequence<I...>) {
  return (is_coroutine_v<std::tuple_element_t<I, methods_t<A>>> || ...);
}

template <class A>
constexpr bool is_async_class() {
  return any_coroutine<A>(std::make_index_sequence<std::tuple_size_v<methods_t<A>>>{});
}

// Where `method` sits in A's SHOAL_ACTOR list, and its signature. A method of a type the list
// does not hold fails to compile; a method of the right type that is not listed throws
// UsageError.
struct MethodSlot {
  uint32_t index = kNoMethod;
  uint32_t signature = 0;
};

// Whether A's SHOAL_ACTOR list holds a method of type M A::*.
template <class A, class M, size_t... I>
constexpr bool lists_method_type(std::index_sequence<I...>) {
  return (std::is_same_v<std::tuple_element_t<I, methods_t<A>>, M A::*> || ...);
}

// Takes method I of the list into `found` if it is `method` and nothing was found before it.
template <class A, class M, size_t I>
void match_method(M A::*method, MethodSlot& found) {
  if constexpr (std::is_same_v<std::tuple_element_t<I, methods_t<A>>, M A::*>) {
    if (found.index == kNoMethod && method_at<A, I>() == method) {
      found.index = uint32_t(I);
      found.signature = method_signature<A, I>();
    }
  }
}

template <class A, class M, size_t... I>
MethodSlot find_listed_method(M A::*method, std::index_sequence<I...>) {
  MethodSlot found;
  (match_method<A, M, I>(method, found), ...);
  return found;
}

template <class A, class M>
MethodSlot find_method(M A::*method) {
  constexpr auto listed = std::make_index_sequence<std::tuple_size_v<methods_t<A>>>{};
  static_assert(lists_method_type<A, M>(listed),
                "shoal: this method is not listed in SHOAL_ACTOR for its class");
  const MethodSlot found = find_listed_method<A, M>(method, listed);
  if (found.index == kNoMethod) {
    throw UsageError(std::string("shoal: a method of ") + std::string(ActorDef<A>::name) +
                     " with signature " + std::string(type_name<M>()) +
                     " is not registered in SHOAL_ACTOR");
  }
  return found;
}

template <class A, size_t... I>
void add_methods(ClassInfo& info, const std::vector<std::string>& names,
                 std::index_sequence<I...>) {
  (info.methods.push_back(MethodInfo{I < names.size() ? names[I] : "method#" + std::to_string(I),
                                     method_signature<A, I>(),
                                     is_coroutine_v<std::tuple_element_t<I, methods_t<A>>>,
                                     &invoke_method_blocking<A, I>, &invoke_method_async<A, I>}),
   ...);
}

template <class A>
bool register_actor() {
  ClassInfo info;
  info.name = std::string(ActorDef<A>::name);
  info.class_id = class_id_of<A>();
  info.is_async = is_async_class<A>();
  info.destroy = [](void* self) { delete static_cast<A*>(self); };
  const std::vector<std::string> names = split_names(ActorDef<A>::method_list);
  add_methods<A>(info, names, std::make_index_sequence<std::tuple_size_v<methods_t<A>>>{});
  register_class(std::move(info));
  return true;
}

// SHOAL_CONCURRENCY_GROUP: puts the listed methods of A in group `name`. Runs during static
// initialisation, after register_actor<A>() (SHOAL_ACTOR comes first in the same unit); a method
// not listed in SHOAL_ACTOR makes the declaration bad, which creating an A then reports.
template <class A, class... M>
bool register_concurrency_group(std::string_view name, int limit, M A::*... methods) {
  std::vector<uint32_t> indices;
  auto index_of = [](auto method) {
    try {
      return find_method<A>(method).index;
    } catch (const UsageError&) {
      return kNoMethod;  // register_group() keeps the error
    }
  };
  (indices.push_back(index_of(methods)), ...);
  register_group(class_id_of<A>(), name, limit, indices);
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

}  // namespace shoal::detail
