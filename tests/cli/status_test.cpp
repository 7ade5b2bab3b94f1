// `shoal status [--json]` while sessions run, and `shoal clean` after a
// launcher was killed with SIGKILL.
//
// This process runs a session of its own (256 MiB) with named actors in known
// states; `shoal launch` sessions are started beside it where needed.
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <shoal/shoal.hpp>

#include "tests/cli/processes.hpp"
#include "tests/support/group_holder.hpp"
#include "tests/support/test_support.hpp"

using namespace std::chrono_literals;
using namespace shoal::testing;

class StatusWorker {
 public:
  int work(int x) { return x + 1; }
  int pid() { return int(::getpid()); }
  int sleep_ms(int ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return ms;
  }
};
SHOAL_ACTOR(StatusWorker, &StatusWorker::work, &StatusWorker::pid, &StatusWorker::sleep_ms);

class StatusAsync {
 public:
  shoal::Task<int> twice(int x) { co_return 2 * x; }
};
SHOAL_ACTOR(StatusAsync, &StatusAsync::twice);

// A threaded actor whose "slow" group (two threads) runs long calls.
class StatusGroupedThreaded {
 public:
  int sleep_ms(int ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return ms;
  }
  int ping() { return 1; }
};
SHOAL_ACTOR(StatusGroupedThreaded, &StatusGroupedThreaded::sleep_ms, &StatusGroupedThreaded::ping);
SHOAL_CONCURRENCY_GROUP(StatusGroupedThreaded, "slow", 2, &StatusGroupedThreaded::sleep_ms);

// A rank that reports its session and sleeps until killed.
SHOAL_TEST_PEER(status_sleeper) {
  const char* s = std::getenv("SHOAL_SESSION");
  std::printf("ready rank=%d session=%s\n", shoal::rank(), s ? s : "");
  std::fflush(stdout);
  std::this_thread::sleep_for(120s);
  return 0;
}

namespace {

// ---- running the command ------------------------------------------------------------

struct Ran {
  int code = -1;
  std::string out, err;
};

Ran shoal_cmd(const std::vector<std::string>& args) {
  std::vector<std::string> argv{shoal_bin()};
  argv.insert(argv.end(), args.begin(), args.end());
  Child c(argv);
  Ran r;
  r.code = c.wait(60s);
  r.out = c.out();
  r.err = c.err();
  return r;
}

nlohmann::json status_json() {
  const Ran r = shoal_cmd({"status", "--json"});
  EXPECT_EQ(r.code, 0) << r.err;
  try {
    return nlohmann::json::parse(r.out);
  } catch (const std::exception& e) {
    ADD_FAILURE() << e.what() << "\n" << r.out;
    return nlohmann::json{};
  }
}

// The session named `name` in a status --json document, or nullptr.
const nlohmann::json* find_session(const nlohmann::json& doc, const std::string& name) {
  if (!doc.contains("sessions")) return nullptr;
  for (const nlohmann::json& s : doc.at("sessions")) {
    if (s.at("name").get<std::string>() == name) return &s;
  }
  return nullptr;
}

const nlohmann::json* find_actor(const nlohmann::json& session, const std::string& name) {
  for (const nlohmann::json& a : session.at("actors")) {
    if (a.at("name").get<std::string>() == name) return &a;
  }
  return nullptr;
}

// Starts `shoal launch -n ranks [flags] -- this binary` running status_sleeper
// and waits until every rank is ready; returns the launch's session name.
std::string start_sleeping_launch(Child& c, int ranks) {
  const bool ok = c.read_until([&](const std::string& out) {
    int ready = 0;
    for (const std::string& line : split_lines(out))
      ready += line.find(") ready ") != std::string::npos;
    return ready == ranks;
  });
  EXPECT_TRUE(ok) << c.out() << c.err();
  for (const std::string& line : split_lines(c.out())) {
    const size_t at = line.find("session=");
    if (at != std::string::npos) return line.substr(at + 8);
  }
  return "";
}

std::vector<std::string> launch_argv(int ranks, const std::vector<std::string>& flags) {
  std::vector<std::string> argv{shoal_bin(), "launch", "-n", std::to_string(ranks)};
  argv.insert(argv.end(), flags.begin(), flags.end());
  argv.push_back("--");
  argv.push_back(self_exe());
  return argv;
}

std::vector<pid_t> rank_pids(const std::string& out) {
  std::vector<pid_t> pids;
  for (const std::string& line : split_lines(out)) {
    int rank = 0, pid = 0;
    if (std::sscanf(line.c_str(), "(rank %d pid=%d)", &rank, &pid) == 2) pids.push_back(pid_t(pid));
  }
  return pids;
}

// The lines `shoal status` prints for session `name`: its header line and what follows up to the
// next session's. Other programs of this user (other tests among them) may run sessions with
// actors of the same names beside ours; only our block says what our session holds.
std::vector<std::string> session_block(const std::string& out, const std::string& name) {
  std::vector<std::string> block;
  bool inside = false;
  for (const std::string& line : split_lines(out)) {
    if (line.rfind("session ", 0) == 0) {
      inside = line == "session " + name || line == "session " + name + " (corrupt)";
    }
    if (inside) block.push_back(line);
  }
  return block;
}

constexpr uint64_t kStoreBytes = uint64_t(256) << 20;

// The session of this process, with actors in known states (see SetUpTestSuite).
class Status : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    shoal::init(shoal::Config{.store_bytes = kStoreBytes});
    s_ = new State;
    s_->big = shoal::put(std::vector<uint8_t>(size_t(4) << 20, 1));
    s_->alpha = shoal::actor<StatusWorker>().options({.name = "alpha"}).remote();
    for (int i = 0; i < 5; ++i)
      shoal::get(s_->alpha.task(&StatusWorker::work).remote(i));
    s_->alpha_served = 5;
    s_->alpha_pid = s_->alpha.pid();

