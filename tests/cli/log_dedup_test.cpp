// Lines that several actors of a session print identically are folded, in a
// plain session (by its daemon) and across the ranks of `shoal launch` (by
// the launcher): four actors printing one line give it once, then
// "[repeated 3x across processes]"; SHOAL_DEDUP_LOGS=0 gives four lines; one
// actor printing a line three times gives three.
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <shoal/shoal.hpp>

#include "tests/cli/processes.hpp"
#include "tests/support/test_support.hpp"

using namespace std::chrono_literals;
using namespace shoal::testing;

class Printer {
 public:
  int say(std::string line) {
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
    return int(::getpid());
  }
};
SHOAL_ACTOR(Printer, &Printer::say);

namespace {

const char* kLine = "loading the model from the shared cache";

// Starts `actors` Printer actors, has each print kLine (`times` times each),
// and prints their pids: "pids 12 13 ...".
int print_from_actors(int actors, int times) {
  std::vector<shoal::ActorHandle<Printer>> printers;
  for (int i = 0; i < actors; ++i)
    printers.push_back(shoal::actor<Printer>().remote());
  std::string pids = "pids";
  for (auto& p : printers) {
    int pid = 0;
    for (int t = 0; t < times; ++t)
      pid = shoal::get(p.task(&Printer::say).remote(std::string(kLine)));
    pids += " " + std::to_string(pid);
  }
  std::printf("%s\n", pids.c_str());
  std::fflush(stdout);
  return 0;
}

}  // namespace

SHOAL_TEST_PEER(four_printers) {
  return print_from_actors(4, 1);
}
SHOAL_TEST_PEER(two_printers) {
  return print_from_actors(2, 1);
}
SHOAL_TEST_PEER(one_printer_three_times) {
  return print_from_actors(1, 3);
}

namespace {

struct Printed {
  std::set<int> pids;              // the actors' pids, from the "pids" lines
  std::vector<int> line_pids;      // the pid of each line of kLine, in order
  std::vector<std::string> folds;  // lines ending in "[repeated Nx across processes]"
  std::vector<int> fold_pids;
};

Printed parse(const std::string& out) {
  Printed p;
  static const std::regex line_re(R"(^\(Printer pid=([0-9]+)\) (.*)$)");
  for (const std::string& line : split_lines(out)) {
    const size_t at = line.find("pids ");
    if (at != std::string::npos && line.find("Printer") == std::string::npos) {
      std::istringstream words(line.substr(at + 5));
      for (int pid; words >> pid;)
        p.pids.insert(pid);
      continue;
    }
    std::smatch m;
    if (!std::regex_match(line, m, line_re)) continue;
    const int pid = std::stoi(m[1].str());
    if (m[2].str() == kLine) {
      p.line_pids.push_back(pid);
    } else {
      p.folds.push_back(m[2].str());
      p.fold_pids.push_back(pid);
    }
  }
  return p;
}

Printed run_driver(const std::string& peer, const std::vector<std::string>& extra_env = {}) {
  std::vector<std::string> env = own_session_env(peer);
  env.insert(env.end(), extra_env.begin(), extra_env.end());
  Child c({self_exe()}, env);
  EXPECT_EQ(c.wait(60s), 0) << c.out() << c.err();
  EXPECT_EQ(c.err(), "");
  return parse(c.out());
}

Printed run_launch(const std::string& peer, const std::vector<std::string>& extra_env = {}) {
  std::vector<std::string> env{"SHOAL_TEST_PEER=" + peer};
  env.insert(env.end(), extra_env.begin(), extra_env.end());
  Child c({shoal_bin(), "launch", "-n", "2", "--", self_exe()}, env);
  EXPECT_EQ(c.wait(60s), 0) << c.out() << c.err();
  EXPECT_EQ(c.err(), "");
  return parse(c.out());
}

}  // namespace

TEST(LogDedup, FourActorsPrintingOneLineGiveItOnceThenRepeated3x) {
  const Printed p = run_driver("four_printers");
  ASSERT_EQ(p.pids.size(), 4u);
  ASSERT_EQ(p.line_pids.size(), 1u);
  EXPECT_TRUE(p.pids.count(p.line_pids[0]));
  ASSERT_EQ(p.folds.size(), 1u);
  EXPECT_EQ(p.folds[0], std::string(kLine) + " [repeated 3x across processes]");
  EXPECT_TRUE(p.pids.count(p.fold_pids[0])) << "the fold names one of the repeating actors";
  EXPECT_NE(p.fold_pids[0], p.line_pids[0]);
}

TEST(LogDedup, WithDedupOffEveryActorsLineIsPrinted) {
  const Printed p = run_driver("four_printers", {"SHOAL_DEDUP_LOGS=0"});
  ASSERT_EQ(p.pids.size(), 4u);
  EXPECT_EQ(std::set<int>(p.line_pids.begin(), p.line_pids.end()), p.pids);
  EXPECT_EQ(p.line_pids.size(), 4u);
  EXPECT_TRUE(p.folds.empty());
}

TEST(LogDedup, OneActorPrintingALineThreeTimesPrintsItThreeTimes) {
  const Printed p = run_driver("one_printer_three_times");
  ASSERT_EQ(p.pids.size(), 1u);
  EXPECT_EQ(p.line_pids, std::vector<int>(3, *p.pids.begin()));
  EXPECT_TRUE(p.folds.empty());
}

TEST(LogDedup, UnderShoalLaunchLinesFoldAcrossRanks) {
  const Printed p = run_launch("two_printers");
  ASSERT_EQ(p.pids.size(), 4u) << "two actors for each of two ranks";
  ASSERT_EQ(p.line_pids.size(), 1u);
  ASSERT_EQ(p.folds.size(), 1u);
  EXPECT_EQ(p.folds[0], std::string(kLine) + " [repeated 3x across processes]");
  EXPECT_TRUE(p.pids.count(p.fold_pids[0]));
}

TEST(LogDedup, UnderShoalLaunchWithDedupOffEveryLineIsPrinted) {
  const Printed p = run_launch("two_printers", {"SHOAL_DEDUP_LOGS=0"});
  ASSERT_EQ(p.pids.size(), 4u);
  EXPECT_EQ(p.line_pids.size(), 4u);
  EXPECT_EQ(std::set<int>(p.line_pids.begin(), p.line_pids.end()), p.pids);
  EXPECT_TRUE(p.folds.empty());
}
