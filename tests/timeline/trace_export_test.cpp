// The Chrome trace export of a timeline: written by real processes into a
// real file, exported, parsed back with a JSON library and checked event by
// event: track names like the log prefixes, one complete event per call on
// the callee's lane (overlapping async calls on separate lanes, each nesting
// its suspensions), a flow from each submit on the caller's thread,
// instants for actor lifecycles, object events, the dropped count, and the
// events of a writer killed -9.
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/ipc/process_helpers.hpp"
#include "tests/timeline/timeline_fixture.hpp"
#include "tests/timeline/trace_queries.hpp"
#include "timeline/recorder.hpp"
#include "timeline/trace_export.hpp"

using namespace shoal;
using namespace shoal::testing;
using Json = nlohmann::json;

namespace {

int wait_status(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// The trace of the timeline at `path`, with one tick per nanosecond (the
// events below are stamped with synthetic times).
Json trace_of(const std::string& path, timeline::TraceSummary* summary = nullptr) {
  auto f = timeline::TimelineFile::open(path, false);
  EXPECT_TRUE(f.ok());
  if (!f.ok()) return Json();
  const timeline::TimelineSnapshot s = timeline::read_timeline(*f);
  return Json::parse(timeline::trace_json(s, 1.0, summary));
}

// The ticks at the creation of the timeline at `path`: time 0 of its trace.
uint64_t clock0(const std::string& path) {
  auto f = timeline::TimelineFile::open(path, false);
  return f.ok() ? f->header().clock_ticks0 : 0;
}

class TraceExport : public TimelineTest {};

}  // namespace

// One async actor, eight calls at max_concurrency 2, submitted by the
// driver: exactly eight call events on the actor's track, never more than
// two at once, each with a flow from the driver's submit.
TEST_F(TraceExport, EightCallsAtMaxConcurrencyTwoLieOnTwoLanesEachWithAFlowFromItsCaller) {
  const std::string path = make_timeline({}, 0x00000000cafef00dull);
  ASSERT_TRUE(timeline::attach(path, ipc::ProcessKind::kDriver, "driver").ok());
  timeline::set_thread_label("");
  const int32_t driver_pid = ::getpid();
  const int32_t driver_tid = timeline::thread_id();
  Shared<std::atomic<int32_t>> actor_tid;
  const pid_t actor = fork_child([&] {
    if (!timeline::attach_forked(ipc::ProcessKind::kActor, "AsyncActor").ok()) return 1;
    timeline::set_thread_label("event loop");
    actor_tid->store(timeline::thread_id());
    const uint16_t run = timeline::intern("run_concurrent");
    // Pair k starts at 1000k and 1000k + 10 and ends 500 later: two at once.
    for (uint64_t i = 0; i < 8; ++i) {
      const uint64_t start = 10'000 + (i / 2) * 1000 + (i % 2) * 10;
      timeline::record_suspension(run, (uint64_t(100 + i) << 32) | 1, start + 100, start + 400);
      timeline::CallEvent c;
      c.submit = start - 50;
      c.start = start;
      c.end = start + 500;
      c.caller_pid = driver_pid;
      c.caller_tid = driver_tid;
      c.result = (uint64_t(100 + i) << 32) | 1;
      c.method = run;
      timeline::record_call(c);
    }
    return 0;
  });
  ASSERT_EQ(wait_status(actor), 0);
  timeline::detach();

  timeline::TraceSummary summary;
  const Json trace = trace_of(path, &summary);
  ASSERT_TRUE(trace.contains("traceEvents"));
  EXPECT_EQ(summary.calls, 8u);
  EXPECT_EQ(summary.processes, 2u);
  EXPECT_EQ(metadata_name(trace, "process_name", actor), "AsyncActor pid=" + std::to_string(actor));
  EXPECT_EQ(metadata_name(trace, "process_name", driver_pid),
            "driver pid=" + std::to_string(driver_pid));

  const std::vector<Json> calls =
      events_where(trace, [&](const Json& e) { return e["cat"] == "call" && e["pid"] == actor; });
  ASSERT_EQ(calls.size(), 8u);
  EXPECT_EQ(max_overlap(calls), 2u);
  std::set<int64_t> lanes;
  for (const Json& c : calls) {
    EXPECT_EQ(c["ph"], "X");
    EXPECT_EQ(c["name"], "run_concurrent");
    EXPECT_DOUBLE_EQ(c["dur"].get<double>(), 0.5);
    EXPECT_EQ(c["args"]["method"], "run_concurrent");
    EXPECT_EQ(c["args"]["class"], "AsyncActor");
    EXPECT_EQ(c["args"]["outcome"], "ok");
    EXPECT_EQ(c["args"]["caller"], "driver pid=" + std::to_string(driver_pid));
    EXPECT_EQ(c["args"]["caller_tid"], driver_tid);
    EXPECT_DOUBLE_EQ(c["args"]["queued_us"].get<double>(), 0.05);
    const std::string id = c["args"]["object"];
    EXPECT_EQ(id.size(), 32u);
    EXPECT_EQ(id.substr(0, 16), "00000000cafef00d");
    EXPECT_EQ(id.substr(24), "00000001");
    EXPECT_FALSE(c["args"].contains("group"));
    lanes.insert(c["tid"].get<int64_t>());
    // The flow: out of a submit on the driver's thread, into this call.
    ASSERT_TRUE(c.contains("bind_id"));
    EXPECT_EQ(c["flow_in"], true);
    const std::vector<Json> submits = events_where(trace, [&](const Json& e) {
      return e["cat"] == "submit" && e.contains("bind_id") && e["bind_id"] == c["bind_id"];
    });
    ASSERT_EQ(submits.size(), 1u);
    EXPECT_EQ(submits[0]["flow_out"], true);
    EXPECT_EQ(submits[0]["pid"], driver_pid);
    EXPECT_EQ(submits[0]["tid"], driver_tid);
    EXPECT_EQ(submits[0]["ph"], "X");
    EXPECT_DOUBLE_EQ(submits[0]["ts"].get<double>(), c["ts"].get<double>() - 0.05);
    EXPECT_EQ(submits[0]["args"]["callee"], "AsyncActor pid=" + std::to_string(actor));
  }
  // Two lanes: the event loop's own tid and one more, named after it.
  ASSERT_EQ(lanes.size(), 2u);
  EXPECT_TRUE(lanes.count(actor_tid->load()));
  for (int64_t lane : lanes) {
    const std::string name = metadata_name(trace, "thread_name", actor, lane);
    EXPECT_EQ(name, lane == actor_tid->load() ? "event loop" : "event loop #2");
  }
  EXPECT_EQ(metadata_name(trace, "thread_name", driver_pid, driver_tid), "main thread");
  // Each lane nests: its calls never overlap.
  for (int64_t lane : lanes) {
    std::vector<Json> on_lane;
    for (const Json& c : calls) {
      if (c["tid"] == lane) on_lane.push_back(c);
    }
    EXPECT_EQ(on_lane.size(), 4u);
    EXPECT_EQ(max_overlap(on_lane), 1u);
  }
  // Every suspension lies inside its own call, on that call's lane.
  const std::vector<Json> suspensions =
      events_where(trace, [](const Json& e) { return e["cat"] == "suspend"; });
  ASSERT_EQ(suspensions.size(), 8u);
  for (const Json& s : suspensions) {
    const auto call = std::find_if(calls.begin(), calls.end(), [&](const Json& c) {
      return c["args"]["object"] == s["args"]["object"];
    });
    ASSERT_NE(call, calls.end());
    EXPECT_EQ(s["tid"], (*call)["tid"]);
    EXPECT_DOUBLE_EQ(s["ts"].get<double>(), (*call)["ts"].get<double>() + 0.1);
    EXPECT_DOUBLE_EQ(s["dur"].get<double>(), 0.3);
    EXPECT_EQ(s["args"]["method"], "run_concurrent");
  }
  EXPECT_EQ(trace["otherData"]["dropped_events"], 0);
  EXPECT_EQ(trace["otherData"]["session"], "shoal-test-session");
  EXPECT_EQ(trace["displayTimeUnit"], "ns");
}

TEST_F(TraceExport, OutcomesGroupsAndErrorTypesAreArgumentsOfTheCall) {
  const std::string path = make_timeline();
  ASSERT_TRUE(timeline::attach(path, ipc::ProcessKind::kActor, "Threaded").ok());
  timeline::CallEvent c;
  c.start = 100;
  c.end = 200;
  c.method = timeline::intern("read");
  c.group = timeline::intern("io");
  c.outcome = timeline::Outcome::kError;
  c.error_type = timeline::intern("std::runtime_error");
  timeline::record_call(c);
  c.start = 300;
  c.end = 400;
  c.group = 0;
  c.outcome = timeline::Outcome::kCancelled;
  c.error_type = 0;
  timeline::record_call(c);
  timeline::detach();
  const Json trace = trace_of(path);
  const std::vector<Json> calls =
      events_where(trace, [](const Json& e) { return e["cat"] == "call"; });
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0]["args"]["outcome"], "error");
  EXPECT_EQ(calls[0]["args"]["error_type"], "std::runtime_error");
  EXPECT_EQ(calls[0]["args"]["group"], "io");
  EXPECT_EQ(calls[1]["args"]["outcome"], "cancelled");
  EXPECT_FALSE(calls[1]["args"].contains("error_type"));
  // No caller stamped: no flow and no submit.
  EXPECT_FALSE(calls[0].contains("bind_id"));
  EXPECT_TRUE(events_where(trace, [](const Json& e) { return e["cat"] == "submit"; }).empty());
}

