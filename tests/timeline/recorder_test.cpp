// The timeline's file and writer: layout validation, what a recording process
// and its threads write, wrap-around and the dropped count, names shared by
// processes, readers racing writers in other processes, and writers killed
// -9 mid-write (everything they finished before the kill is read back).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "tests/ipc/process_helpers.hpp"
#include "tests/timeline/timeline_fixture.hpp"
#include "timeline/clock.hpp"
#include "timeline/recorder.hpp"

using namespace shoal;
using namespace shoal::testing;
using timeline::EventBody;
using timeline::TimelineError;
using timeline::TimelineFile;
using timeline::TimelineParams;

namespace {

int wait_status(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Checks that `t` holds numbered events first..first+count-1, in order.
void expect_numbered(const timeline::RecordedThread& t, uint64_t first, uint64_t count) {
  ASSERT_EQ(t.events.size(), count);
  for (uint64_t k = 0; k < count; ++k) {
    ASSERT_EQ(number_of(t.events[k]), int64_t(first + k)) << "event " << k;
  }
}

class TimelineFileTest : public TimelineTest {};
class Recorder : public TimelineTest {};

}  // namespace

// ---- the file ---------------------------------------------------------------------

TEST_F(TimelineFileTest, CreateWritesAnEmptyTimelineThatOpensReadOnly) {
  TimelineParams p;
  p.rings = 8;
  p.ring_events = 1000;  // rounded up to 1024
  p.processes = 16;
  p.strings = 32;
  const std::string path = make_timeline(p, 0xabcdef);
  auto f = TimelineFile::open(path, /*writable=*/false);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->layout().ring_events, 1024u);
  EXPECT_EQ(f->layout().ring_count, 8u);
  EXPECT_EQ(f->header().session_tag, 0xabcdefu);
  EXPECT_EQ(f->header().creator_pid, ::getpid());
  EXPECT_EQ(std::string(f->header().session_name), "shoal-test-session");
  EXPECT_EQ(f->layout().rings_off % 4096, 0u);
  EXPECT_EQ(f->layout().ring_stride % 4096, 0u);
  const timeline::TimelineSnapshot s = timeline::read_timeline(*f);
  EXPECT_TRUE(s.processes.empty());
  EXPECT_TRUE(s.threads.empty());
  EXPECT_EQ(s.dropped(), 0u);
  EXPECT_EQ(s.session_name, "shoal-test-session");
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(TimelineFileTest, CreateRefusesAnExistingFileAndSizesOutOfRange) {
  const std::string path = make_timeline();
  auto again = TimelineFile::create(path, {}, 1, "x");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error(), TimelineError::kExists);
  TimelineParams none;
  none.rings = 0;
  auto bad = TimelineFile::create(test_timeline_path(), none, 1, "x");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error(), TimelineError::kBadSize);
  TimelineParams huge;
  huge.ring_events = timeline::kMaxRingEvents + 1;
  EXPECT_EQ(TimelineFile::create(test_timeline_path(), huge, 1, "x").error(),
            TimelineError::kBadSize);
}

TEST_F(TimelineFileTest, OpenRejectsMissingTruncatedAndDamagedFiles) {
  EXPECT_EQ(TimelineFile::open("/dev/shm/shoal-timeline-test-none.timeline", false).error(),
            TimelineError::kMissing);

  const std::string garbage = test_timeline_path();
  paths_.push_back(garbage);
  {
    std::ofstream out(garbage);
    out << std::string(8192, 'x');
  }
  EXPECT_EQ(TimelineFile::open(garbage, false).error(), TimelineError::kCorrupt);

  const std::string tiny = test_timeline_path();
  paths_.push_back(tiny);
  {
    std::ofstream out(tiny);
    out << "TIMELINE";
  }
  EXPECT_EQ(TimelineFile::open(tiny, false).error(), TimelineError::kCorrupt);

  // A layout that no longer matches its checksum, or claims more than the file holds.
  const std::string path = make_timeline();
  {
    auto f = TimelineFile::open(path, true);
    ASSERT_TRUE(f.ok());
    f->header().layout.ring_count += 1;
  }
  EXPECT_EQ(TimelineFile::open(path, false).error(), TimelineError::kCorrupt);
  {
    auto f = TimelineFile::open(path, true);
    ASSERT_FALSE(f.ok());
  }
  const std::string cut = make_timeline();
  ASSERT_EQ(::truncate(cut.c_str(), 64 * 1024), 0);
  EXPECT_EQ(TimelineFile::open(cut, false).error(), TimelineError::kCorrupt);
}

