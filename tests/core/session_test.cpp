// Sessions: init() and shutdown() more than once in a process, rank() and
// world_size() outside `shoal launch`, references that outlive their session,
// ids of other sessions, and a driver that exits without calling shutdown().
//
// Each test starts and ends its own sessions (none is shared).
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <shoal/shoal.hpp>

#include "tests/cli/processes.hpp"
#include "tests/support/test_support.hpp"

using namespace std::chrono_literals;
using namespace shoal::testing;

class Echo {
 public:
  std::string echo(std::string s) { return s; }
  int pid() { return int(::getpid()); }
};
SHOAL_ACTOR(Echo, &Echo::echo, &Echo::pid);

namespace {

// Ends the session a test started even if an assertion returned early.
struct SessionGuard {
  ~SessionGuard() { shoal::shutdown(); }
};

}  // namespace

// ---- children that start their own session ------------------------------------

// Puts 31337, reports its id and the session's name on args[0], then waits for
// a line on args[1].
SHOAL_TEST_PEER(own_session_put) {
  auto ref = shoal::put(31337);
  write_all(std::atoi(args.at(0).c_str()), ref.id().to_string() + " " + session_name() + "\n");
  return read_line(std::atoi(args.at(1).c_str()), 60s) == "done" ? 0 : 3;
}

// Starts an actor, reports the session's name and the actor's pid, then leaves
// through exit() without calling shutdown(): the atexit hook must end the session.
SHOAL_TEST_PEER(exit_without_shutdown) {
  auto echo = shoal::actor<Echo>().remote();
  const int pid = shoal::get(echo.task(&Echo::pid).remote());
  write_all(std::atoi(args.at(0).c_str()), session_name() + " " + std::to_string(pid) + "\n");
  std::exit(0);
}

// ---- init / shutdown ------------------------------------------------------------

TEST(Session, InitAndShutdownTwiceInOneProcessEachMakeAFreshSession) {
  std::string first, second;
  {
    shoal::init();
    SessionGuard guard;
    EXPECT_TRUE(shoal::is_initialized());
    first = session_name();
    EXPECT_TRUE(segment_exists(first));
    EXPECT_EQ(shoal::get(shoal::put(std::string("one"))), "one");
    auto echo = shoal::actor<Echo>().remote();
    EXPECT_EQ(shoal::get(echo.task(&Echo::echo).remote(std::string("first"))), "first");
    shoal::shutdown();
    EXPECT_FALSE(shoal::is_initialized());
    EXPECT_FALSE(segment_exists(first));
  }
  {
    shoal::init();
    SessionGuard guard;
    second = session_name();
    EXPECT_NE(second, first);
    EXPECT_TRUE(segment_exists(second));
    EXPECT_EQ(store_live_objects(), 0u);
    EXPECT_EQ(shoal::get(shoal::put(std::string("two"))), "two");
    auto echo = shoal::actor<Echo>().remote();
    EXPECT_EQ(shoal::get(echo.task(&Echo::echo).remote(std::string("second"))), "second");
  }
  EXPECT_FALSE(segment_exists(second));
}

