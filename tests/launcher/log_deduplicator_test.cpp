// LogDeduplicator and the forwarders that feed it: lines from different
// processes fold within the window and come out once folded, lines of one
// process alone never fold, streams fold apart, the memory bound closes the
// oldest window early, and prefixed lines arriving from a fork server's pipe
// are told apart by their prefix.
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "launcher/line_forwarder.hpp"
#include "launcher/log_deduplicator.hpp"
#include "tests/support/test_support.hpp"

using shoal::launcher::LineForwarder;
using shoal::launcher::LogDeduplicator;
using shoal::testing::split_lines;

namespace {

constexpr uint64_t kSecond = 1'000'000'000;

// A pipe whose read end collects what the deduplicator writes.
class Output {
 public:
  Output() {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    rd_ = fds[0];
    wr_ = fds[1];
  }
  ~Output() {
    ::close(rd_);
    ::close(wr_);
  }
  int fd() const { return wr_; }
  // Everything written so far, as lines.
  std::vector<std::string> lines() {
    char buf[65536];
    for (ssize_t n; (n = ::read(rd_, buf, sizeof(buf))) > 0;)
      text_.append(buf, size_t(n));
    return split_lines(text_);
  }

 private:
  int rd_ = -1, wr_ = -1;
  std::string text_;
};

std::string prefix(int pid) {
  return "(Printer pid=" + std::to_string(pid) + ") ";
}

}  // namespace

TEST(LogDeduplicator, FourProcessesPrintingOneLineGiveItOnceThenOneFold) {
  Output out;
  LogDeduplicator d;
  for (int pid = 101; pid <= 104; ++pid) {
    d.line(out.fd(), prefix(pid), pid, "loading the model", uint64_t(pid - 100) * kSecond / 10);
  }
  EXPECT_EQ(out.lines(), std::vector<std::string>{"(Printer pid=101) loading the model"});
  d.flush_expired(4 * kSecond);
  EXPECT_EQ(out.lines().size(), 1u) << "the window is still open";
  d.flush_expired(5 * kSecond + kSecond / 10);
  EXPECT_EQ(out.lines(),
            (std::vector<std::string>{
                "(Printer pid=101) loading the model",
                "(Printer pid=104) loading the model [repeated 3x across processes]"}));
  EXPECT_EQ(d.open_lines(), 0u);
}

TEST(LogDeduplicator, LinesOfOneProcessAloneAreNeverFolded) {
  Output out;
  LogDeduplicator d;
  for (int i = 0; i < 3; ++i)
    d.line(out.fd(), prefix(7), 7, "Waiting for other coroutines to start.", uint64_t(i));
  d.line(out.fd(), prefix(7), 7, "All coroutines ran concurrently.", 10);
  d.flush_all();
  EXPECT_EQ(out.lines(), (std::vector<std::string>{
                             "(Printer pid=7) Waiting for other coroutines to start.",
                             "(Printer pid=7) Waiting for other coroutines to start.",
                             "(Printer pid=7) Waiting for other coroutines to start.",
                             "(Printer pid=7) All coroutines ran concurrently.",
                         }));
}

TEST(LogDeduplicator, OnceASecondProcessRepeatsALineEveryRepeatFolds) {
  Output out;
  LogDeduplicator d;
  d.line(out.fd(), prefix(1), 1, "tick", 0);
  d.line(out.fd(), prefix(1), 1, "tick", 1);  // the same process: printed
  d.line(out.fd(), prefix(2), 2, "tick", 2);  // another: folded
  d.line(out.fd(), prefix(1), 1, "tick", 3);  // and from now on, every repeat
  d.flush_all();
  EXPECT_EQ(out.lines(), (std::vector<std::string>{
                             "(Printer pid=1) tick",
                             "(Printer pid=1) tick",
                             "(Printer pid=1) tick [repeated 2x across processes]",
                         }));
}

TEST(LogDeduplicator, AfterTheWindowTheLineIsPrintedAgain) {
  Output out;
  LogDeduplicator d;
  d.line(out.fd(), prefix(1), 1, "epoch done", 0);
  d.line(out.fd(), prefix(2), 2, "epoch done", kSecond);
  d.line(out.fd(), prefix(2), 2, "epoch done", 6 * kSecond);  // a new window
  d.flush_all();
  EXPECT_EQ(out.lines(), (std::vector<std::string>{
                             "(Printer pid=1) epoch done",
                             "(Printer pid=2) epoch done [repeated 1x across processes]",
                             "(Printer pid=2) epoch done",
                         }));
}

