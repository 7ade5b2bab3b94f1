// Actors on another node of a job (ActorOptions::node): created by that
// node's node server, called through the two nodes' gateways. State and
// per-caller order, async actors, TaskError with the remote type and
// message, pid() and output of the remote actor, kill(), restarts, a named
// remote actor shared by the ranks of the creator's node, owned lifetimes,
// tasks on another node's workers, `shoal status` of a node, and what is
// refused with a clear error.
//
// The ranks are this test binary (SHOAL_TEST_PEER=<name>).
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <shoal/shoal.hpp>

#include "tests/cluster/mpi_jobs.hpp"

using namespace std::chrono_literals;
using namespace shoal::testing;

class Counter {
 public:
  explicit Counter(int start) : total_(start) {}
  int add(int n) { return total_ += n; }
  int node() { return shoal::node(); }
  int say(std::string text) {
    std::printf("%s\n", text.c_str());
    std::fflush(stdout);
    return int(::getpid());
  }
  int fail(std::string why) { throw std::runtime_error(why); }
  int crash() {
    std::fflush(nullptr);
    ::_exit(3);
  }
  std::vector<int> squares(int n) {
    std::vector<int> v;
    for (int i = 0; i < n; ++i)
      v.push_back(i * i);
    return v;
  }

 private:
  int total_;
};
SHOAL_ACTOR(Counter, &Counter::add, &Counter::node, &Counter::say, &Counter::fail, &Counter::crash,
            &Counter::squares);

class AsyncEcho {
 public:
  shoal::Task<std::string> echo(std::string s) {
    co_await shoal::sleep_for(1ms);
    co_return s + "@" + std::to_string(shoal::node());
  }
  shoal::Task<int> nap(int ms) {
    co_await shoal::sleep_for(std::chrono::milliseconds(ms));
    co_return ms;
  }
};
SHOAL_ACTOR(AsyncEcho, &AsyncEcho::echo, &AsyncEcho::nap);

// Records the calls of several callers: per-caller order and counts.
class Sink {
 public:
  int put(int caller, int seq) {
    int& last = last_[caller];
    if (seq != last + 1) ++disorder_;
    last = seq;
    ++calls_;
    return seq;
  }
  void done() { ++done_; }
  std::string summary() {
    return "calls=" + std::to_string(calls_) + " disorder=" + std::to_string(disorder_) +
           " done=" + std::to_string(done_);
  }

 private:
  std::map<int, int> last_;
  int calls_ = 0, disorder_ = 0, done_ = 0;
};
SHOAL_ACTOR(Sink, &Sink::put, &Sink::done, &Sink::summary);

int node_square(int x) {
  return shoal::node() * 1'000'000 + x * x;
}
int task_fail(int x) {
  throw std::logic_error("bad task " + std::to_string(x));
}
SHOAL_REMOTE(node_square, task_fail);

namespace {

template <class F>
std::string outcome(F&& f) {
  try {
    return "ok:" + f();
  } catch (const shoal::TaskCancelledError& e) {
    return std::string("TaskCancelledError:") + e.what();
  } catch (const shoal::TaskError& e) {
    return "TaskError:" + e.exception_type() + ":" + e.what();
  } catch (const shoal::ActorDiedError& e) {
    return std::string("ActorDiedError:") + e.what();
  } catch (const std::invalid_argument& e) {
    return std::string("invalid_argument:") + e.what();
  } catch (const shoal::UsageError& e) {
    return std::string("UsageError:") + e.what();
  } catch (const shoal::Error& e) {
    return std::string("Error:") + e.what();
  }
}

void line(const std::string& key, const std::string& value) {
  std::printf("remote %s=%s\n", key.c_str(), value.c_str());
  std::fflush(stdout);
}

}  // namespace

