// `shoal launch` end to end: output prefixes, ranks, objects and actors shared
// between ranks, core pinning, exit statuses, crashes, signals and store sizes.
//
// The ranks are this test binary: SHOAL_TEST_PEER=<name> in the launcher's
// environment makes each rank's main() join the launch session (shoal::init())
// and run the peer function <name> instead of the tests.
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <shoal/shoal.hpp>

#include "tests/cli/processes.hpp"
#include "tests/support/test_support.hpp"

using namespace std::chrono_literals;
using namespace shoal::testing;

// A notice board shared by the ranks: rank 0 creates it under a name.
class Board {
 public:
  void post(std::string key, std::string value) {
    std::lock_guard<std::mutex> lock(mu_);
    posts_[key] = value;
  }
  std::string fetch(std::string key) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = posts_.find(key);
    return it == posts_.end() ? std::string() : it->second;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::string> posts_;
};
SHOAL_ACTOR(Board, &Board::post, &Board::fetch);

// Prints a line from inside an actor process.
class Printer {
 public:
  int say(std::string text) {
    std::printf("%s\n", text.c_str());
    std::fflush(stdout);
    return int(::getpid());
  }
};
SHOAL_ACTOR(Printer, &Printer::say);

// Remembers numbers under keys; crashes on request, to be restarted.
class Survivor {
 public:
  int pid() { return int(::getpid()); }
  int note(std::string key, int value) {
    std::lock_guard<std::mutex> lock(mu_);
    notes_[key] = value;
    return value;
  }
  int noted(std::string key) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = notes_.find(key);
    return it == notes_.end() ? 0 : it->second;
  }
  int crash() { std::abort(); }

 private:
  std::mutex mu_;
  std::map<std::string, int> notes_;
};
SHOAL_ACTOR(Survivor, &Survivor::pid, &Survivor::note, &Survivor::noted, &Survivor::crash);

namespace {

// ---- what ranks print --------------------------------------------------------

// The payload of line i of rank r: long, and different for every line.
std::string payload(int r, int i, size_t len) {
  std::string s(len, ' ');
  for (size_t k = 0; k < len; ++k)
    s[k] = char('a' + (size_t(r) * 7 + size_t(i) * 3 + k) % 26);
  return s;
}

const char* session_env() {
  const char* s = std::getenv("SHOAL_SESSION");
  return s ? s : "";
}

// Polls `fn` (which returns "" for "not yet") for up to `timeout`.
std::string poll_for(const std::function<std::string()>& fn, std::chrono::seconds timeout = 60s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::string v = fn();
    if (!v.empty()) return v;
    std::this_thread::sleep_for(5ms);
  }
  return "";
}

// ---- running the launcher -------------------------------------------------------

struct Launched {
  int code = -1;
  std::string out, err;
  pid_t pid = 0;
  double seconds = 0;
};

