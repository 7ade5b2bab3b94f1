// The seed page's "AsyncIO for remote tasks". Ray rejects an async remote
// function and has it wrapped in a plain one that runs its own event loop;
// shoal supports both: the wrapper, and a remote function returning
// shoal::Task, which runs as a coroutine on a worker's event loop. Like the
// page's snippet it prints nothing; it exits 0 once both tasks have run.
//
//   shoal launch -n 1 -- build/examples/async_function_task     (or run it directly)
#include <shoal/shoal.hpp>

shoal::Task<void> f() {
  co_return;
}

// Ray's way: wrap the async function in a task that runs it to completion.
void wrapper() {
  shoal::run(f());
}

SHOAL_REMOTE(f, wrapper);

int main() {
  shoal::init();
  shoal::get(shoal::task(wrapper).remote());
  // shoal's way: the coroutine is itself the remote task.
  shoal::get(shoal::task(f).remote());
  return 0;
}
