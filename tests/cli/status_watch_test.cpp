// `shoal status --watch`: on a terminal (a detached tmux pane, read back with
// capture-pane), the busy actor's row shows calls/s above zero, q and Ctrl-C
// quit with status 0 and give the screen back; on a pipe it prints plain
// blocks of at most 80 columns, once a second; an actor with concurrency groups
// has a line per group under its row, with the group's limit, running and queued
// calls.
//
// This process runs a session with a busy actor (a thread here calls it
// without pause), an idle one, and one whose "io" group is full.
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
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

class WatchWorker {
 public:
  int work(int x) { return x + 1; }
};
SHOAL_ACTOR(WatchWorker, &WatchWorker::work);

namespace {

// The calls/s column of a row ("12", "4.5k", "1.23M"), as a number; -1 for "-".
double rate_value(const std::string& text) {
  if (text == "-") return -1;
  double scale = 1;
  std::string digits = text;
  if (!digits.empty() && (digits.back() == 'k' || digits.back() == 'M')) {
    scale = digits.back() == 'k' ? 1e3 : 1e6;
    digits.pop_back();
  }
  return std::stod(digits) * scale;
}

// The lines of this process's session in one frame: its header ("session NAME  world ...") and
// what follows up to the next session's. Other programs of this user (other tests among them)
// may run sessions with actors of the same names beside ours.
std::vector<std::string> our_session(const std::string& frame) {
  std::vector<std::string> out;
  bool inside = false;
  for (const std::string& line : split_lines(frame)) {
    if (line.rfind("session ", 0) == 0)
      inside = line.rfind("session " + session_name() + " ", 0) == 0;
    if (inside) out.push_back(line);
  }
  return out;
}

// The words of the row of actor `name` of our session in one frame, or {} if it is not shown.
// Row: NAME CLASS PID CORE STATE QUEUE RUN CALLS/S RESTARTS.
std::vector<std::string> row_of(const std::string& frame, const std::string& name) {
  for (const std::string& line : our_session(frame)) {
    std::istringstream in(line);
    std::vector<std::string> words;
    for (std::string w; in >> w;)
      words.push_back(w);
    if (words.size() == 9 && words[0] == name && words[1] == "WatchWorker") return words;
  }
  return {};
}

// The group lines under the row of actor `name` of our session in one frame, each with its
// words joined by one space ("group io limit=1 running=1 queued=2").
std::vector<std::string> groups_under(const std::string& frame, const std::string& name) {
  std::vector<std::string> out;
  bool under = false;
  for (const std::string& line : our_session(frame)) {
    std::istringstream in(line);
    std::vector<std::string> words;
    for (std::string w; in >> w;)
      words.push_back(w);
    if (words.size() == 9) {
      under = words[0] == name;
      continue;
    }
    if (!under || words.empty() || words[0] != "group") {
      under = false;
      continue;
    }
    std::string joined;
    for (const std::string& w : words)
      joined += (joined.empty() ? "" : " ") + w;
    out.push_back(joined);
  }
  return out;
}

class StatusWatch : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    shoal::init(shoal::Config{.store_bytes = uint64_t(256) << 20});
    busy_ = new shoal::ActorHandle<WatchWorker>(
        shoal::actor<WatchWorker>().options({.name = "busy"}).remote());
    idle_ = new shoal::ActorHandle<WatchWorker>(
        shoal::actor<WatchWorker>().options({.name = "idle"}).remote());
    shoal::get(idle_->task(&WatchWorker::work).remote(0));
    // "io" runs one call and queues two; the default group is free.
    grouped_ = new shoal::ActorHandle<GroupHolder>(
        shoal::actor<GroupHolder>().options({.name = "grouped"}).remote());
    for (int i = 0; i < 3; ++i)
      held_.push_back(grouped_->task(&GroupHolder::hold).remote());
    shoal::get(grouped_->task(&GroupHolder::ping).remote(), 30s);
    caller_ = new std::thread([] {
      for (int i = 0; !stop_.load(std::memory_order_relaxed); ++i) {
        shoal::get(busy_->task(&WatchWorker::work).remote(i));
      }
    });
  }
  static void TearDownTestSuite() {
    stop_.store(true);
    caller_->join();
    delete caller_;
    delete busy_;
    delete idle_;
    held_.clear();
    delete grouped_;
    shoal::shutdown();
  }

  static inline shoal::ActorHandle<WatchWorker>* busy_ = nullptr;
  static inline shoal::ActorHandle<WatchWorker>* idle_ = nullptr;
  static inline shoal::ActorHandle<GroupHolder>* grouped_ = nullptr;
  static inline std::vector<shoal::ObjectRef<int>> held_;
  static inline std::thread* caller_ = nullptr;
  static inline std::atomic<bool> stop_{false};
};