std::vector<std::string> launch_argv(const std::vector<std::string>& flags,
                                     const std::vector<std::string>& peer_args) {
  std::vector<std::string> argv{shoal_bin(), "launch"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  argv.push_back("--");
  argv.push_back(self_exe());
  argv.insert(argv.end(), peer_args.begin(), peer_args.end());
  return argv;
}

Launched launch(const std::string& peer, const std::vector<std::string>& flags,
                const std::vector<std::string>& peer_args = {}, std::vector<std::string> env = {},
                std::chrono::seconds timeout = 120s) {
  env.push_back("SHOAL_TEST_PEER=" + peer);
  const auto start = std::chrono::steady_clock::now();
  Child c(launch_argv(flags, peer_args), env);
  Launched r;
  r.pid = c.pid();
  r.code = c.wait(timeout);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.out = c.out();
  r.err = c.err();
  return r;
}

struct RankLine {
  int rank = -1;
  pid_t pid = 0;
  std::string text;  // after the prefix
};

// Splits "(rank R pid=P) text"; rank -1 if the line has no such prefix.
RankLine parse_rank_line(const std::string& line) {
  RankLine r;
  int rank = -1, pid = 0, used = 0;
  if (std::sscanf(line.c_str(), "(rank %d pid=%d) %n", &rank, &pid, &used) == 2 && used > 0) {
    r.rank = rank;
    r.pid = pid;
    r.text = line.substr(size_t(used));
  }
  return r;
}

// The value after "key=" in a rank's text ("" if absent).
std::string field(const std::string& text, const std::string& key) {
  const size_t at = text.find(key + "=");
  if (at == std::string::npos) return "";
  const size_t start = at + key.size() + 1;
  return text.substr(start, text.find(' ', start) - start);
}

// The session the ranks reported ("session=NAME" on any line).
std::set<std::string> reported_sessions(const std::string& out) {
  std::set<std::string> names;
  for (const std::string& line : split_lines(out)) {
    const std::string s = field(parse_rank_line(line).text, "session");
    if (!s.empty()) names.insert(s);
  }
  return names;
}

void expect_no_segment_left(const Launched& r) {
  EXPECT_TRUE(segments_of(r.pid).empty()) << "the launcher left " << segments_of(r.pid).front();
  for (const std::string& s : reported_sessions(r.out)) {
    EXPECT_FALSE(segment_exists(s)) << s << " left behind";
  }
}

std::set<pid_t> rank_pids(const std::string& out) {
  std::set<pid_t> pids;
  for (const std::string& line : split_lines(out)) {
    const RankLine l = parse_rank_line(line);
    if (l.rank >= 0) pids.insert(l.pid);
  }
  return pids;
}

}  // namespace

// ---- rank programs -----------------------------------------------------------------

// Prints args[0] lines of args[1] characters on stdout and every tenth on
// stderr, through full stdio buffers so that writes cut lines anywhere.
SHOAL_TEST_PEER(print_lines) {
  static char out_buf[4096], err_buf[1000];
  std::setvbuf(stdout, out_buf, _IOFBF, sizeof(out_buf));
  std::setvbuf(stderr, err_buf, _IOFBF, sizeof(err_buf));
  const int n = std::atoi(args.at(0).c_str());
  const size_t len = size_t(std::atoi(args.at(1).c_str()));
  const int r = shoal::rank();
  for (int i = 0; i < n; ++i) {
    std::printf("rank=%d pid=%d i=%d %s\n", r, int(::getpid()), i, payload(r, i, len).c_str());
    if (i % 10 == 0)
      std::fprintf(stderr, "err rank=%d i=%d %s\n", r, i, payload(r, -i, len / 2).c_str());
  }
  std::fflush(nullptr);
  return 0;
}

SHOAL_TEST_PEER(report_rank) {
  std::printf("rank=%d world=%d pid=%d session=%s\n", shoal::rank(), shoal::world_size(),
              int(::getpid()), session_env());
  return 0;
}

// Each rank's actor prints a line; the rank reports the actor's pid.
SHOAL_TEST_PEER(actor_prints) {
  auto printer = shoal::actor<Printer>().remote();
  const int pid =
      shoal::get(printer.task(&Printer::say)
                     .remote("hello from the actor of rank " + std::to_string(shoal::rank())));
  std::printf("actor_pid=%d\n", pid);
  return 0;
}