    s_->phoenix =
        shoal::actor<StatusWorker>().options({.name = "phoenix", .max_restarts = 2}).remote();
    const pid_t first = s_->phoenix.pid();
    shoal::get(s_->phoenix.task(&StatusWorker::pid).remote());
    ::kill(first, SIGKILL);
    // Calls made once the restart is done succeed; earlier ones may fail.
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
      try {
        const int pid = shoal::get(s_->phoenix.task(&StatusWorker::pid).remote());
        if (pid != first) {
          s_->phoenix_pid = pid_t(pid);
          break;
        }
      } catch (const shoal::ActorDiedError&) {
      }
      std::this_thread::sleep_for(10ms);
    }

    s_->gamma = shoal::actor<StatusAsync>().options({.name = "gamma"}).remote();
    shoal::get(s_->gamma.task(&StatusAsync::twice).remote(1));
    shoal::get(s_->gamma.task(&StatusAsync::twice).remote(2));
    s_->anonymous = shoal::actor<StatusWorker>().remote();
    shoal::get(s_->anonymous.task(&StatusWorker::work).remote(0));

    // One call runs (for a long time), three wait in the ring behind it.
    s_->busy = shoal::actor<StatusWorker>().options({.name = "busy"}).remote();
    s_->busy_calls.push_back(s_->busy.task(&StatusWorker::sleep_ms).remote(60000));
    for (int i = 0; i < 3; ++i)
      s_->busy_calls.push_back(s_->busy.task(&StatusWorker::work).remote(i));

    // Concurrency groups: "io" of grouped_async runs one call and holds two more; "slow" of
    // grouped_threaded (overridden to one thread, and a group "extra" added) runs one and holds
    // three.
    s_->grouped_async = shoal::actor<GroupHolder>().options({.name = "grouped_async"}).remote();
    for (int i = 0; i < 3; ++i)
      s_->busy_calls.push_back(s_->grouped_async.task(&GroupHolder::hold).remote());
    s_->grouped_threaded = shoal::actor<StatusGroupedThreaded>()
                               .options({.name = "grouped_threaded",
                                         .concurrency_groups = {{"slow", 1}, {"extra", 3}}})
                               .remote();
    for (int i = 0; i < 4; ++i) {
      s_->busy_calls.push_back(
          s_->grouped_threaded.task(&StatusGroupedThreaded::sleep_ms).remote(60000));
    }
  }
  static void TearDownTestSuite() {
    delete s_;
    shoal::shutdown();
  }

  struct State {
    shoal::ObjectRef<std::vector<uint8_t>> big;
    shoal::ActorHandle<StatusWorker> alpha, phoenix, anonymous, busy;
    shoal::ActorHandle<StatusAsync> gamma;
    shoal::ActorHandle<GroupHolder> grouped_async;
    shoal::ActorHandle<StatusGroupedThreaded> grouped_threaded;
    pid_t alpha_pid = 0, phoenix_pid = 0;
    int alpha_served = 0;  // calls alpha has finished
    std::vector<shoal::ObjectRef<int>> busy_calls;
  };
  static State* s_;

  // status --json once the busy actor shows its running call and queue, and the calls made so
  // far are counted (an actor counts a call served just after its result is sealed, so get()
  // may return first).
  static nlohmann::json settled_status() {
    nlohmann::json doc;
    const bool ok = eventually(
        [&] {
          doc = status_json();
          const nlohmann::json* s = find_session(doc, session_name());
          const nlohmann::json* busy = s ? find_actor(*s, "busy") : nullptr;
          const nlohmann::json* alpha = s ? find_actor(*s, "alpha") : nullptr;
          const nlohmann::json* gamma = s ? find_actor(*s, "gamma") : nullptr;
          return busy && alpha && gamma && (*busy).at("queue_depth").get<double>() == 3 &&
                 (*busy).at("running").get<double>() == 1 &&
                 (*alpha).at("calls_served").get<double>() == s_->alpha_served &&
                 (*gamma).at("calls_served").get<double>() == 2;
        },
        30s);
    EXPECT_TRUE(ok) << "the busy actor never showed 1 running call and 3 queued, or alpha and "
                       "gamma never showed the calls they served";
    return doc;
  }
};
Status::State* Status::s_ = nullptr;

}  // namespace

