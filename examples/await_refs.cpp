// The seed page's "ObjectRefs as asyncio.Futures": a driver coroutine awaits
// the refs of a stateless task instead of blocking on them. Like the page's
// snippet it prints nothing; it exits 0 once every ref has been awaited.
//
//   shoal launch -n 1 -- build/examples/await_refs     (or run it directly)
#include <shoal/shoal.hpp>

#include <vector>

int some_task() {
  return 1;
}
SHOAL_REMOTE(some_task);

// asyncio.run(await_obj_ref()): the driver's own event loop runs this
// coroutine; while it is suspended on a ref, no thread is blocked.
shoal::Task<void> await_obj_ref() {
  co_await shoal::task(some_task).remote();
  // asyncio.wait([some_task.remote()]): wait for a set of refs without
  // blocking the loop. (A named vector: g++ 12 rejects a braced
  // std::vector{...} temporary inside a coroutine.)
  std::vector<shoal::ObjectRef<int>> refs{shoal::task(some_task).remote()};
  co_await shoal::gather(std::move(refs));
}

int main() {
  shoal::init();

  // Instead of blocking the thread on each ref ...
  shoal::get(shoal::task(some_task).remote());
  shoal::wait(std::vector{shoal::task(some_task).remote()});

  // ... await them from a coroutine.
  shoal::run(await_obj_ref());
  return 0;
}