// Every rank puts a value, posts its id on a board rank 0 created under a
// name, reads every other rank's value, and stays until all have read its own.
SHOAL_TEST_PEER(share_objects) {
  const int r = shoal::rank(), n = shoal::world_size();
  try {
    shoal::ActorHandle<Board> board;
    if (r == 0) {
      board = shoal::actor<Board>().options(shoal::ActorOptions{.name = "board"}).remote();
    } else {
      const std::string found = poll_for([&] {
        try {
          board = shoal::get_actor<Board>("board");
          return std::string("yes");
        } catch (const shoal::ActorNotFoundError&) {
          return std::string();
        }
      });
      if (found.empty()) {
        std::printf("rank %d: no board\n", r);
        return 1;
      }
    }
    std::vector<int64_t> mine(1000);
    for (size_t i = 0; i < mine.size(); ++i)
      mine[i] = int64_t(i) * (r + 1);
    auto ref = shoal::put(mine);
    shoal::get(board.task(&Board::post).remote("id" + std::to_string(r), ref.id().to_string()));
    for (int other = 0; other < n; ++other) {
      if (other == r) continue;
      const std::string id = poll_for([&] {
        return shoal::get(board.task(&Board::fetch).remote("id" + std::to_string(other)));
      });
      if (id.empty()) {
        std::printf("rank %d: no id from rank %d\n", r, other);
        return 1;
      }
      const shoal::ObjectRef<std::vector<int64_t>> theirs(shoal::ObjectId::parse(id));
      const auto view = shoal::get_view(theirs);
      int64_t sum = 0;
      for (int64_t v : view)
        sum += v;
      std::printf("rank=%d read_from=%d sum=%lld session=%s\n", r, other,
                  static_cast<long long>(sum), session_env());
    }
    // Each rank's object must live until every other rank has read it; the
    // board lives in rank 0's session part, so rank 0 leaves last.
    auto wait_all = [&](const std::string& key) {
      for (int other = 0; other < n; ++other) {
        if (poll_for([&] {
              return shoal::get(board.task(&Board::fetch).remote(key + std::to_string(other)));
            }).empty()) {
          std::printf("rank %d: rank %d never posted %s\n", r, other, key.c_str());
          return false;
        }
      }
      return true;
    };
    shoal::get(board.task(&Board::post).remote("done" + std::to_string(r), std::string("1")));
    if (!wait_all("done")) return 1;
    shoal::get(board.task(&Board::post).remote("bye" + std::to_string(r), std::string("1")));
    if (r == 0 && !wait_all("bye")) return 1;
  } catch (const std::exception& e) {
    std::printf("rank %d: %s\n", r, e.what());
    return 1;
  }
  return 0;
}

// Checks that this rank runs on exactly core LIST[rank % size] (args[0]).
SHOAL_TEST_PEER(check_affinity) {
  std::vector<int> cores;
  std::string list = args.at(0);
  for (size_t at = 0; at <= list.size();) {
    size_t comma = list.find(',', at);
    if (comma == std::string::npos) comma = list.size();
    cores.push_back(std::atoi(list.substr(at, comma - at).c_str()));
    at = comma + 1;
  }
  const int want = cores[size_t(shoal::rank()) % cores.size()];
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof(set), &set) != 0) return 2;
  std::string have;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set)) have += (have.empty() ? "" : ",") + std::to_string(c);
  }
  std::printf("rank=%d want=%d have=%s\n", shoal::rank(), want, have.c_str());
  return have == std::to_string(want) ? 0 : 1;
}

// args[rank]: what this rank does after printing "started": "ok", "sleep",
// "exit:N" (after 50 ms), "exit-now:N", "abort" or "sigkill".
SHOAL_TEST_PEER(act_by_rank) {
  const int r = shoal::rank();
  const std::string what = args.at(size_t(r));
  std::printf("started rank=%d session=%s\n", r, session_env());
  std::fflush(stdout);
  if (what == "sleep") std::this_thread::sleep_for(120s);
  if (what.rfind("exit-now:", 0) == 0) return std::atoi(what.c_str() + 9);
  if (what.rfind("exit:", 0) == 0) {
    std::this_thread::sleep_for(50ms);
    return std::atoi(what.c_str() + 5);
  }
  if (what == "abort") std::abort();
  if (what == "sigkill") ::kill(::getpid(), SIGKILL);
  return 0;
}