// ---- one process ------------------------------------------------------------------

TEST_F(Recorder, NothingIsRecordedBeforeAttachOrAfterDetach) {
  EXPECT_FALSE(timeline::recording());
  EXPECT_EQ(timeline::intern("run"), 0);
  const std::string path = make_timeline();
  ASSERT_TRUE(timeline::attach(path, ipc::ProcessKind::kDriver, "driver").ok());
  EXPECT_TRUE(timeline::recording());
  EXPECT_EQ(timeline::process_id(), ::getpid());
  EXPECT_EQ(timeline::thread_id(), gettid_now());
  timeline::detach();
  EXPECT_FALSE(timeline::recording());
  EXPECT_EQ(timeline::attached_file(), nullptr);
  const timeline::TimelineSnapshot s = snapshot(path);
  ASSERT_EQ(s.processes.size(), 1u);
  EXPECT_TRUE(s.threads.empty()) << "no event was written, so no ring was claimed";
}

TEST_F(Recorder, EventsComeBackInOrderUnderTheProcessAndThreadThatWroteThem) {
  const std::string path = make_timeline();
  ASSERT_TRUE(timeline::attach(path, ipc::ProcessKind::kActor, "AsyncActor").ok());
  int32_t writer_tid = 0;
  std::thread writer([&] {
    writer_tid = timeline::thread_id();
    timeline::set_thread_label("event loop");
    const uint16_t run = timeline::intern("run_concurrent");
    for (uint64_t i = 0; i < 10; ++i) {
      timeline::CallEvent c;
      c.submit = 100 + i;
      c.start = 200 + i;
      c.end = 300 + i;
      c.caller_pid = 4242;
      c.caller_tid = 4243;
      c.result = (uint64_t(7) << 32) | i;
      c.method = run;
      c.outcome = i == 9 ? timeline::Outcome::kCancelled : timeline::Outcome::kOk;
      timeline::record_call(c);
    }
    timeline::record_suspension(run, 5, 1000, 2000);
  });
  writer.join();
  timeline::detach();

  const timeline::TimelineSnapshot s = snapshot(path);
  ASSERT_EQ(s.processes.size(), 1u);
  EXPECT_EQ(s.processes[0].pid, ::getpid());
  EXPECT_EQ(s.processes[0].kind, uint32_t(ipc::ProcessKind::kActor));
  EXPECT_EQ(s.processes[0].label, "AsyncActor");
  ASSERT_EQ(s.threads.size(), 1u);
  const timeline::RecordedThread& t = s.threads[0];
  EXPECT_EQ(t.process, 0u);
  EXPECT_EQ(t.pid, ::getpid());
  EXPECT_EQ(t.tid, writer_tid);
  EXPECT_NE(t.tid, gettid_now()) << "the writer was another thread";
  EXPECT_EQ(t.label, "event loop");
  EXPECT_EQ(t.written, 11u);
  EXPECT_EQ(t.dropped, 0u);
  ASSERT_EQ(t.events.size(), 11u);
  for (uint64_t i = 0; i < 10; ++i) {
    const EventBody& e = t.events[i];
    EXPECT_EQ(e.kind, timeline::EventKind::kCall);
    EXPECT_EQ(e.t0, 100 + i);
    EXPECT_EQ(e.t1, 200 + i);
    EXPECT_EQ(e.t2, 300 + i);
    EXPECT_EQ(e.peer_pid, 4242);
    EXPECT_EQ(e.peer_tid, 4243);
    EXPECT_EQ(e.object, (uint64_t(7) << 32) | i);
    EXPECT_EQ(s.string(e.name), "run_concurrent");
  }
  EXPECT_EQ(t.events[9].outcome, timeline::Outcome::kCancelled);
  EXPECT_EQ(t.events[10].kind, timeline::EventKind::kSuspend);
  EXPECT_EQ(t.events[10].t1, 1000u);
  EXPECT_EQ(t.events[10].t2, 2000u);
}