TEST(Session, SegmentIsPrivateToItsUser) {
  shoal::init();
  SessionGuard guard;
  struct stat st;
  ASSERT_EQ(::stat(("/dev/shm/" + session_name()).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_uid, ::getuid());
}

TEST(Session, ConcurrentSessionsGetDistinctSegments) {
  shoal::init();
  SessionGuard guard;
  std::vector<std::unique_ptr<Pipe>> pipes;
  std::vector<std::unique_ptr<Child>> children;
  for (int i = 0; i < 4; ++i) {
    pipes.push_back(std::make_unique<Pipe>());
    pipes.push_back(std::make_unique<Pipe>());
    Pipe& to_test = *pipes[pipes.size() - 2];
    Pipe& to_child = *pipes.back();
    children.push_back(
        std::make_unique<Child>(std::vector<std::string>{self_exe(), std::to_string(to_test.wr),
                                                         std::to_string(to_child.rd)},
                                own_session_env("own_session_put")));
    to_test.close_wr();
    to_child.close_rd();
  }
  std::set<std::string> names{session_name()};
  for (int i = 0; i < 4; ++i) {
    const std::string line = read_line(pipes[size_t(2 * i)]->rd);
    ASSERT_NE(line.find(' '), std::string::npos) << line;
    names.insert(line.substr(line.find(' ') + 1));
  }
  EXPECT_EQ(names.size(), 5u);
  for (int i = 0; i < 4; ++i)
    write_all(pipes[size_t(2 * i + 1)]->wr, "done\n");
  for (auto& c : children)
    EXPECT_EQ(c->wait(), 0) << c->err();
}

TEST(Session, ShutdownIsIdempotentAndHarmlessWithoutInit) {
  shoal::shutdown();
  shoal::shutdown();
  shoal::init();
  const std::string name = session_name();
  shoal::shutdown();
  shoal::shutdown();
  EXPECT_FALSE(shoal::is_initialized());
  EXPECT_FALSE(segment_exists(name));
}

TEST(Session, SecondInitWhileRunningKeepsTheSameSession) {
  shoal::init();
  SessionGuard guard;
  const std::string name = session_name();
  auto ref = shoal::put(5);
  shoal::init();
  EXPECT_EQ(session_name(), name);
  EXPECT_EQ(shoal::get(ref), 5);
}

TEST(Session, ShutdownKillsTheSessionsActors) {
  pid_t actor_pid = 0;
  {
    shoal::init();
    SessionGuard guard;
    auto echo = shoal::actor<Echo>().remote();
    actor_pid = echo.pid();
    ASSERT_GT(actor_pid, 0);
    EXPECT_TRUE(running(actor_pid));
  }
  EXPECT_TRUE(eventually([&] { return !running(actor_pid); }, 5s));
}

TEST(Session, RankAndWorldSizeOutsideLaunchAreZeroAndOne) {
  EXPECT_EQ(shoal::rank(), 0);
  EXPECT_EQ(shoal::world_size(), 1);
  shoal::init();
  SessionGuard guard;
  EXPECT_EQ(shoal::rank(), 0);
  EXPECT_EQ(shoal::world_size(), 1);
  shoal::shutdown();
  EXPECT_EQ(shoal::rank(), 0);
  EXPECT_EQ(shoal::world_size(), 1);
}

TEST(Session, ApiBeforeInitThrowsShoalError) {
  ASSERT_FALSE(shoal::is_initialized());
  EXPECT_THROW(shoal::put(1), shoal::Error);
  EXPECT_THROW(shoal::ObjectRef<int>(shoal::ObjectId(1, 2, 3)), shoal::Error);
  EXPECT_THROW(shoal::actor<Echo>().remote(), shoal::Error);
}

// ---- references that outlive their session ---------------------------------------

TEST(Session, RefsOutlivingShutdownAreInert) {
  std::optional<shoal::ObjectRef<std::string>> ref;
  std::optional<shoal::ObjectRef<std::vector<double>>> big;
  std::optional<shoal::ObjectRef<int>> pending;
  {
    shoal::init();
    SessionGuard guard;
    ref = shoal::put(std::string("from the old session"));
    big = shoal::put(std::vector<double>(100000, 2.0));
    auto echo = shoal::actor<Echo>().remote();
    pending = echo.task(&Echo::pid).remote();
  }
  EXPECT_THROW(shoal::get(*ref), shoal::Error);
  EXPECT_THROW(shoal::get(*ref, 1s), shoal::Error);
  EXPECT_THROW(shoal::get_view(*big), shoal::Error);
  EXPECT_THROW(shoal::get(*pending), shoal::Error);
  EXPECT_THROW(shoal::wait(std::vector<shoal::ObjectRef<int>>{*pending}), shoal::Error);
  EXPECT_THROW(pending->future().get(), shoal::Error);
  {
    auto copy = *ref;  // copying and destroying inert refs does nothing
    auto moved = std::move(copy);
    (void)moved;
  }
  EXPECT_THROW(shoal::get(*ref), shoal::Error);

  // A new session is not disturbed by the old refs, nor by their destruction.
  shoal::init();
  SessionGuard guard;
  auto mine = shoal::put(std::string("new session"));
  const uint64_t live = store_live_objects();
  EXPECT_THROW(shoal::get(*ref), shoal::Error);
  ref.reset();
  big.reset();
  pending.reset();
  EXPECT_EQ(store_live_objects(), live);
  EXPECT_EQ(shoal::get(mine), "new session");
}

// Threads copy, check and drop refs (each holding the last copies of its own)
// while the main thread ends the session. Whatever comes before shutdown()
// begins sees the live session; whatever comes after it has returned is a
// no-op (ready() false, id() UsageError); nothing touches the unmapped store,
// and a new session is not disturbed by refs dropped afterwards.
TEST(Session, RefsCopiedCheckedAndDroppedOnOtherThreadsWhileShutdownRunsAreSafe) {
  constexpr int kRounds = 6;
  constexpr int kThreads = 4;
  constexpr size_t kOwnedPerThread = 5000;
  constexpr size_t kShared = 64;
  constexpr size_t kDropsBeforeShutdown = 500;  // per thread
  constexpr int kChecksAfterShutdown = 200;     // per thread
  for (int round = 0; round < kRounds; ++round) {
    shoal::init(shoal::Config{.prefault = false});
    std::vector<std::vector<shoal::ObjectRef<int>>> owned(kThreads);
    for (auto& refs : owned) {
      for (size_t i = 0; i < kOwnedPerThread; ++i)
        refs.push_back(shoal::put(int(i)));
    }
    std::vector<shoal::ObjectRef<int>> shared, aliases;  // aliases: other records, same objects
    for (size_t i = 0; i < kShared; ++i) {
      shared.push_back(shoal::put(-int(i)));
      aliases.push_back(shoal::ObjectRef<int>(shared.back().id()));
    }
    std::atomic<size_t> dropped{0};
    std::atomic<bool> began{false}, ended{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        std::vector<shoal::ObjectRef<int>>& mine = owned[size_t(t)];
        int checks_after = 0;
        for (size_t i = 0; checks_after < kChecksAfterShutdown; ++i) {
          const bool before = !began.load(std::memory_order_acquire);
          const bool after = ended.load(std::memory_order_acquire);
          if (!mine.empty()) {
            mine.pop_back();  // the last copy: an unpin, or nothing once shutdown() ran
            dropped.fetch_add(1, std::memory_order_relaxed);
          }
          shoal::ObjectRef<int> copy = shared[i % kShared];
          const bool ready = copy.ready();
          const bool same = copy == aliases[i % kShared];
          if (before && !began.load(std::memory_order_acquire)) {
            EXPECT_TRUE(ready) << "round " << round;
            EXPECT_TRUE(same) << "round " << round;
          }
          if (after) {
            EXPECT_FALSE(ready) << "round " << round;
            EXPECT_FALSE(same) << "round " << round;
            EXPECT_THROW((void)copy.id(), shoal::UsageError) << "round " << round;
            ++checks_after;
          }
        }
      });
    }
    // Shut down while every thread still has most of its refs to drop.
    ASSERT_TRUE(eventually([&] { return dropped.load() >= kThreads * kDropsBeforeShutdown; }));
    began.store(true, std::memory_order_release);
    shoal::shutdown();
    ended.store(true, std::memory_order_release);
    for (auto& th : threads)
      th.join();
    EXPECT_FALSE(shoal::is_initialized());
    // What is left is dropped in a new session, which must not notice.
    shoal::init(shoal::Config{.prefault = false});
    EXPECT_EQ(store_live_objects(), 0u);
    owned.clear();
    shared.clear();
    aliases.clear();
    EXPECT_EQ(store_live_objects(), 0u);
    shoal::shutdown();
    if (HasFailure()) break;
  }
}