// Rank 0 creates a detached actor and an owned one, and ends once rank 1 has
// found both. Rank 1 then sees the owned one die with its creator, and the
// detached one serve on and be restarted after a crash.
SHOAL_TEST_PEER(detached_outlives_rank) {
  const int r = shoal::rank();
  try {
    if (r == 0) {
      auto keeper =
          shoal::actor<Survivor>()
              .options(
                  {.name = "keeper", .max_restarts = 1, .lifetime = shoal::Lifetime::kDetached})
              .remote();
      auto owned = shoal::actor<Survivor>().options({.name = "owned-by-0"}).remote();
      shoal::get(owned.task(&Survivor::pid).remote(), 30s);
      shoal::get(keeper.task(&Survivor::note).remote("pid0", int(::getpid())), 30s);
      const bool found = eventually(
          [&] { return shoal::get(keeper.task(&Survivor::noted).remote("found1"), 30s) == 1; },
          60s);
      std::printf("rank 0 leaves found=%d\n", int(found));
      return found ? 0 : 1;
    }
    shoal::ActorHandle<Survivor> keeper, owned;
    const bool found = eventually(
        [&] {
          try {
            keeper = shoal::get_actor<Survivor>("keeper");
            owned = shoal::get_actor<Survivor>("owned-by-0");
            return true;
          } catch (const shoal::ActorNotFoundError&) {
            return false;
          }
        },
        60s);
    if (!found) {
      std::printf("rank 1: no actors\n");
      return 1;
    }
    const int pid0 =
        eventually(
            [&] { return shoal::get(keeper.task(&Survivor::noted).remote("pid0"), 30s) != 0; }, 60s)
            ? shoal::get(keeper.task(&Survivor::noted).remote("pid0"), 30s)
            : 0;
    shoal::get(keeper.task(&Survivor::note).remote("found1", 1), 30s);
    if (pid0 <= 0 || !eventually([&] { return !process_alive(pid0); }, 60s)) {
      std::printf("rank 1: rank 0 (pid %d) did not end\n", pid0);
      return 1;
    }
    // The owned actor ends with its creator, though this rank holds a handle.
    const bool owned_died = eventually(
        [&] {
          try {
            shoal::get(owned.task(&Survivor::pid).remote(), 30s);
            return false;
          } catch (const shoal::ActorDiedError&) {
            return true;
          }
        },
        30s);
    // The detached one serves on, and a crash restarts it.
    const int before = shoal::get(keeper.task(&Survivor::pid).remote(), 30s);
    bool crash_failed = false;
    try {
      shoal::get(keeper.task(&Survivor::crash).remote(), 30s);
    } catch (const shoal::ActorDiedError&) {
      crash_failed = true;
    }
    int after = 0;
    eventually(
        [&] {
          try {
            after = shoal::get(keeper.task(&Survivor::pid).remote(), 30s);
            return true;
          } catch (const shoal::ActorDiedError&) {
            return false;
          }
        },
        30s);
    std::printf("owned_died=%d crash_failed=%d restarted=%d keeper_pid=%d\n", int(owned_died),
                int(crash_failed), int(after > 0 && after != before), after);
  } catch (const std::exception& e) {
    std::printf("rank %d: %s\n", r, e.what());
    return 1;
  }
  return 0;
}

// Prints "ready", then sleeps; with args[0] == "ignore-term" it ignores SIGTERM.
SHOAL_TEST_PEER(sleep_ready) {
  if (!args.empty() && args[0] == "ignore-term") ::signal(SIGTERM, SIG_IGN);
  std::printf("ready rank=%d session=%s\n", shoal::rank(), session_env());
  std::fflush(stdout);
  std::this_thread::sleep_for(120s);
  return 0;
}

