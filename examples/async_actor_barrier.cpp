// The seed page's first example: an AsyncActor whose run_concurrent calls all
// run at once on the actor's one event loop, blocking on an Event until the
// expected number have started. Prints what the page prints:
//   (AsyncActor pid=N) Waiting for other coroutines to start.                x3
//   (AsyncActor pid=N) All coroutines are executing concurrently, unblocking.
//   (AsyncActor pid=N) All coroutines ran concurrently.                      x4
//
//   shoal launch -n 1 -- build/examples/async_actor_barrier     (or run it directly)
#include <shoal/shoal.hpp>

#include <iostream>
#include <vector>

class AsyncActor {
 public:
  explicit AsyncActor(int expected_num_tasks) : expected_num_tasks_(expected_num_tasks) {}

  // Multiple invocations of this method can run concurrently on the same event loop.
  shoal::Task<void> run_concurrent() {
    curr_num_tasks_ += 1;
    if (curr_num_tasks_ == expected_num_tasks_) {
      std::cout << "All coroutines are executing concurrently, unblocking." << std::endl;
      event_.set();
    } else {
      std::cout << "Waiting for other coroutines to start." << std::endl;
      co_await event_.wait();
    }
    std::cout << "All coroutines ran concurrently." << std::endl;
  }

 private:
  shoal::Event event_;
  int curr_num_tasks_ = 0;
  int expected_num_tasks_;
};
SHOAL_ACTOR(AsyncActor, &AsyncActor::run_concurrent);

int main() {
  shoal::init();
  auto actor = shoal::actor<AsyncActor>().remote(4);
  std::vector<shoal::ObjectRef<void>> refs;
  for (int i = 0; i < 4; ++i)
    refs.push_back(actor.task(&AsyncActor::run_concurrent).remote());

  // Fetch results using a regular, blocking get.
  shoal::get(refs);

  // Fetch results using the coroutine API: asyncio.gather(*refs).
  shoal::run(shoal::gather(refs));
  return 0;
}
