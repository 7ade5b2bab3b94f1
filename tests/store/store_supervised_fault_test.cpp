// The real thing: a session started by shoal::init(), its own supervisor, and
// peer processes (spawn_peer) that hold references to the driver's objects
// and loop put/get, killed -9 at random instants. Nobody here repairs
// anything by hand: the session's supervisor must, and the store must come
// back to the use it had before the peers existed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <shoal/shoal.hpp>

#include "core/src/runtime.hpp"
#include "tests/ipc/process_helpers.hpp"
#include "tests/store/store_fixture.hpp"
#include "tests/support/test_support.hpp"

namespace shoal::testing {
namespace {

using Payload = std::vector<uint64_t>;

// v[0] is the seed, the rest follows from it: a reader can check any payload.
Payload make_payload(uint64_t seed, size_t n) {
  Payload v(n < 1 ? 1 : n);
  v[0] = seed;
  for (size_t i = 1; i < v.size(); ++i)
    v[i] = pattern_word(seed, i);
  return v;
}
bool payload_ok(const Payload& v) {
  if (v.empty()) return false;
  for (size_t i = 1; i < v.size(); ++i) {
    if (v[i] != pattern_word(v[0], i)) return false;
  }
  return true;
}

// args: seed, then ids of the driver's objects to hold for its whole life.
// Loops until killed: puts small (inline) and large payloads, gets them back,
// gets the driver's objects, keeps a few references, drops old ones.
SHOAL_TEST_PEER(hold_and_loop) {
  std::mt19937_64 rng(std::stoull(args.at(0)));
  std::vector<ObjectRef<Payload>> driver_refs;
  for (size_t i = 1; i < args.size(); ++i) {
    driver_refs.emplace_back(ObjectId::parse(args[i]));
  }
  std::vector<ObjectRef<Payload>> mine;
  for (;;) {
    const size_t n = rng() % 2 ? 1 + rng() % 16 : 32 + rng() % 40'000;
    auto ref = shoal::put(make_payload(rng(), n));
    if (!payload_ok(shoal::get(ref))) return 3;
    mine.push_back(ref);
    if (mine.size() > 6) mine.erase(mine.begin() + long(rng() % mine.size()));
    const auto& d = driver_refs[rng() % driver_refs.size()];
    if (!payload_ok(shoal::get(d))) return 4;
    if (rng() % 4 == 0) {
      auto view = shoal::get_view(mine[rng() % mine.size()]);
      if (view.size() == 0 || view[0] == 0xdead) return 5;
    }
  }
}

store::Store& session_store() {
  return *detail::runtime().store;
}

// How many objects the process with `pid` has created so far, or -1 while it
// has no slot (still starting, or gone).
int64_t objects_created_by(pid_t pid) {
  store::Store& s = session_store();
  const ipc::ProcessSlotId slot = slot_of(s, pid);
  if (slot == ipc::kNoProcess) return -1;
  return int64_t(s.processes().slot(slot).objects_created.load());
}

TEST(StoreSupervisedFault, PeersKilledNineAtRandomAreRepairedBySupervisor) {
  shoal::init();
  {
    // Warm the driver's own reference records before taking the baseline.
    auto warm = shoal::put(make_payload(1, 4));
    (void)shoal::get(warm);
  }
  const uint64_t used0 = store_used_bytes();
  const uint64_t live0 = store_live_objects();

  constexpr int kKills = 100;
  std::mt19937_64 rng(4242);
  std::vector<ObjectRef<Payload>> driver_objects;
  std::vector<std::string> peer_args{"0"};
  for (size_t n : {size_t(3), size_t(50'000), size_t(700)}) {
    driver_objects.push_back(shoal::put(make_payload(rng(), n)));
    peer_args.push_back(driver_objects.back().id().to_string());
  }

  // One long-lived peer that must keep working through every repair.
  peer_args[0] = std::to_string(rng());
  const pid_t survivor = spawn_peer("hold_and_loop", peer_args);
  ASSERT_TRUE(
      eventually([&] { return objects_created_by(survivor) > 10; }, std::chrono::seconds(60)))
      << "the survivor never got going";

  int killed_in_loop = 0;
  for (int kill = 0; kill < kKills; ++kill) {
    SCOPED_TRACE("kill " + std::to_string(kill));
    peer_args[0] = std::to_string(rng());
    const pid_t victim = spawn_peer("hold_and_loop", peer_args);
    // A random instant: mostly inside its loop, sometimes still in init().
    const int64_t at = int64_t(rng() % 40) - 5;
    if (at > 0) {
      ASSERT_TRUE(
          eventually([&] { return objects_created_by(victim) >= at; }, std::chrono::seconds(60)))
          << "the victim never got going";
      ++killed_in_loop;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 2000));
    const int64_t survivor_before = objects_created_by(survivor);
    kill_and_reap(victim);

    // The driver keeps working...
    auto mine = shoal::put(make_payload(rng(), 1 + rng() % 5000));
    ASSERT_TRUE(payload_ok(shoal::get(mine)));
    ASSERT_TRUE(payload_ok(shoal::get(driver_objects[rng() % driver_objects.size()])));
    // ...and so does the survivor, whatever the victim held when it died.
    ASSERT_TRUE(eventually([&] { return objects_created_by(survivor) > survivor_before + 5; },
                           std::chrono::seconds(30)))
        << "the survivor is stuck";
    ASSERT_TRUE(process_alive(survivor));
    // The victim's slot is given back once the supervisor has repaired it.
    ASSERT_TRUE(eventually([&] { return slot_of(session_store(), victim) == ipc::kNoProcess; },
                           std::chrono::seconds(10)))
        << "the supervisor did not release the victim's slot";
  }
  EXPECT_GE(killed_in_loop, kKills / 2);

  kill_and_reap(survivor);
  driver_objects.clear();
  EXPECT_TRUE(
      eventually([&] { return store_used_bytes() == used0 && store_live_objects() == live0; },
                 std::chrono::seconds(10)))
      << "used " << store_used_bytes() << " (baseline " << used0 << "), live "
      << store_live_objects() << " (baseline " << live0 << ")";
  const TableCensus c = census(session_store());
  EXPECT_EQ(c.locked, 0u);
  shoal::shutdown();
}

}  // namespace
}  // namespace shoal::testing
