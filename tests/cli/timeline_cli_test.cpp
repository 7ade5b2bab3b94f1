// `shoal timeline [SESSION] -o FILE` on timelines this test writes (one of a
// session that is gone, one of this process's live session), and what
// `shoal clean` and `shoal status` make of timeline files: clean removes
// the dead session's and keeps the live one's; status lists neither as a
// session.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include <shoal/shoal.hpp>

#include "tests/cli/processes.hpp"
#include "tests/support/test_support.hpp"
#include "timeline/recorder.hpp"
#include "timeline/timeline_file.hpp"

using namespace std::chrono_literals;
using namespace shoal::testing;
using Json = nlohmann::json;

namespace {

// A pid no process has now.
pid_t dead_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return pid;
}

std::string session_named_after(pid_t pid, uint64_t tag) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "shoal-%u-%d-%016llx", unsigned(::getuid()), int(pid),
                static_cast<unsigned long long>(tag));
  return buf;
}

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// Creates the timeline of session `name` with `calls` calls of an actor
// "Worker" in it (written by this process).
void record_session(const std::string& name, int calls) {
  const std::string path = shoal::timeline::timeline_path(name);
  auto f = shoal::timeline::TimelineFile::create(path, {}, 0x42, name);
  ASSERT_TRUE(f.ok()) << path;
  ASSERT_TRUE(shoal::timeline::attach(path, shoal::ipc::ProcessKind::kActor, "Worker").ok());
  const uint16_t m = shoal::timeline::intern("work");
  for (int i = 0; i < calls; ++i) {
    shoal::timeline::CallEvent c;
    c.start = shoal::timeline::ticks();
    c.end = c.start + 100;
    c.method = m;
    shoal::timeline::record_call(c);
  }
  shoal::timeline::detach();
}

Json read_json(const std::string& path) {
  std::ifstream in(path);
  return Json::parse(in);
}

size_t calls_in(const Json& trace) {
  size_t n = 0;
  for (const Json& e : trace["traceEvents"])
    n += e.value("cat", "") == "call";
  return n;
}

class TimelineCommand : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { shoal::init(shoal::Config{.store_bytes = uint64_t(64) << 20}); }
  static void TearDownTestSuite() { shoal::shutdown(); }
  void TearDown() override {
    for (const std::string& p : remove_) {
      std::remove(p.c_str());
    }
  }
  std::string out_file(const std::string& what) {
    const std::string p =
        "/tmp/shoal-timeline-cli-" + std::to_string(::getpid()) + "-" + what + ".json";
    remove_.push_back(p);
    return p;
  }
  void forget(const std::string& session) {
    remove_.push_back(shoal::timeline::timeline_path(session));
  }
  std::vector<std::string> remove_;
};

}  // namespace

TEST_F(TimelineCommand, WritesTheTraceOfANamedSessionThatIsGone) {
  const std::string name = session_named_after(dead_pid(), 0x1111222233334444ull);
  forget(name);
  record_session(name, 3);
  const std::string out = out_file("named");
  const CommandResult r = run_command({shoal_bin(), "timeline", name, "-o", out}, 60s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("3 calls of 1 processes written to " + out), std::string::npos) << r.err;
  const Json trace = read_json(out);
  EXPECT_EQ(calls_in(trace), 3u);
  EXPECT_EQ(trace["otherData"]["session"], name);
  // A timeline file's path works as well, and "-" is stdout.
  const CommandResult to_stdout =
      run_command({shoal_bin(), "timeline", shoal::timeline::timeline_path(name), "-o", "-"}, 60s);
  ASSERT_EQ(to_stdout.exit_code, 0) << to_stdout.err;
  EXPECT_EQ(calls_in(Json::parse(to_stdout.out)), 3u);
}

TEST_F(TimelineCommand, WithoutASessionItTakesTheMostRecentTimeline) {
  const std::string older = session_named_after(dead_pid(), 0xaaaa);
  const std::string newer = session_named_after(dead_pid(), 0xbbbb);
  forget(older);
  forget(newer);
  record_session(older, 1);
  std::this_thread::sleep_for(10ms);
  record_session(newer, 2);
  const std::string out = out_file("recent");
  const CommandResult r = run_command({shoal_bin(), "timeline", "-o", out}, 60s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_json(out)["otherData"]["session"], newer);
  EXPECT_EQ(calls_in(read_json(out)), 2u);
}

TEST_F(TimelineCommand, AnUnknownSessionOrAMissingOutputIsAnError) {
  const CommandResult unknown = run_command(
      {shoal_bin(), "timeline", "shoal-0-1-00000000deadbeef", "-o", out_file("x")}, 60s);
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("shoal-0-1-00000000deadbeef.timeline: no such timeline file"),
            std::string::npos)
      << unknown.err;
  const CommandResult no_output = run_command({shoal_bin(), "timeline"}, 60s);
  EXPECT_EQ(no_output.exit_code, 2);
  EXPECT_NE(no_output.err.find("-o FILE is required"), std::string::npos) << no_output.err;
  const CommandResult two = run_command({shoal_bin(), "timeline", "a", "b", "-o", "x"}, 60s);
  EXPECT_EQ(two.exit_code, 2) << two.err;
}

TEST_F(TimelineCommand, CleanRemovesTheTimelineOfADeadSessionOnlyAndStatusListsNoTimeline) {
  const std::string dead = session_named_after(dead_pid(), 0xdead);
  const std::string live = session_name();  // this process's session
  forget(dead);
  forget(live);
  record_session(dead, 1);
  record_session(live, 1);

  const CommandResult status = run_command({shoal_bin(), "status", "--json"}, 60s);
  ASSERT_EQ(status.exit_code, 0) << status.err;
  const Json doc = Json::parse(status.out);
  for (const Json& s : doc["sessions"]) {
    EXPECT_EQ(s["name"].get<std::string>().find(".timeline"), std::string::npos) << s["name"];
  }

  const CommandResult dry = run_command({shoal_bin(), "clean", "--dry-run"}, 60s);
  EXPECT_NE(dry.out.find("would remove " + dead + ".timeline"), std::string::npos) << dry.out;
  EXPECT_TRUE(exists(shoal::timeline::timeline_path(dead)));
  const CommandResult clean = run_command({shoal_bin(), "clean"}, 60s);
  ASSERT_EQ(clean.exit_code, 0) << clean.err;
  EXPECT_NE(clean.out.find("removed " + dead + ".timeline"), std::string::npos) << clean.out;
  EXPECT_FALSE(exists(shoal::timeline::timeline_path(dead)));
  EXPECT_TRUE(exists(shoal::timeline::timeline_path(live))) << "the live session's timeline went";
  EXPECT_EQ(clean.out.find(live), std::string::npos) << clean.out;
}