// A tmux server of our own (its own socket), killed at the end.
class Tmux {
 public:
  Tmux() : socket_("/tmp/shoal-watch-test-" + std::to_string(::getpid()) + ".tmux") {}
  ~Tmux() {
    run({"kill-server"});
    ::unlink(socket_.c_str());
  }

  CommandResult run(const std::vector<std::string>& args) const {
    std::vector<std::string> argv{"tmux", "-S", socket_, "-f", "/dev/null"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, 20s);
  }
  // Starts `command` in a detached pane 80 columns wide (and tall enough
  // for the sessions other programs of this user may be running); after it
  // exits the pane shows "exit=<status>" and stays open. The shell ignores
  // Ctrl-C, so that it is the command's to handle.
  bool start(const std::string& name, const std::string& command) const {
    const std::string shell = "trap '' INT; " + command + "; echo exit=$?; sleep 60";
    return run({"new-session", "-d", "-s", name, "-x", "80", "-y", "300", shell}).exit_code == 0;
  }
  std::string screen(const std::string& name) const {
    return run({"capture-pane", "-p", "-t", name}).out;
  }
  void keys(const std::string& name, const std::string& keys) const {
    run({"send-keys", "-t", name, keys});
  }

 private:
  std::string socket_;
};

bool have_tmux() {
  return run_command({"tmux", "-V"}, 10s).exit_code == 0;
}

}  // namespace

TEST_F(StatusWatch, UnderTmuxTheBusyActorShowsCallsPerSecondAndQQuits) {
  if (!have_tmux()) GTEST_SKIP() << "tmux is not installed";
  Tmux tmux;
  ASSERT_TRUE(tmux.start("watch", shoal_bin() + " status --watch"));
  std::string frame;
  std::vector<std::string> busy, idle;
  const bool shown = eventually(
      [&] {
        frame = tmux.screen("watch");
        busy = row_of(frame, "busy");
        idle = row_of(frame, "idle");
        return !busy.empty() && !idle.empty() && rate_value(busy[7]) > 0 &&
               rate_value(idle[7]) >= 0;
      },
      20s);
  ASSERT_TRUE(shown) << "no frame with the busy actor's calls/s:\n" << frame;
  EXPECT_NE(frame.find("shoal status --watch"), std::string::npos);
  EXPECT_NE(frame.find("session " + session_name()), std::string::npos) << frame;
  EXPECT_EQ(busy[4], "alive");
  EXPECT_EQ(busy[2], std::to_string(busy_->pid()));
  EXPECT_EQ(rate_value(idle[7]), 0) << frame;
  EXPECT_EQ(idle[8], "0");

  tmux.keys("watch", "q");
  std::string after;
  const bool quit = eventually(
      [&] {
        after = tmux.screen("watch");
        return after.find("exit=") != std::string::npos;
      },
      10s);
  ASSERT_TRUE(quit) << "still running after q:\n" << after;
  EXPECT_NE(after.find("exit=0"), std::string::npos) << after;
  // The alternate screen is gone: the view does not stay behind.
  EXPECT_EQ(after.find("CALLS/S"), std::string::npos) << after;
}

