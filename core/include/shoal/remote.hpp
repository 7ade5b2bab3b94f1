// Stateless tasks: free functions run by the session's worker processes.
//
//   int square(int x) { return x * x; }
//   SHOAL_REMOTE(square);                       // at namespace scope
//   shoal::ObjectRef<int> r = shoal::task(square).remote(7);
//
// A function returning shoal::Task<R> runs as a coroutine on a worker's event
// loop (Ray rejects async remote functions; shoal runs them).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

#include <shoal/detail/call.hpp>
#include <shoal/detail/macros.hpp>
#include <shoal/detail/registry.hpp>
#include <shoal/errors.hpp>
#include <shoal/object_ref.hpp>

namespace shoal {

namespace detail {

RefRecord* submit_task(uint32_t function, const ArgWriter& args);

template <auto F>
void invoke_function_blocking(void*, const CallInput& in, const CallTarget& target) {
  invoke_blocking_impl<decltype(F)>(
      [](auto&&... a) -> decltype(auto) { return F(std::forward<decltype(a)>(a)...); }, in,
      target);
}

template <auto F>
Task<void> invoke_function_async(void*, CallInput in, CallTarget target) {
  auto fn = [](auto&&... a) -> decltype(auto) { return F(std::forward<decltype(a)>(a)...); };
  return invoke_async_impl<decltype(F)>(fn, std::move(in), target);
}

template <auto... Fs>
bool register_functions(std::string_view names) {
  const std::vector<std::string> list = split_names(names);
  size_t i = 0;
  (([&] {
     FunctionInfo info;
     info.name = i < list.size() ? list[i] : "function#" + std::to_string(i);
     info.signature = signature_of(info.name, type_name<decltype(Fs)>(), 0);
     info.coroutine = is_coroutine_v<decltype(Fs)>;
     info.address = reinterpret_cast<const void*>(Fs);
     info.blocking = &invoke_function_blocking<Fs>;
     info.async = &invoke_function_async<Fs>;
     register_function(std::move(info));
     ++i;
   }()),
   ...);
  return true;
}

}  // namespace detail

// shoal::task(f).remote(args...) -> ObjectRef<R>
template <class F>
class TaskCaller {
 public:
  using Result = detail::call_result_t<F>;

  explicit TaskCaller(F f) : index_(detail::function_index(reinterpret_cast<const void*>(f))) {
    if (index_ < 0) {
      throw UsageError("shoal::task: function of type " + std::string(detail::type_name<F>()) +
                       " is not registered with SHOAL_REMOTE");
    }
  }

  template <class... Args>
  ObjectRef<Result> remote(Args&&... args) const {
    detail::ArgWriter w;
    detail::encode_call_args<F>(w, std::forward<Args>(args)...);
    return ObjectRef<Result>::adopt(detail::submit_task(uint32_t(index_), w));
  }

 private:
  int index_;
};

template <class R, class... Args>
TaskCaller<R (*)(Args...)> task(R (*f)(Args...)) {
  return TaskCaller<R (*)(Args...)>(f);
}

}  // namespace shoal

// Registers free functions as remote tasks. Use at global scope.
#define SHOAL_REMOTE(...)                                                        \
  [[maybe_unused]] static const bool SHOAL_PP_CAT(shoal_remote_registered_, __COUNTER__) = \
      ::shoal::detail::register_functions<__VA_ARGS__>(#__VA_ARGS__)
