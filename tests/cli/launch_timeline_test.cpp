// `shoal launch --timeline -o FILE` end to end, on the seed's max_concurrency
// example: the job runs as without recording, and when it ends the trace is
// in FILE: the rank's and the actor's tracks named like their log prefixes,
// exactly 8 calls on the actor's track, never more than 2 at once, each with
// a flow from its submit on the rank's track, and the actor's creation.
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/test_support.hpp"
#include "timeline/timeline_file.hpp"

using namespace std::chrono_literals;
using namespace shoal::testing;
using Json = nlohmann::json;

namespace {

std::vector<Json> events_where(const Json& trace, const std::function<bool(const Json&)>& keep) {
  std::vector<Json> out;
  for (const Json& e : trace["traceEvents"]) {
    if (keep(e)) out.push_back(e);
  }
  return out;
}

// pid of the process track whose name starts with `prefix`, or -1.
int64_t process_named(const Json& trace, const std::string& prefix) {
  for (const Json& e : trace["traceEvents"]) {
    if (e["ph"] == "M" && e["name"] == "process_name" &&
        e["args"]["name"].get<std::string>().rfind(prefix, 0) == 0) {
      return e["pid"].get<int64_t>();
    }
  }
  return -1;
}

size_t max_overlap(const std::vector<Json>& events) {
  std::vector<std::pair<double, int>> edges;
  for (const Json& e : events) {
    edges.emplace_back(e["ts"].get<double>(), +1);
    edges.emplace_back(e["ts"].get<double>() + e["dur"].get<double>(), -1);
  }
  std::sort(edges.begin(), edges.end());
  int now = 0, most = 0;
  for (auto [t, d] : edges)
    most = std::max(most, now += d);
  return size_t(most);
}

}  // namespace

TEST(LaunchTimeline, MaxConcurrencyExampleWritesEightCallsTwoAtATimeWithFlowsFromTheRank) {
  const std::string out = "/tmp/shoal-launch-timeline-" + std::to_string(::getpid()) + ".json";
  const CommandResult r = run_command({shoal_bin(), "launch", "--timeline", "-o", out, "-n", "1",
                                       "--", example_bin("max_concurrency")},
                                      120s, {"SHOAL_TIMELINE="});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  size_t started = 0;
  for (const std::string& line : split_lines(r.out))
    started += line.find("Started task") != std::string::npos;
  EXPECT_EQ(started, 8u) << r.out;
  EXPECT_NE(r.err.find("8 calls"), std::string::npos) << r.err;

  std::ifstream in(out);
  ASSERT_TRUE(in.good()) << out << " was not written";
  std::stringstream text;
  text << in.rdbuf();
  const Json trace = Json::parse(text.str());
  std::remove(out.c_str());
  const std::string session = trace["otherData"]["session"];
  shoal::timeline::TimelineFile::remove(shoal::timeline::timeline_path(session));

  const int64_t rank = process_named(trace, "rank 0 pid=");
  const int64_t actor = process_named(trace, "AsyncActor pid=");
  ASSERT_GT(rank, 0) << trace.dump(1);
  ASSERT_GT(actor, 0) << trace.dump(1);
  EXPECT_GT(process_named(trace, "launcher pid="), 0);

  const std::vector<Json> calls = events_where(trace, [&](const Json& e) {
    return e["ph"] == "X" && e["cat"] == "call" && e["pid"] == actor;
  });
  ASSERT_EQ(calls.size(), 8u);
  EXPECT_EQ(max_overlap(calls), 2u);
  std::map<uint64_t, Json> submits;
  for (const Json& s : events_where(trace, [](const Json& e) { return e["cat"] == "submit"; }))
    submits[s["bind_id"].get<uint64_t>()] = s;
  for (const Json& c : calls) {
    EXPECT_EQ(c["name"], "run_task");
    ASSERT_TRUE(c.contains("bind_id")) << c.dump();
    auto s = submits.find(c["bind_id"].get<uint64_t>());
    ASSERT_NE(s, submits.end()) << c.dump();
    EXPECT_EQ(s->second["pid"], rank);
  }
  const std::vector<Json> created = events_where(trace, [&](const Json& e) {
    return e["ph"] == "i" && e["name"] == "created AsyncActor" && e["pid"] == actor;
  });
  EXPECT_EQ(created.size(), 1u);
}

TEST(LaunchTimeline, OutputWithoutTimelineIsAUsageError) {
  const CommandResult r =
      run_command({shoal_bin(), "launch", "-o", "/tmp/x.json", "-n", "1", "--", "true"}, 60s);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("-o FILE writes the trace of --timeline"), std::string::npos) << r.err;
}
