// The `shoal` command's bad input: every bad flag prints a clear message on
// stderr and exits 2 (127 for a missing program), leaving no segment behind;
// --help works everywhere.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/cli/processes.hpp"
#include "tests/support/test_support.hpp"

using namespace std::chrono_literals;
using namespace shoal::testing;

namespace {

struct Ran {
  int code = -1;
  std::string out, err;
  pid_t pid = 0;
};

Ran shoal_cmd(const std::vector<std::string>& args) {
  std::vector<std::string> argv{shoal_bin()};
  argv.insert(argv.end(), args.begin(), args.end());
  Child c(argv);
  Ran r;
  r.pid = c.pid();
  r.code = c.wait(60s);
  r.out = c.out();
  r.err = c.err();
  return r;
}

std::string joined(const std::vector<std::string>& args) {
  std::string s = "shoal";
  for (const auto& a : args)
    s += " '" + a + "'";
  return s;
}

// Runs a launch that must be refused: exit `code`, stderr mentioning each of
// `mentions`, nothing on stdout from a rank, no segment left.
void expect_refused(const std::vector<std::string>& args, int code,
                    const std::vector<std::string>& mentions) {
  const Ran r = shoal_cmd(args);
  EXPECT_EQ(r.code, code) << joined(args) << "\nstderr: " << r.err;
  EXPECT_FALSE(r.err.empty()) << joined(args) << ": nothing on stderr";
  for (const std::string& m : mentions) {
    EXPECT_NE(r.err.find(m), std::string::npos) << joined(args) << ": stderr lacks '" << m << "':\n"
                                                << r.err;
  }
  EXPECT_EQ(r.out.find("(rank "), std::string::npos) << joined(args) << " ran a rank";
  EXPECT_TRUE(segments_of(r.pid).empty()) << joined(args) << " left a segment";
}

}  // namespace

TEST(Usage, RanksMustBeAtLeastOne) {
  expect_refused({"launch", "-n", "0", "--", "/bin/true"}, 2, {"-n"});
  expect_refused({"launch", "-n", "-3", "--", "/bin/true"}, 2, {"-n"});
}

TEST(Usage, MissingRanksIsAUsageError) {
  expect_refused({"launch", "--", "/bin/true"}, 2, {"-n"});
}

TEST(Usage, NonNumericRanksIsAUsageError) {
  expect_refused({"launch", "-n", "two", "--", "/bin/true"}, 2, {});
}

TEST(Usage, UnknownOptionIsAUsageError) {
  expect_refused({"launch", "--frobnicate", "-n", "1", "--", "/bin/true"}, 2, {"frobnicate"});
}

TEST(Usage, BadCoreListsAreUsageErrors) {
  expect_refused({"launch", "-n", "1", "--cpus", "0-99", "--", "/bin/true"}, 2, {"0-99"});
  expect_refused({"launch", "-n", "1", "--cpus", "a", "--", "/bin/true"}, 2, {"core list"});
  expect_refused({"launch", "-n", "1", "--cpus", "1-0", "--", "/bin/true"}, 2, {"core list"});
  expect_refused({"launch", "-n", "1", "--cpus", "0,", "--", "/bin/true"}, 2, {"core list"});
  expect_refused({"launch", "-n", "1", "--cpus", "", "--", "/bin/true"}, 2, {});
  expect_refused({"launch", "-n", "1", "--cpus", "4096", "--", "/bin/true"}, 2, {"4096"});
}

TEST(Usage, BadStoreSizesAreUsageErrors) {
  for (const char* size : {"abc", "12X", "0", "", "-5M", "1.5G", "99999999999999999999"}) {
    expect_refused({"launch", "-n", "1", "--store-size", size, "--", "/bin/true"}, 2,
                   {"store-size"});
  }
}

TEST(Usage, MissingProgramExits127) {
  expect_refused({"launch", "-n", "2", "--", "/nonexistent/shoal-test-program"}, 127,
                 {"/nonexistent/shoal-test-program"});
  expect_refused({"launch", "-n", "1", "--", "no-such-program-in-path-for-shoal"}, 127,
                 {"no-such-program-in-path-for-shoal"});
  // A file that exists but is not executable.
  expect_refused({"launch", "-n", "1", "--", "/etc/hostname"}, 127, {"/etc/hostname"});
}

TEST(Usage, NothingAfterDoubleDashIsAUsageError) {
  expect_refused({"launch", "-n", "1", "--"}, 2, {"PROGRAM"});
  expect_refused({"launch", "-n", "1"}, 2, {});
}

TEST(Usage, ProgramWithoutDoubleDashIsAUsageError) {
  expect_refused({"launch", "-n", "1", "/bin/true"}, 2, {"/bin/true"});
}

TEST(Usage, HelpExitsZeroEverywhere) {
  for (const auto& args : std::vector<std::vector<std::string>>{{"--help"},
                                                                {"-h"},
                                                                {"help"},
                                                                {"launch", "--help"},
                                                                {"status", "--help"},
                                                                {"clean", "--help"},
                                                                {"bench", "--help"}}) {
    const Ran r = shoal_cmd(args);
    EXPECT_EQ(r.code, 0) << joined(args) << "\n" << r.err;
    EXPECT_FALSE(r.out.empty()) << joined(args) << " printed no help";
  }
  const Ran top = shoal_cmd({"--help"});
  for (const char* cmd : {"launch", "status", "clean", "bench"}) {
    EXPECT_NE(top.out.find(cmd), std::string::npos) << "shoal --help lacks " << cmd;
  }
  const Ran launch = shoal_cmd({"launch", "--help"});
  for (const char* flag : {"--cpus", "--store-size", "-n"}) {
    EXPECT_NE(launch.out.find(flag), std::string::npos) << "shoal launch --help lacks " << flag;
  }
  EXPECT_NE(shoal_cmd({"status", "--help"}).out.find("--json"), std::string::npos);
}

TEST(Usage, UnknownCommandExits2WithUsage) {
  const Ran r = shoal_cmd({"frobnicate"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("frobnicate"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("launch"), std::string::npos) << "no usage on stderr: " << r.err;
  EXPECT_EQ(shoal_cmd({}).code, 2);
}

TEST(Usage, BadFlagsOfOtherCommandsExit2) {
  for (const auto& args : std::vector<std::vector<std::string>>{{"status", "--bogus"},
                                                                {"clean", "--bogus"},
                                                                {"status", "extra"},
                                                                {"bench", "--bogus"}}) {
    const Ran r = shoal_cmd(args);
    EXPECT_EQ(r.code, 2) << joined(args) << "\n" << r.out << r.err;
    EXPECT_FALSE(r.err.empty()) << joined(args);
  }
}
