// A remote function as the runtime sees it: the invokers SHOAL_REMOTE generates for each
// function, its registration, and the submission of a task call (core/src/actors.cpp). Nothing
// here is public.
//
// Lifetimes: the function table is filled during static initialisation and lives as long as the
// program.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <shoal/detail/call.hpp>
#include <shoal/detail/registry.hpp>
#include <shoal/detail/type_name.hpp>

namespace shoal::detail {

// Submits a task to one of this process's workers. `stream_bound`: for a streaming task, the
// back-pressure bound its caller asked for (0: none).
// `node`: where the task runs (TaskOptions::node); -1 or this node: this process's workers.
RefRecord* submit_task(uint32_t function, const ArgWriter& args, uint32_t stream_bound = 0,
                       int node = -1);

template <auto F>
void invoke_function_blocking(void*, const CallInput& in, const CallTarget& target) {
  invoke_blocking_impl<decltype(F)>(
      [](auto&&... a) -> decltype(auto) { return F(std::forward<decltype(a)>(a)...); }, in, target);
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

}  // namespace shoal::detail
