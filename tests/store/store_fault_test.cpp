// Processes killed -9 at random instants while they put, get and drop objects
// in a shared store. The test plays the supervisor: it reaps the victim, marks
// its slot dead and runs Store::recover_process while the others keep going.
// The others must finish their loops (no deadlock, no corrupt reads), and once
// everyone is gone and repaired the store must be back at its baseline.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <thread>
#include <vector>

#include "ipc/spin.hpp"
#include "tests/ipc/process_helpers.hpp"
#include "tests/store/store_fixture.hpp"

namespace shoal::testing {
namespace {

constexpr int kChildren = 4;
constexpr int kPublished = 64;

// What the processes share besides the store: progress counters (for the
// parent to pick a kill instant and see that nobody is stuck) and a board of
// recently sealed objects that others may try to get.
struct Board {
  std::atomic<uint32_t> stop;
  // What a worker that failed was doing, for the failure message.
  std::atomic<uint64_t> failed_slot, failed_ctrl, failed_op;
  std::atomic<uint64_t> progress[kChildren];
  std::atomic<uint64_t> published[kPublished];
};

// Exit codes of a worker that found something wrong.
enum Failure : int {
  kAttachFailed = 10,
  kJoinFailed = 11,
  kOwnReadBad = 12,       // an object it just put reads back wrong
  kOtherReadBad = 13,     // someone else's sealed object reads wrong
  kUnexpectedError = 30,  // + the StoreError: one the situation cannot explain
  kNotSealed = 15,        // a published object was pinned but is not sealed
};

constexpr int kUntilKilled = -1;
constexpr int kUntilStopped = -2;

int worker(const std::string& name, Board& board, int index, int iterations, uint64_t seed,
           bool leave_at_end) {
  auto attached = Store::attach(name);
  if (!attached) return kAttachFailed;
  Store& s = **attached;
  if (!s.join(ipc::ProcessKind::kRank, ipc::kNoProcess, "worker")) return kJoinFailed;
  std::mt19937_64 rng(seed);
  std::vector<Obj> held;
  auto drop_one = [&] {
    const size_t k = rng() % held.size();
    s.unpin(held[k].rec);
    held.erase(held.begin() + long(k));
  };
  // iterations: kUntilKilled, kUntilStopped, or a count.
  for (int i = 0; iterations == kUntilKilled ||
                  (iterations == kUntilStopped ? board.stop.load(std::memory_order_relaxed) == 0
                                               : i < iterations);
       ++i) {
    const uint64_t op = rng() % 10;
    if (op < 4) {
      // put: inline, small heap, or large heap; sometimes a container.
      const uint64_t kind = rng() % 3;
      const uint64_t bytes = kind == 0   ? 8 + rng() % 153
                             : kind == 1 ? 161 + rng() % 4000
                                         : 4097 + rng() % (256 * 1024);
      std::vector<uint64_t> children;
      if (!held.empty() && rng() % 4 == 0) {
        for (int c = 0; c < 1 + int(rng() % 3); ++c)
          children.push_back(held[rng() % held.size()].packed());
      }
      auto o = put_object(s, bytes, rng(), children);
      if (!o) {
        if (o.error() != StoreError::kHeapFull && o.error() != StoreError::kTableFull) {
          board.failed_op.store(children.empty() ? 1 : 2);
          return kUnexpectedError + int(o.error());
        }
      } else {
        if (!read_ok(s, o->slot, bytes)) return kOwnReadBad;
        board.published[rng() % kPublished].store(o->packed(), std::memory_order_release);
        held.push_back(*o);
        if (held.size() > 8) drop_one();
      }
    } else if (op < 7) {
      // get someone's object, if it is still alive.
      const uint64_t packed = board.published[rng() % kPublished].load(std::memory_order_acquire);
      if (packed == 0) continue;
      auto rec = s.pin(uint32_t(packed >> 32), uint32_t(packed));
      if (!rec) {
        if (rec.error() != StoreError::kNotFound) {
          board.failed_op.store(3);
          board.failed_slot.store(packed);
          board.failed_ctrl.store(s.objects().entry(uint32_t(packed >> 32)).ctrl.load());
          return kUnexpectedError + int(rec.error());
        }
        continue;
      }
      const uint32_t slot = uint32_t(packed >> 32);
      if (s.wait_sealed(slot, uint32_t(packed), ipc::now_ns() + 10'000'000'000ull, 1000) !=
          Store::Wait::kSealed) {
        return kNotSealed;
      }
      auto v = s.objects().read(slot);
      if (!v || v->codec != store::Codec::kRaw || v->type_fp != kTestTypeFp ||
          !check_pattern(v->data, v->size)) {
        return kOtherReadBad;
      }
      if (rng() % 2 == 0) {
        held.push_back(Obj{*rec, slot, uint32_t(packed)});
        if (held.size() > 8) drop_one();
      } else {
        s.unpin(*rec);
      }
    } else if (!held.empty()) {
      drop_one();
    }
    board.progress[index].store(uint64_t(i) + 1, std::memory_order_release);
  }
  if (leave_at_end) {
    for (Obj& o : held)
      s.unpin(o.rec);
    s.leave();
  }
  // Otherwise exit holding references: the supervisor releases them.
  return 0;
}

// For failure messages: is the child alive, and if not, how did it end.
std::string describe_child(pid_t pid) {
  int status = 0;
  const pid_t r = ::waitpid(pid, &status, WNOHANG);
  if (r == 0) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(stat, line);
    std::ifstream sc("/proc/" + std::to_string(pid) + "/syscall");
    std::string syscall;
    std::getline(sc, syscall);
    return "alive; stat: " + line + "; syscall: " + syscall;
  }
  if (r == pid && WIFEXITED(status)) return "exited with " + std::to_string(WEXITSTATUS(status));
  if (r == pid && WIFSIGNALED(status))
    return "killed by signal " + std::to_string(WTERMSIG(status));
  return "unknown";
}

// For failure messages: entries in use (locked ones first of all) and who
// holds the allocator.
std::string describe_store(Store& s) {
  std::string out;
  const uint32_t hw = s.objects().high_water();
  for (uint32_t i = 0; i < hw; ++i) {
    const uint64_t c = s.objects().entry(i).ctrl.load();
    if (c == 0) continue;
    const ObjectEntry& e = s.objects().entry(i);
    char buf[256];
    std::snprintf(
        buf, sizeof(buf),
        "entry %u gen %u ctrl %016llx (pins %u state %u tag kind %u owner %u) writer %08x "
        "creator %u size %llu data_off %llu children %u cursor %u\n",
        i, e.gen.load(), (unsigned long long)c, Ctrl::pins(c), unsigned(Ctrl::state(c)),
        store::LockTag::kind(Ctrl::lock(c)), unsigned(store::LockTag::owner(Ctrl::lock(c))),
        e.writer, unsigned(e.creator), (unsigned long long)e.size, (unsigned long long)e.data_off,
        e.child_count, e.child_cursor.load());
    out += buf;
  }
  const uint32_t lock_word =
      reinterpret_cast<const std::atomic<uint32_t>&>(s.header().alloc.lock).load();
  out += "allocator lock word " + std::to_string(lock_word) + ", journal op " +
         std::to_string(s.header().alloc.journal.op.load()) + "\n";
  for (uint32_t i = 0; i < s.processes().size(); ++i) {
    const uint64_t o = s.processes().slot(ipc::ProcessSlotId(i)).owner.load();
    if (o != 0) {
      out += "slot " + std::to_string(i) + " pid " + std::to_string(ipc::owner_pid(o)) + " state " +
             std::to_string(int(ipc::owner_state(o))) + "\n";
    }
  }
  return out;
}

TEST(StoreFault, RandomKillNineDuringPutsAndGetsRecoversToBaseline) {
  constexpr int kRounds = 120;
  constexpr int kIterations = 400;
  const uint64_t base_seed = 20260101;
  TestStore s(64ull << 20);
  const uint64_t heap0 = s->heap().used();
  const uint64_t live0 = s->live_objects();
  Shared<Board> board;
  std::mt19937_64 rng(base_seed);
  int killed_mid_loop = 0;

  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round) + " (seed " + std::to_string(base_seed) + ")");
    for (int k = 0; k < kChildren; ++k)
      board->progress[k].store(0);
    // The victim loops until it is killed, at a random instant of its loop.
    const int victim = int(rng() % kChildren);
    std::vector<pid_t> kids;
    for (int k = 0; k < kChildren; ++k) {
      const uint64_t seed = rng();
      const bool leave = k == 0;
      const int iterations = k == victim ? kUntilKilled : kIterations;
      kids.push_back(fork_child([&, k, seed, leave, iterations] {
        return worker(s.name, *board, k, iterations, seed, leave);
      }));
    }
    const uint64_t at = 1 + rng() % kIterations;
    const auto pause_us = std::chrono::microseconds(rng() % 300);
    ASSERT_TRUE(eventually(
        [&] { return board->progress[victim].load() >= at || !process_alive(kids[victim]); },
        std::chrono::seconds(60)));
    std::this_thread::sleep_for(pause_us);
    ::kill(kids[victim], SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(kids[victim], &status, 0), kids[victim]);
    if (WIFSIGNALED(status)) {
      ++killed_mid_loop;
    } else {
      ADD_FAILURE() << "the victim exited with " << WEXITSTATUS(status) << " before it was killed";
    }
    supervise_death(*s, kids[victim]);