TEST_F(StatusWatch, UnderTmuxABusyActorWithGroupsShowsALinePerGroup) {
  if (!have_tmux()) GTEST_SKIP() << "tmux is not installed";
  Tmux tmux;
  ASSERT_TRUE(tmux.start("watch", shoal_bin() + " status --watch"));
  const std::vector<std::string> want{"group default limit=1000 running=0 queued=0",
                                      "group io limit=1 running=1 queued=2"};
  std::string frame;
  const bool shown = eventually(
      [&] {
        frame = tmux.screen("watch");
        return groups_under(frame, "grouped") == want;
      },
      20s);
  ASSERT_TRUE(shown) << "no frame with the grouped actor's groups:\n" << frame;
  for (const std::string& line : split_lines(frame))
    EXPECT_LE(line.size(), 80u) << line;
  // Actors with the default group alone have no group lines.
  EXPECT_TRUE(groups_under(frame, "busy").empty()) << frame;
  EXPECT_TRUE(groups_under(frame, "idle").empty()) << frame;
  tmux.keys("watch", "q");
  EXPECT_TRUE(
      eventually([&] { return tmux.screen("watch").find("exit=0") != std::string::npos; }, 10s));
}

TEST_F(StatusWatch, UnderTmuxCtrlCQuitsAndGivesTheTerminalBack) {
  if (!have_tmux()) GTEST_SKIP() << "tmux is not installed";
  Tmux tmux;
  // After the view ends, stty shows whether echo and line editing came back.
  ASSERT_TRUE(tmux.start(
      "watch", shoal_bin() +
                   " status --watch; echo status=$?; echo modes: $(stty -a | tr ' ;' '\\n\\n' "
                   "| grep -x -e echo -e icanon)"));
  ASSERT_TRUE(eventually([&] { return !row_of(tmux.screen("watch"), "busy").empty(); }, 20s));
  tmux.keys("watch", "C-c");
  std::string after;
  ASSERT_TRUE(eventually(
      [&] {
        after = tmux.screen("watch");
        return after.find("exit=") != std::string::npos;
      },
      10s))
      << after;
  EXPECT_NE(after.find("status=0"), std::string::npos) << after;
  EXPECT_NE(after.find("modes: icanon echo"), std::string::npos)
      << "the terminal modes were not restored:\n"
      << after;
  EXPECT_EQ(after.find("CALLS/S"), std::string::npos) << after;
}

TEST_F(StatusWatch, OnAPipeItPrintsPlainBlocksOfAtMost80Columns) {
  Child c({shoal_bin(), "status", "--watch", "--count", "3"});
  ASSERT_EQ(c.wait(30s), 0) << c.err();
  const std::string& out = c.out();
  EXPECT_EQ(out.find('\x1b'), std::string::npos) << "escape codes on a pipe";
  std::vector<std::string> blocks;
  for (const std::string& line : split_lines(out)) {
    EXPECT_LE(line.size(), 80u) << line;
    if (line.rfind("shoal status --watch", 0) == 0) blocks.emplace_back();
    if (!blocks.empty()) blocks.back() += line + "\n";
  }
  ASSERT_EQ(blocks.size(), 3u) << out;
  const std::vector<std::string> first = row_of(blocks[0], "busy");
  ASSERT_FALSE(first.empty()) << blocks[0];
  EXPECT_EQ(first[7], "-") << "no rate before a second refresh";
  const std::vector<std::string> last = row_of(blocks[2], "busy");
  ASSERT_FALSE(last.empty()) << blocks[2];
  EXPECT_GT(rate_value(last[7]), 0) << blocks[2];
}

TEST_F(StatusWatch, SigintAndSigtermEndItWithStatusZero) {
  for (int sig : {SIGINT, SIGTERM}) {
    Child c({shoal_bin(), "status", "--watch"});
    ASSERT_TRUE(c.read_until(
        [](const std::string& out) { return out.find("CALLS/S") != std::string::npos; }, 20s));
    ::kill(c.pid(), sig);
    EXPECT_EQ(c.wait(10s), 0) << "signal " << sig;
  }
}

TEST(StatusWatchUsage, WatchRefusesJsonAndABadCount) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"status", "--watch", "--json"},
        std::vector<std::string>{"status", "--watch", "--count", "0"},
        std::vector<std::string>{"status", "--count", "2"}}) {
    std::vector<std::string> argv{shoal_bin()};
    argv.insert(argv.end(), args.begin(), args.end());
    const CommandResult r = run_command(argv, 20s);
    EXPECT_EQ(r.exit_code, 2) << args[1] << " " << args.back();
    EXPECT_NE(r.err.find("status:"), std::string::npos) << r.err;
  }
}