TEST_F(TraceExport, ActorLifecyclesAreInstantsOnTheActorsProcessAndObjectsAreSlices) {
  const std::string path = make_timeline();
  ASSERT_TRUE(timeline::attach(path, ipc::ProcessKind::kSupervisor, "supervisor").ok());
  const uint64_t t0 = clock0(path);
  const uint16_t cls = timeline::intern("Phoenix");
  const uint16_t why = timeline::intern("actor Phoenix died: its process (pid 77) died");
  timeline::record_actor(timeline::EventKind::kActorCreated, cls, 77, 3, 0, 0, t0 + 1000);
  timeline::record_actor(timeline::EventKind::kActorDied, cls, 77, 3, 0, why, t0 + 2000);
  timeline::record_actor(timeline::EventKind::kActorRestarted, cls, 78, 3, 1, 0, t0 + 3000);
  timeline::record_object(timeline::EventKind::kPut, timeline::intern("std::vector<double>"),
                          (uint64_t(5) << 32) | 2, 1 << 20, t0 + 4000, t0 + 4500);
  timeline::detach();
  const Json trace = trace_of(path);
  const std::vector<Json> instants =
      events_where(trace, [](const Json& e) { return e["ph"] == "i"; });
  ASSERT_EQ(instants.size(), 3u);
  EXPECT_EQ(instants[0]["name"], "created Phoenix");
  EXPECT_EQ(instants[0]["pid"], 77);
  EXPECT_EQ(instants[0]["s"], "p");
  EXPECT_DOUBLE_EQ(instants[0]["ts"].get<double>(), 1.0);
  EXPECT_EQ(instants[1]["name"], "died Phoenix");
  EXPECT_EQ(instants[1]["args"]["message"], "actor Phoenix died: its process (pid 77) died");
  EXPECT_EQ(instants[1]["args"]["actor"], 3);
  EXPECT_EQ(instants[2]["name"], "restarted Phoenix");
  EXPECT_EQ(instants[2]["pid"], 78);
  EXPECT_EQ(instants[2]["args"]["restarts"], 1);
  // The dead and the new incarnation have tracks, named by pid only: they
  // recorded nothing themselves.
  EXPECT_EQ(metadata_name(trace, "process_name", 77), "pid=77");
  const std::vector<Json> puts =
      events_where(trace, [](const Json& e) { return e["cat"] == "object"; });
  ASSERT_EQ(puts.size(), 1u);
  EXPECT_EQ(puts[0]["name"], "put");
  EXPECT_EQ(puts[0]["args"]["bytes"], 1 << 20);
  EXPECT_EQ(puts[0]["args"]["type"], "std::vector<double>");
  EXPECT_EQ(puts[0]["pid"], ::getpid());
}

