// The seed page's "Threaded actors": an actor without coroutine methods runs
// its calls on a pool of max_concurrency threads. Prints what the page prints:
//   (ThreadedActor pid=N) I'm running in a thread!
//   (ThreadedActor pid=N) I'm running in another thread!
// The two calls run on two threads at once, so, as in Ray, either line may
// come first.
//
//   shoal launch -n 1 -- build/examples/threaded_actor     (or run it directly)
#include <shoal/shoal.hpp>

#include <cstdio>

class ThreadedActor {
 public:
  // One puts() per line: two threads printing at once never mix their lines.
  void task_1() { std::puts("I'm running in a thread!"); }
  void task_2() { std::puts("I'm running in another thread!"); }
};
SHOAL_ACTOR(ThreadedActor, &ThreadedActor::task_1, &ThreadedActor::task_2);

int main() {
  shoal::init();
  auto a = shoal::actor<ThreadedActor>().options({.max_concurrency = 2}).remote();
  shoal::get(std::vector{a.task(&ThreadedActor::task_1).remote(),
                         a.task(&ThreadedActor::task_2).remote()});
  return 0;
}
