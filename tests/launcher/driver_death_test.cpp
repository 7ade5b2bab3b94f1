// A driver killed by SIGKILL: its segment and every process it started (the
// session daemon, actors, task workers) are gone within one second of the
// kill (DESIGN invariant 5).
//
// The driver is this test binary run again as the driver of its own session
// (SHOAL_TEST_PEER without SHOAL_SESSION: main() calls shoal::init(), which
// creates a session).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <shoal/shoal.hpp>

#include "tests/cli/processes.hpp"
#include "tests/support/test_support.hpp"

using namespace std::chrono_literals;
using namespace shoal::testing;

class Pinger {
 public:
  int pid() { return int(::getpid()); }
};
SHOAL_ACTOR(Pinger, &Pinger::pid);

class AsyncPinger {
 public:
  shoal::Task<int> pid() { co_return int(::getpid()); }
};
SHOAL_ACTOR(AsyncPinger, &AsyncPinger::pid);

static int task_pid() {
  return int(::getpid());
}
SHOAL_REMOTE(task_pid);

namespace {

constexpr auto kBound = 1s;  // how long after the kill anything of the session may remain

struct Started {
  std::string session;
  std::vector<pid_t> pids;  // actors and workers the driver reported
};

// Reads "session pid pid ... ready" from the driver.
Started read_started(int fd) {
  Started s;
  std::istringstream words(read_line(fd));
  words >> s.session;
  std::string w;
  while (words >> w && w != "ready")
    s.pids.push_back(pid_t(std::atoi(w.c_str())));
  return s;
}

// How the things a killed driver leaves went away. On a loaded machine the
// observer itself may be descheduled for a while, so only what it saw is
// evidence: something seen still there after the bound breaks it; something
// first seen gone late, but not seen there late, does not.
struct Teardown {
  std::chrono::nanoseconds last_seen_there{};  // the latest check that found anything left
  std::string timeline;                        // for the failure message
};

// Kills the driver with SIGKILL and watches, from the kill, the driver, its
// segment and every process in `started` go (giving up after 10 s).
Teardown kill_and_time(Child& driver, const std::string& session,
                       const std::vector<pid_t>& started) {
  struct Thing {
    std::string what;
    std::function<bool()> gone;
    double seen_there_ms = 0, gone_ms = -1;
  };
  std::vector<Thing> things;
  things.push_back(
      {"driver " + std::to_string(driver.pid()), [&] { return driver.reap(0ms) != -1; }});
  things.push_back({"segment", [&] { return !segment_exists(session); }});
  for (pid_t p : started)
    things.push_back({"pid " + std::to_string(p), [p] { return !running(p); }});
  using ms = std::chrono::duration<double, std::milli>;
  Teardown t;
  const auto t0 = std::chrono::steady_clock::now();
  ::kill(driver.pid(), SIGKILL);
  for (;;) {
    bool all_gone = true;
    for (Thing& th : things) {
      if (th.gone_ms >= 0) continue;
      // Taken before the check: the thing was there at this time or later.
      const auto before = std::chrono::steady_clock::now() - t0;
      if (th.gone()) {
        th.gone_ms = ms(std::chrono::steady_clock::now() - t0).count();
      } else {
        th.seen_there_ms = ms(before).count();
        t.last_seen_there = std::max(t.last_seen_there, std::chrono::nanoseconds(before));
        all_gone = false;
      }
    }
    if (all_gone || std::chrono::steady_clock::now() - t0 > 10s) break;
    std::this_thread::sleep_for(1ms);
  }
  for (const Thing& th : things) {
    char line[160];
    std::snprintf(line, sizeof(line), "\n  %-12s last seen there at %8.1f ms, seen gone at %s",
                  th.what.c_str(), th.seen_there_ms,
                  th.gone_ms >= 0 ? (std::to_string(th.gone_ms) + " ms").c_str() : "NEVER");
    t.timeline += line;
    if (th.gone_ms < 0) ADD_FAILURE() << th.what << " still there 10 s after the kill";
  }
  return t;
}

}  // namespace

