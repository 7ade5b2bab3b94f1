// What creating and killing many actors, and starting and ending many
// sessions, leaves behind: nothing. Constructor arguments live exactly as long
// as their actor may restart; descriptors, zombies, process and actor table
// slots and /dev/shm files all return to where they were.
#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <shoal/shoal.hpp>

#include "core/src/runtime.hpp"
#include "tests/support/test_support.hpp"

using namespace std::chrono_literals;
using namespace shoal::testing;

class Holder {
 public:
  explicit Holder(std::string blob) : size_(int(blob.size())) {}
  int size() { return size_; }

 private:
  int size_;
};
SHOAL_ACTOR(Holder, &Holder::size);

namespace {

int count_dir(const char* path) {
  DIR* d = ::opendir(path);
  if (d == nullptr) return -1;
  int n = 0;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n;
}

int open_fds() {
  return count_dir("/proc/self/fd");
}

// Processes in state Z whose parent is `parent`.
int zombies_of(pid_t parent) {
  int n = 0;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return -1;
  while (dirent* e = ::readdir(d)) {
    const int pid = std::atoi(e->d_name);
    if (pid <= 0) continue;
    std::ifstream in(std::string("/proc/") + e->d_name + "/stat");
    std::string stat;
    std::getline(in, stat);
    const size_t close = stat.rfind(')');
    if (close == std::string::npos || close + 4 >= stat.size()) continue;
    char state = 0;
    int ppid = 0;
    if (std::sscanf(stat.c_str() + close + 2, "%c %d", &state, &ppid) == 2 && state == 'Z' &&
        ppid == parent) {
      ++n;
    }
  }
  ::closedir(d);
  return n;
}

// This process's session files in /dev/shm (other programs of the same user
// may run sessions meanwhile).
size_t own_segments() {
  const std::string mine = "-" + std::to_string(::getpid()) + "-";
  size_t n = 0;
  for (const std::string& name : shm_segments()) {
    if (name.find(mine) != std::string::npos) ++n;
  }
  return n;
}

uint32_t slots_in_use() {
  shoal::store::Store& s = *shoal::detail::runtime().store;
  uint32_t n = 0;
  for (uint32_t i = 0; i < s.processes().size(); ++i) {
    if (!s.processes().is_dead(shoal::ipc::ProcessSlotId(i))) ++n;
  }
  return n;
}

uint32_t actors_not_dead() {
  shoal::store::Store& s = *shoal::detail::runtime().store;
  uint32_t n = 0;
  for (uint32_t i = 0; i < s.actor_count(); ++i) {
    const auto st = shoal::ipc::ActorState(s.actor(i).state.load(std::memory_order_acquire));
    if (st != shoal::ipc::ActorState::kFree && st != shoal::ipc::ActorState::kDead) ++n;
  }
  return n;
}

// 1 MB constructor arguments, a 64 MiB store: without freeing the arguments
// of killed actors the store is full after about 60 of them.
TEST(ActorLifetime, ConstructorArgumentsOfKilledActorsAreFreed) {
  shoal::init(shoal::Config{.store_bytes = 64ull << 20, .prefault = false});
  const std::string blob(1 << 20, 'x');
  {
    // The first actor's ring and arguments, to measure from.
    auto h = shoal::actor<Holder>().remote(std::string());
    ASSERT_EQ(shoal::get(h.task(&Holder::size).remote(), 10s), 0);
    shoal::kill(h);
  }
  const uint64_t objects = store_live_objects();
  for (int i = 0; i < 100; ++i) {
    auto h = shoal::actor<Holder>().remote(blob);
    ASSERT_EQ(shoal::get(h.task(&Holder::size).remote(), 10s), 1 << 20) << "cycle " << i;
    shoal::kill(h);
  }
  // The last one's arguments go at its kill as the others' did.
  EXPECT_TRUE(eventually([&] { return store_live_objects() <= objects; }, 10s))
      << store_live_objects() << " objects, " << objects << " at the start";
  // What stays: the rings of the actors that died in the last seconds (their
  // entries are reused, and the rings freed, a while after the death).
  EXPECT_LT(store_used_bytes(), 32ull << 20) << store_used_bytes() << " bytes used";
  shoal::shutdown();
}

// Arguments stay while the actor may restart: a crash with restarts left
// reruns the constructor with them.
TEST(ActorLifetime, ConstructorArgumentsOfARestartableActorStay) {
  shoal::init(shoal::Config{.store_bytes = 64ull << 20, .prefault = false});
  auto h = shoal::actor<Holder>().options({.max_restarts = -1}).remote(std::string(1000, 'y'));
  for (int i = 0; i < 3; ++i) {
    const pid_t pid = h.pid();
    ASSERT_GT(pid, 0);
    // Other actors created meanwhile prune the arguments of dead ones only.
    auto other = shoal::actor<Holder>().remote(std::string(10, 'z'));
    shoal::kill(other);
    ::kill(pid, SIGKILL);
    ASSERT_TRUE(eventually([&] { return h.pid() > 0 && h.pid() != pid; }, 10s));
    EXPECT_EQ(shoal::get(h.task(&Holder::size).remote(), 10s), 1000);
  }
  shoal::shutdown();
}

TEST(ActorLifetime, ThousandsOfActorsCreatedAndKilledLeaveNothing) {
  // Room for the rings of the actors killed within an entry's reuse grace (2 s, 128 KiB each):
  // a fast machine kills most of the thousand within it.
  shoal::init(shoal::Config{.store_bytes = 192ull << 20, .prefault = false});
  const pid_t helper = shoal::detail::runtime().session.helper_pid;
  {
    // Measure from a session whose supervisor has joined and whose first actor is gone.
    auto h = shoal::actor<Holder>().remote(std::string());
    ASSERT_EQ(shoal::get(h.task(&Holder::size).remote(), 10s), 0);
    shoal::kill(h);
  }
  ASSERT_TRUE(eventually([&] { return slots_in_use() == 2; }, 10s));  // driver, supervisor
  const int fds = open_fds();
  const uint32_t slots = slots_in_use();
  const uint64_t objects = store_live_objects();
  const auto t0 = std::chrono::steady_clock::now();
  constexpr int kRounds = 20, kBatch = 50;
  for (int round = 0; round < kRounds; ++round) {
    std::vector<shoal::ActorHandle<Holder>> batch;
    std::vector<shoal::ObjectRef<int>> calls;
    for (int i = 0; i < kBatch; ++i) {
      batch.push_back(shoal::actor<Holder>().remote(std::string(8, 'a')));
      calls.push_back(batch.back().task(&Holder::size).remote());
    }
    for (auto& c : calls)
      ASSERT_EQ(shoal::get(c, 20s), 8);
    for (auto& h : batch)
      shoal::kill(h);
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%d actors created, called and killed in %.2f s\n", kRounds * kBatch, secs);
  EXPECT_TRUE(eventually([&] { return slots_in_use() == slots; }, 10s))
      << slots_in_use() << " process slots in use, " << slots << " at the start";
  EXPECT_TRUE(eventually([&] { return actors_not_dead() == 0; }, 10s));
  EXPECT_TRUE(eventually([&] { return zombies_of(helper) == 0; }, 10s));
  EXPECT_TRUE(eventually([&] { return store_live_objects() <= objects; }, 10s));
  EXPECT_EQ(open_fds(), fds);
  shoal::shutdown();
}

TEST(ActorLifetime, ThousandsOfSessionsInARowLeaveNothing) {
  const int fds = open_fds();
  const size_t segments = own_segments();
  const auto t0 = std::chrono::steady_clock::now();
  constexpr int kSessions = 300;
  for (int i = 0; i < kSessions; ++i) {
    shoal::init(shoal::Config{.store_bytes = 32ull << 20, .prefault = false});
    if (i % 100 == 0) {
      auto h = shoal::actor<Holder>().remote(std::string(3, 'b'));
      ASSERT_EQ(shoal::get(h.task(&Holder::size).remote(), 10s), 3);
    }
    shoal::shutdown();
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%d sessions started and ended in %.2f s\n", kSessions, secs);
  EXPECT_EQ(open_fds(), fds);
  EXPECT_EQ(own_segments(), segments);
  EXPECT_EQ(zombies_of(::getpid()), 0);
}

}  // namespace