// More threads than the gate has slots of its own (256): those beyond count their passes on the
// shared stripes, and shutdown() waits for both kinds.
TEST(Session, RefsOnMoreThreadsThanTheGateHasSlotsAreSafeWhileShutdownRuns) {
  constexpr int kThreads = 300;
  shoal::init(shoal::Config{.prefault = false});
  std::vector<shoal::ObjectRef<int>> shared;
  for (int i = 0; i < 16; ++i)
    shared.push_back(shoal::put(i));
  std::atomic<int> running{0};
  std::atomic<bool> began{false}, ended{false};
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      running.fetch_add(1);
      for (int i = 0;; ++i) {
        const bool before = !began.load(std::memory_order_acquire);
        const bool after = ended.load(std::memory_order_acquire);
        shoal::ObjectRef<int> copy = shared[size_t(t + i) % shared.size()];
        const bool ready = copy.ready();
        if (before && !began.load(std::memory_order_acquire) && !ready) wrong.fetch_add(1);
        if (after) {
          if (ready) wrong.fetch_add(1);
          break;
        }
        if (i % 64 == 63) std::this_thread::yield();
      }
    });
  }
  ASSERT_TRUE(eventually([&] { return running.load() == kThreads; }));
  began.store(true, std::memory_order_release);
  shoal::shutdown();
  ended.store(true, std::memory_order_release);
  for (auto& th : threads)
    th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_FALSE(shoal::is_initialized());
  shared.clear();  // inert
}

