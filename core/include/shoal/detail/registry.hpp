// The registries of actor classes, their constructors and remote functions.
// Filled during static initialisation (SHOAL_ACTOR, SHOAL_REMOTE, the first
// use of a constructor signature), so every process forked from the same
// executable sees the same tables.
//
// Lifetimes: the tables live as long as the program; the pointers find_class(), find_ctor() and
// find_function() return stay valid until exit.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <shoal/detail/call.hpp>
#include <shoal/detail/stream_writer.hpp>
#include <shoal/generator.hpp>
#include <shoal/task.hpp>

namespace shoal::detail {

// The name of every actor's default group, whose limit is max_concurrency.
inline constexpr std::string_view kDefaultGroupName = "default";
// Groups per actor, the default one included (ipc::kMaxGroups).
inline constexpr uint32_t kMaxGroupsPerActor = 8;
// Bytes of a group name with its terminating NUL (ipc::kGroupNameBytes).
inline constexpr uint32_t kGroupNameBytesMax = 24;

// Decodes the call's arguments, runs it and writes its result; blocking
// (reference arguments are waited for on this thread). Throws on failure.
using BlockingInvoker = void (*)(void* self, const CallInput& in, const CallTarget& target);
// The same as a coroutine, for event loops (async actors and workers).
using AsyncInvoker = Task<void> (*)(void* self, CallInput in, CallTarget target);

struct MethodInfo {
  std::string name;
  uint32_t signature = 0;
  bool coroutine = false;
  BlockingInvoker blocking = nullptr;
  AsyncInvoker async = nullptr;
  uint32_t group = 0;  // its concurrency group: 0 the default one, k the k-th declared
};

// A concurrency group declared with SHOAL_CONCURRENCY_GROUP.
struct GroupInfo {
  std::string name;
  int limit = 0;
};

struct ClassInfo {
  std::string name;
  uint64_t class_id = 0;
  bool is_async = false;  // at least one method returns Task: every call runs on one loop
  std::vector<MethodInfo> methods;
  std::vector<GroupInfo> groups;  // declared groups, in declaration order (group k is groups[k-1])
  std::string group_error;        // what is wrong with the declarations; creation throws it
  void (*destroy)(void*) = nullptr;
};

using CtorFn = void* (*)(std::span<const std::byte> args);

void register_class(ClassInfo info);
const ClassInfo* find_class(uint64_t class_id);
// Declares group `name` of at most `limit` calls at once for the listed methods of a registered
// class (SHOAL_CONCURRENCY_GROUP). A bad declaration is kept as the class's group_error.
void register_group(uint64_t class_id, std::string_view name, int limit,
                    std::span<const uint32_t> methods);
uint64_t register_ctor(uint64_t class_id, uint64_t ctor_id, CtorFn fn);
CtorFn find_ctor(uint64_t class_id, uint64_t ctor_id);

struct FunctionInfo {
  std::string name;
  uint32_t signature = 0;
  bool coroutine = false;
  const void* address = nullptr;
  BlockingInvoker blocking = nullptr;
  AsyncInvoker async = nullptr;
};
uint32_t register_function(FunctionInfo info);
const FunctionInfo* find_function(uint32_t index);
// The index of the function at `address`, or -1 if SHOAL_REMOTE did not register it.
int function_index(const void* address);

// "&A::f, &A::g" -> {"f", "g"}
std::vector<std::string> split_names(std::string_view list);

constexpr uint32_t signature_of(std::string_view owner, std::string_view callable, size_t index) {
  const uint64_t h =
      fnv1a(owner) ^ (fnv1a(callable) * 31) ^ (uint64_t(index) * 0x9e3779b97f4a7c15ull);
  return uint32_t(h ^ (h >> 32));
}

// ---- invokers, generated per method ----

template <class Params>
struct ParamsDecoder;
template <class... P>
struct ParamsDecoder<std::tuple<P...>> {
  static auto decode(std::span<const std::byte> args, const std::vector<ObjectRefBase>& resolved) {
    return decode_args<P...>(args, resolved);
  }
};

// Calls `fn(pass_arg<P_i>(stored_i)...)`.
template <class Params, class Fn, class Stored>
decltype(auto) apply_params(Fn&& fn, Stored& stored) {
  return [&]<size_t... I>(std::index_sequence<I...>)->decltype(auto) {
    return fn(pass_arg<std::tuple_element_t<I, Params>>(std::get<I>(stored))...);
  }
  (std::make_index_sequence<std::tuple_size_v<Params>>{});
}

// Runs a plain callable on decoded arguments and writes its result.
template <class Params, class R, class Fn>
void run_plain(Fn&& fn, std::span<const std::byte> args, const std::vector<ObjectRefBase>& resolved,
               const CallTarget& target) {
  auto stored = ParamsDecoder<Params>::decode(args, resolved);
  if constexpr (std::is_void_v<R>) {
    apply_params<Params>(fn, stored);
    write_void_result(target);
  } else {
    const R value = apply_params<Params>(fn, stored);
    write_result<R>(target, value);
  }
}

template <class M, class Fn>
void invoke_blocking_impl(Fn&& fn, const CallInput& in, const CallTarget& target) {
  using Traits = CallableTraits<M>;
  if constexpr (is_task_v<typename Traits::result> || is_generator_v<typename Traits::result>) {
    throw UsageError("a coroutine method cannot run on a thread pool");  // never dispatched so
  } else {
    const std::vector<ObjectRefBase> resolved = resolve_args_blocking(in.args());
    run_plain<typename Traits::params, typename Traits::result>(fn, in.args(), resolved, target);
  }
}

template <class M, class Fn>
Task<void> invoke_async_impl(Fn fn, CallInput in, CallTarget target) {
  using Traits = CallableTraits<M>;
  using Params = typename Traits::params;
  std::vector<ObjectRefBase> resolved;
  if (!refs_to_resolve(in.args()).empty()) resolved = co_await resolve_args(in.args());
  if constexpr (is_generator_v<typename Traits::result>) {
    using Y = typename is_generator<typename Traits::result>::value_type;
    auto stored = ParamsDecoder<Params>::decode(in.args(), resolved);
    // `stored` lives in this frame while the generator, which may refer to it, runs.
    co_await run_stream<Y>(apply_params<Params>(fn, stored), target, in.header.caller);
  } else if constexpr (is_task_v<typename Traits::result>) {
    using R = typename task_value<typename Traits::result>::type;
    auto stored = ParamsDecoder<Params>::decode(in.args(), resolved);
    if constexpr (std::is_void_v<R>) {
      co_await apply_params<Params>(fn, stored);
      write_void_result(target);
    } else {
      const R value = co_await apply_params<Params>(fn, stored);
      write_result<R>(target, value);
    }
  } else {
    run_plain<Params, typename Traits::result>(fn, in.args(), resolved, target);
  }
}

}  // namespace shoal::detail
