// What actors and tasks print: every line reaches the driver's stdout (or
// stderr) whole, as "(ClassName pid=N) line" or "(task pid=N) line", never
// split or interleaved mid-line, also when several actors, the threads of one
// actor and tasks print many long lines at once.
//
// The printing runs in a child: this test binary started again as the driver
// of its own session (SHOAL_TEST_PEER with no SHOAL_SESSION), whose stdout and
// stderr the test reads.
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <shoal/shoal.hpp>

#include "tests/cli/processes.hpp"
#include "tests/support/test_support.hpp"

using namespace std::chrono_literals;
using namespace shoal::testing;

namespace {

constexpr int kActors = 4;
constexpr int kLinesPerActor = 600;
constexpr int kTaskLines = 400;
constexpr int kErrLines = 100;

// Line `i` of printer `who`: its length varies from a few bytes to past the
// size of a pipe's buffer, its content differs for every line.
std::string line_text(int who, int i, pid_t pid) {
  size_t len = 1 + size_t(i * 997 + who * 131) % 6000;
  if (i % 97 == 5) len = 70'000;  // longer than the forwarder's read buffer
  std::string body(len, ' ');
  for (size_t k = 0; k < len; ++k)
    body[k] = char('a' + (size_t(who) * 7 + size_t(i) * 3 + k) % 26);
  return "W" + std::to_string(who) + " L" + std::to_string(i) + " pid=" + std::to_string(pid) +
         " " + body;
}

}  // namespace

class Printer {
 public:
  explicit Printer(int who) : who_(who) {}
  // Prints lines [from, from + count) on stdout.
  int print(int from, int count) {
    for (int i = from; i < from + count; ++i)
      std::printf("%s\n", line_text(who_, i, ::getpid()).c_str());
    return count;
  }
  int print_err(int count) {
    for (int i = 0; i < count; ++i) {
      std::fprintf(stderr, "%s\n", line_text(100 + who_, i, ::getpid()).c_str());
    }
    return count;
  }

 private:
  int who_;
};
SHOAL_ACTOR(Printer, &Printer::print, &Printer::print_err);

int task_print(int from, int count) {
  for (int i = from; i < from + count; ++i)
    std::printf("%s\n", line_text(50, i, ::getpid()).c_str());
  return count;
}
SHOAL_REMOTE(task_print);

// The child's scenario: printers 0..2 print from one thread each, printer 3
// from four threads at once, and tasks print too; all at the same time.
SHOAL_TEST_PEER(print_many) {
  std::vector<shoal::ActorHandle<Printer>> printers;
  for (int who = 0; who < kActors; ++who) {
    printers.push_back(shoal::actor<Printer>()
                           .options({.max_concurrency = who == kActors - 1 ? 4 : 1})
                           .remote(who));
  }
  std::vector<shoal::ObjectRef<int>> refs;
  constexpr int kChunk = 50;
  for (int from = 0; from < kLinesPerActor; from += kChunk) {
    for (auto& p : printers)
      refs.push_back(p.task(&Printer::print).remote(from, kChunk));
    if (from < kTaskLines) refs.push_back(shoal::task(task_print).remote(from, kChunk));
  }
  for (auto& p : printers)
    refs.push_back(p.task(&Printer::print_err).remote(kErrLines));
  for (auto& r : refs)
    (void)shoal::get(r, 120s);
  return 0;
}

TEST(ActorOutput, EveryLineArrivesWholeWithItsPrefixAndNoneInterleaved) {
  Child child({self_exe()}, own_session_env("print_many"));
  ASSERT_EQ(child.wait(170s), 0) << child.err().substr(0, 2000);

  struct Seen {
    std::set<std::pair<int, int>> lines;  // (who, i)
    int bad = 0;
    std::string first_bad;
  };
  // Checks every line of `text`: prefix, pid, and the exact expected content.
  auto check = [](const std::string& text, Seen& seen) {
    for (const std::string& line : split_lines(text)) {
      char cls[64] = {0};
      int pid = 0, used = 0;
      int who = -1, i = -1, inner_pid = 0, body_at = 0;
      const bool prefixed =
          std::sscanf(line.c_str(), "(%63[^ ] pid=%d) %n", cls, &pid, &used) == 2 && used > 0;
      const bool parsed = prefixed && std::sscanf(line.c_str() + used, "W%d L%d pid=%d %n", &who,
                                                  &i, &inner_pid, &body_at) == 3;
      const std::string want_cls = who == 50 ? "task" : "Printer";
      if (!parsed || cls != want_cls || pid != inner_pid ||
          line.substr(size_t(used)) != line_text(who, i, pid) ||
          !seen.lines.insert({who, i}).second) {
        if (seen.bad++ == 0) seen.first_bad = line.substr(0, 200);
      }
    }
  };
  Seen out, err;
  check(child.out(), out);
  check(child.err(), err);
  EXPECT_EQ(out.bad, 0) << "first bad stdout line: " << out.first_bad;
  EXPECT_EQ(err.bad, 0) << "first bad stderr line: " << err.first_bad;
  size_t want_out = size_t(kActors) * kLinesPerActor + kTaskLines;
  EXPECT_EQ(out.lines.size(), want_out);
  for (int who = 0; who < kActors; ++who) {
    for (int i = 0; i < kLinesPerActor; ++i) {
      if (!out.lines.count({who, i})) {
        ADD_FAILURE() << "line " << i << " of printer " << who << " is missing";
        return;
      }
    }
  }
  for (int i = 0; i < kTaskLines; ++i)
    EXPECT_EQ(out.lines.count({50, i}), 1u) << "task line " << i;
  EXPECT_EQ(err.lines.size(), size_t(kActors) * kErrLines);
}