TEST_F(Status, JsonListsTheSessionWithCapacityBytesUsedAndObjectCount) {
  ASSERT_NE(s_->phoenix_pid, 0) << "phoenix never restarted";
  const nlohmann::json doc = settled_status();
  const uint64_t live = store_live_objects();
  const nlohmann::json* s = find_session(doc, session_name());
  ASSERT_NE(s, nullptr) << "our session is not listed";
  EXPECT_EQ((*s).at("capacity_bytes").get<double>(), double(kStoreBytes));
  EXPECT_LE((*s).at("heap_bytes").get<double>(), (*s).at("capacity_bytes").get<double>());
  EXPECT_GE((*s).at("used_bytes").get<double>(), double(4 << 20));
  EXPECT_LE((*s).at("used_bytes").get<double>(), (*s).at("heap_bytes").get<double>());
  EXPECT_EQ((*s).at("objects").get<double>(), double(live));
  EXPECT_GE(live, 5u);  // the 4 MiB object and the four results of `busy`
  EXPECT_EQ((*s).at("world_size").get<double>(), 1);
  EXPECT_TRUE(running(pid_t((*s).at("supervisor_pid").get<double>())));
  EXPECT_EQ((*s).at("creator_pid").get<double>(), double(::getpid()));
  EXPECT_FALSE((*s).at("corrupt").get<bool>());
}

TEST_F(Status, JsonListsEachActorWithNameClassPidStateQueueRestartsAndCallsServed) {
  const nlohmann::json doc = settled_status();
  const nlohmann::json* s = find_session(doc, session_name());
  ASSERT_NE(s, nullptr);

  const nlohmann::json* alpha = find_actor(*s, "alpha");
  ASSERT_NE(alpha, nullptr);
  EXPECT_EQ((*alpha).at("class").get<std::string>(), "StatusWorker");
  EXPECT_EQ((*alpha).at("pid").get<double>(), double(s_->alpha_pid));
  EXPECT_EQ((*alpha).at("state").get<std::string>(), "alive");
  EXPECT_EQ((*alpha).at("queue_depth").get<double>(), 0);
  EXPECT_EQ((*alpha).at("restarts").get<double>(), 0);
  EXPECT_EQ((*alpha).at("calls_served").get<double>(), s_->alpha_served);

  const nlohmann::json* phoenix = find_actor(*s, "phoenix");
  ASSERT_NE(phoenix, nullptr);
  EXPECT_EQ((*phoenix).at("restarts").get<double>(), 1);
  EXPECT_EQ((*phoenix).at("pid").get<double>(), double(s_->phoenix_pid));
  EXPECT_EQ((*phoenix).at("state").get<std::string>(), "alive");

  const nlohmann::json* gamma = find_actor(*s, "gamma");
  ASSERT_NE(gamma, nullptr);
  EXPECT_EQ((*gamma).at("class").get<std::string>(), "StatusAsync");
  EXPECT_EQ((*gamma).at("calls_served").get<double>(), 2);
  EXPECT_EQ((*gamma).at("state").get<std::string>(), "alive");

  const nlohmann::json* busy = find_actor(*s, "busy");
  ASSERT_NE(busy, nullptr);
  EXPECT_EQ((*busy).at("queue_depth").get<double>(), 3);
  EXPECT_EQ((*busy).at("calls_served").get<double>(), 0);

  // The unnamed actor is listed too, with an empty name.
  bool anonymous = false;
  for (const nlohmann::json& a : (*s).at("actors")) {
    anonymous |= a.at("name").get<std::string>().empty() &&
                 a.at("class").get<std::string>() == "StatusWorker" &&
                 a.at("pid").get<double>() == double(s_->anonymous.pid());
  }
  EXPECT_TRUE(anonymous);
}

