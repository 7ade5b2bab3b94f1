// A multi-node job losing a node: a node's `shoal launch` killed with kill -9
// mid-job (over loopback TCP and over OpenMPI's default transport), a rank
// killed -9, and mpirun itself killed -9. The job ends (mpirun exits non-zero) and nothing is left
// on any node: no launcher, rank, fork server, actor or segment reaper, and none of the nodes'
// segments in /dev/shm, within a second of mpirun's exit.
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <shoal/shoal.hpp>

#include "tests/cluster/mpi_jobs.hpp"

using namespace std::chrono_literals;
using namespace shoal::testing;

class Holder {
 public:
  int pid() { return int(::getpid()); }
};
SHOAL_ACTOR(Holder, &Holder::pid);

class AsyncHolder {
 public:
  shoal::Task<int> pid() { co_return int(::getpid()); }
};
SHOAL_ACTOR(AsyncHolder, &AsyncHolder::pid);

// Starts a threaded and an async actor, and an actor on the next node that a
// thread keeps calling (calls are in flight across nodes when a node dies),
// prints their pids, then waits (up to 60 s) to be stopped.
SHOAL_TEST_PEER(hold) {
  auto a = shoal::actor<Holder>().remote();
  auto b = shoal::actor<AsyncHolder>().remote();
  const int pa = shoal::get(a.task(&Holder::pid).remote());
  const int pb = shoal::get(b.task(&AsyncHolder::pid).remote());
  int pr = 0;
  if (shoal::num_nodes() > 1) {
    auto r =
        shoal::actor<Holder>().options({.node = (shoal::node() + 1) % shoal::num_nodes()}).remote();
    pr = shoal::get(r.task(&Holder::pid).remote(), 30s);
    std::thread([r] {
      for (;;) {
        std::vector<shoal::ObjectRef<int>> refs;
        for (int i = 0; i < 100; ++i)
          refs.push_back(r.task(&Holder::pid).remote());
        try {
          for (const auto& ref : refs)
            shoal::get(ref);
        } catch (const shoal::Error&) {
          // its node is gone: the job is ending
        }
        // Calls stay in flight most of the time, and the cores stay free
        // enough for the processes of a dying node to end at once.
        std::this_thread::sleep_for(2ms);
      }
    }).detach();
  }
  const char* session = std::getenv("SHOAL_SESSION");
  std::printf("ready rank=%d actor=%d worker=%d remote=%d session=%s\n", shoal::rank(), pa, pb, pr,
              session ? session : "");
  std::fflush(stdout);
  for (int i = 0; i < 6000; ++i)
    std::this_thread::sleep_for(10ms);
  return 0;
}

