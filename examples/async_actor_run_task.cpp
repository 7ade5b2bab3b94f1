// The seed page's "Defining an async actor": five run_task calls all start at
// once on the actor's one event loop, and none finishes before the fifth has
// started. Prints what the page prints:
//   (AsyncActor pid=N) Started task        x5
//   (AsyncActor pid=N) Finished task       x5
//
//   shoal launch -n 1 -- build/examples/async_actor_run_task     (or run it directly)
#include <shoal/shoal.hpp>

#include <iostream>
#include <vector>

class AsyncActor {
 public:
  explicit AsyncActor(int expected_num_tasks) : expected_num_tasks_(expected_num_tasks) {}

  // A method returning shoal::Task makes AsyncActor an async actor.
  shoal::Task<void> run_task() {
    std::cout << "Started task" << std::endl;
    curr_num_tasks_ += 1;
    if (curr_num_tasks_ == expected_num_tasks_) {
      event_.set();
    } else {
      // Yield the event loop for multiple coroutines to run concurrently.
      co_await event_.wait();
    }
    std::cout << "Finished task" << std::endl;
  }

 private:
  shoal::Event event_;
  int curr_num_tasks_ = 0;
  int expected_num_tasks_;
};
SHOAL_ACTOR(AsyncActor, &AsyncActor::run_task);

int main() {
  shoal::init();
  auto actor = shoal::actor<AsyncActor>().remote(5);
  // All 5 tasks will start at once and run concurrently.
  std::vector<shoal::ObjectRef<void>> refs;
  for (int i = 0; i < 5; ++i)
    refs.push_back(actor.task(&AsyncActor::run_task).remote());
  shoal::get(refs);
  return 0;
}
