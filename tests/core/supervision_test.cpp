// Supervision: an actor that is killed (shoal::kill, kill -9), aborts,
// segfaults or calls exit_actor() fails every pending and later call with
// ActorDiedError, calls already running included, within 100 ms of its death;
// max_restarts reruns the constructor and calls made after the restart
// succeed, until the restarts are used up (-1: never).
//
// Each test runs in its own session. Core dumps are off: a crash here is the
// point, not a bug to keep.
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <shoal/shoal.hpp>

#include "tests/support/crash_session.hpp"
#include "tests/support/outcome.hpp"
#include "tests/support/test_support.hpp"

using namespace std::chrono_literals;
using namespace shoal::testing;

// An actor that counts its constructions in a file (one line per
// incarnation), and can be made to die in several ways.
class Victim {
 public:
  explicit Victim(std::string log) {
    if (!log.empty()) {
      std::ofstream(log, std::ios::app) << ::getpid() << "\n";
      std::ifstream in(log);
      std::string line;
      while (std::getline(in, line))
        ++incarnation_;
    }
  }
  int incarnation() { return incarnation_; }
  int pid() { return int(::getpid()); }
  int echo(int x) { return x; }
  int sleep_ms(int ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return ms;
  }
  int crash(int how) {
    switch (how) {
      case 0:
        std::abort();
      case 1: {
        volatile int* null = nullptr;
        *null = 1;  // SIGSEGV
        return -1;
      }
      default:
        shoal::exit_actor();
    }
  }
  void quit() { shoal::exit_actor(); }

 private:
  int incarnation_ = 0;
};
SHOAL_ACTOR(Victim, &Victim::incarnation, &Victim::pid, &Victim::echo, &Victim::sleep_ms,
            &Victim::crash, &Victim::quit);

// Its constructor throws when told to.
class Fragile {
 public:
  explicit Fragile(bool fail) {
    if (fail) throw std::runtime_error("no way");
  }
  int echo(int x) { return x; }
};
SHOAL_ACTOR(Fragile, &Fragile::echo);

