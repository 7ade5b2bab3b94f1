// The seed page's ObjectRefs as futures: a ref's std::future (ref.future(),
// as in Ray) awaited from a driver coroutine, then four refs consumed as they
// complete (concurrent.futures.as_completed). Prints what the page prints:
//   1
//   1
//   1
//   1
//   1
//
//   shoal launch -n 1 -- build/examples/refs_as_futures     (or run it directly)
#include <shoal/shoal.hpp>

#include <algorithm>
#include <cassert>
#include <chrono>
#include <future>
#include <iostream>
#include <vector>

int some_task() {
  return 1;
}
SHOAL_REMOTE(some_task);

// asyncio.wrap_future: makes a std::future awaitable. std::future has no
// completion callback, so the coroutine polls it between short sleeps; the
// loop keeps serving other coroutines meanwhile. (A ref needs no wrapping:
// `co_await ref` awaits it directly.)
template <class T>
shoal::Task<T> wrap_future(std::future<T> fut) {
  while (fut.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    co_await shoal::sleep_for(std::chrono::microseconds(50));
  }
  co_return fut.get();
}

shoal::Task<void> convert_to_future() {
  shoal::ObjectRef<int> ref = shoal::task(some_task).remote();
  shoal::Task<int> fut = wrap_future(ref.future());
  std::cout << co_await std::move(fut) << std::endl;
}

int main() {
  shoal::init();
  shoal::run(convert_to_future());

  // concurrent.futures: every ref also converts to a std::future.
  std::vector<shoal::ObjectRef<int>> refs;
  for (int i = 0; i < 4; ++i)
    refs.push_back(shoal::task(some_task).remote());
  std::vector<std::future<int>> futs;
  for (const auto& ref : refs)
    futs.push_back(ref.future());
  for (const auto& ref : shoal::as_completed(refs)) {
    assert(ref.ready());
    // The future of the ref that just completed. shoal's watcher thread
    // settles it right after the seal, so get() waits a moment at most.
    const auto i = std::find(refs.begin(), refs.end(), ref) - refs.begin();
    std::cout << futs[i].get() << std::endl;
  }
  return 0;
}
