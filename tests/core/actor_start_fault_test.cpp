// Failures before an actor's process joins the session: a first start or a
// replacement (max_restarts = -1) killed -9 before it joins, a fork that
// fails, callers blocked in .remote() on a full ring meanwhile. Every one ends
// in a restart or in ActorDiedError for every pending call, never a hang.
//
// The children are slowed down before they join (SHOAL_TEST_JOIN_DELAY_MS in
// the environment of the session's fork server), which gives the test a
// window to find them among the fork server's children and kill them.
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <shoal/shoal.hpp>

#include "core/src/runtime.hpp"
#include "tests/support/crash_session.hpp"
#include "tests/support/outcome.hpp"
#include "tests/support/test_support.hpp"

using namespace std::chrono_literals;
using namespace shoal::testing;

class Slow {
 public:
  int echo(int x) { return x; }
  int pid() { return int(::getpid()); }
};
SHOAL_ACTOR(Slow, &Slow::echo, &Slow::pid);

class Busy {
 public:
  int nap(int ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return ms;
  }
  int pid() { return int(::getpid()); }
};
SHOAL_ACTOR(Busy, &Busy::nap, &Busy::pid);

namespace {

constexpr const char* kJoinDelayMs = "400";

// The children of the session's helper process (its fork server's actors).
std::set<pid_t> helper_children() {
  const pid_t helper = shoal::detail::runtime().session.helper_pid;
  std::ifstream in("/proc/" + std::to_string(helper) + "/task/" + std::to_string(helper) +
                   "/children");
  std::set<pid_t> out;
  pid_t p = 0;
  while (in >> p)
    out.insert(p);
  return out;
}

// Waits for a child of the helper that is not in `known`.
pid_t new_child(const std::set<pid_t>& known) {
  pid_t found = 0;
  eventually(
      [&] {
        for (pid_t p : helper_children()) {
          if (!known.count(p)) {
            found = p;
            return true;
          }
        }
        return false;
      },
      5s);
  return found;
}

std::string died_message(const shoal::ObjectRef<int>& ref) {
  try {
    (void)shoal::get(ref, 5s);
  } catch (const shoal::ActorDiedError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("not ActorDiedError: ") + e.what();
  }
  return "no error";
}

class StartFault : public ::testing::Test {
 protected:
  void start(const char* join_delay_ms, bool fail_fork = false) {
    disable_core_files();
    ::setenv("SHOAL_TEST_JOIN_DELAY_MS", join_delay_ms, 1);
    if (fail_fork) ::setenv("SHOAL_TEST_FAIL_FORK", "1", 1);
    shoal::init(shoal::Config{.prefault = false});
    ::unsetenv("SHOAL_TEST_JOIN_DELAY_MS");
    ::unsetenv("SHOAL_TEST_FAIL_FORK");
  }
  void TearDown() override { shoal::shutdown(); }
};

TEST_F(StartFault, FirstStartKilledBeforeJoinFailsEveryCall) {
  start(kJoinDelayMs);
  const std::set<pid_t> before = helper_children();
  auto a = shoal::actor<Slow>().remote();
  auto pending = a.task(&Slow::echo).remote(1);
  const pid_t child = new_child(before);
  ASSERT_GT(child, 0);
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  EXPECT_EQ(outcome_of(pending, 5s), Outcome::kDied);
  EXPECT_EQ(outcome_of(a.task(&Slow::echo).remote(2), 5s), Outcome::kDied);
}

TEST_F(StartFault, ReplacementKilledBeforeJoinIsRestartedAgain) {
  start(kJoinDelayMs);
  auto a = shoal::actor<Slow>().options({.max_restarts = -1}).remote();
  const pid_t first = shoal::get(a.task(&Slow::pid).remote(), 10s);
  std::set<pid_t> known = helper_children();
  ASSERT_EQ(::kill(first, SIGKILL), 0);
  // The replacement is forked, and killed before it joins.
  const pid_t replacement = new_child(known);
  ASSERT_GT(replacement, 0);
  auto pending = a.task(&Slow::echo).remote(3);
  known.insert(replacement);
  ASSERT_EQ(::kill(replacement, SIGKILL), 0);
  EXPECT_EQ(outcome_of(pending, 5s), Outcome::kDied);
  // A third incarnation serves the calls.
  EXPECT_EQ(shoal::get(a.task(&Slow::echo).remote(4), 10s), 4);
  const pid_t third = shoal::get(a.task(&Slow::pid).remote(), 10s);
  EXPECT_NE(third, first);
  EXPECT_NE(third, replacement);
}

TEST_F(StartFault, CallersBlockedOnAFullRingAreReleased) {
  start(kJoinDelayMs);
  const std::set<pid_t> before = helper_children();
  auto a = shoal::actor<Slow>().options({.ring_capacity = 2}).remote();
  const pid_t child = new_child(before);
  ASSERT_GT(child, 0);
  // Four calls into a ring of two cells that nobody serves: the caller blocks
  // inside .remote() until the actor's death releases it.
  std::vector<shoal::ObjectRef<int>> refs;
  std::thread caller([&] {
    for (int i = 0; i < 4; ++i)
      refs.push_back(a.task(&Slow::echo).remote(i));
  });
  std::this_thread::sleep_for(50ms);
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  caller.join();
  ASSERT_EQ(refs.size(), 4u);
  for (const auto& r : refs)
    EXPECT_EQ(outcome_of(r, 5s), Outcome::kDied);
}

TEST_F(StartFault, ForkFailureFailsEveryCallWithTheReason) {
  start("0", /*fail_fork=*/true);
  auto a = shoal::actor<Slow>().options({.max_restarts = -1}).remote();
  const std::string m = died_message(a.task(&Slow::echo).remote(1));
  EXPECT_NE(m.find("could not fork"), std::string::npos) << m;
  EXPECT_EQ(outcome_of(a.task(&Slow::echo).remote(2), 5s), Outcome::kDied);
}

TEST_F(StartFault, KilledBeforeJoinManyTimesNeverHangs) {
  start("30");
  for (int round = 0; round < 10; ++round) {
    const std::set<pid_t> before = helper_children();
    auto a = shoal::actor<Slow>().options({.max_restarts = -1}).remote();
    auto pending = a.task(&Slow::echo).remote(round);
    const pid_t child = new_child(before);
    ASSERT_GT(child, 0);
    ::kill(child, SIGKILL);
    const Outcome o = outcome_of(pending, 5s);
    EXPECT_TRUE(o == Outcome::kDied || o == Outcome::kValue) << "round " << round;
    // A call submitted before the supervisor saw the death fails with it; a
    // later one reaches the next incarnation.
    EXPECT_TRUE(eventually(
        [&] { return outcome_of(a.task(&Slow::echo).remote(round), 5s) == Outcome::kValue; }, 10s))
        << "round " << round;
    shoal::kill(a);
  }
}

// More actors than process slots: creating the one that would not find a
// slot fails at .remote() with an error naming the limit (the children are
// held before they join, so the table fills with actors still starting).
TEST_F(StartFault, CreatingPastTheProcessTableFailsAtRemote) {
  start("20000");
  const uint32_t slots = shoal::detail::runtime().store->processes().size();
  std::vector<shoal::ActorHandle<Slow>> actors;
  std::string error;
  for (uint32_t i = 0; i < slots + 10 && error.empty(); ++i) {
    try {
      actors.push_back(shoal::actor<Slow>().remote());
    } catch (const shoal::Error& e) {
      error = e.what();
    }
  }
  EXPECT_NE(error.find("process table is full"), std::string::npos) << error;
  EXPECT_NE(error.find("1024"), std::string::npos) << error;
  EXPECT_LT(actors.size(), size_t(slots));
  EXPECT_GT(actors.size(), size_t(slots) - 8);  // the driver, the supervisor, nothing else
  // Room again once actors are gone.
  for (auto& a : actors)
    shoal::kill(a);
  EXPECT_TRUE(eventually(
      [&] {
        try {
          auto b = shoal::actor<Slow>().remote();
          shoal::kill(b);
          return true;
        } catch (const shoal::Error&) {
          return false;
        }
      },
      10s));
}

// `shoal status` shows an actor's running calls from its entry's counter:
// the counter of an incarnation killed mid-call goes with it.
TEST_F(StartFault, RunningCountOfAKilledIncarnationIsReset) {
  start("0");
  auto a = shoal::actor<Busy>().options({.max_concurrency = 4, .max_restarts = -1}).remote();
  const pid_t first = shoal::get(a.task(&Busy::pid).remote(), 10s);
  std::vector<shoal::ObjectRef<int>> naps;
  for (int i = 0; i < 4; ++i)
    naps.push_back(a.task(&Busy::nap).remote(20'000));
  shoal::store::Store& s = *shoal::detail::runtime().store;
  uint32_t index = 0;
  for (uint32_t i = 0; i < s.actor_count(); ++i) {
    if (s.actor(i).pid.load() == first) index = i;
  }
  const auto& entry = s.actor(index);
  ASSERT_TRUE(eventually([&] { return entry.in_progress.load() == 4; }, 10s));
  ASSERT_EQ(::kill(first, SIGKILL), 0);
  for (const auto& r : naps)
    EXPECT_EQ(outcome_of(r, 5s), Outcome::kDied);
  ASSERT_TRUE(eventually(
      [&] {
        const pid_t p = shoal::get(a.task(&Busy::pid).remote(), 10s);
        return p > 0 && p != first;
      },
      10s));
  // The pid() call just answered counts itself out right after its result.
  EXPECT_TRUE(eventually([&] { return entry.in_progress.load() == 0; }, 5s))
      << entry.in_progress.load() << " running";
}

}  // namespace