TEST_F(Recorder, ARingWrapsKeepingTheNewestEventsAndCountsTheDropped) {
  TimelineParams p;
  p.ring_events = 4096;
  const std::string path = make_timeline(p);
  ASSERT_TRUE(timeline::attach(path, ipc::ProcessKind::kDriver, "driver").ok());
  constexpr uint64_t kEvents = 1'000'000;
  for (uint64_t i = 0; i < kEvents; ++i)
    timeline::write_event(numbered_event(i));
  timeline::detach();
  const timeline::TimelineSnapshot s = snapshot(path);
  ASSERT_EQ(s.threads.size(), 1u);
  EXPECT_EQ(s.threads[0].written, kEvents);
  EXPECT_EQ(s.threads[0].dropped, kEvents - 4096);
  EXPECT_EQ(s.dropped(), kEvents - 4096);
  expect_numbered(s.threads[0], kEvents - 4096, 4096);
}

TEST_F(Recorder, EachThreadWritesItsOwnRing) {
  const std::string path = make_timeline();
  ASSERT_TRUE(timeline::attach(path, ipc::ProcessKind::kActor, "Pool").ok());
  constexpr int kThreads = 4;
  constexpr uint64_t kEach = 5000;
  std::vector<std::thread> threads;
  std::vector<int32_t> tids(kThreads);
  for (int k = 0; k < kThreads; ++k) {
    threads.emplace_back([&, k] {
      tids[size_t(k)] = timeline::thread_id();
      timeline::set_thread_label("pool " + std::to_string(k));
      for (uint64_t i = 0; i < kEach; ++i)
        timeline::write_event(numbered_event(uint64_t(k) * kEach + i));
    });
  }
  for (std::thread& t : threads)
    t.join();
  timeline::detach();
  const timeline::TimelineSnapshot s = snapshot(path);
  ASSERT_EQ(s.threads.size(), size_t(kThreads));
  std::set<int32_t> seen;
  for (const timeline::RecordedThread& t : s.threads) {
    const auto k = size_t(std::find(tids.begin(), tids.end(), t.tid) - tids.begin());
    ASSERT_LT(k, tids.size()) << "a ring names a thread that did not write";
    EXPECT_EQ(t.label, "pool " + std::to_string(k));
    expect_numbered(t, k * kEach, kEach);
    seen.insert(t.tid);
  }
  EXPECT_EQ(seen.size(), size_t(kThreads));
}

TEST_F(Recorder, ThreadsBeyondTheLastRingAreCountedAndWriteNowhere) {
  TimelineParams p;
  p.rings = 2;
  const std::string path = make_timeline(p);
  ASSERT_TRUE(timeline::attach(path, ipc::ProcessKind::kDriver, "driver").ok());
  for (int k = 0; k < 3; ++k) {
    std::thread([k] { timeline::write_event(numbered_event(uint64_t(k))); }).join();
  }
  timeline::detach();
  const timeline::TimelineSnapshot s = snapshot(path);
  ASSERT_EQ(s.threads.size(), 2u);
  EXPECT_EQ(s.threads_refused, 1u);
  expect_numbered(s.threads[0], 0, 1);
  expect_numbered(s.threads[1], 1, 1);
}

TEST_F(Recorder, ReattachingStartsNewRingsInTheNewFile) {
  const std::string first = make_timeline();
  const std::string second = make_timeline();
  ASSERT_TRUE(timeline::attach(first, ipc::ProcessKind::kDriver, "driver").ok());
  timeline::write_event(numbered_event(1));
  ASSERT_TRUE(timeline::attach(second, ipc::ProcessKind::kDriver, "driver").ok());
  timeline::write_event(numbered_event(2));
  timeline::detach();
  expect_numbered(snapshot(first).threads.at(0), 1, 1);
  expect_numbered(snapshot(second).threads.at(0), 2, 1);
}

TEST_F(Recorder, AProcessBeyondTheLastEntryIsRefused) {
  TimelineParams p;
  p.processes = 1;
  const std::string path = make_timeline(p);
  ASSERT_TRUE(timeline::attach(path, ipc::ProcessKind::kDriver, "driver").ok());
  auto again = timeline::attach(path, ipc::ProcessKind::kDriver, "driver");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error(), TimelineError::kFull);
  EXPECT_FALSE(timeline::recording());
  EXPECT_EQ(snapshot(path).processes_refused, 1u);
}

// ---- names --------------------------------------------------------------------------