// Rank 0 checks that args[0] bytes fit in the store and args[1] bytes do not.
SHOAL_TEST_PEER(store_probe) {
  if (shoal::rank() != 0) return 0;
  const size_t fit = std::strtoull(args.at(0).c_str(), nullptr, 10);
  const size_t nofit = std::strtoull(args.at(1).c_str(), nullptr, 10);
  try {
    auto ref = shoal::put(std::vector<uint8_t>(fit, 1));
    if (shoal::get_view(ref).size() != fit) return 1;
  } catch (const std::exception& e) {
    std::printf("put of %zu failed: %s\n", fit, e.what());
    return 1;
  }
  try {
    shoal::put(std::vector<uint8_t>(nofit, 2));
    std::printf("put of %zu succeeded\n", nofit);
    return 1;
  } catch (const shoal::ObjectStoreFullError& e) {
    std::printf("probe ok session=%s free=%llu\n", session_env(),
                static_cast<unsigned long long>(e.free_bytes()));
  }
  return 0;
}

// ---- output ----------------------------------------------------------------------

TEST(Launch, EveryLineIsPrefixedWithItsRankAndPidAndNeverSplit) {
  const int ranks = 3, lines = 2000;
  const size_t len = 700;
  const Launched r = launch("print_lines", {"-n", std::to_string(ranks)},
                            {std::to_string(lines), std::to_string(len)});
  ASSERT_EQ(r.code, 0) << r.err.substr(0, 2000);
  std::map<int, int> next;  // rank -> next expected line number
  std::map<int, pid_t> pid_of_rank;
  for (const std::string& line : split_lines(r.out)) {
    const RankLine l = parse_rank_line(line);
    ASSERT_GE(l.rank, 0) << "unprefixed line: " << line.substr(0, 200);
    ASSERT_LT(l.rank, ranks);
    const int rank = std::atoi(field(l.text, "rank").c_str());
    const pid_t pid = pid_t(std::atoi(field(l.text, "pid").c_str()));
    const int i = std::atoi(field(l.text, "i").c_str());
    // The prefix names the rank and the pid of the process that printed it.
    ASSERT_EQ(rank, l.rank) << line.substr(0, 200);
    ASSERT_EQ(pid, l.pid) << line.substr(0, 200);
    ASSERT_EQ(i, next[rank]) << "rank " << rank << " lines out of order or lost";
    const std::string want = "rank=" + std::to_string(rank) + " pid=" + std::to_string(pid) +
                             " i=" + std::to_string(i) + " " + payload(rank, i, len);
    ASSERT_EQ(l.text, want) << "line " << i << " of rank " << rank << " was split or mixed";
    ++next[rank];
    pid_of_rank[rank] = pid;
  }
  for (int k = 0; k < ranks; ++k)
    EXPECT_EQ(next[k], lines) << "rank " << k;
  // Ranks are different processes.
  std::set<pid_t> pids;
  for (auto [k, p] : pid_of_rank)
    pids.insert(p);
  EXPECT_EQ(pids.size(), size_t(ranks));
  EXPECT_EQ(pids.count(r.pid), 0u);

  std::map<int, int> err_lines;
  for (const std::string& line : split_lines(r.err)) {
    const RankLine l = parse_rank_line(line);
    ASSERT_GE(l.rank, 0) << "unprefixed stderr line: " << line.substr(0, 200);
    const int i = std::atoi(field(l.text, "i").c_str());
    ASSERT_EQ(l.text, "err rank=" + std::to_string(l.rank) + " i=" + std::to_string(i) + " " +
                          payload(l.rank, -i, len / 2));
    EXPECT_EQ(l.pid, pid_of_rank[l.rank]);
    ++err_lines[l.rank];
  }
  for (int k = 0; k < ranks; ++k)
    EXPECT_EQ(err_lines[k], lines / 10) << "rank " << k;
  expect_no_segment_left(r);
}

