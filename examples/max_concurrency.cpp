// The seed page's "Setting concurrency in async actors": with
// max_concurrency=2, only two of the eight run_task calls are in progress at
// once; the next two start when both have finished. Prints what the page
// prints, four times over:
//   (AsyncActor pid=N) Started task
//   (AsyncActor pid=N) Started task
//   (AsyncActor pid=N) Finished task
//   (AsyncActor pid=N) Finished task
//
//   shoal launch -n 1 -- build/examples/max_concurrency     (or run it directly)
#include <shoal/shoal.hpp>

#include <iostream>
#include <vector>

class AsyncActor {
 public:
  explicit AsyncActor(int batch_size) : batch_size_(batch_size) {}

  shoal::Task<void> run_task() {
    std::cout << "Started task" << std::endl;
    curr_tasks_ += 1;
    if (curr_tasks_ == batch_size_) {
      event_.set();
    } else {
      co_await event_.wait();
      event_.clear();
      curr_tasks_ = 0;
    }
    std::cout << "Finished task" << std::endl;
  }

 private:
  shoal::Event event_;
  int curr_tasks_ = 0;
  int batch_size_;
};
SHOAL_ACTOR(AsyncActor, &AsyncActor::run_task);

int main() {
  shoal::init();
  auto actor = shoal::actor<AsyncActor>().options({.max_concurrency = 2}).remote(2);
  // Only 2 tasks will run concurrently.
  // Once 2 finish, the next 2 should run.
  std::vector<shoal::ObjectRef<void>> refs;
  for (int i = 0; i < 8; ++i)
    refs.push_back(actor.task(&AsyncActor::run_task).remote());
  shoal::get(refs);
  return 0;
}