// Node 0's rank drives; the other ranks return at once (their nodes keep
// serving until the job ends).
SHOAL_TEST_PEER(remote_basics) {
  if (shoal::node() != 0) return 0;
  auto c = shoal::actor<Counter>().options({.node = 1}).remote(10);
  std::vector<shoal::ObjectRef<int>> refs;
  for (int i = 1; i <= 100; ++i)
    refs.push_back(c.task(&Counter::add).remote(i));
  int expect = 10;
  bool in_order = true;
  for (int i = 1; i <= 100; ++i) {
    expect += i;
    in_order &= shoal::get(refs[size_t(i - 1)], 30s) == expect;
  }
  line("order", in_order ? "ok" : "wrong");
  line("total", std::to_string(shoal::get(c.task(&Counter::add).remote(0), 30s)));
  line("actor_node", std::to_string(shoal::get(c.task(&Counter::node).remote(), 30s)));
  const int printed = shoal::get(c.task(&Counter::say).remote("hello from node 1"), 30s);
  line("actor", std::to_string(printed));
  line("pid_matches", c.pid() == printed ? "yes" : "no");
  line("vector", std::to_string(shoal::get(c.task(&Counter::squares).remote(1000), 30s)[999]));
  line("error", outcome([&] {
         return std::to_string(shoal::get(c.task(&Counter::fail).remote("boom"), 30s));
       }));

  auto a = shoal::actor<AsyncEcho>().options({.node = 1}).remote();
  std::vector<shoal::ObjectRef<std::string>> echoes;
  for (int i = 0; i < 50; ++i)
    echoes.push_back(a.task(&AsyncEcho::echo).remote(std::to_string(i)));
  bool echoed = true;
  for (int i = 0; i < 50; ++i)
    echoed &= shoal::get(echoes[size_t(i)], 30s) == std::to_string(i) + "@1";
  line("async", echoed ? "ok" : "wrong");
  // cancel() of a call running on node 1: its one outcome is TaskCancelledError.
  auto long_nap = a.task(&AsyncEcho::nap).remote(20'000);
  std::this_thread::sleep_for(100ms);
  shoal::cancel(long_nap);
  line("cancelled", outcome([&] { return std::to_string(shoal::get(long_nap, 10s)); }));
  line("after_cancel", std::to_string(shoal::get(a.task(&AsyncEcho::nap).remote(1), 10s)));

  // A restart (max_restarts 1) reruns the constructor on node 1.
  auto r = shoal::actor<Counter>().options({.max_restarts = 1, .node = 1}).remote(100);
  line("before_crash", std::to_string(shoal::get(r.task(&Counter::add).remote(1), 30s)));
  line("crash",
       outcome([&] { return std::to_string(shoal::get(r.task(&Counter::crash).remote(), 30s)); }));
  line("after_restart",
       outcome([&] { return std::to_string(shoal::get(r.task(&Counter::add).remote(2), 30s)); }));

  shoal::kill(c);
  line("after_kill",
       outcome([&] { return std::to_string(shoal::get(c.task(&Counter::add).remote(1), 30s)); }));
  line("killed_pid_gone",
       eventually([&] { return !process_alive(pid_t(printed)); }, 10s) ? "yes" : "no");

  line("bad_node", outcome([&] {
         shoal::actor<Counter>().options({.node = 7}).remote(0);
         return std::string("created");
       }));
  auto named = shoal::actor<Counter>().options({.name = "twice", .node = 1}).remote(0);
  line("duplicate_name", outcome([&] {
         shoal::actor<Counter>().options({.name = "twice", .node = 1}).remote(0);
         return std::string("created");
       }));
  // An owned actor whose handles are gone ends on its node.
  int owned_pid = 0;
  {
    auto o = shoal::actor<Counter>().options({.node = 1}).remote(0);
    owned_pid = shoal::get(o.task(&Counter::say).remote("owned actor"), 30s);
  }
  line("owned_gone",
       eventually([&] { return !process_alive(pid_t(owned_pid)); }, 10s) ? "yes" : "no");
  line("named_alive", std::to_string(shoal::get(named.task(&Counter::add).remote(5), 30s)));

  // Tasks on node 1's workers (TaskOptions::node), pipelined, and a task that throws.
  std::vector<shoal::ObjectRef<int>> squares;
  for (int i = 0; i < 500; ++i)
    squares.push_back(shoal::task(node_square).options({.node = 1}).remote(i));
  bool on_node_1 = true;
  for (int i = 0; i < 500; ++i)
    on_node_1 &= shoal::get(squares[size_t(i)], 30s) == 1'000'000 + i * i;
  line("tasks", on_node_1 ? "ok" : "wrong");
  line("task_error", outcome([&] {
         return std::to_string(
             shoal::get(shoal::task(task_fail).options({.node = 1}).remote(7), 30s));
       }));

  // `shoal status` of this node: the nodes it is joined to, its calls to them,
  // and the named actor of node 1 with its node and pid there.
  const int named_pid = shoal::get(named.task(&Counter::say).remote("named actor"), 30s);
  const CommandResult st = run_command({shoal_bin(), "status", "--json"});
  const auto all = nlohmann::json::parse(st.out, nullptr, false);
  const std::string me = std::getenv("SHOAL_SESSION") ? std::getenv("SHOAL_SESSION") : "";
  for (const auto& session : all.value("sessions", nlohmann::json::array())) {
    if (session.value("name", "") != me) continue;
    line("status_node", std::to_string(session.value("node", -1)));
    line("status_num_nodes", std::to_string(session.value("num_nodes", -1)));
    std::string joined;
    for (const auto& n : session.value("nodes", nlohmann::json::array()))
      joined += std::to_string(n.value("node", -1)) + (n.value("session", "").empty() ? "?" : "");
    line("status_joined", joined);
    line("status_calls_out", session.value("calls_to_other_nodes", 0) > 600 ? "many" : "few");
    for (const auto& a : session.value("actors", nlohmann::json::array())) {
      if (a.value("name", "") != "twice") continue;
      line("status_named", std::to_string(a.value("node", -1)) + "," +
                               (a.value("pid", 0) == named_pid ? "pid" : "other pid"));
    }
  }
  return 0;
}

// Both ranks of node 0 call one named actor on node 1, 20,000 calls each,
// pipelined; node 1's ranks return at once.
SHOAL_TEST_PEER(remote_callers) {
  if (shoal::node() != 0) return 0;
  constexpr int kCalls = 20'000;
  shoal::ActorHandle<Sink> sink;
  if (shoal::local_rank() == 0) {
    sink = shoal::actor<Sink>()
               .options({.name = "sink", .lifetime = shoal::Lifetime::kDetached, .node = 1})
               .remote();
  } else {
    for (int i = 0; i < 2000 && !sink.valid(); ++i) {
      try {
        sink = shoal::get_actor<Sink>("sink");
      } catch (const shoal::ActorNotFoundError&) {
        std::this_thread::sleep_for(5ms);
      }
    }
  }
  const int me = shoal::rank();
  int wrong = 0;
  std::vector<shoal::ObjectRef<int>> window;
  for (int seq = 1; seq <= kCalls; ++seq) {
    window.push_back(sink.task(&Sink::put).remote(me, seq));
    if (window.size() == 1000 || seq == kCalls) {
      const int first = seq - int(window.size()) + 1;
      for (size_t i = 0; i < window.size(); ++i)
        wrong += shoal::get(window[i], 60s) != first + int(i);
      window.clear();
    }
  }
  shoal::get(sink.task(&Sink::done).remote(), 60s);
  line("caller" + std::to_string(me) + "_wrong", std::to_string(wrong));
  if (shoal::local_rank() == 0) {
    std::string s;
    for (int i = 0; i < 3000; ++i) {
      s = shoal::get(sink.task(&Sink::summary).remote(), 60s);
      if (s.find("done=2") != std::string::npos) break;
      std::this_thread::sleep_for(10ms);
    }
    std::printf("remote summary %s\n", s.c_str());
    std::fflush(stdout);
  }
  return 0;
}

// Node 1 creates a detached actor named "shared"; the ranks of nodes 0 and 2
// find it with get_actor() and call it 1,000 times each. Node 0 also looks up
// a name no node has, and "shared" as another class.
SHOAL_TEST_PEER(remote_names) {
  if (shoal::node() == 1) {
    auto made = shoal::actor<Counter>()
                    .options({.name = "shared", .lifetime = shoal::Lifetime::kDetached})
                    .remote(0);
    // Serves until the other nodes are done with it.
    for (int i = 0; i < 3000 && shoal::get(made.task(&Counter::add).remote(0), 30s) < 2000; ++i)
      std::this_thread::sleep_for(10ms);
    return 0;
  }
  shoal::ActorHandle<Counter> shared;
  for (int i = 0; i < 1000 && !shared.valid(); ++i) {
    try {
      shared = shoal::get_actor<Counter>("shared");
    } catch (const shoal::ActorNotFoundError&) {
      std::this_thread::sleep_for(10ms);  // node 1 has not made it yet
    }
  }
  const std::string me = "node" + std::to_string(shoal::node());
  line(me + "_found", shared.valid() ? "yes" : "no");
  if (!shared.valid()) return 1;
  line(me + "_actor_node", std::to_string(shoal::get(shared.task(&Counter::node).remote(), 30s)));
  std::vector<shoal::ObjectRef<int>> adds;
  for (int i = 0; i < 1000; ++i)
    adds.push_back(shared.task(&Counter::add).remote(1));
  for (const auto& a : adds)
    shoal::get(a, 30s);
  if (shoal::node() != 0) return 0;
  line("missing", outcome([&] {
         shoal::get_actor<Counter>("nobody has this name");
         return std::string("found");
       }));
  std::string mismatch = "none";
  try {
    shoal::get_actor<Sink>("shared");
  } catch (const shoal::TypeMismatchError& e) {
    mismatch = e.what();
  }
  line("mismatch", mismatch);
  int total = 0;
  for (int i = 0; i < 3000 && total < 2000; ++i) {
    total = shoal::get(shared.task(&Counter::add).remote(0), 30s);
    if (total < 2000) std::this_thread::sleep_for(10ms);
  }
  line("shared_total", std::to_string(total));
  return 0;
}

namespace {

struct Job {
  int code = -1;
  std::string out, err;
};

Job run_job(int nodes, const std::vector<std::string>& transport, int ranks,
            const std::string& peer) {
  Child c(mpirun_argv(nodes, transport, launch_program(ranks, {})), mpi_env(peer));
  Job j;
  j.code = c.wait(200s);
  j.out = c.out();
  j.err = c.err();
  return j;
}

// "remote key=value" lines of node 0's rank 0.
std::map<std::string, std::string> results(const Job& j) {
  std::map<std::string, std::string> seen;
  for (const std::string& text : split_lines(j.out)) {
    PrefixedLine l;
    if (!parse_prefixed(text, &l) || l.text.rfind("remote ", 0) != 0) continue;
    const size_t eq = l.text.find('=');
    if (eq == std::string::npos) continue;
    seen[l.text.substr(7, eq - 7)] = l.text.substr(eq + 1);
  }
  return seen;
}

void expect_nothing_left(const Job& j) {
  const Reported r = reported(j.out);
  for (pid_t p : r.pids) {
    EXPECT_TRUE(eventually([&] { return !running(p); }, 2s)) << "pid " << p << " still runs";
  }
}

void check_basics(const Job& j) {
  ASSERT_EQ(j.code, 0) << j.out << j.err;
  auto r = results(j);
  EXPECT_EQ(r["order"], "ok") << j.out;
  EXPECT_EQ(r["total"], std::to_string(10 + 5050));
  EXPECT_EQ(r["actor_node"], "1");
  EXPECT_EQ(r["pid_matches"], "yes");
  EXPECT_EQ(r["vector"], std::to_string(999 * 999));
  // The remote type and the message, as a local actor's: its class, method and pid.
  EXPECT_EQ(r["error"], "TaskError:std::runtime_error:Counter.fail (pid=" + r["actor"] +
                            ") raised std::runtime_error: boom")
      << j.out;
  EXPECT_EQ(r["async"], "ok");
  EXPECT_EQ(r["cancelled"].rfind("TaskCancelledError:", 0), 0u) << r["cancelled"];
  EXPECT_EQ(r["after_cancel"], "1");
  EXPECT_EQ(r["before_crash"], "101");
  EXPECT_EQ(r["crash"].rfind("ActorDiedError:", 0), 0u) << r["crash"];
  EXPECT_EQ(r["after_restart"], "ok:102") << j.out;
  EXPECT_EQ(r["after_kill"], "ActorDiedError:actor Counter was killed (shoal::kill)") << j.out;
  EXPECT_EQ(r["killed_pid_gone"], "yes");
  EXPECT_EQ(r["bad_node"],
            "invalid_argument:shoal: ActorOptions::node 7 is not a node of this job (num_nodes() "
            "is 2)");
  EXPECT_EQ(r["duplicate_name"],
            "UsageError:shoal: an actor named \"twice\" already exists in this session");
  EXPECT_EQ(r["owned_gone"], "yes");
  EXPECT_EQ(r["named_alive"], "5");
  EXPECT_EQ(r["tasks"], "ok");
  EXPECT_EQ(r["status_node"], "0") << j.out;
  EXPECT_EQ(r["status_num_nodes"], "2");
  EXPECT_EQ(r["status_joined"], "01");
  EXPECT_EQ(r["status_calls_out"], "many");
  EXPECT_EQ(r["status_named"], "1,pid");
  EXPECT_EQ(r["task_error"].rfind("TaskError:std::logic_error:", 0), 0u) << r["task_error"];
  EXPECT_NE(r["task_error"].find("bad task 7"), std::string::npos) << r["task_error"];
  // The actor's own line reached mpirun's stdout with its node and pid.
  bool printed = false;
  for (const std::string& text : split_lines(j.out)) {
    PrefixedLine l;
    if (!parse_prefixed(text, &l) || l.text != "hello from node 1") continue;
    printed = true;
    EXPECT_EQ(l.who, "Counter");
    EXPECT_EQ(l.node, 1);
    EXPECT_EQ(std::to_string(l.pid), r["actor"]);
  }
  EXPECT_TRUE(printed) << j.out;
  expect_nothing_left(j);
}

}  // namespace

TEST(RemoteActors, LiveOnTheirNodeAndKeepEveryLocalGuaranteeOverTcp) {
  SHOAL_SKIP_WITHOUT_MPI();
  check_basics(run_job(2, kTcp, 1, "remote_basics"));
}

TEST(RemoteActors, OverTheDefaultTransport) {
  SHOAL_SKIP_WITHOUT_MPI();
  check_basics(run_job(2, kDefaultTransport, 1, "remote_basics"));
}

TEST(RemoteActors, TwoCallersOfOneNodeIntoANamedActorOfAnotherEachResultExactlyOnceInOrder) {
  SHOAL_SKIP_WITHOUT_MPI();
  const Job j = run_job(2, kTcp, 2, "remote_callers");
  ASSERT_EQ(j.code, 0) << j.out << j.err;
  auto r = results(j);
  EXPECT_EQ(r["caller0_wrong"], "0") << j.out;
  EXPECT_EQ(r["caller1_wrong"], "0") << j.out;
  EXPECT_NE(j.out.find("remote summary calls=40000 disorder=0 done=2"), std::string::npos) << j.out;
  expect_nothing_left(j);
}

TEST(RemoteActors, GetActorFindsANamedActorOfAnotherNodeFromEveryNode) {
  SHOAL_SKIP_WITHOUT_MPI();
  const Job j = run_job(3, kTcp, 1, "remote_names");
  ASSERT_EQ(j.code, 0) << j.out << j.err;
  auto r = results(j);
  EXPECT_EQ(r["node0_found"], "yes") << j.out;
  EXPECT_EQ(r["node2_found"], "yes") << j.out;
  EXPECT_EQ(r["node0_actor_node"], "1");
  EXPECT_EQ(r["node2_actor_node"], "1");
  EXPECT_EQ(r["missing"],
            "Error:shoal::get_actor: no live actor named \"nobody has this name\" on any node")
      << j.out;
  EXPECT_EQ(r["mismatch"], "shoal::get_actor: actor \"shared\" is a Counter, not a Sink") << j.out;
  EXPECT_EQ(r["shared_total"], "2000") << j.out;
  expect_nothing_left(j);
}
