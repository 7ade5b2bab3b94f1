// Many callers, one actor, a small ring: 8 processes x 100,000 calls into an
// actor whose request ring has 16 cells. Producers meet a full ring all the
// time (spin, then park); every result must still arrive exactly once, and
// be the right one, and the actor must have run every call exactly once.
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <shoal/shoal.hpp>

#include "tests/support/test_support.hpp"

using namespace std::chrono_literals;
using namespace shoal::testing;

namespace {
constexpr int kCallers = 8;
constexpr int64_t kCallsEach = 100'000;
constexpr int kInFlight = 256;
}  // namespace

// Counts how often it saw each argument.
class Tally {
 public:
  explicit Tally(int64_t slots) : seen_(size_t(slots), 0) {}
  int64_t inc(int64_t x) {
    ++calls_;
    if (x >= 0 && size_t(x) < seen_.size()) {
      if (seen_[size_t(x)] < 255) ++seen_[size_t(x)];
    } else {
      ++out_of_range_;
    }
    return x + 1;
  }
  // {calls, arguments seen exactly once, never seen, seen more than once, out of range}
  std::vector<int64_t> summary() {
    std::vector<int64_t> s{calls_, 0, 0, 0, out_of_range_};
    for (uint8_t n : seen_)
      ++s[n == 1 ? 1 : n == 0 ? 2 : 3];
    return s;
  }

 private:
  std::vector<uint8_t> seen_;
  int64_t calls_ = 0;
  int64_t out_of_range_ = 0;
};
SHOAL_ACTOR(Tally, &Tally::inc, &Tally::summary);

// A caller: args = {actor name, caller number}. Makes kCallsEach calls, at
// most kInFlight outstanding, and checks every result. Exit 0 if all were right.
SHOAL_TEST_PEER(hammer) {
  try {
    auto tally = shoal::get_actor<Tally>(args.at(0));
    const int64_t base = std::stoll(args.at(1)) * kCallsEach;
    std::vector<shoal::ObjectRef<int64_t>> refs;
    refs.reserve(kInFlight);
    int64_t wrong = 0;
    for (int64_t start = 0; start < kCallsEach; start += kInFlight) {
      refs.clear();
      const int64_t end = std::min(kCallsEach, start + kInFlight);
      for (int64_t i = start; i < end; ++i)
        refs.push_back(tally.task(&Tally::inc).remote(base + i));
      for (int64_t i = start; i < end; ++i) {
        if (shoal::get(refs[size_t(i - start)], 60s) != base + i + 1) ++wrong;
      }
    }
    if (wrong != 0)
      std::fprintf(stderr, "caller %s: %lld wrong results\n", args.at(1).c_str(), (long long)wrong);
    return wrong == 0 ? 0 : 3;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "caller %s: %s\n", args.at(1).c_str(), e.what());
    return 2;
  }
}

TEST(ActorManyCallers, EightProcessesTimesHundredThousandCallsThroughASixteenCellRing) {
  shoal::init(shoal::Config{.prefault = false});
  struct Guard {
    ~Guard() { shoal::shutdown(); }
  } guard;
  auto tally = shoal::actor<Tally>()
                   .options({.name = "tally", .ring_capacity = 16})
                   .remote(int64_t(kCallers) * kCallsEach);
  ASSERT_EQ(shoal::get(tally.task(&Tally::summary).remote(), 30s)[0], 0);
  const auto start = std::chrono::steady_clock::now();
  std::vector<pid_t> callers;
  for (int c = 0; c < kCallers; ++c)
    callers.push_back(spawn_peer("hammer", {"tally", std::to_string(c)}));
  for (int c = 0; c < kCallers; ++c) {
    ASSERT_GT(callers[size_t(c)], 0);
    EXPECT_EQ(wait_child(callers[size_t(c)], 150s), 0) << "caller " << c;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::vector<int64_t> s = shoal::get(tally.task(&Tally::summary).remote(), 30s);
  std::printf("%lld calls in %.2f s (%.0f calls/s)\n", (long long)s[0], seconds,
              double(s[0]) / seconds);
  const int64_t total = int64_t(kCallers) * kCallsEach;
  EXPECT_EQ(s[0], total) << "calls run";
  EXPECT_EQ(s[1], total) << "arguments seen exactly once";
  EXPECT_EQ(s[2], 0) << "arguments never seen";
  EXPECT_EQ(s[3], 0) << "arguments seen more than once";
  EXPECT_EQ(s[4], 0) << "arguments out of range";
}
