// fork() in user code after init(): the child is no member of the session.
// Its refs are inert, its exit handler does nothing to the session; only the
// process that created the session ends it.
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <string>

#include <shoal/shoal.hpp>

#include "core/src/runtime.hpp"
#include "tests/support/test_support.hpp"

using namespace std::chrono_literals;
using namespace shoal::testing;

class Keeper {
 public:
  int echo(int x) { return x; }
};
SHOAL_ACTOR(Keeper, &Keeper::echo);

namespace {

TEST(UserFork, ChildExitingLeavesTheParentsSessionRunning) {
  shoal::init(shoal::Config{.prefault = false});
  const pid_t helper = shoal::detail::runtime().session.helper_pid;
  auto ref = shoal::put(std::string("kept"));
  auto a = shoal::actor<Keeper>().remote();
  ASSERT_EQ(shoal::get(a.task(&Keeper::echo).remote(1), 10s), 1);
  const uint64_t objects = store_live_objects();
  for (int round = 0; round < 5; ++round) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      // No member: every ref operation is a no-op, the API says no session.
      int code = 0;
      if (shoal::is_initialized()) code = 10;
      {
        auto copy = ref;  // copied and dropped: touches nothing
        (void)copy;
      }
      try {
        (void)shoal::get(ref);
        code = 11;
      } catch (const shoal::Error&) {
      }
      // exit() runs the atexit handler shoal installed: shutdown(), which
      // must leave the parent's session alone.
      std::exit(code);
    }
    ASSERT_EQ(wait_child(pid, 10s), 0) << "round " << round;
  }
  EXPECT_TRUE(process_alive(helper));
  EXPECT_EQ(shoal::get(ref), "kept");
  EXPECT_EQ(shoal::get(a.task(&Keeper::echo).remote(2), 10s), 2);
  auto b = shoal::actor<Keeper>().remote();
  EXPECT_EQ(shoal::get(b.task(&Keeper::echo).remote(3), 10s), 3);
  EXPECT_EQ(store_live_objects(), objects + 2);  // b's token and the arguments it holds
  shoal::shutdown();
  EXPECT_FALSE(process_alive(helper));
}

}  // namespace
