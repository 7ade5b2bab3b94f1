// `mpirun -n K shoal launch -n N -- PROGRAM` on this machine: K nodes, each its
// own session and store, N ranks each. Global ranks, world size, node and
// local rank; output prefixes of ranks and actors; exit statuses; init()
// of a program that mpirun started outside `shoal launch`; and where
// TaskOptions::node sends a task.
//
// The ranks are this test binary (SHOAL_TEST_PEER=<name> makes its main()
// join the node's session and run the peer function <name>).
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>

#include <shoal/shoal.hpp>

#include "tests/cluster/mpi_jobs.hpp"

using namespace std::chrono_literals;
using namespace shoal::testing;

class Printer {
 public:
  int say(std::string text) {
    std::printf("%s\n", text.c_str());
    std::fflush(stdout);
    return int(::getpid());
  }
  int where() { return shoal::node() * 1000 + shoal::num_nodes(); }
};
SHOAL_ACTOR(Printer, &Printer::say, &Printer::where);

int worker_node(int /*unused*/) {
  return shoal::node();
}
SHOAL_REMOTE(worker_node);

namespace {

const char* session_env() {
  const char* s = std::getenv("SHOAL_SESSION");
  return s ? s : "";
}

}  // namespace

// Starts an actor that prints a line, then prints what this rank knows.
SHOAL_TEST_PEER(identity) {
  auto printer = shoal::actor<Printer>().remote();
  const int actor =
      shoal::get(printer.task(&Printer::say)
                     .remote("hello from the actor of rank " + std::to_string(shoal::rank())));
  const int where = shoal::get(printer.task(&Printer::where).remote());
  std::printf(
      "identity rank=%d world=%d node=%d nodes=%d local=%d actor=%d actor_node=%d "
      "actor_nodes=%d session=%s\n",
      shoal::rank(), shoal::world_size(), shoal::node(), shoal::num_nodes(), shoal::local_rank(),
      actor, where / 1000, where % 1000, session_env());
  std::fflush(stdout);
  return 0;
}

// args {R, CODE}: global rank R exits with CODE; every other rank waits (up
// to 60 s) to be stopped.
SHOAL_TEST_PEER(exit_on) {
  const int r = std::atoi(args.at(0).c_str()), code = std::atoi(args.at(1).c_str());
  std::printf("started rank=%d session=%s\n", shoal::rank(), session_env());
  std::fflush(stdout);
  if (shoal::rank() == r) {
    std::this_thread::sleep_for(300ms);
    return code;
  }
  for (int i = 0; i < 6000; ++i)
    std::this_thread::sleep_for(10ms);
  return 0;
}

// Runs a task with TaskOptions::node set to this node, to the next node, and to num_nodes();
// prints what each gave: "here=<the worker's node>", "other=<error>", "outside=<error>".
SHOAL_TEST_PEER(task_nodes) {
  auto on = [](int k) {
    try {
      return std::to_string(shoal::get(
          shoal::task(worker_node).options(shoal::TaskOptions{.node = k}).remote(0), 30s));
    } catch (const std::invalid_argument& e) {
      return std::string("invalid_argument:") + e.what();
    } catch (const shoal::Error& e) {
      return std::string("Error:") + e.what();
    }
  };
  const int n = shoal::num_nodes();
  std::printf("tasks node=%d here=%s\n", shoal::node(), on(shoal::node()).c_str());
  std::printf("tasks node=%d other=%s\n", shoal::node(), on((shoal::node() + 1) % n).c_str());
  std::printf("tasks node=%d outside=%s\n", shoal::node(), on(n).c_str());
  std::fflush(stdout);
  return 0;
}

