// Recording real jobs: sessions started with Config::timeline record every
// call into their timeline file, which is exported after the session has
// ended (a dead session's events). For one async actor with
// max_concurrency 2 and 8 calls: exactly 8 call events on the actor's track,
// never more than 2 at once, each with a flow from its caller's submit and
// suspensions inside it; a call whose result was seen is recorded though
// its actor is killed right after; an actor killed -9 keeps the events it wrote and
// has a death instant; a million calls wrap the actor's ring, and the export
// holds the newest events and says how many were dropped.
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <shoal/shoal.hpp>

#include "tests/support/test_support.hpp"
#include "tests/timeline/trace_queries.hpp"
#include "timeline/recorder.hpp"
#include "timeline/timeline_file.hpp"
#include "timeline/timeline_reader.hpp"
#include "timeline/trace_export.hpp"

using namespace std::chrono_literals;
using Json = nlohmann::json;
using shoal::testing::events_where;
using shoal::testing::max_overlap;

// ---- actors under test -------------------------------------------------------------------------

// The seed's max_concurrency example: two calls meet at an event, then both finish.
class PairActor {
 public:
  shoal::Task<int> run_task(int i) {
    curr_tasks_ += 1;
    if (curr_tasks_ == 2) {
      event_.set();
    } else {
      co_await event_.wait();
      event_.clear();
      curr_tasks_ = 0;
    }
    co_return i;
  }

 private:
  shoal::Event event_;
  int curr_tasks_ = 0;
};
SHOAL_ACTOR(PairActor, &PairActor::run_task);

class Counter {
 public:
  int64_t add(int64_t d) { return total_ += d; }

 private:
  int64_t total_ = 0;
};
SHOAL_ACTOR(Counter, &Counter::add);

// Concurrency groups: read() and write() in "io", the rest in the default group.
class GroupedStore {
 public:
  shoal::Task<int> read(int i) { co_return i; }
  int write(int i) { return i; }
  int other(int i) { return i; }
};
SHOAL_ACTOR(GroupedStore, &GroupedStore::read, &GroupedStore::write, &GroupedStore::other);
SHOAL_CONCURRENCY_GROUP(GroupedStore, "io", 2, &GroupedStore::read, &GroupedStore::write);

class GroupedThreaded {
 public:
  int write(int i) { return i; }
  int other(int i) { return i; }
};
SHOAL_ACTOR(GroupedThreaded, &GroupedThreaded::write, &GroupedThreaded::other);
SHOAL_CONCURRENCY_GROUP(GroupedThreaded, "io", 2, &GroupedThreaded::write);

// An argument that takes `linger_ms` to destroy in any process but its caller's: the callee,
// which drops its decoded arguments after sealing the result, is still busy with the call then.
struct Lingering {
  int value = 0;
  int32_t caller_pid = 0;
  int linger_ms = 0;
  MSGPACK_DEFINE(value, caller_pid, linger_ms);
  ~Lingering() {
    if (caller_pid != 0 && ::getpid() != caller_pid)
      std::this_thread::sleep_for(std::chrono::milliseconds(linger_ms));
  }
};

class LingeringEcho {
 public:
  int echo(Lingering l) { return l.value; }
};
SHOAL_ACTOR(LingeringEcho, &LingeringEcho::echo);

class LingeringAsyncEcho {
 public:
  shoal::Task<int> echo(Lingering l) { co_return l.value; }
};
SHOAL_ACTOR(LingeringAsyncEcho, &LingeringAsyncEcho::echo);

namespace {

class TimelineRecording : public ::testing::Test {
 protected:
  void SetUp() override {
    shoal::init(shoal::Config{.prefault = false, .timeline = true});
    const shoal::timeline::TimelineFile* f = shoal::timeline::attached_file();
    ASSERT_NE(f, nullptr) << "Config::timeline made no timeline file";
    path_ = f->path();
  }
  void TearDown() override {
    shoal::shutdown();
    shoal::timeline::TimelineFile::remove(path_);
  }

  // Ends the session, then exports what its file holds.
  Json export_after_shutdown(shoal::timeline::TraceSummary* summary = nullptr) {
    shoal::shutdown();
    auto f = shoal::timeline::TimelineFile::open(path_, /*writable=*/false);
    EXPECT_TRUE(f.ok()) << path_ << " is gone with its session";
    if (!f.ok()) return Json();
    snapshot_ = shoal::timeline::read_timeline(*f);
    return Json::parse(shoal::timeline::trace_json(
        snapshot_, shoal::timeline::ticks_per_ns_since(snapshot_.clock0), summary));
  }

