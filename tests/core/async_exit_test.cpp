// exit_actor() inside an async actor: called from a coroutine it ends the actor
// at once; the calls in progress (other coroutines suspended on the actor's
// loop), the calls queued behind max_concurrency and every later call fail with
// ActorDiedError. Leaving on purpose is not a crash: restarts left or not, the
// actor stays dead.
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <shoal/shoal.hpp>

#include "tests/support/crash_session.hpp"
#include "tests/support/outcome.hpp"
#include "tests/support/test_actors.hpp"
#include "tests/support/test_support.hpp"

using namespace std::chrono_literals;
using namespace shoal::testing;
using Clock = std::chrono::steady_clock;

class Quitter {
 public:
  shoal::Task<int> park(int id) {
    ++parked_;
    co_await never_.wait();
    co_return id;
  }
  // Leaves once `gate` is sealed, from inside the coroutine.
  shoal::Task<int> quit_when(shoal::ObjectRef<int> gate) {
    (void)co_await gate;
    shoal::exit_actor();
  }
  shoal::Task<int> quit_after_a_yield() {
    co_await shoal::sleep_for(0ns);
    shoal::exit_actor();
  }
  int quit_plain() { shoal::exit_actor(); }
  int parked() { return parked_; }
  int echo(int x) { return x; }
  int pid() { return int(::getpid()); }

 private:
  shoal::Event never_;
  int parked_ = 0;
};
SHOAL_ACTOR(Quitter, &Quitter::park, &Quitter::quit_when, &Quitter::quit_after_a_yield,
            &Quitter::quit_plain, &Quitter::parked, &Quitter::echo, &Quitter::pid);

namespace {

// A session per test; the actors under test crash on purpose.
class AsyncExit : public CrashSession {};

}  // namespace

TEST_F(AsyncExit, ExitActorInACoroutineFailsSuspendedQueuedAndLaterCallsWithActorDiedError) {
  auto latch = shoal::actor<Latch>().options({.max_concurrency = 2}).remote();
  auto q = shoal::actor<Quitter>().options({.max_concurrency = 4}).remote();
  const pid_t pid = shoal::get(q.task(&Quitter::pid).remote(), 30s);
  std::vector<shoal::ObjectRef<int>> in_progress;
  in_progress.push_back(q.task(&Quitter::park).remote(1));
  in_progress.push_back(q.task(&Quitter::park).remote(2));
  ASSERT_TRUE(eventually([&] { return shoal::get(q.task(&Quitter::parked).remote(), 30s) == 2; }));
  auto gate = latch.task(&Latch::value_when_open).remote(0);
  auto quit = q.task(&Quitter::quit_when).remote(gate);
  in_progress.push_back(q.task(&Quitter::park).remote(3));  // the fourth slot
  std::vector<shoal::ObjectRef<int>> queued;
  for (int i = 0; i < 5; ++i)
    queued.push_back(q.task(&Quitter::echo).remote(i));
  for (auto& r : queued)
    EXPECT_FALSE(r.ready());

  const auto t0 = Clock::now();
  shoal::get(latch.task(&Latch::open).remote(), 30s);
  std::string what;
  EXPECT_EQ(outcome_of(quit, 30s, &what), Outcome::kDied);
  EXPECT_NE(what.find("exit_actor"), std::string::npos) << what;
  for (auto& r : in_progress)
    EXPECT_EQ(outcome_of(r), Outcome::kDied) << "a suspended call";
  for (auto& r : queued)
    EXPECT_EQ(outcome_of(r), Outcome::kDied) << "a queued call";
  std::printf("exit_actor: every pending call failed %.2f ms after the gate opened\n",
              std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  EXPECT_EQ(outcome_of(q.task(&Quitter::echo).remote(9)), Outcome::kDied) << "a later call";
  EXPECT_TRUE(eventually([&] { return !process_alive(pid); }, 10s));
  EXPECT_EQ(q.pid(), 0);
}

TEST_F(AsyncExit, ExitActorAfterASuspensionEndsTheActorEvenWithRestartsLeft) {
  auto q = shoal::actor<Quitter>().options({.max_restarts = 3}).remote();
  const pid_t pid = shoal::get(q.task(&Quitter::pid).remote(), 30s);
  auto parked = q.task(&Quitter::park).remote(1);
  auto quit = q.task(&Quitter::quit_after_a_yield).remote();
  EXPECT_EQ(outcome_of(quit), Outcome::kDied);
  EXPECT_EQ(outcome_of(parked), Outcome::kDied);
  EXPECT_TRUE(eventually([&] { return !process_alive(pid); }, 10s));
  std::this_thread::sleep_for(200ms);  // room for a restart that must not happen
  EXPECT_EQ(outcome_of(q.task(&Quitter::echo).remote(1)), Outcome::kDied);
  EXPECT_EQ(q.pid(), 0);
}

TEST_F(AsyncExit, ExitActorInAPlainMethodOfAnAsyncActorFailsItsSuspendedCoroutines) {
  auto q = shoal::actor<Quitter>().remote();
  std::vector<shoal::ObjectRef<int>> parked;
  for (int i = 0; i < 100; ++i)
    parked.push_back(q.task(&Quitter::park).remote(i));
  ASSERT_TRUE(
      eventually([&] { return shoal::get(q.task(&Quitter::parked).remote(), 30s) == 100; }));
  EXPECT_EQ(outcome_of(q.task(&Quitter::quit_plain).remote()), Outcome::kDied);
  for (auto& r : parked)
    EXPECT_EQ(outcome_of(r), Outcome::kDied);
  EXPECT_EQ(outcome_of(q.task(&Quitter::echo).remote(1)), Outcome::kDied);
}

TEST_F(AsyncExit, OtherActorsGoOnServingAfterOneExits) {
  auto gone = shoal::actor<Quitter>().remote();
  auto other = shoal::actor<Quitter>().remote();
  EXPECT_EQ(outcome_of(gone.task(&Quitter::quit_after_a_yield).remote()), Outcome::kDied);
  EXPECT_EQ(shoal::get(other.task(&Quitter::echo).remote(5), 30s), 5);
  auto parked = other.task(&Quitter::park).remote(1);
  EXPECT_EQ(shoal::get(other.task(&Quitter::echo).remote(6), 30s), 6);
  EXPECT_FALSE(parked.ready());
}