namespace {

struct Job {
  int code = -1;
  std::string out, err;
  double seconds = 0;
};

Job run_job(int nodes, const std::vector<std::string>& transport,
            const std::vector<std::string>& program, const std::string& peer) {
  const auto start = std::chrono::steady_clock::now();
  Child c(mpirun_argv(nodes, transport, program), mpi_env(peer));
  Job j;
  j.code = c.wait(120s);
  j.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  j.out = c.out();
  j.err = c.err();
  return j;
}

void expect_nothing_left(const Job& j) {
  const Reported r = reported(j.out);
  for (pid_t p : r.pids) {
    EXPECT_TRUE(eventually([&] { return !running(p); }, 2s)) << "pid " << p << " still runs";
  }
  for (const std::string& s : r.sessions) {
    EXPECT_TRUE(eventually([&] { return !segment_exists(s); }, 2s)) << s << " left behind";
  }
}

// Checks the identity lines of a job of `nodes` x `ranks`.
void check_identities(const Job& j, int nodes, int ranks) {
  ASSERT_EQ(j.code, 0) << j.out << j.err;
  std::map<int, PrefixedLine> by_rank;
  std::map<int, std::string> session_of_node;
  std::map<std::string, PrefixedLine> actor_lines;  // text -> line
  for (const std::string& line : split_lines(j.out)) {
    PrefixedLine l;
    if (!parse_prefixed(line, &l)) continue;
    if (l.who == "Printer") actor_lines[l.text] = l;
    if (l.text.rfind("identity ", 0) != 0) continue;
    ASSERT_EQ(l.who.rfind("rank ", 0), 0u) << line;
    by_rank[std::atoi(l.who.c_str() + 5)] = l;
  }
  ASSERT_EQ(by_rank.size(), size_t(nodes * ranks)) << j.out << j.err;
  for (const auto& [rank, l] : by_rank) {
    SCOPED_TRACE("rank " + std::to_string(rank));
    const int node = rank / ranks;
    EXPECT_EQ(l.node, node);
    EXPECT_EQ(field_of(l.text, "rank"), std::to_string(rank));
    EXPECT_EQ(field_of(l.text, "world"), std::to_string(nodes * ranks));
    EXPECT_EQ(field_of(l.text, "node"), std::to_string(node));
    EXPECT_EQ(field_of(l.text, "nodes"), std::to_string(nodes));
    EXPECT_EQ(field_of(l.text, "local"), std::to_string(rank % ranks));
    EXPECT_EQ(field_of(l.text, "actor_node"), std::to_string(node));
    EXPECT_EQ(field_of(l.text, "actor_nodes"), std::to_string(nodes));
    // The actor's line carries its node, and its pid is the actor's.
    auto a = actor_lines.find("hello from the actor of rank " + std::to_string(rank));
    ASSERT_NE(a, actor_lines.end()) << j.out;
    EXPECT_EQ(a->second.node, node);
    EXPECT_EQ(std::to_string(a->second.pid), field_of(l.text, "actor"));
    // One session per node, shared by the node's ranks.
    const std::string session = field_of(l.text, "session");
    EXPECT_FALSE(session.empty());
    if (session_of_node.count(node)) {
      EXPECT_EQ(session_of_node[node], session);
    }
    session_of_node[node] = session;
  }
  std::set<std::string> distinct;
  for (const auto& [node, s] : session_of_node)
    distinct.insert(s);
  EXPECT_EQ(distinct.size(), size_t(nodes)) << "each node has a session of its own";
  expect_nothing_left(j);
}

}  // namespace

TEST(NodeLaunch, TwoNodesOfTwoRanksNumberRanksGloballyAndPrefixTheirNode) {
  SHOAL_SKIP_WITHOUT_MPI();
  const Job j = run_job(2, kTcp, launch_program(2, {}), "identity");
  check_identities(j, 2, 2);
}

TEST(NodeLaunch, ThreeNodesOfTwoRanks) {
  SHOAL_SKIP_WITHOUT_MPI();
  const Job j = run_job(3, kTcp, launch_program(2, {}), "identity");
  check_identities(j, 3, 2);
}

TEST(NodeLaunch, ThreeNodesOverTheDefaultTransport) {
  SHOAL_SKIP_WITHOUT_MPI();
  const Job j = run_job(3, kDefaultTransport, launch_program(1, {}), "identity");
  check_identities(j, 3, 1);
}