TEST_F(TraceExport, TimesAreMicrosecondsSinceTheFileWasCreatedAtTheClocksRate) {
  const std::string path = make_timeline();
  ASSERT_TRUE(timeline::attach(path, ipc::ProcessKind::kActor, "A").ok());
  auto f = timeline::TimelineFile::open(path, false);
  ASSERT_TRUE(f.ok());
  const uint64_t t0 = f->header().clock_ticks0;
  timeline::CallEvent c;
  c.start = t0 + 3000;
  c.end = t0 + 7000;
  timeline::record_call(c);
  timeline::detach();
  const timeline::TimelineSnapshot s = timeline::read_timeline(*f);
  const Json trace = Json::parse(timeline::trace_json(s, 2.0));  // two ticks a nanosecond
  const std::vector<Json> calls =
      events_where(trace, [](const Json& e) { return e["cat"] == "call"; });
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_DOUBLE_EQ(calls[0]["ts"].get<double>(), 1.5);
  EXPECT_DOUBLE_EQ(calls[0]["dur"].get<double>(), 2.0);
  EXPECT_EQ(calls[0]["name"], "?") << "a call whose name was never interned";
}

TEST_F(TraceExport, TheDroppedCountOfAWrappedRingIsInTheMetadata) {
  timeline::TimelineParams p;
  p.ring_events = 1024;
  const std::string path = make_timeline(p);
  ASSERT_TRUE(timeline::attach(path, ipc::ProcessKind::kActor, "Busy").ok());
  const uint64_t t0 = clock0(path);
  const uint16_t m = timeline::intern("work");
  for (uint64_t i = 0; i < 1'000'000; ++i) {
    timeline::CallEvent c;
    c.start = t0 + 1000 + 2 * i;
    c.end = t0 + 1001 + 2 * i;
    c.result = i;
    c.method = m;
    timeline::record_call(c);
  }
  timeline::detach();
  timeline::TraceSummary summary;
  const Json trace = trace_of(path, &summary);
  EXPECT_EQ(summary.calls, 1024u);
  EXPECT_EQ(summary.dropped, 1'000'000u - 1024);
  EXPECT_EQ(trace["otherData"]["dropped_events"], 1'000'000 - 1024);
  const std::vector<Json> calls =
      events_where(trace, [](const Json& e) { return e["cat"] == "call"; });
  ASSERT_EQ(calls.size(), 1024u);
  // The newest events are the ones kept.
  EXPECT_DOUBLE_EQ(calls.front()["ts"].get<double>(), (1000 + 2.0 * (1'000'000 - 1024)) / 1000);
  const std::vector<Json> thread = events_where(trace, [](const Json& e) {
    return e["ph"] == "M" && e["name"] == "thread_name" && e["args"].contains("dropped_events");
  });
  ASSERT_EQ(thread.size(), 1u);
  EXPECT_EQ(thread[0]["args"]["dropped_events"], 1'000'000 - 1024);
}