TEST(LogDeduplicator, StdoutAndStderrFoldApart) {
  Output out, err;
  LogDeduplicator d;
  d.line(out.fd(), prefix(1), 1, "same", 0);
  d.line(err.fd(), prefix(2), 2, "same", 1);
  d.line(err.fd(), prefix(3), 3, "same", 2);
  d.flush_all();
  EXPECT_EQ(out.lines(), std::vector<std::string>{"(Printer pid=1) same"});
  EXPECT_EQ(err.lines(), (std::vector<std::string>{
                             "(Printer pid=2) same",
                             "(Printer pid=3) same [repeated 1x across processes]",
                         }));
}

TEST(LogDeduplicator, BeyondItsLimitTheOldestWindowIsClosedEarly) {
  Output out;
  LogDeduplicator d(LogDeduplicator::kWindowNs, /*max_open=*/2);
  d.line(out.fd(), prefix(1), 1, "a", 0);
  d.line(out.fd(), prefix(2), 2, "a", 1);
  d.line(out.fd(), prefix(1), 1, "b", 2);
  d.line(out.fd(), prefix(1), 1, "c", 3);  // closes "a"'s window
  EXPECT_EQ(d.open_lines(), 2u);
  EXPECT_EQ(out.lines(), (std::vector<std::string>{
                             "(Printer pid=1) a",
                             "(Printer pid=1) b",
                             "(Printer pid=2) a [repeated 1x across processes]",
                             "(Printer pid=1) c",
                         }));
}

TEST(LogDeduplicator, PrefixedLinesAreSplitIntoProcessAndText) {
  std::string_view p, text;
  pid_t pid = 0;
  ASSERT_TRUE(
      shoal::launcher::split_prefixed_line("(AsyncActor pid=42) hello world", &p, &pid, &text));
  EXPECT_EQ(p, "(AsyncActor pid=42) ");
  EXPECT_EQ(pid, 42);
  EXPECT_EQ(text, "hello world");
  ASSERT_TRUE(shoal::launcher::split_prefixed_line("(task pid=7) ", &p, &pid, &text));
  EXPECT_EQ(text, "");
  // A class name with a space and a text that looks like a prefix.
  ASSERT_TRUE(shoal::launcher::split_prefixed_line("(a b pid=9) (x pid=1) y", &p, &pid, &text));
  EXPECT_EQ(pid, 9);
  EXPECT_EQ(text, "(x pid=1) y");
  for (const char* bad :
       {"", "plain line", "(no pid) x", "(X pid=) x", "(X pid=12)x", "(X pid=12"}) {
    EXPECT_FALSE(shoal::launcher::split_prefixed_line(bad, &p, &pid, &text)) << bad;
  }
}

// What a rank's fork server sends to `shoal launch`: already prefixed lines
// of several actors on one pipe; the launcher's forwarder folds them by
// their prefixes and passes anything else through untouched.
TEST(LogDeduplicator, AForwarderOfPrefixedLinesFoldsByTheirPrefixes) {
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_NONBLOCK | O_CLOEXEC), 0);
  Output out;
  LogDeduplicator d;
  LineForwarder f(pipe_fds[0], out.fd(), "", &d);
  const std::string input =
      "(Printer pid=11) ready\n(Printer pid=12) ready\nnot prefixed\n(Printer pid=13) ready\n";
  ASSERT_EQ(::write(pipe_fds[1], input.data(), input.size()), ssize_t(input.size()));
  ::close(pipe_fds[1]);
  while (f.pump()) {
  }
  d.flush_all();
  EXPECT_EQ(out.lines(), (std::vector<std::string>{
                             "(Printer pid=11) ready",
                             "not prefixed",
                             "(Printer pid=13) ready [repeated 2x across processes]",
                         }));
}

TEST(LogDeduplicator, OnlyZeroInTheEnvironmentTurnsItOff) {
  ::unsetenv("SHOAL_DEDUP_LOGS");
  EXPECT_TRUE(LogDeduplicator::enabled_by_environment());
  ::setenv("SHOAL_DEDUP_LOGS", "0", 1);
  EXPECT_FALSE(LogDeduplicator::enabled_by_environment());
  ::setenv("SHOAL_DEDUP_LOGS", "1", 1);
  EXPECT_TRUE(LogDeduplicator::enabled_by_environment());
  ::unsetenv("SHOAL_DEDUP_LOGS");
}