TEST_F(Recorder, NamesAreInternedOnceAcrossProcessesAndZeroWhenTheTableIsFull) {
  TimelineParams p;
  p.strings = 4;  // "none" and three names
  const std::string path = make_timeline(p);
  ASSERT_TRUE(timeline::attach(path, ipc::ProcessKind::kDriver, "driver").ok());
  EXPECT_EQ(timeline::intern("alpha"), 1);
  EXPECT_EQ(timeline::intern("beta"), 2);
  EXPECT_EQ(timeline::intern("alpha"), 1);
  // Another process finds the names already there.
  const pid_t child = fork_child([] {
    if (!timeline::attach_forked(ipc::ProcessKind::kActor, "Child").ok()) return 1;
    if (timeline::intern("beta") != 2) return 2;
    if (timeline::intern("gamma") != 3) return 3;
    return 0;
  });
  ASSERT_EQ(wait_status(child), 0);
  EXPECT_EQ(timeline::intern("gamma"), 3);
  EXPECT_EQ(timeline::intern("delta"), 0);
  const std::string long_name(300, 'x');
  EXPECT_EQ(timeline::intern(long_name), 0);
  timeline::detach();
  const timeline::TimelineSnapshot s = snapshot(path);
  EXPECT_EQ(s.strings_refused, 2u);
  ASSERT_EQ(s.strings.size(), 4u);
  EXPECT_EQ(s.string(1), "alpha");
  EXPECT_EQ(s.string(2), "beta");
  EXPECT_EQ(s.string(3), "gamma");
  EXPECT_EQ(s.string(0), "");
  EXPECT_EQ(s.string(999), "");
}

TEST_F(Recorder, ALongNameIsCutToTheLimit) {
  const std::string path = make_timeline();
  ASSERT_TRUE(timeline::attach(path, ipc::ProcessKind::kDriver, "driver").ok());
  const std::string long_name(300, 'y');
  const uint16_t i = timeline::intern(long_name);
  ASSERT_NE(i, 0);
  EXPECT_EQ(timeline::intern(long_name.substr(0, timeline::kMaxStringBytes)), i);
  timeline::detach();
  EXPECT_EQ(snapshot(path).string(i), std::string(timeline::kMaxStringBytes, 'y'));
}

// ---- several processes ------------------------------------------------------------

TEST_F(Recorder, EveryProcessOfASessionGetsItsOwnEntryAndRings) {
  const std::string path = make_timeline();
  ASSERT_TRUE(timeline::attach(path, ipc::ProcessKind::kDriver, "driver").ok());
  timeline::write_event(numbered_event(0));
  constexpr int kChildren = 4;
  std::vector<pid_t> children;
  for (int k = 0; k < kChildren; ++k) {
    children.push_back(fork_child([k, &path] {
      // Half inherit the mapping, half open the file by its path.
      const bool forked = k % 2 == 0;
      auto r = forked ? timeline::attach_forked(ipc::ProcessKind::kActor, "Worker")
                      : timeline::attach(path, ipc::ProcessKind::kActor, "Worker");
      if (!r.ok()) return 1;
      if (timeline::process_id() != ::getpid()) return 2;
      for (uint64_t i = 0; i < 100; ++i)
        timeline::write_event(numbered_event(uint64_t(k + 1) * 1000 + i));
      return 0;
    }));
  }
  for (pid_t c : children)
    ASSERT_EQ(wait_status(c), 0);
  timeline::write_event(numbered_event(1));
  timeline::detach();

  const timeline::TimelineSnapshot s = snapshot(path);
  ASSERT_EQ(s.processes.size(), size_t(1 + kChildren));
  EXPECT_EQ(s.processes[0].label, "driver");
  ASSERT_EQ(s.threads.size(), size_t(1 + kChildren));
  for (const timeline::RecordedThread& t : s.threads) {
    ASSERT_LT(t.process, s.processes.size());
    EXPECT_EQ(s.processes[t.process].pid, t.pid);
    EXPECT_EQ(t.tid, t.pid) << "each wrote from its main thread";
    if (t.pid == ::getpid()) {
      expect_numbered(t, 0, 2);
      continue;
    }
    const auto k = size_t(std::find(children.begin(), children.end(), t.pid) - children.begin());
    ASSERT_LT(k, children.size());
    EXPECT_EQ(s.processes[t.process].label, "Worker");
    expect_numbered(t, (k + 1) * 1000, 100);
  }
}