  std::string path_;
  shoal::timeline::TimelineSnapshot snapshot_;
};

std::string process_name(const Json& trace, int64_t pid) {
  return shoal::testing::metadata_name(trace, "process_name", pid);
}

}  // namespace

TEST_F(TimelineRecording, EightCallsAtMaxConcurrencyTwoAreEightEventsTwoAtATimeEachWithItsFlow) {
  auto a = shoal::actor<PairActor>().options({.max_concurrency = 2}).remote();
  const pid_t actor_pid = a.pid();
  std::vector<shoal::ObjectRef<int>> refs;
  for (int i = 0; i < 8; ++i)
    refs.push_back(a.task(&PairActor::run_task).remote(i));
  for (int i = 0; i < 8; ++i)
    ASSERT_EQ(shoal::get(refs[size_t(i)], 30s), i);

  const Json trace = export_after_shutdown();
  ASSERT_TRUE(trace.contains("traceEvents"));
  EXPECT_EQ(process_name(trace, actor_pid), "PairActor pid=" + std::to_string(actor_pid));
  EXPECT_EQ(process_name(trace, ::getpid()), "driver pid=" + std::to_string(::getpid()));

  const std::vector<Json> calls = events_where(trace, [&](const Json& e) {
    return e["ph"] == "X" && e["cat"] == "call" && e["pid"] == actor_pid;
  });
  ASSERT_EQ(calls.size(), 8u) << trace.dump(1);
  EXPECT_LE(max_overlap(calls), 2u);
  EXPECT_EQ(max_overlap(calls), 2u) << "pairs of calls run together";

  std::map<uint64_t, Json> submits;  // bind_id -> the submit slice
  for (const Json& s : events_where(trace, [](const Json& e) { return e["cat"] == "submit"; }))
    submits[s["bind_id"].get<uint64_t>()] = s;
  for (const Json& c : calls) {
    EXPECT_EQ(c["name"], "run_task");
    EXPECT_EQ(c["args"]["outcome"], "ok");
    EXPECT_EQ(c["args"]["class"], "PairActor");
    ASSERT_TRUE(c.contains("bind_id")) << c.dump();
    EXPECT_EQ(c["flow_in"], true);
    auto s = submits.find(c["bind_id"].get<uint64_t>());
    ASSERT_NE(s, submits.end()) << "no submit for " << c.dump();
    EXPECT_EQ(s->second["pid"], ::getpid()) << "the flow starts on the driver's track";
    EXPECT_EQ(s->second["flow_out"], true);
    EXPECT_LE(s->second["ts"].get<double>(), c["ts"].get<double>());
    EXPECT_EQ(c["args"]["caller"], "driver pid=" + std::to_string(::getpid()));
  }
  // The first call of each pair waits at the event: 4 suspensions at least.
  const std::vector<Json> suspended = events_where(
      trace, [&](const Json& e) { return e["cat"] == "suspend" && e["pid"] == actor_pid; });
  EXPECT_GE(suspended.size(), 4u);
  const std::vector<Json> created = events_where(trace, [&](const Json& e) {
    return e["ph"] == "i" && e["cat"] == "actor" && e["pid"] == actor_pid;
  });
  ASSERT_GE(created.size(), 1u);
  EXPECT_EQ(created[0]["name"], "created PairActor");
}