namespace {

constexpr int kNodes = 2, kRanks = 2;
// More than MPI_Init takes here, loaded (0.3-1 s).
constexpr auto kMpiStartup = 3s;

// What a job looked like once every rank was ready.
struct Running {
  std::map<int, pid_t> rank_pid;     // global rank -> pid
  std::map<int, pid_t> launcher_of;  // node -> its `shoal launch`
  std::set<pid_t> everything;        // every process of the job but mpirun
  std::set<std::string> sessions;
};

Running wait_running(Child& c, int nodes) {
  Running r;
  const bool ready = c.read_until([&](const std::string& out) {
    int n = 0;
    for (const std::string& line : split_lines(out))
      n += line.find(") ready ") != std::string::npos;
    return n == nodes * kRanks;
  });
  EXPECT_TRUE(ready) << c.out() << c.err();
  for (const std::string& line : split_lines(c.out())) {
    PrefixedLine l;
    if (!parse_prefixed(line, &l) || l.text.rfind("ready ", 0) != 0) continue;
    const int rank = std::atoi(field_of(l.text, "rank").c_str());
    r.rank_pid[rank] = l.pid;
    r.launcher_of[l.node] = parent_of(l.pid);
  }
  const Reported rep = reported(c.out());
  r.sessions = rep.sessions;
  r.everything.insert(rep.pids.begin(), rep.pids.end());
  for (pid_t p : descendants(c.pid()))
    r.everything.insert(p);
  return r;
}

// mpirun ends non-zero, and within a second of that nothing of the job is left.
void expect_job_gone(Child& c, const Running& r) {
  // mpirun's own teardown takes about 2 s; 30 s means something holds it.
  if (!eventually([&] { return !running(c.pid()); }, 30s)) {
    std::string left = "mpirun: " + describe_process(c.pid()) + "\n";
    for (pid_t p : r.everything) {
      if (running(p)) left += describe_process(p) + "\n";
    }
    for (pid_t p : descendants(c.pid()))
      left += "now: " + describe_process(p) + "\n";
    ADD_FAILURE() << "mpirun did not end within 30 s; still running:\n" << left;
  }
  const int code = c.wait(5s);
  if (code == -1) remove_mpirun_session_dir(c.pid());  // killed by wait()
  EXPECT_NE(code, 0) << c.out() << c.err();
  EXPECT_NE(code, -1) << c.err();
  const auto exited = std::chrono::steady_clock::now();
  for (pid_t p : r.everything) {
    EXPECT_TRUE(eventually([&] { return !running(p); }, 1s))
        << describe_process(p) << "\noutlived the job";
  }
  for (const std::string& s : r.sessions) {
    EXPECT_TRUE(eventually([&] { return !segment_exists(s); }, 1s)) << s << " left in /dev/shm";
  }
  EXPECT_LT(std::chrono::steady_clock::now() - exited, 1500ms);
}

void kill_a_launcher(const std::vector<std::string>& transport, int nodes, int victim) {
  Child c(mpirun_argv(nodes, transport, launch_program(kRanks, {})), mpi_env("hold"));
  const Running r = wait_running(c, nodes);
  ASSERT_EQ(r.sessions.size(), size_t(nodes)) << c.out();
  ASSERT_EQ(r.launcher_of.size(), size_t(nodes));
  // Every node's actors, fork servers and segment reaper are among them.
  EXPECT_GE(r.everything.size(), size_t(nodes * (1 + kRanks * 4 + 1)));
  // The ranks are ready before their launchers' MPI is (it starts after
  // them), and OpenMPI 4.1.4's mpirun can hang for good when a process dies
  // inside MPI_Init (a zombie it never reaps): the kill comes once MPI is up.
  std::this_thread::sleep_for(kMpiStartup);
  ::kill(r.launcher_of.at(victim), SIGKILL);
  expect_job_gone(c, r);
}

}  // namespace

TEST(NodeFailure, ALauncherKilledEndsTheJobAndLeavesNothingOnAnyNodeOverTcp) {
  SHOAL_SKIP_WITHOUT_MPI();
  kill_a_launcher(kTcp, kNodes, 1);
}

TEST(NodeFailure, ALauncherKilledOverTheDefaultTransport) {
  SHOAL_SKIP_WITHOUT_MPI();
  kill_a_launcher(kDefaultTransport, kNodes, 0);
}

TEST(NodeFailure, ALauncherOfThreeKilled) {
  SHOAL_SKIP_WITHOUT_MPI();
  kill_a_launcher(kTcp, 3, 1);
}

TEST(NodeFailure, ARankKilledEndsEveryNodeWith137) {
  SHOAL_SKIP_WITHOUT_MPI();
  Child c(mpirun_argv(kNodes, kTcp, launch_program(kRanks, {})), mpi_env("hold"));
  const Running r = wait_running(c, kNodes);
  ASSERT_EQ(r.rank_pid.size(), size_t(kNodes * kRanks));
  ::kill(r.rank_pid.at(3), SIGKILL);
  const int code = c.wait(60s);
  EXPECT_EQ(code, 128 + SIGKILL) << c.out() << c.err();
  for (pid_t p : r.everything) {
    EXPECT_TRUE(eventually([&] { return !running(p); }, 1s))
        << describe_process(p) << "\noutlived the job";
  }
  for (const std::string& s : r.sessions) {
    EXPECT_TRUE(eventually([&] { return !segment_exists(s); }, 1s)) << s << " left in /dev/shm";
  }
}

TEST(NodeFailure, MpirunKilledTakesEveryNodeDownWithinASecond) {
  SHOAL_SKIP_WITHOUT_MPI();
  Child c(mpirun_argv(kNodes, kTcp, launch_program(kRanks, {})), mpi_env("hold"));
  const Running r = wait_running(c, kNodes);
  ASSERT_EQ(r.sessions.size(), size_t(kNodes)) << c.out();
  ::kill(c.pid(), SIGKILL);
  EXPECT_EQ(c.reap(10s), 128 + SIGKILL);
  remove_mpirun_session_dir(c.pid());
  for (pid_t p : r.everything) {
    EXPECT_TRUE(eventually([&] { return !running(p); }, 1s))
        << describe_process(p) << "\noutlived mpirun";
  }
  for (const std::string& s : r.sessions) {
    EXPECT_TRUE(eventually([&] { return !segment_exists(s); }, 1s)) << s << " left in /dev/shm";
  }
}