TEST_F(Status, TextShowsTheSessionAndOneRowPerActor) {
  settled_status();
  const Ran r = shoal_cmd({"status"});
  ASSERT_EQ(r.code, 0) << r.err;
  const std::vector<std::string> ours = session_block(r.out, session_name());
  ASSERT_FALSE(ours.empty()) << r.out;
  bool store_size = false;
  for (const std::string& line : ours)
    store_size |= line.find("256.0 MiB") != std::string::npos;
  EXPECT_TRUE(store_size) << r.out;
  // NAME CLASS PID CORE STATE QUEUE RESTARTS SERVED
  std::map<std::string, std::vector<std::string>> rows;
  for (const std::string& line : ours) {
    std::istringstream words(line);
    std::vector<std::string> w;
    for (std::string x; words >> x;)
      w.push_back(x);
    if (w.size() == 8) rows[w[0]] = w;
  }
  ASSERT_TRUE(rows.count("alpha")) << r.out;
  EXPECT_EQ(rows["alpha"],
            (std::vector<std::string>{"alpha", "StatusWorker", std::to_string(s_->alpha_pid), "-",
                                      "alive", "0", "0", std::to_string(s_->alpha_served)}));
  ASSERT_TRUE(rows.count("phoenix")) << r.out;
  EXPECT_EQ(rows["phoenix"][6], "1");
  ASSERT_TRUE(rows.count("busy")) << r.out;
  EXPECT_EQ(rows["busy"][5], "3");
  ASSERT_TRUE(rows.count("gamma")) << r.out;
  EXPECT_EQ(rows["gamma"][1], "StatusAsync");
}

// The groups of actor `name` as "name limit running queued" strings, from status --json.
std::vector<std::string> groups_of(const nlohmann::json& doc, const std::string& name) {
  std::vector<std::string> out;
  const nlohmann::json* s = find_session(doc, session_name());
  const nlohmann::json* a = s ? find_actor(*s, name) : nullptr;
  if (a == nullptr || !a->contains("concurrency_groups")) return out;
  for (const nlohmann::json& g : (*a).at("concurrency_groups")) {
    out.push_back(g.at("name").get<std::string>() + " " +
                  std::to_string(int(g.at("limit").get<double>())) + " " +
                  std::to_string(int(g.at("running").get<double>())) + " " +
                  std::to_string(int(g.at("queued").get<double>())));
  }
  return out;
}

TEST_F(Status, ShowsEachConcurrencyGroupWithItsLimitCallsInProgressAndQueued) {
  const std::vector<std::string> async_groups{"default 1000 0 0", "io 1 1 2"};
  const std::vector<std::string> threaded_groups{"default 1 0 0", "slow 1 1 3", "extra 3 0 0"};
  nlohmann::json doc;
  const bool ok = eventually(
      [&] {
        doc = status_json();
        return groups_of(doc, "grouped_async") == async_groups &&
               groups_of(doc, "grouped_threaded") == threaded_groups;
      },
      30s);
  EXPECT_TRUE(ok) << "never showed the expected groups";
  EXPECT_EQ(groups_of(doc, "grouped_async"), async_groups);
  EXPECT_EQ(groups_of(doc, "grouped_threaded"), threaded_groups);
  // An actor with the default group alone lists that one.
  EXPECT_EQ(groups_of(doc, "alpha"), (std::vector<std::string>{"default 1 0 0"}));
  // Other groups do not wait for the full ones.
  EXPECT_EQ(shoal::get(s_->grouped_async.task(&GroupHolder::ping).remote(), 60s), 1);
  EXPECT_EQ(shoal::get(s_->grouped_threaded.task(&StatusGroupedThreaded::ping).remote(), 60s), 1);

  const Ran r = shoal_cmd({"status"});
  ASSERT_EQ(r.code, 0) << r.err;
  std::vector<std::string> lines;
  for (const std::string& line : session_block(r.out, session_name())) {
    std::istringstream words(line);
    std::vector<std::string> w;
    for (std::string x; words >> x;)
      w.push_back(x);
    if (!w.empty() && w[0] == "group") lines.push_back(line.substr(line.find("group")));
  }
  // The text lists groups only for actors with more than the default one: these two.
  for (const char* want :
       {"limit=1 running=1 queued=2", "limit=1 running=1 queued=3", "limit=3 running=0 queued=0"}) {
    bool found = false;
    for (const std::string& l : lines)
      found |= l.find(want) != std::string::npos;
    EXPECT_TRUE(found) << want << "\n" << r.out;
  }
  EXPECT_EQ(lines.size(), 5u) << r.out;
}