// Starts `args[1]` threaded actors, an async actor and the task workers,
// reports the session and their pids on args[0], then waits to be killed.
SHOAL_TEST_PEER(driver_with_actors) {
  const int out = std::atoi(args.at(0).c_str());
  const int n = std::atoi(args.at(1).c_str());
  std::vector<shoal::ActorHandle<Pinger>> actors;
  std::string line = session_name();
  for (int i = 0; i < n; ++i) {
    actors.push_back(shoal::actor<Pinger>().remote());
    line += " " + std::to_string(shoal::get(actors.back().task(&Pinger::pid).remote()));
  }
  auto async_actor = shoal::actor<AsyncPinger>().remote();
  line += " " + std::to_string(shoal::get(async_actor.task(&AsyncPinger::pid).remote()));
  std::vector<shoal::ObjectRef<int>> tasks;
  for (int i = 0; i < 8; ++i)
    tasks.push_back(shoal::task(task_pid).remote());
  for (int pid : shoal::get(tasks))
    line += " " + std::to_string(pid);
  // Some objects in the store, too.
  auto held = shoal::put(std::vector<double>(1 << 20, 1.0));
  write_all(out, line + " ready\n");
  std::this_thread::sleep_for(120s);
  return 5;
}

// Reports its session and waits to be killed (no actors at all).
SHOAL_TEST_PEER(bare_driver) {
  write_all(std::atoi(args.at(0).c_str()), session_name() + " ready\n");
  std::this_thread::sleep_for(120s);
  return 5;
}

TEST(DriverDeath, BareDriverKilledLeavesNoSegmentOrDaemonWithinOneSecond) {
  Pipe to_test;
  Child driver({self_exe(), std::to_string(to_test.wr)}, own_session_env("bare_driver"));
  to_test.close_wr();
  Started s = read_started(to_test.rd);
  ASSERT_FALSE(s.session.empty()) << driver.err();
  ASSERT_TRUE(segment_exists(s.session));
  const std::vector<pid_t> all = descendants(driver.pid());  // the session daemon
  EXPECT_FALSE(all.empty());
  const Teardown t = kill_and_time(driver, s.session, all);
  EXPECT_LT(t.last_seen_there, kBound) << t.timeline;
}

TEST(DriverDeath, DriverWithActorsAndWorkersKilledLeavesNothingWithinOneSecond) {
  Pipe to_test;
  Child driver({self_exe(), std::to_string(to_test.wr), "3"},
               own_session_env("driver_with_actors"));
  to_test.close_wr();
  Started s = read_started(to_test.rd);
  ASSERT_FALSE(s.session.empty()) << driver.err();
  ASSERT_GE(s.pids.size(), 5u);  // 3 threaded actors, an async actor, at least one worker
  for (pid_t p : s.pids)
    EXPECT_TRUE(running(p)) << p;
  // Everything the driver started, reported or not (its daemon included).
  std::vector<pid_t> all = descendants(driver.pid());
  for (pid_t p : s.pids) {
    if (std::find(all.begin(), all.end(), p) == all.end()) all.push_back(p);
  }
  ASSERT_TRUE(segment_exists(s.session));
  const Teardown t = kill_and_time(driver, s.session, all);
  EXPECT_LT(t.last_seen_there, kBound) << t.timeline;
}

TEST(DriverDeath, RepeatedKilledDriversEachCleanUpWithinOneSecond) {
  for (int round = 0; round < 5; ++round) {
    Pipe to_test;
    Child driver({self_exe(), std::to_string(to_test.wr), "1"},
                 own_session_env("driver_with_actors"));
    to_test.close_wr();
    Started s = read_started(to_test.rd);
    ASSERT_FALSE(s.session.empty()) << driver.err();
    std::vector<pid_t> all = descendants(driver.pid());
    const Teardown t = kill_and_time(driver, s.session, all);
    EXPECT_LT(t.last_seen_there, kBound) << "round " << round << t.timeline;
  }
}