TEST_F(Recorder, AForkedChildRecordsNothingUntilItAttaches) {
  const std::string path = make_timeline();
  ASSERT_TRUE(timeline::attach(path, ipc::ProcessKind::kDriver, "driver").ok());
  timeline::write_event(numbered_event(0));
  const pid_t child = fork_child([] {
    if (timeline::recording()) return 1;
    if (timeline::intern("x") != 0) return 2;
    return 0;
  });
  ASSERT_EQ(wait_status(child), 0);
  timeline::detach();
  const timeline::TimelineSnapshot s = snapshot(path);
  EXPECT_EQ(s.processes.size(), 1u);
  EXPECT_EQ(s.threads.size(), 1u);
}

// A writer in another process goes round a small ring as fast as it can; a
// reader here takes snapshot after snapshot meanwhile: every event it gets is
// one the writer wrote whole.
TEST_F(Recorder, AReaderRacingAWriterInAnotherProcessNeverTakesATornEvent) {
  TimelineParams p;
  p.ring_events = 256;
  const std::string path = make_timeline(p);
  Shared<std::atomic<int>> stop;
  const pid_t writer = fork_child([&] {
    if (!timeline::attach(path, ipc::ProcessKind::kActor, "Writer").ok()) return 1;
    for (uint64_t i = 0; stop->load(std::memory_order_relaxed) == 0; ++i) {
      timeline::write_event(numbered_event(i));
    }
    return 0;
  });
  uint64_t events = 0, snapshots = 0, last_written = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (std::chrono::steady_clock::now() < until) {
    const timeline::TimelineSnapshot s = snapshot(path);
    if (s.threads.empty()) continue;
    const timeline::RecordedThread& t = s.threads[0];
    int64_t previous = -1;
    for (const EventBody& e : t.events) {
      const int64_t n = number_of(e);
      ASSERT_GE(n, 0) << "a torn event in snapshot " << snapshots;
      ASSERT_GT(n, previous) << "events out of order";
      previous = n;
    }
    ASSERT_LE(t.events.size(), 256u);
    ASSERT_GE(t.written, last_written);
    last_written = t.written;
    events += t.events.size();
    ++snapshots;
  }
  stop->store(1);
  ASSERT_EQ(wait_status(writer), 0);
  EXPECT_GT(snapshots, 10u);
  EXPECT_GT(last_written, 256u) << "the writer should have gone round the ring";
  EXPECT_GT(events, 0u);
}

// A writer killed -9 at a random instant (for a small ring, after it wrapped;
// for a big one, before): every event it finished is read back, in order,
// and at most the one it was writing is missing.
TEST_F(Recorder, AWriterKilledMidWriteLeavesEveryEventItFinished) {
  std::mt19937 rng(12345);
  for (int round = 0; round < 16; ++round) {
    TimelineParams p;
    p.rings = 4;
    const bool wraps = round % 2 == 0;
    p.ring_events = wraps ? 512 : 1u << 20;
    const std::string path = make_timeline(p);
    // The writer publishes the number of its last finished event here.
    Shared<std::atomic<int64_t>> finished;
    finished->store(-1);
    const pid_t writer = fork_child([&] {
      if (!timeline::attach(path, ipc::ProcessKind::kActor, "Doomed").ok()) return 1;
      for (uint64_t i = 0;; ++i) {
        timeline::write_event(numbered_event(i));
        finished->store(int64_t(i), std::memory_order_release);
      }
    });
    const int64_t before_sleep = wraps ? 2 * 512 : 0;
    while (finished->load(std::memory_order_acquire) < before_sleep)
      std::this_thread::yield();
    // Up to a millisecond writes far fewer than 1M events.
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % (wraps ? 20000 : 1000)));
    kill_and_reap(writer);
    const int64_t last = finished->load(std::memory_order_acquire);

    const timeline::TimelineSnapshot s = snapshot(path);
    ASSERT_EQ(s.threads.size(), 1u) << "round " << round;
    const timeline::RecordedThread& t = s.threads[0];
    ASSERT_EQ(t.pid, writer);
    ASSERT_FALSE(t.events.empty());
    const int64_t newest = number_of(t.events.back());
    // The writer may have finished one more event than it managed to report.
    ASSERT_TRUE(newest == last || newest == last + 1)
        << "round " << round << ": newest " << newest << ", reported " << last;
    const uint64_t kept = t.events.size();
    ASSERT_EQ(t.written, uint64_t(newest) + 1);
    ASSERT_EQ(t.dropped, t.written - kept);
    // A full lap, less at most the slot the writer was in when it died.
    const uint64_t lap = std::min<uint64_t>(t.written, p.ring_events);
    ASSERT_TRUE(kept == lap || kept + 1 == lap) << "round " << round;
    ASSERT_EQ(t.written > p.ring_events, wraps) << "round " << round << ": " << t.written;
    expect_numbered(t, uint64_t(newest) + 1 - kept, kept);
    if (::testing::Test::HasFatalFailure()) return;
    TimelineFile::remove(path);
  }
}