TEST(Launch, LastLineWithoutNewlineIsForwardedWhole) {
  // Any program can be launched, not only shoal programs.
  Child c({shoal_bin(), "launch", "-n", "2", "--", "/bin/sh", "-c", "printf 'no newline'"});
  ASSERT_EQ(c.wait(), 0) << c.err();
  const auto lines = split_lines(c.out());
  ASSERT_EQ(lines.size(), 2u) << c.out();
  for (const std::string& line : lines) {
    const RankLine l = parse_rank_line(line);
    EXPECT_GE(l.rank, 0) << line;
    EXPECT_EQ(l.text, "no newline");
  }
  EXPECT_TRUE(segments_of(c.pid()).empty());
}

TEST(Launch, LinesOfARanksActorsKeepTheActorPrefix) {
  const Launched r = launch("actor_prints", {"-n", "2"});
  ASSERT_EQ(r.code, 0) << r.err;
  std::map<int, std::string> actor_pid;  // rank -> pid of its actor
  for (const std::string& line : split_lines(r.out)) {
    const RankLine l = parse_rank_line(line);
    if (l.rank >= 0 && !field(l.text, "actor_pid").empty())
      actor_pid[l.rank] = field(l.text, "actor_pid");
  }
  ASSERT_EQ(actor_pid.size(), 2u) << r.out;
  for (auto [rank, pid] : actor_pid) {
    const std::string want =
        "(Printer pid=" + pid + ") hello from the actor of rank " + std::to_string(rank);
    bool found = false;
    for (const std::string& line : split_lines(r.out))
      found |= line == want;
    EXPECT_TRUE(found) << "no line '" << want << "' in\n" << r.out;
  }
  expect_no_segment_left(r);
}

// ---- ranks and sharing ---------------------------------------------------------------

TEST(Launch, RankAndWorldSizeInsideRanks) {
  const Launched r = launch("report_rank", {"-n", "4"});
  ASSERT_EQ(r.code, 0) << r.err;
  std::set<int> seen;
  std::set<std::string> sessions;
  for (const std::string& line : split_lines(r.out)) {
    const RankLine l = parse_rank_line(line);
    ASSERT_GE(l.rank, 0) << line;
    EXPECT_EQ(field(l.text, "rank"), std::to_string(l.rank));
    EXPECT_EQ(field(l.text, "world"), "4");
    EXPECT_EQ(field(l.text, "pid"), std::to_string(l.pid));
    seen.insert(l.rank);
    sessions.insert(field(l.text, "session"));
  }
  EXPECT_EQ(seen, (std::set<int>{0, 1, 2, 3}));
  EXPECT_EQ(sessions.size(), 1u) << "ranks of one launch must share one session";
  expect_no_segment_left(r);
}

TEST(Launch, RanksShareObjectsThroughANamedActor) {
  const int ranks = 3;
  const Launched r = launch("share_objects", {"-n", std::to_string(ranks)});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  std::set<std::pair<int, int>> reads;
  for (const std::string& line : split_lines(r.out)) {
    const RankLine l = parse_rank_line(line);
    if (field(l.text, "read_from").empty()) continue;
    const int from = std::atoi(field(l.text, "read_from").c_str());
    // sum of i*(from+1) for i < 1000
    EXPECT_EQ(field(l.text, "sum"), std::to_string(int64_t(499500) * (from + 1))) << line;
    reads.insert({l.rank, from});
  }
  EXPECT_EQ(reads.size(), size_t(ranks * (ranks - 1))) << r.out;
  expect_no_segment_left(r);
}

