// End-to-end tests of examples/: each seed-page example runs as its own
// program (directly, and the first one also through `shoal launch`), and its
// stdout must be what the page prints: the same lines, in the order the page's
// semantics fix, every actor line prefixed "(ClassName pid=N) " with one pid
// per actor, different from the driver's.
//
// Each example runs several times per test: an ordering that held once by
// luck of the scheduler should not pass.
#include <sys/types.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/test_support.hpp"

namespace shoal::testing {
namespace {

constexpr int kRuns = 5;
constexpr auto kRunTimeout = std::chrono::seconds(60);

// One line of output: "(Source pid=N) text" or, from the driver, plain text.
struct Line {
  std::string source;  // "AsyncActor", "task", "rank 0"; empty for a plain line
  pid_t pid = 0;
  std::string text;
};

Line parse_line(const std::string& raw) {
  static const std::regex prefixed(
      R"(^\(([A-Za-z_][A-Za-z0-9_]*|rank [0-9]+) pid=([0-9]+)\) (.*)$)");
  std::smatch m;
  if (std::regex_match(raw, m, prefixed)) {
    return Line{m[1].str(), pid_t(std::stol(m[2].str())), m[3].str()};
  }
  return Line{"", 0, raw};
}

// What one run of an example printed, with the driver's pid, which a shell
// prints ("driver pid=N") right before it execs the example under that pid.
struct ExampleRun {
  CommandResult result;
  pid_t driver_pid = 0;
  pid_t launcher_pid = 0;                 // `shoal launch` runs only
  std::vector<Line> lines;                // everything else, in order
  std::set<std::string> segments_before;  // in /dev/shm before the run
};

std::optional<pid_t> take_pid_line(const std::string& text, const std::string& who) {
  const std::string head = who + " pid=";
  if (text.rfind(head, 0) != 0) return std::nullopt;
  return pid_t(std::stol(text.substr(head.size())));
}

std::set<std::string> current_segments() {
  const std::vector<std::string> list = shm_segments();
  return std::set<std::string>(list.begin(), list.end());
}

ExampleRun collect(std::set<std::string> segments_before, CommandResult result, bool launched) {
  ExampleRun run;
  run.segments_before = std::move(segments_before);
  run.result = std::move(result);
  for (const std::string& raw : split_lines(run.result.out)) {
    Line line = parse_line(raw);
    if (launched && line.source.empty()) {
      if (auto pid = take_pid_line(line.text, "launcher")) {
        run.launcher_pid = *pid;
        continue;
      }
    }
    const bool driver_line = launched ? line.source == "rank 0" : line.source.empty();
    if (driver_line) {
      if (auto pid = take_pid_line(line.text, "driver")) {
        run.driver_pid = *pid;
        continue;
      }
    }
    run.lines.push_back(std::move(line));
  }
  return run;
}

// Runs the example directly: `sh -c 'echo driver pid=$$; exec EXAMPLE'`.
ExampleRun run_example(const std::string& name) {
  std::set<std::string> before = current_segments();
  return collect(
      std::move(before),
      run_command({"/bin/sh", "-c", "echo \"driver pid=$$\"; exec \"$0\"", example_bin(name)},
                  kRunTimeout),
      /*launched=*/false);
}

// Runs the example as the one rank of `shoal launch -n 1`.
ExampleRun launch_example(const std::string& name) {
  std::set<std::string> before = current_segments();
  return collect(std::move(before),
                 run_command({"/bin/sh", "-c", "echo \"launcher pid=$$\"; exec \"$@\"", "sh",
                              shoal_bin(), "launch", "-n", "1", "--", "/bin/sh", "-c",
                              "echo \"driver pid=$$\"; exec \"$0\"", example_bin(name)},
                             kRunTimeout),
                 /*launched=*/true);
}

// Segments the run made and left: new since it started and named after its
// creator (shoal-UID-PID-TAG). Other tests may run at the same time, and pids
// are reused (a crashed session of another test may carry the same pid).
std::vector<std::string> segments_left_by(const ExampleRun& run, pid_t creator) {
  std::vector<std::string> out;
  const std::string mark = "-" + std::to_string(creator) + "-";
  for (const std::string& s : shm_segments()) {
    if (s.find(mark) != std::string::npos && !run.segments_before.contains(s)) out.push_back(s);
  }
  return out;
}

// The run ended cleanly: exit 0, nothing on stderr, its driver's pid known,
// and no segment of its session left in /dev/shm.
void expect_clean_exit(const ExampleRun& run, const std::string& what) {
  EXPECT_EQ(run.result.exit_code, 0) << what << "\nstdout:\n"
                                     << run.result.out << "stderr:\n"
                                     << run.result.err;
  EXPECT_EQ(run.result.err, "") << what;
  ASSERT_GT(run.driver_pid, 0) << what << ": the driver's pid line is missing\n" << run.result.out;
  EXPECT_EQ(segments_left_by(run, run.driver_pid), std::vector<std::string>{}) << what;
  if (run.launcher_pid > 0) {
    EXPECT_EQ(segments_left_by(run, run.launcher_pid), std::vector<std::string>{}) << what;
  }
}

// Every line came from `source` (one actor), all under one pid that is not
// the driver's; returns the texts in order.
std::vector<std::string> texts_of_one_actor(const ExampleRun& run, const std::string& source,
                                            const std::string& what) {
  std::vector<std::string> texts;
  std::set<pid_t> pids;
  for (const Line& line : run.lines) {
    EXPECT_EQ(line.source, source) << what << ": line \"" << line.text << "\"";
    pids.insert(line.pid);
    texts.push_back(line.text);
  }
  EXPECT_EQ(pids.size(), 1u) << what << ": one actor, so one pid\n" << run.result.out;
  if (!pids.empty()) {
    EXPECT_GT(*pids.begin(), 0) << what;
    EXPECT_NE(*pids.begin(), run.driver_pid) << what << ": the actor runs in its own process";
  }
  return texts;
}

std::vector<std::string> repeat(const std::vector<std::string>& block, int times) {
  std::vector<std::string> out;
  for (int i = 0; i < times; ++i)
    out.insert(out.end(), block.begin(), block.end());
  return out;
}

std::string run_label(const std::string& name, int i) {
  return name + " (run " + std::to_string(i + 1) + " of " + std::to_string(kRuns) + ")";
}

const std::vector<std::string> kBarrierLines = {
    "Waiting for other coroutines to start.",
    "Waiting for other coroutines to start.",
    "Waiting for other coroutines to start.",
    "All coroutines are executing concurrently, unblocking.",
    "All coroutines ran concurrently.",
    "All coroutines ran concurrently.",
    "All coroutines ran concurrently.",
    "All coroutines ran concurrently.",
};

TEST(Examples, AsyncActorBarrierWaitsForAllFourCoroutinesThenReleasesThem) {
  for (int i = 0; i < kRuns; ++i) {
    const std::string what = run_label("async_actor_barrier", i);
    const ExampleRun run = run_example("async_actor_barrier");
    expect_clean_exit(run, what);
    EXPECT_EQ(texts_of_one_actor(run, "AsyncActor", what), kBarrierLines) << what;
  }
}

TEST(Examples, AsyncActorBarrierPrintsTheSameUnderShoalLaunch) {
  for (int i = 0; i < kRuns; ++i) {
    const std::string what = run_label("shoal launch -n 1 -- async_actor_barrier", i);
    const ExampleRun run = launch_example("async_actor_barrier");
    expect_clean_exit(run, what);
    ASSERT_GT(run.launcher_pid, 0) << what;
    EXPECT_NE(run.launcher_pid, run.driver_pid) << what;
    EXPECT_EQ(texts_of_one_actor(run, "AsyncActor", what), kBarrierLines) << what;
  }
}

TEST(Examples, AwaitRefsAwaitsTaskRefsFromADriverCoroutineAndPrintsNothing) {
  for (int i = 0; i < kRuns; ++i) {
    const std::string what = run_label("await_refs", i);
    const ExampleRun run = run_example("await_refs");
    expect_clean_exit(run, what);
    EXPECT_TRUE(run.lines.empty()) << what << "\n" << run.result.out;
  }
}

TEST(Examples, RefsAsFuturesPrintsOneForTheAwaitedFutureAndForEachOfFourCompletedRefs) {
  for (int i = 0; i < kRuns; ++i) {
    const std::string what = run_label("refs_as_futures", i);
    const ExampleRun run = run_example("refs_as_futures");
    expect_clean_exit(run, what);
    std::vector<std::string> texts;
    for (const Line& line : run.lines) {
      EXPECT_EQ(line.source, "") << what << ": the driver prints these, unprefixed";
      texts.push_back(line.text);
    }
    EXPECT_EQ(texts, std::vector<std::string>(5, "1")) << what;
  }
}

TEST(Examples, AsyncActorRunTaskStartsAllFiveCallsBeforeAnyFinishes) {
  const std::vector<std::string> expected = {
      "Started task",  "Started task",  "Started task",  "Started task",  "Started task",
      "Finished task", "Finished task", "Finished task", "Finished task", "Finished task",
  };
  for (int i = 0; i < kRuns; ++i) {
    const std::string what = run_label("async_actor_run_task", i);
    const ExampleRun run = run_example("async_actor_run_task");
    expect_clean_exit(run, what);
    EXPECT_EQ(texts_of_one_actor(run, "AsyncActor", what), expected) << what;
  }
}

TEST(Examples, MaxConcurrencyTwoRunsEightCallsTwoAtATime) {
  const std::vector<std::string> expected =
      repeat({"Started task", "Started task", "Finished task", "Finished task"}, 4);
  for (int i = 0; i < kRuns; ++i) {
    const std::string what = run_label("max_concurrency", i);
    const ExampleRun run = run_example("max_concurrency");
    expect_clean_exit(run, what);
    EXPECT_EQ(texts_of_one_actor(run, "AsyncActor", what), expected) << what;
  }
}

TEST(Examples, ThreadedActorRunsBothCallsEachPrintingItsLine) {
  // Two pool threads run the calls at once: either line may come first (as in Ray).
  const std::multiset<std::string> expected = {"I'm running in a thread!",
                                               "I'm running in another thread!"};
  for (int i = 0; i < kRuns; ++i) {
    const std::string what = run_label("threaded_actor", i);
    const ExampleRun run = run_example("threaded_actor");
    expect_clean_exit(run, what);
    const std::vector<std::string> texts = texts_of_one_actor(run, "ThreadedActor", what);
    EXPECT_EQ(std::multiset<std::string>(texts.begin(), texts.end()), expected) << what;
  }
}

TEST(Examples, AsyncFunctionTaskRunsTheWrapperAndTheCoroutineTaskAndPrintsNothing) {
  for (int i = 0; i < kRuns; ++i) {
    const std::string what = run_label("async_function_task", i);
    const ExampleRun run = run_example("async_function_task");
    expect_clean_exit(run, what);
    EXPECT_TRUE(run.lines.empty()) << what << "\n" << run.result.out;
  }
}

}  // namespace
}  // namespace shoal::testing