TEST_F(TraceExport, TheCallsOfAWriterKilledMidRecordingAreExported) {
  const std::string path = make_timeline();
  Shared<std::atomic<int64_t>> finished;
  finished->store(-1);
  const pid_t writer = fork_child([&] {
    if (!timeline::attach(path, ipc::ProcessKind::kActor, "Doomed").ok()) return 1;
    const uint16_t m = timeline::intern("step");
    for (uint64_t i = 0;; ++i) {
      timeline::CallEvent c;
      c.start = 1000 + 10 * i;
      c.end = 1005 + 10 * i;
      c.result = i;
      c.method = m;
      timeline::record_call(c);
      finished->store(int64_t(i), std::memory_order_release);
      if (i >= 5000) std::this_thread::yield();  // keep going slowly until killed
    }
  });
  while (finished->load(std::memory_order_acquire) < 5000)
    std::this_thread::yield();
  kill_and_reap(writer);
  const int64_t last = finished->load();
  const std::string out = path + ".json";
  paths_.push_back(out);
  auto written = timeline::export_trace(path, out);
  ASSERT_TRUE(written.ok()) << written.error();
  std::ifstream in(out);
  const Json trace = Json::parse(in);
  const std::vector<Json> calls =
      events_where(trace, [&](const Json& e) { return e["cat"] == "call" && e["pid"] == writer; });
  EXPECT_GE(int64_t(calls.size()), last + 1) << "every call finished before the kill is exported";
  EXPECT_LE(int64_t(calls.size()), last + 2);
  EXPECT_EQ(metadata_name(trace, "process_name", writer), "Doomed pid=" + std::to_string(writer));
  EXPECT_EQ(written->calls, calls.size());
}

TEST_F(TraceExport, ExportNamesTheFileWhenItCannotReadOrWrite) {
  auto missing =
      timeline::export_trace("/dev/shm/shoal-timeline-test-missing.timeline", "/tmp/x.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().find("shoal-timeline-test-missing.timeline"), std::string::npos);
  EXPECT_NE(missing.error().find("no such timeline file"), std::string::npos);
  const std::string path = make_timeline();
  auto unwritable = timeline::export_trace(path, "/nonexistent-dir/trace.json");
  ASSERT_FALSE(unwritable.ok());
  EXPECT_NE(unwritable.error().find("/nonexistent-dir/trace.json"), std::string::npos);
}