TEST(Launch, ADetachedActorOutlivesTheRankThatCreatedItAndEndsWithTheJob) {
  const Launched r = launch("detached_outlives_rank", {"-n", "2"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("rank 0 leaves found=1"), std::string::npos) << r.out;
  pid_t keeper = 0;
  bool reported = false;
  for (const std::string& line : split_lines(r.out)) {
    const RankLine l = parse_rank_line(line);
    if (l.rank != 1 || field(l.text, "owned_died").empty()) continue;
    reported = true;
    EXPECT_EQ(field(l.text, "owned_died"), "1") << line;
    EXPECT_EQ(field(l.text, "crash_failed"), "1") << line;
    EXPECT_EQ(field(l.text, "restarted"), "1") << line;
    keeper = pid_t(std::atoi(field(l.text, "keeper_pid").c_str()));
  }
  ASSERT_TRUE(reported) << r.out << r.err;
  ASSERT_GT(keeper, 0) << r.out;
  // The session ended with its last rank, and the detached actor with it.
  EXPECT_TRUE(eventually([&] { return !process_alive(keeper); }, 5s)) << "pid " << keeper;
  expect_no_segment_left(r);
}

// ---- pinning ----------------------------------------------------------------------------

TEST(Launch, CpusPinsRankIToTheIthCoreOfTheList) {
  if (::sysconf(_SC_NPROCESSORS_ONLN) < 2) GTEST_SKIP() << "needs two cores";
  for (const std::string& list : {std::string("0,1"), std::string("1,0"), std::string("0-1")}) {
    const std::string expected = list == "1,0" ? "1,0" : "0,1";
    const Launched r = launch("check_affinity", {"-n", "2", "--cpus", list}, {expected});
    EXPECT_EQ(r.code, 0) << "--cpus " << list << "\n" << r.out << r.err;
    expect_no_segment_left(r);
  }
  const Launched one = launch("check_affinity", {"-n", "1", "--cpus", "1"}, {"1"});
  EXPECT_EQ(one.code, 0) << one.out << one.err;
}

// ---- exit statuses ------------------------------------------------------------------------

TEST(Launch, AllRanksSucceedingExitsZero) {
  const Launched r = launch("act_by_rank", {"-n", "3"}, {"ok", "ok", "ok"});
  EXPECT_EQ(r.code, 0) << r.err;
  expect_no_segment_left(r);
}

TEST(Launch, ExitStatusIsTheFirstNonZeroAndTheOtherRanksAreKilled) {
  const Launched r = launch("act_by_rank", {"-n", "3"}, {"sleep", "exit:7", "sleep"});
  EXPECT_EQ(r.code, 7) << r.err;
  // The sleeping ranks (120 s) were killed, not waited for.
  EXPECT_LT(r.seconds, 60.0);
  for (pid_t p : rank_pids(r.out))
    EXPECT_FALSE(running(p)) << p;
  expect_no_segment_left(r);
}

TEST(Launch, RanksKilledRightAfterInitNeverHangTheLauncher) {
  // Rank 0 is killed while its fork server may still be starting: the fork
  // server must die with it rather than hold rank 0's stdout open for ever.
  for (int round = 0; round < 30; ++round) {
    const Launched r = launch("act_by_rank", {"-n", "2"}, {"sleep", "sigkill"}, {}, 60s);
    ASSERT_EQ(r.code, 128 + SIGKILL) << "round " << round << "\n" << r.err;
    expect_no_segment_left(r);
  }
}

TEST(Launch, RankAbortingGivesNonZeroExitAndNoSegment) {
  const Launched r = launch("act_by_rank", {"-n", "2"}, {"sleep", "abort"});
  EXPECT_EQ(r.code, 128 + SIGABRT) << r.err;
  EXPECT_LT(r.seconds, 60.0);
  for (pid_t p : rank_pids(r.out))
    EXPECT_FALSE(running(p)) << p;
  expect_no_segment_left(r);
}

TEST(Launch, RankKilledWithSigkillGivesNonZeroExitAndNoSegment) {
  const Launched r = launch("act_by_rank", {"-n", "2"}, {"sigkill", "sleep"});
  EXPECT_EQ(r.code, 128 + SIGKILL) << r.err;
  EXPECT_LT(r.seconds, 60.0);
  for (pid_t p : rank_pids(r.out))
    EXPECT_FALSE(running(p)) << p;
  expect_no_segment_left(r);
}

TEST(Launch, ProgramThatIsNotAShoalProgramReportsItsStatus) {
  Child c({shoal_bin(), "launch", "-n", "2", "--", "/bin/sh", "-c", "exit 3"});
  EXPECT_EQ(c.wait(), 3) << c.err();
  EXPECT_TRUE(segments_of(c.pid()).empty());
}

// ---- signals to the launcher ------------------------------------------------------------------

namespace {

// Starts `ranks` sleeping ranks, waits for all to be ready, sends `sig` to the
// launcher, and checks how it ends.
void signal_launcher(int sig, const std::vector<std::string>& peer_args, int expected_code) {
  const int ranks = 2;
  Child c(launch_argv({"-n", std::to_string(ranks)}, peer_args), {"SHOAL_TEST_PEER=sleep_ready"});
  ASSERT_TRUE(c.read_until([&](const std::string& out) {
    int ready = 0;
    for (const std::string& line : split_lines(out))
      ready += line.find(") ready ") != std::string::npos;
    return ready == ranks;
  })) << c.out()
      << c.err();
  const std::set<pid_t> pids = rank_pids(c.out());
  const std::set<std::string> sessions = reported_sessions(c.out());
  ASSERT_EQ(pids.size(), size_t(ranks));
  ASSERT_EQ(sessions.size(), 1u);
  EXPECT_TRUE(segment_exists(*sessions.begin()));
  // Everything the launcher started: ranks, their fork servers.
  const std::vector<pid_t> all = descendants(c.pid());
  ::kill(c.pid(), sig);
  EXPECT_EQ(c.wait(30s), expected_code) << c.err();
  for (pid_t p : pids)
    EXPECT_FALSE(running(p)) << "rank " << p;
  for (pid_t p : all)
    EXPECT_TRUE(eventually([&] { return !running(p); }, 5s)) << p;
  EXPECT_FALSE(segment_exists(*sessions.begin()));
  EXPECT_TRUE(segments_of(c.pid()).empty());
}

}  // namespace

TEST(Launch, SigintToTheLauncherKillsRanksExits130AndRemovesTheSegment) {
  signal_launcher(SIGINT, {}, 130);
}

TEST(Launch, SigtermToTheLauncherKillsRanksExits143AndRemovesTheSegment) {
  signal_launcher(SIGTERM, {}, 143);
}

TEST(Launch, RanksIgnoringSigtermAreKilledAnyway) {
  signal_launcher(SIGTERM, {"ignore-term"}, 143);
}

// ---- store size -------------------------------------------------------------------------------

TEST(Launch, StoreSizeAcceptsSuffixes) {
  const uint64_t MiB = 1 << 20;
  struct Case {
    std::string flag;
    uint64_t fit, nofit;
  };
  for (const Case& c : std::vector<Case>{{"64M", 16 * MiB, 80 * MiB},
                                         {"65536K", 16 * MiB, 80 * MiB},
                                         {"65536k", 16 * MiB, 80 * MiB},
                                         {"96MB", 48 * MiB, 100 * MiB},
                                         {"1G", 200 * MiB, 1100 * MiB},
                                         {std::to_string(64 * MiB), 16 * MiB, 80 * MiB}}) {
    const Launched r = launch("store_probe", {"-n", "1", "--store-size", c.flag},
                              {std::to_string(c.fit), std::to_string(c.nofit)});
    EXPECT_EQ(r.code, 0) << "--store-size " << c.flag << "\n" << r.out << r.err;
    EXPECT_NE(r.out.find("probe ok"), std::string::npos) << r.out;
    expect_no_segment_left(r);
  }
}

TEST(Launch, StoreSizeComesFromShoalStoreBytesWithoutTheFlag) {
  const uint64_t MiB = 1 << 20;
  const Launched r =
      launch("store_probe", {"-n", "1"}, {std::to_string(16 * MiB), std::to_string(80 * MiB)},
             {"SHOAL_STORE_BYTES=64M"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  expect_no_segment_left(r);
}