TEST(NodeLaunch, AJobOfOneNodePrintsAsOnOneMachine) {
  SHOAL_SKIP_WITHOUT_MPI();
  const Job j = run_job(1, kTcp, launch_program(2, {}), "identity");
  ASSERT_EQ(j.code, 0) << j.out << j.err;
  int identities = 0, actors = 0;
  for (const std::string& line : split_lines(j.out)) {
    int r = -1, pid = 0, used = 0;
    if (std::sscanf(line.c_str(), "(rank %d pid=%d) %n", &r, &pid, &used) == 2 && used > 0 &&
        line.find("identity ", size_t(used)) == size_t(used)) {
      ++identities;
      const std::string text = line.substr(size_t(used));
      EXPECT_EQ(field_of(text, "node"), "0");
      EXPECT_EQ(field_of(text, "nodes"), "1");
      EXPECT_EQ(field_of(text, "world"), "2");
      EXPECT_EQ(field_of(text, "local"), std::to_string(r));
    }
    if (line.rfind("(Printer pid=", 0) == 0) ++actors;
  }
  EXPECT_EQ(identities, 2) << j.out;
  EXPECT_EQ(actors, 2) << j.out;
}

TEST(NodeLaunch, ARankFailingOnOneNodeEndsEveryNodeWithItsStatus) {
  SHOAL_SKIP_WITHOUT_MPI();
  // Global rank 3 is on node 1; the ranks of node 0 would wait 60 s.
  const Job j = run_job(2, kTcp, launch_program(2, {"3", "7"}), "exit_on");
  EXPECT_EQ(j.code, 7) << j.out << j.err;
  EXPECT_LT(j.seconds, 30.0);
  EXPECT_EQ(reported(j.out).sessions.size(), 2u) << j.out;
  expect_nothing_left(j);
}

TEST(NodeLaunch, ARankFailingOnNodeZeroOfThreeEndsEveryNodeWithItsStatus) {
  SHOAL_SKIP_WITHOUT_MPI();
  const Job j = run_job(3, kTcp, launch_program(1, {"0", "5"}), "exit_on");
  EXPECT_EQ(j.code, 5) << j.out << j.err;
  EXPECT_LT(j.seconds, 30.0);
  expect_nothing_left(j);
}

TEST(NodeLaunch, InitUnderMpirunOutsideShoalLaunchNamesTheCommandLineToUse) {
  SHOAL_SKIP_WITHOUT_MPI();
  const Job j = run_job(2, kTcp, {self_exe()}, "identity");
  EXPECT_NE(j.code, 0);
  EXPECT_NE(j.err.find("not through `shoal launch`"), std::string::npos) << j.err;
  EXPECT_NE(j.err.find("mpirun -n 2 shoal launch -n N -- " + self_exe()), std::string::npos)
      << j.err;
  EXPECT_EQ(j.out.find("identity "), std::string::npos) << j.out;
}

TEST(NodeLaunch, TaskOptionsNodeRunsTheTaskOnThatNodesWorkersAndRefusesNodesOutsideTheJob) {
  SHOAL_SKIP_WITHOUT_MPI();
  const Job j = run_job(2, kTcp, launch_program(1, {}), "task_nodes");
  ASSERT_EQ(j.code, 0) << j.out << j.err;
  std::map<std::string, std::string> seen;  // "node K key" -> value
  for (const std::string& line : split_lines(j.out)) {
    PrefixedLine l;
    if (!parse_prefixed(line, &l) || l.text.rfind("tasks ", 0) != 0) continue;
    const size_t eq = l.text.find('=', l.text.find(' ', 6) + 1);
    const std::string key = l.text.substr(l.text.find(' ', 6) + 1, eq - l.text.find(' ', 6) - 1);
    seen["node " + std::to_string(l.node) + " " + key] = l.text.substr(eq + 1);
  }
  for (int k = 0; k < 2; ++k) {
    const std::string node = "node " + std::to_string(k) + " ";
    EXPECT_EQ(seen[node + "here"], std::to_string(k)) << j.out;
    // The task ran on a worker of the other node.
    EXPECT_EQ(seen[node + "other"], std::to_string(1 - k)) << j.out;
    EXPECT_EQ(seen[node + "outside"],
              "invalid_argument:shoal: TaskOptions::node 2 is not a node of this job (num_nodes() "
              "is 2)")
        << j.out;
  }
  expect_nothing_left(j);
}