TEST(Session, IdOfAnEndedSessionThrowsObjectNotFound) {
  std::string id;
  {
    shoal::init();
    SessionGuard guard;
    auto ref = shoal::put(1);
    id = ref.id().to_string();
    EXPECT_EQ(shoal::get(shoal::ObjectRef<int>(shoal::ObjectId::parse(id))), 1);
  }
  shoal::init();
  SessionGuard guard;
  EXPECT_THROW(shoal::ObjectRef<int>(shoal::ObjectId::parse(id)), shoal::ObjectNotFoundError);
}

TEST(Session, IdOfAnotherLiveSessionThrowsObjectNotFound) {
  shoal::init();
  SessionGuard guard;
  const std::string mine = session_name();
  Pipe to_test, to_child;
  Child other({self_exe(), std::to_string(to_test.wr), std::to_string(to_child.rd)},
              own_session_env("own_session_put"));
  to_test.close_wr();
  to_child.close_rd();
  const std::string line = read_line(to_test.rd);
  const size_t sp = line.find(' ');
  ASSERT_NE(sp, std::string::npos) << "child said: " << line;
  const std::string id = line.substr(0, sp), theirs = line.substr(sp + 1);
  EXPECT_NE(theirs, mine);
  EXPECT_TRUE(segment_exists(theirs));
  EXPECT_THROW(shoal::ObjectRef<int>(shoal::ObjectId::parse(id)), shoal::ObjectNotFoundError);
  write_all(to_child.wr, "done\n");
  EXPECT_EQ(other.wait(), 0) << other.err();
  EXPECT_FALSE(segment_exists(theirs));
}

// ---- leaving without shutdown() ------------------------------------------------------

TEST(Session, DriverExitingWithoutShutdownEndsItsSession) {
  Pipe to_test;
  Child driver({self_exe(), std::to_string(to_test.wr)}, own_session_env("exit_without_shutdown"));
  to_test.close_wr();
  const std::string line = read_line(to_test.rd);
  const size_t sp = line.find(' ');
  ASSERT_NE(sp, std::string::npos) << "child said: " << line;
  const std::string name = line.substr(0, sp);
  const pid_t actor = pid_t(std::atoi(line.substr(sp + 1).c_str()));
  EXPECT_EQ(driver.wait(), 0) << driver.err();
  EXPECT_FALSE(segment_exists(name));
  EXPECT_TRUE(eventually([&] { return !running(actor); }, 5s));
}