namespace {

using Clock = std::chrono::steady_clock;

class Supervision : public ::testing::Test {
 protected:
  void SetUp() override {
    disable_core_files();
    shoal::init(shoal::Config{.prefault = false});
    log_ = ::testing::TempDir() + "/shoal_victim_" + std::to_string(::getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::remove(log_.c_str());
  }
  void TearDown() override {
    shoal::shutdown();
    std::remove(log_.c_str());
  }

  int constructions() const {
    std::ifstream in(log_);
    std::string line;
    int n = 0;
    while (std::getline(in, line))
      ++n;
    return n;
  }

  std::string log_;
};

// Waits until the actor runs a new incarnation (a pid other than `old`).
bool restarted(const shoal::ActorHandle<Victim>& v, pid_t old) {
  return eventually(
      [&] {
        const pid_t p = v.pid();
        return p > 0 && p != old;
      },
      20s);
}

// One trial of a death while a call is running and others wait: `how` makes
// the actor die and returns the moment of death as the caller sees it. With
// `queue_first` the waiting calls are queued before `how` runs, else right
// after (`how` then submits a crashing call, which must run first). Returns
// the milliseconds from the death until every pending get() has thrown, or -1
// if a call ended in anything but ActorDiedError.
template <class Kill>
double death_to_all_failed(Kill&& how, int max_concurrency, bool queue_first) {
  auto v =
      shoal::actor<Victim>().options({.max_concurrency = max_concurrency}).remote(std::string());
  if (shoal::get(v.task(&Victim::echo).remote(1), 30s) != 1) return -1;
  std::vector<shoal::ObjectRef<int>> pending;
  // A call that is dequeued and running when the actor dies...
  pending.push_back(v.task(&Victim::sleep_ms).remote(20'000));
  std::this_thread::sleep_for(20ms);
  // ...and calls queued behind it.
  auto queue = [&] {
    for (int i = 0; i < 20; ++i)
      pending.push_back(v.task(&Victim::echo).remote(i));
  };
  if (queue_first) queue();
  const Clock::time_point t0 = how(v, pending);
  if (!queue_first) queue();
  // The window ends when every call is ready; what each holds is checked after it.
  const auto done = shoal::wait(pending, {.num_returns = pending.size(), .timeout = 5s});
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  if (done.ready.size() != pending.size()) return -1;
  for (const auto& r : pending) {
    if (outcome_of(r, 5s) != Outcome::kDied) return -1;
  }
  return ms;
}

// Runs `trials` trials; prints them; returns their median.
template <class Kill>
double median_latency(const char* what, Kill&& how, int max_concurrency, bool queue_first,
                      int trials = 7) {
  std::vector<double> ms;
  for (int i = 0; i < trials; ++i) {
    const double t = death_to_all_failed(how, max_concurrency, queue_first);
    EXPECT_GE(t, 0) << what << ": a pending call did not end in ActorDiedError (trial " << i << ")";
    if (t < 0) return 1e9;
    ms.push_back(t);
  }
  std::printf("%s: death to every pending call failed, ms:", what);
  for (double t : ms)
    std::printf(" %.2f", t);
  std::printf(" (median %.2f)\n", median(ms));
  return median(ms);
}

}  // namespace

// ---- kill and exit_actor ----------------------------------------------------------------

TEST_F(Supervision, KillFailsRunningQueuedAndLaterCallsWithActorDiedError) {
  auto v = shoal::actor<Victim>().remote(log_);
  ASSERT_EQ(shoal::get(v.task(&Victim::incarnation).remote(), 30s), 1);
  const pid_t pid = v.pid();
  auto running = v.task(&Victim::sleep_ms).remote(20'000);
  std::this_thread::sleep_for(20ms);
  std::vector<shoal::ObjectRef<int>> queued;
  for (int i = 0; i < 10; ++i)
    queued.push_back(v.task(&Victim::echo).remote(i));
  shoal::kill(v);
  try {
    (void)shoal::get(running, 10s);
    FAIL() << "the running call did not fail";
  } catch (const shoal::ActorDiedError& e) {
    EXPECT_EQ(e.actor_class(), "Victim");
    EXPECT_NE(std::string(e.what()).find("kill"), std::string::npos) << e.what();
  }
  for (auto& q : queued)
    EXPECT_EQ(outcome_of(q, 10s), Outcome::kDied);
  EXPECT_EQ(outcome_of(v.task(&Victim::echo).remote(1), 10s), Outcome::kDied);
  EXPECT_TRUE(eventually([&] { return !process_alive(pid); }));
  EXPECT_EQ(v.pid(), 0);
  EXPECT_EQ(constructions(), 1) << "shoal::kill must not restart the actor";
}

TEST_F(Supervision, KillOfAnActorWithRestartsLeftDoesNotRestartIt) {
  auto v = shoal::actor<Victim>().options({.max_restarts = 3}).remote(log_);
  ASSERT_EQ(shoal::get(v.task(&Victim::incarnation).remote(), 30s), 1);
  shoal::kill(v);
  EXPECT_EQ(outcome_of(v.task(&Victim::echo).remote(1), 10s), Outcome::kDied);
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(outcome_of(v.task(&Victim::echo).remote(2), 10s), Outcome::kDied);
  EXPECT_EQ(constructions(), 1);
}

TEST_F(Supervision, ExitActorFailsThatCallAndEveryLaterOne) {
  auto v = shoal::actor<Victim>().remote(log_);
  ASSERT_EQ(shoal::get(v.task(&Victim::echo).remote(1), 30s), 1);
  auto quit = v.task(&Victim::quit).remote();
  std::vector<shoal::ObjectRef<int>> behind;
  for (int i = 0; i < 10; ++i)
    behind.push_back(v.task(&Victim::echo).remote(i));
  EXPECT_EQ(outcome_of(quit, 10s), Outcome::kDied);
  for (auto& b : behind)
    EXPECT_EQ(outcome_of(b, 10s), Outcome::kDied);
  EXPECT_EQ(outcome_of(v.task(&Victim::echo).remote(2), 10s), Outcome::kDied);
}

TEST_F(Supervision, ExitActorInAThreadPoolFailsTheCallsRunningOnOtherThreads) {
  auto v = shoal::actor<Victim>().options({.max_concurrency = 4, .max_restarts = 2}).remote(log_);
  ASSERT_EQ(shoal::get(v.task(&Victim::echo).remote(1), 30s), 1);
  auto sleeping = v.task(&Victim::sleep_ms).remote(20'000);
  std::this_thread::sleep_for(20ms);
  auto quit = v.task(&Victim::quit).remote();
  EXPECT_EQ(outcome_of(quit, 10s), Outcome::kDied);
  EXPECT_EQ(outcome_of(sleeping, 10s), Outcome::kDied);
  EXPECT_EQ(outcome_of(v.task(&Victim::echo).remote(2), 10s), Outcome::kDied);
  // Leaving on purpose is not a crash: no restart, restarts left or not.
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(outcome_of(v.task(&Victim::echo).remote(3), 10s), Outcome::kDied);
  EXPECT_EQ(constructions(), 1);
}

TEST_F(Supervision, ExitActorOutsideAnActorThrowsUsageError) {
  EXPECT_THROW(shoal::exit_actor(), shoal::UsageError);
}

// ---- deaths, and how fast every pending call learns of them -------------------------------

TEST_F(Supervision, KillMinus9FailsEveryPendingCallWithin100Ms) {
  const double ms = median_latency(
      "kill -9",
      [](const shoal::ActorHandle<Victim>& v, auto&) {
        const pid_t pid = v.pid();
        const Clock::time_point t0 = Clock::now();
        ::kill(pid, SIGKILL);
        return t0;
      },
      1, true);
  EXPECT_LT(ms, 100.0);
}

TEST_F(Supervision, ShoalKillFailsEveryPendingCallWithin100Ms) {
  const double ms = median_latency(
      "shoal::kill",
      [](const shoal::ActorHandle<Victim>& v, auto&) {
        const Clock::time_point t0 = Clock::now();
        shoal::kill(v);
        return t0;
      },
      1, true);
  EXPECT_LT(ms, 100.0);
}

namespace {

// Submits a call that crashes the actor in way `how` (see Victim::crash) and
// returns the moment of death: the submission, or under AddressSanitizer,
// whose SEGV handler symbolizes a report for hundreds of milliseconds before
// the process dies, the moment the process is seen gone.
Clock::time_point crash_now(const shoal::ActorHandle<Victim>& v,
                            std::vector<shoal::ObjectRef<int>>& pending, int how) {
  const int pidfd = int(::syscall(SYS_pidfd_open, v.pid(), 0));
  Clock::time_point t0 = Clock::now();
  pending.push_back(v.task(&Victim::crash).remote(how));
#if defined(__SANITIZE_ADDRESS__)
  pollfd p{pidfd, POLLIN, 0};
  ::poll(&p, 1, 10'000);
  t0 = Clock::now();
#endif
  if (pidfd >= 0) ::close(pidfd);
  return t0;
}

}  // namespace

TEST_F(Supervision, AbortInsideAMethodFailsEveryPendingCallWithin100Ms) {
  // Two threads: the sleeping call is running on one when the other aborts;
  // calls made after the crashing one find no free thread and wait.
  const double ms = median_latency(
      "abort()",
      [](const shoal::ActorHandle<Victim>& v, auto& pending) { return crash_now(v, pending, 0); },
      2, false);
  EXPECT_LT(ms, 100.0);
}

TEST_F(Supervision, SegfaultInsideAMethodFailsEveryPendingCallWithin100Ms) {
  const double ms = median_latency(
      "segfault",
      [](const shoal::ActorHandle<Victim>& v, auto& pending) { return crash_now(v, pending, 1); },
      2, false);
  EXPECT_LT(ms, 100.0);
}

TEST_F(Supervision, ConstructorThatThrowsFailsEveryCallWithActorDiedErrorSayingWhy) {
  auto f = shoal::actor<Fragile>().options({.max_restarts = 2}).remote(true);
  auto early = f.task(&Fragile::echo).remote(1);
  try {
    (void)shoal::get(early, 10s);
    FAIL() << "a call on an actor that was never constructed got a value";
  } catch (const shoal::ActorDiedError& e) {
    EXPECT_EQ(e.actor_class(), "Fragile");
    EXPECT_NE(std::string(e.what()).find("no way"), std::string::npos) << e.what();
  }
  EXPECT_EQ(outcome_of(f.task(&Fragile::echo).remote(2), 10s), Outcome::kDied);
  auto fine = shoal::actor<Fragile>().remote(false);
  EXPECT_EQ(shoal::get(fine.task(&Fragile::echo).remote(3), 10s), 3);
}

// ---- restarts --------------------------------------------------------------------------------

TEST_F(Supervision, MaxRestartsTwoRerunsTheConstructorTwiceThenTheActorIsDeadForGood) {
  auto v = shoal::actor<Victim>().options({.max_restarts = 2}).remote(log_);
  ASSERT_EQ(shoal::get(v.task(&Victim::incarnation).remote(), 30s), 1);
  for (int incarnation = 2; incarnation <= 3; ++incarnation) {
    const pid_t old = v.pid();
    auto running = v.task(&Victim::sleep_ms).remote(20'000);
    std::this_thread::sleep_for(20ms);
    ASSERT_EQ(::kill(old, SIGKILL), 0);
    EXPECT_EQ(outcome_of(running, 10s), Outcome::kDied) << "a call running at the crash";
    ASSERT_TRUE(restarted(v, old)) << "no incarnation " << incarnation;
    // Calls made after the restart succeed, on the new incarnation.
    EXPECT_EQ(shoal::get(v.task(&Victim::incarnation).remote(), 30s), incarnation);
    EXPECT_EQ(shoal::get(v.task(&Victim::pid).remote(), 30s), v.pid());
    std::vector<shoal::ObjectRef<int>> refs;
    for (int i = 0; i < 100; ++i)
      refs.push_back(v.task(&Victim::echo).remote(i));
    for (int i = 0; i < 100; ++i)
      EXPECT_EQ(shoal::get(refs[size_t(i)], 30s), i);
  }
  EXPECT_EQ(constructions(), 3);
  // The third crash is one too many.
  const pid_t last = v.pid();
  ASSERT_EQ(::kill(last, SIGKILL), 0);
  ASSERT_TRUE(eventually([&] { return v.pid() == 0; }, 20s));
  EXPECT_EQ(outcome_of(v.task(&Victim::echo).remote(1), 10s), Outcome::kDied);
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(outcome_of(v.task(&Victim::echo).remote(2), 10s), Outcome::kDied);
  EXPECT_EQ(constructions(), 3);
}

TEST_F(Supervision, MaxRestartsMinusOneRestartsForever) {
  auto v = shoal::actor<Victim>().options({.max_restarts = -1}).remote(log_);
  ASSERT_EQ(shoal::get(v.task(&Victim::incarnation).remote(), 30s), 1);
  for (int incarnation = 2; incarnation <= 8; ++incarnation) {
    const pid_t old = v.pid();
    ASSERT_EQ(::kill(old, SIGKILL), 0);
    ASSERT_TRUE(restarted(v, old)) << "no incarnation " << incarnation;
    EXPECT_EQ(shoal::get(v.task(&Victim::incarnation).remote(), 30s), incarnation);
  }
  EXPECT_EQ(constructions(), 8);
}

TEST_F(Supervision, ActorThatCrashesInsideAMethodIsRestartedAndServesLaterCalls) {
  auto v = shoal::actor<Victim>().options({.max_restarts = 2}).remote(log_);
  ASSERT_EQ(shoal::get(v.task(&Victim::incarnation).remote(), 30s), 1);
  pid_t old = v.pid();
  EXPECT_EQ(outcome_of(v.task(&Victim::crash).remote(0), 10s), Outcome::kDied);  // abort
  ASSERT_TRUE(restarted(v, old));
  EXPECT_EQ(shoal::get(v.task(&Victim::incarnation).remote(), 30s), 2);
  old = v.pid();
  EXPECT_EQ(outcome_of(v.task(&Victim::crash).remote(1), 10s), Outcome::kDied);  // segfault
  ASSERT_TRUE(restarted(v, old));
  EXPECT_EQ(shoal::get(v.task(&Victim::incarnation).remote(), 30s), 3);
  EXPECT_EQ(shoal::get(v.task(&Victim::echo).remote(9), 30s), 9);
}

TEST_F(Supervision, KilledActorsGiveTheirStoreMemoryBackOnceTheirGraceIsOver) {
  // The first actor sets up what every later one shares: measure from after it.
  {
    auto first = shoal::actor<Victim>().remote(std::string());
    ASSERT_EQ(shoal::get(first.task(&Victim::echo).remote(1), 30s), 1);
    shoal::kill(first);
  }
  ASSERT_TRUE(eventually([] { return live_actors() == 0; }, 20s));
  std::this_thread::sleep_for(3s);  // past the grace of the first one's entry
  const uint64_t used = store_used_bytes();
  const uint64_t objects = store_live_objects();
  // Each new actor takes the process slot the previous one's death freed, so
  // the dead entries name slots that live processes hold again.
  for (int round = 0; round < 24; ++round) {
    auto v = shoal::actor<Victim>().remote(std::string());
    ASSERT_EQ(shoal::get(v.task(&Victim::echo).remote(round), 30s), round);
    const pid_t pid = v.pid();
    ASSERT_GT(pid, 0);
    if (round % 2 == 0) {
      shoal::kill(v);
    } else {
      ASSERT_EQ(::kill(pid, SIGKILL), 0);
    }
    EXPECT_EQ(outcome_of(v.task(&Victim::echo).remote(1), 10s), Outcome::kDied);
    ASSERT_TRUE(eventually([&] { return !process_alive(pid); }, 20s)) << "round " << round;
  }
  ASSERT_TRUE(eventually([] { return live_actors() == 0; }, 20s));
  EXPECT_TRUE(eventually([&] { return store_used_bytes() == used; }, 20s))
      << store_used_bytes() << " heap bytes in use, " << used << " before the actors";
  EXPECT_EQ(store_live_objects(), objects);
}