// A header or ring damaged after the file was opened can make the reader
// return less, never read outside the file.
TEST_F(Recorder, DamagedCountsAndIndexesAreBoundedWhenRead) {
  TimelineParams p;
  p.ring_events = 64;
  p.rings = 4;
  p.strings = 8;
  const std::string path = make_timeline(p);
  ASSERT_TRUE(timeline::attach(path, ipc::ProcessKind::kDriver, "driver").ok());
  const uint16_t name = timeline::intern("method");
  for (uint64_t i = 0; i < 10; ++i)
    timeline::write_event(numbered_event(i));
  timeline::detach();
  {
    auto f = TimelineFile::open(path, true);
    ASSERT_TRUE(f.ok());
    timeline::TimelineHeader& h = f->header();
    h.rings_claimed.store(0xffffffffu);
    h.processes_claimed.store(0xffffffffu);
    h.strings_claimed.store(0xffffffffu);
    f->ring(0).process = 0xfffffff0u;
    f->string(name).len = 0xffffffffu;
    std::memset(f->ring(0).label, 'z', sizeof(f->ring(0).label));  // no NUL
    // An event whose sequence word names a position of another slot.
    f->ring_events(0)[3].seq.store(timeline::complete_seq(5));
    // And a ring claimed but never published.
    f->ring(1).state.store(0);
  }
  const timeline::TimelineSnapshot s = snapshot(path);
  ASSERT_EQ(s.threads.size(), 1u) << "unpublished rings are skipped";
  EXPECT_EQ(s.threads[0].process, timeline::kUnknownProcess);
  EXPECT_EQ(s.threads[0].label, std::string(sizeof(timeline::RingHeader::label), 'z'));
  EXPECT_EQ(s.threads[0].events.size(), 9u) << "the damaged slot is left out";
  EXPECT_EQ(s.string(name).size(), timeline::kMaxStringBytes);
  EXPECT_EQ(s.strings.size(), 8u);
}

// ---- the clock ----------------------------------------------------------------------

TEST(TimelineClock, TicksAdvanceAndCalibrateAgainstTheMonotonicClock) {
  const timeline::ClockPair start = timeline::read_clocks();
  const uint64_t a = timeline::ticks();
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const uint64_t b = timeline::ticks();
  EXPECT_GT(b, a);
  const double rate = timeline::ticks_per_ns_since(start);
  // Whatever the counter's frequency, it is between 100 MHz and 10 GHz.
  EXPECT_GT(rate, 0.1);
  EXPECT_LT(rate, 10.0);
  // The calibration waited for a usable interval.
  EXPECT_GE(timeline::monotonic_ns() - start.ns, timeline::kMinCalibrationNs);
}

// ---- the event words ------------------------------------------------------------------

TEST(TimelineEventWords, AreTheBytesOfTheBodyFieldForField) {
  // Every field distinct, the ids negative so their sign bits show: the words a writer stores are
  // what the reader's memcpy back into an EventBody expects.
  const EventBody b{timeline::EventKind::kSuspend,
                    timeline::Outcome::kCancelled,
                    0xa1b2,
                    0xc3d4,
                    0xe5f6,
                    -7,
                    -123456,
                    0x0102030405060708ull,
                    0x1112131415161718ull,
                    0x2122232425262728ull,
                    0x3132333435363738ull,
                    0xf1f2f3f4f5f6f7f8ull};
  uint64_t words[timeline::kEventWords];
  timeline::event_words(b, words);
  uint64_t expected[timeline::kEventWords];
  std::memcpy(expected, &b, sizeof(expected));
  for (size_t i = 0; i < timeline::kEventWords; ++i)
    EXPECT_EQ(words[i], expected[i]) << "word " << i;
  EventBody back;
  std::memcpy(&back, words, sizeof(back));
  EXPECT_EQ(back.kind, b.kind);
  EXPECT_EQ(back.outcome, b.outcome);
  EXPECT_EQ(back.error, b.error);
  EXPECT_EQ(back.peer_pid, -7);
  EXPECT_EQ(back.peer_tid, -123456);
  EXPECT_EQ(back.value, b.value);
}
