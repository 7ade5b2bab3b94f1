// Concurrency groups: what a saturated group costs the calls of another group of the same actor.
// `concurrency_groups_isolation` is the rate of calls into a free group while another group is
// full of suspended calls (and more of them wait for it), as a fraction of the same calls' rate
// with no other group busy; both measured in the same run, on the same actor.
#include <cstdint>
#include <vector>

#include <shoal/shoal.hpp>

#include "tools/bench/bench.hpp"
#include "tools/bench/measure.hpp"

namespace shoal_bench {

// An async actor with a group "free" for the measured calls and a group "busy" whose calls stay
// suspended until release().
class GroupedTarget {
 public:
  shoal::Task<int64_t> ping() { co_return 1; }
  shoal::Task<void> block() {
    ++blocked_;
    co_await event_.wait();
    --blocked_;
  }
  int blocked() { return blocked_; }
  int release() {
    event_.set();
    return 0;
  }
  int rearm() {
    event_.clear();
    return 0;
  }

 private:
  shoal::Event event_;
  int blocked_ = 0;
};

}  // namespace shoal_bench

SHOAL_ACTOR(shoal_bench::GroupedTarget, &shoal_bench::GroupedTarget::ping,
            &shoal_bench::GroupedTarget::block, &shoal_bench::GroupedTarget::blocked,
            &shoal_bench::GroupedTarget::release, &shoal_bench::GroupedTarget::rearm);
SHOAL_CONCURRENCY_GROUP(shoal_bench::GroupedTarget, "free", 1000,
                        &shoal_bench::GroupedTarget::ping);
SHOAL_CONCURRENCY_GROUP(shoal_bench::GroupedTarget, "busy", 4, &shoal_bench::GroupedTarget::block);

namespace shoal::bench {
namespace {

using shoal_bench::GroupedTarget;

constexpr int kBusyLimit = 4;        // "busy"'s limit, declared above
constexpr int kBlockedCalls = 1000;  // calls of "busy": kBusyLimit suspended, the rest waiting

void isolation(Reporter& rep) {
  auto a = actor<GroupedTarget>().remote();
  // Calls per second of ping(), kInFlight at a time, every result fetched.
  auto ping_rate = [&] {
    return async_rate([&](int) { return a.task(&GroupedTarget::ping).remote(); });
  };
  const double idle = ping_rate();
  std::vector<ObjectRef<void>> blocked;
  for (int i = 0; i < kBlockedCalls; ++i)
    blocked.push_back(a.task(&GroupedTarget::block).remote());
  const uint64_t deadline = now_ns() + 30'000'000'000ull;
  while (get(a.task(&GroupedTarget::blocked).remote()) < kBusyLimit) {
    if (now_ns() > deadline) throw Error("concurrency_groups_isolation: the group never filled");
  }
  const double busy = ping_rate();
  if (get(a.task(&GroupedTarget::blocked).remote()) != kBusyLimit) {
    throw Error("concurrency_groups_isolation: the busy group ran more calls than its limit");
  }
  get(a.task(&GroupedTarget::release).remote());
  get(blocked);
  rep.report("concurrency_groups_isolation", busy / idle, Unit::kRatio);
  note(
      "calls into a free group: %.0f/s with another group of the actor full (%d suspended, %d "
      "waiting), %.0f/s with no other group busy",
      busy, kBusyLimit, kBlockedCalls - kBusyLimit, idle);
  retire(a);
}

const Register kIsolation("concurrency_groups_isolation", {"concurrency_groups_isolation"},
                          isolation);

}  // namespace
}  // namespace shoal::bench
