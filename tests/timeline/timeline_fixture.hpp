// What the timeline tests share: a timeline file of their own in /dev/shm
// (named so that no `shoal clean` or `shoal status` takes it for a session's),
// removed at the end, and events whose every field follows from one number,
// so that a torn or mixed event is caught.
#pragma once

#include <sys/syscall.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <string>

#include "timeline/recorder.hpp"
#include "timeline/timeline_file.hpp"
#include "timeline/timeline_reader.hpp"

namespace shoal::testing {

inline std::string test_timeline_path() {
  static std::atomic<int> n{0};
  return "/dev/shm/shoal-timeline-test-" + std::to_string(::getpid()) + "-" +
         std::to_string(n.fetch_add(1)) + ".timeline";
}

class TimelineTest : public ::testing::Test {
 protected:
  void TearDown() override {
    timeline::detach();
    for (const std::string& p : paths_)
      timeline::TimelineFile::remove(p);
  }

  // A new timeline file; the test's process does not record into it yet.
  std::string make_timeline(const timeline::TimelineParams& params = {}, uint64_t tag = 0x1234) {
    const std::string path = test_timeline_path();
    auto f = timeline::TimelineFile::create(path, params, tag, "shoal-test-session");
    EXPECT_TRUE(f.ok()) << path << ": " << (f.ok() ? "" : timeline::to_string(f.error()));
    paths_.push_back(path);
    return path;
  }

  static timeline::TimelineSnapshot snapshot(const std::string& path) {
    auto f = timeline::TimelineFile::open(path, /*writable=*/false);
    EXPECT_TRUE(f.ok()) << path;
    if (!f.ok()) return {};
    return timeline::read_timeline(*f);
  }

  std::vector<std::string> paths_;
};

// Event number i: every field is a function of i.
inline timeline::EventBody numbered_event(uint64_t i) {
  timeline::EventBody b{};
  b.kind = timeline::EventKind::kCall;
  b.outcome = timeline::Outcome(i % 3);
  b.name = uint16_t(i % 7);
  b.group = uint16_t(i % 5);
  b.error = uint16_t(i % 11);
  b.peer_pid = int32_t(i % 100000);
  b.peer_tid = int32_t(i % 99991);
  b.t0 = i * 3 + 1;
  b.t1 = i * 5 + 2;
  b.t2 = i * 7 + 3;
  b.object = i;
  b.value = ~i;
  return b;
}

// The i a numbered event was made from, or -1 if it is not one.
inline int64_t number_of(const timeline::EventBody& b) {
  const uint64_t i = b.object;
  const timeline::EventBody want = numbered_event(i);
  return std::memcmp(&want, &b, sizeof(b)) == 0 ? int64_t(i) : -1;
}

inline int32_t gettid_now() {
  return int32_t(::syscall(SYS_gettid));
}

}  // namespace shoal::testing