TEST_F(TimelineRecording, EachCallOfAnActorWithGroupsNamesItsGroup) {
  auto a = shoal::actor<GroupedStore>().remote();
  auto t = shoal::actor<GroupedThreaded>().remote();
  auto c = shoal::actor<Counter>().remote();
  const pid_t async_pid = a.pid(), threaded_pid = t.pid(), counter_pid = c.pid();
  const shoal::CallOptions to_io{.concurrency_group = "io"};
  ASSERT_EQ(shoal::get(a.task(&GroupedStore::read).remote(1), 30s), 1);
  ASSERT_EQ(shoal::get(a.task(&GroupedStore::write).remote(2), 30s), 2);
  ASSERT_EQ(shoal::get(a.task(&GroupedStore::other).remote(3), 30s), 3);
  ASSERT_EQ(shoal::get(a.task(&GroupedStore::other).options(to_io).remote(4), 30s), 4);
  ASSERT_EQ(shoal::get(t.task(&GroupedThreaded::write).remote(5), 30s), 5);
  ASSERT_EQ(shoal::get(t.task(&GroupedThreaded::other).remote(6), 30s), 6);
  ASSERT_EQ(shoal::get(c.task(&Counter::add).remote(7), 30s), 7);

  const Json trace = export_after_shutdown();
  // "method group" of each call, in the order the actor ran them.
  auto calls_of = [&](pid_t pid) {
    std::vector<Json> calls = events_where(trace, [&](const Json& e) {
      return e["ph"] == "X" && e["cat"] == "call" && e["pid"] == pid;
    });
    std::sort(calls.begin(), calls.end(), [](const Json& x, const Json& y) {
      return x["ts"].get<double>() < y["ts"].get<double>();
    });
    std::vector<std::string> out;
    for (const Json& e : calls) {
      out.push_back(e["name"].get<std::string>() + " " +
                    (e["args"].contains("group") ? e["args"]["group"].get<std::string>() : "-"));
    }
    return out;
  };
  EXPECT_EQ(calls_of(async_pid),
            (std::vector<std::string>{"read io", "write io", "other default", "other io"}));
  EXPECT_EQ(calls_of(threaded_pid), (std::vector<std::string>{"write io", "other default"}));
  // An actor with the default group alone records no group, as before groups existed.
  EXPECT_EQ(calls_of(counter_pid), (std::vector<std::string>{"add -"}));
}

// shutdown() kills the actors at once: a call whose result the caller has seen is in the
// timeline all the same, though its actor was still busy with it when it was killed.
TEST_F(TimelineRecording, ACallWhoseResultWasSeenIsRecordedEvenIfItsActorDiesRightAfter) {
  auto threaded = shoal::actor<LingeringEcho>().remote();
  auto async = shoal::actor<LingeringAsyncEcho>().remote();
  const pid_t threaded_pid = threaded.pid(), async_pid = async.pid();
  const Lingering slow{.value = 7, .caller_pid = ::getpid(), .linger_ms = 300};
  ASSERT_EQ(shoal::get(threaded.task(&LingeringEcho::echo).remote(slow), 30s), 7);
  ASSERT_EQ(shoal::get(async.task(&LingeringAsyncEcho::echo).remote(slow), 30s), 7);

  const Json trace = export_after_shutdown();
  for (const auto& [pid, kind] : {std::pair{threaded_pid, "threaded"}, {async_pid, "async"}}) {
    const std::vector<Json> calls = events_where(trace, [&](const Json& e) {
      return e["ph"] == "X" && e["cat"] == "call" && e["pid"] == pid;
    });
    ASSERT_EQ(calls.size(), 1u) << "the " << kind << " actor's call in\n" << trace.dump(1);
    EXPECT_EQ(calls[0]["name"], "echo");
    EXPECT_EQ(calls[0]["args"]["outcome"], "ok");
  }
}

TEST_F(TimelineRecording, AnActorKilledMinus9KeepsTheEventsItRecordedAndHasADeathInstant) {
  auto a = shoal::actor<Counter>().remote();
  const pid_t actor_pid = a.pid();
  constexpr int kCalls = 100;
  for (int i = 0; i < kCalls; ++i)
    ASSERT_EQ(shoal::get(a.task(&Counter::add).remote(1), 30s), i + 1);
  ASSERT_EQ(::kill(actor_pid, SIGKILL), 0);
  ASSERT_TRUE(
      shoal::testing::eventually([&] { return !shoal::testing::process_alive(actor_pid); }));
  // The supervisor notes the death; a call after it fails with ActorDiedError.
  EXPECT_THROW(shoal::get(a.task(&Counter::add).remote(1), 30s), shoal::ActorDiedError);

  const Json trace = export_after_shutdown();
  const std::vector<Json> calls = events_where(trace, [&](const Json& e) {
    return e["ph"] == "X" && e["cat"] == "call" && e["pid"] == actor_pid;
  });
  EXPECT_EQ(calls.size(), size_t(kCalls));
  EXPECT_EQ(process_name(trace, actor_pid), "Counter pid=" + std::to_string(actor_pid));
  const std::vector<Json> died = events_where(trace, [&](const Json& e) {
    return e["ph"] == "i" && e["name"] == "died Counter" && e["pid"] == actor_pid;
  });
  ASSERT_EQ(died.size(), 1u) << trace.dump(1);
  EXPECT_NE(died[0]["args"]["message"].get<std::string>().find("died"), std::string::npos);
}