TEST_F(Status, LaunchSessionIsListedWithItsWorldSizeAndStoreSize) {
  Child c(launch_argv(2, {"--store-size", "128M"}), {"SHOAL_TEST_PEER=status_sleeper"});
  const std::string name = start_sleeping_launch(c, 2);
  ASSERT_FALSE(name.empty());
  const nlohmann::json doc = status_json();
  const nlohmann::json* s = find_session(doc, name);
  ASSERT_NE(s, nullptr) << "the launch session is not listed";
  EXPECT_EQ((*s).at("world_size").get<double>(), 2);
  EXPECT_EQ((*s).at("capacity_bytes").get<double>(), double(128 << 20));
  EXPECT_EQ((*s).at("supervisor_pid").get<double>(), double(c.pid()));
  // Our own session is listed beside it.
  EXPECT_NE(find_session(doc, session_name()), nullptr);
  ::kill(c.pid(), SIGTERM);
  EXPECT_EQ(c.wait(30s), 128 + SIGTERM);
  EXPECT_EQ(find_session(status_json(), name), nullptr) << "an ended session is still listed";
}

TEST_F(Status, CleanRemovesTheSegmentOfASigkilledLauncherAndLeavesLiveSessionsAlone) {
  // A live launch beside ours: clean must not touch either.
  Child live(launch_argv(1, {}), {"SHOAL_TEST_PEER=status_sleeper"});
  const std::string live_name = start_sleeping_launch(live, 1);
  ASSERT_FALSE(live_name.empty());

  Child doomed(launch_argv(2, {}), {"SHOAL_TEST_PEER=status_sleeper"});
  const std::string dead_name = start_sleeping_launch(doomed, 2);
  ASSERT_FALSE(dead_name.empty());
  const std::vector<pid_t> ranks = rank_pids(doomed.out());
  const std::vector<pid_t> started = descendants(doomed.pid());
  ASSERT_EQ(ranks.size(), 2u);
  ::kill(doomed.pid(), SIGKILL);
  EXPECT_EQ(doomed.reap(), 128 + SIGKILL);
  // Its ranks (and their fork servers) die with it, by PDEATHSIG.
  for (pid_t p : started)
    EXPECT_TRUE(eventually([&] { return !running(p); }, 5s)) << p;
  ASSERT_TRUE(segment_exists(dead_name)) << "nothing should have removed it yet";
  EXPECT_EQ(find_session(status_json(), dead_name), nullptr) << "a dead session is listed as live";

  const Ran dry = shoal_cmd({"clean", "--dry-run"});
  EXPECT_EQ(dry.code, 0) << dry.err;
  EXPECT_NE(dry.out.find(dead_name), std::string::npos) << dry.out;
  EXPECT_TRUE(segment_exists(dead_name)) << "--dry-run removed it";

  const Ran clean = shoal_cmd({"clean"});
  EXPECT_EQ(clean.code, 0) << clean.err;
  EXPECT_NE(clean.out.find(dead_name), std::string::npos) << clean.out;
  EXPECT_FALSE(segment_exists(dead_name));
  EXPECT_EQ(clean.out.find(live_name), std::string::npos) << clean.out;
  EXPECT_EQ(clean.out.find(session_name()), std::string::npos) << clean.out;

  // The live sessions are intact and keep working.
  EXPECT_TRUE(segment_exists(live_name));
  EXPECT_TRUE(segment_exists(session_name()));
  EXPECT_EQ(shoal::get(shoal::put(std::string("after clean"))), "after clean");
  EXPECT_EQ(shoal::get(s_->alpha.task(&StatusWorker::work).remote(41)), 42);
  ++s_->alpha_served;
  EXPECT_NE(find_session(status_json(), live_name), nullptr);
  ::kill(live.pid(), SIGTERM);
  EXPECT_EQ(live.wait(30s), 128 + SIGTERM);
  EXPECT_FALSE(segment_exists(live_name));
}