    // The others finish their loops: nobody is wedged by what the victim left.
    for (int k = 0; k < kChildren; ++k) {
      if (k == victim) continue;
      EXPECT_EQ(wait_child(kids[k], std::chrono::seconds(60)), 0) << "child " << k;
      supervise_death(*s, kids[k]);  // exited holding references (or left)
    }
    ASSERT_EQ(s->heap().used(), heap0);
    ASSERT_EQ(s->live_objects(), live0);
    const TableCensus c = census(*s);
    ASSERT_EQ(c.locked, 0u);
    ASSERT_EQ(c.in_use, 0u) << describe_store(*s);
    for (auto& p : board->published)
      p.store(0);
  }
  EXPECT_EQ(killed_mid_loop, kRounds);
  RecordProperty("killed_mid_loop", killed_mid_loop);
}

TEST(StoreFault, SurvivorsKeepWorkingWhileVictimsAreKilledOverAndOver) {
  // Three long-lived workers share objects with a stream of victims, each
  // killed at a random instant and repaired while the survivors run; after
  // every repair each survivor must make progress.
  constexpr int kKills = 150;
  constexpr int kSurvivors = kChildren - 1;
  const uint64_t base_seed = 777;
  TestStore s(64ull << 20);
  const uint64_t heap0 = s->heap().used();
  const uint64_t live0 = s->live_objects();
  Shared<Board> board;
  std::mt19937_64 rng(base_seed);
  std::vector<pid_t> survivors;
  for (int k = 0; k < kSurvivors; ++k) {
    const uint64_t seed = rng();
    survivors.push_back(fork_child(
        [&, k, seed] { return worker(s.name, *board, k, kUntilStopped, seed, k == 0); }));
  }
  for (int kill = 0; kill < kKills; ++kill) {
    SCOPED_TRACE("kill " + std::to_string(kill));
    board->progress[kSurvivors].store(0);
    const uint64_t seed = rng();
    const pid_t victim = fork_child(
        [&, seed] { return worker(s.name, *board, kSurvivors, kUntilKilled, seed, false); });
    const uint64_t at = 1 + rng() % 300;
    if (!eventually([&] { return board->progress[kSurvivors].load() >= at; },
                    std::chrono::seconds(60))) {
      ADD_FAILURE() << "the victim made no progress: " << describe_child(victim) << "\n"
                    << describe_store(*s);
      kill_and_reap(victim);
      for (pid_t p : survivors)
        kill_and_reap(p);
      return;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 300));
    std::vector<uint64_t> before(kSurvivors);
    for (int k = 0; k < kSurvivors; ++k)
      before[k] = board->progress[k].load();
    kill_and_reap(victim);
    ASSERT_TRUE(supervise_death(*s, victim));
    for (int k = 0; k < kSurvivors; ++k) {
      if (!eventually([&] { return board->progress[k].load() > before[k] + 10; },
                      std::chrono::seconds(30))) {
        ADD_FAILURE() << "survivor " << k << " (pid " << survivors[k]
                      << ") is stuck after the repair: " << describe_child(survivors[k])
                      << "; failed op " << board->failed_op.load() << " on " << std::hex
                      << board->failed_slot.load() << " ctrl " << board->failed_ctrl.load()
                      << std::dec << "\n"
                      << describe_store(*s);
        for (pid_t p : survivors)
          kill_and_reap(p);
        return;
      }
    }
  }
  board->stop.store(1);
  for (int k = 0; k < kSurvivors; ++k) {
    EXPECT_EQ(wait_child(survivors[k], std::chrono::seconds(60)), 0) << "survivor " << k;
    supervise_death(*s, survivors[k]);
  }
  EXPECT_EQ(s->heap().used(), heap0);
  EXPECT_EQ(s->live_objects(), live0);
  const TableCensus c = census(*s);
  EXPECT_EQ(c.locked, 0u);
  EXPECT_EQ(c.in_use, 0u) << describe_store(*s);
}

}  // namespace
}  // namespace shoal::testing