TEST_F(TimelineRecording, AMillionCallsWrapTheRingAndTheExportSaysHowManyWereDropped) {
  auto a = shoal::actor<Counter>().remote();
  const pid_t actor_pid = a.pid();
  constexpr int64_t kCalls = 1'000'000, kBatch = 2000;
  std::vector<shoal::ObjectRef<int64_t>> refs;
  refs.reserve(kBatch);
  for (int64_t done = 0; done < kCalls; done += kBatch) {
    refs.clear();
    for (int64_t i = 0; i < kBatch; ++i)
      refs.push_back(a.task(&Counter::add).remote(1));
    ASSERT_EQ(shoal::get(refs.back(), 60s), done + kBatch);
  }
  refs.clear();

  shoal::timeline::TraceSummary summary;
  const Json trace = export_after_shutdown(&summary);
  const uint64_t ring = snapshot_.ring_events;
  ASSERT_LT(ring, uint64_t(kCalls));
  // The actor's one thread wrote every call; its ring keeps the newest.
  const shoal::timeline::RecordedThread* actor_thread = nullptr;
  for (const auto& t : snapshot_.threads) {
    if (t.pid == actor_pid) actor_thread = &t;
  }
  ASSERT_NE(actor_thread, nullptr);
  EXPECT_EQ(actor_thread->written, uint64_t(kCalls));
  EXPECT_EQ(actor_thread->events.size(), ring);
  EXPECT_EQ(actor_thread->dropped, uint64_t(kCalls) - ring);
  EXPECT_EQ(trace["otherData"]["dropped_events"].get<uint64_t>(), snapshot_.dropped());
  EXPECT_GE(snapshot_.dropped(), uint64_t(kCalls) - ring);
  const std::vector<Json> calls = events_where(trace, [&](const Json& e) {
    return e["ph"] == "X" && e["cat"] == "call" && e["pid"] == actor_pid;
  });
  EXPECT_EQ(calls.size(), ring);
  // The newest: the last call kept is the last one made (its result was the total).
  const auto& last = actor_thread->events.back();
  EXPECT_EQ(last.kind, shoal::timeline::EventKind::kCall);
  for (size_t i = 1; i < actor_thread->events.size(); ++i)
    ASSERT_LE(actor_thread->events[i - 1].t2, actor_thread->events[i].t2);
}

TEST_F(TimelineRecording, PipelinedCallsOfAThreadedActorRunOneAfterAnotherEachAfterItsSubmit) {
  // A threaded actor with one thread runs its calls in submission order, one at a time: on its
  // track each call starts after it was submitted and no earlier than the previous one ended
  // (a call that was waiting when the previous one ended starts right there), and ends after
  // it starts.
  auto a = shoal::actor<Counter>().remote();
  const pid_t actor_pid = a.pid();
  constexpr int64_t kCalls = 5000;
  std::vector<shoal::ObjectRef<int64_t>> refs;
  for (int64_t i = 0; i < kCalls; ++i)
    refs.push_back(a.task(&Counter::add).remote(1));
  for (int64_t i = 0; i < kCalls; ++i)
    ASSERT_EQ(shoal::get(refs[size_t(i)], 60s), i + 1);
  refs.clear();

  (void)export_after_shutdown();
  std::vector<shoal::timeline::EventBody> calls;
  for (const auto& t : snapshot_.threads) {
    if (t.pid != actor_pid) continue;
    for (const auto& e : t.events) {
      if (e.kind == shoal::timeline::EventKind::kCall) calls.push_back(e);
    }
  }
  ASSERT_EQ(calls.size(), size_t(kCalls));
  size_t followed = 0;
  for (size_t i = 0; i < calls.size(); ++i) {
    const auto& c = calls[i];
    ASSERT_NE(c.t0, 0u) << "call " << i << " has no submit stamp";
    ASSERT_LE(c.t0, c.t1) << "call " << i << " starts before it was submitted";
    ASSERT_LE(c.t1, c.t2) << "call " << i << " ends before it starts";
    if (i == 0) continue;
    ASSERT_LE(calls[i - 1].t2, c.t1) << "call " << i << " starts before call " << i - 1 << " ends";
    if (calls[i - 1].t2 == c.t1) ++followed;
  }
  std::printf("%zu of %zu calls started where the previous one ended\n", followed, calls.size());
}

TEST(TimelineSwitch, WithoutConfigOrEnvironmentNothingIsRecorded) {
  if (std::getenv("SHOAL_TIMELINE") != nullptr) GTEST_SKIP() << "SHOAL_TIMELINE is set";
  shoal::init(shoal::Config{.prefault = false});
  EXPECT_EQ(shoal::timeline::attached_file(), nullptr);
  EXPECT_FALSE(shoal::timeline::recording());
  shoal::shutdown();
}
