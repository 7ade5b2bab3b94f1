// RequestRing under load: many producers (threads, then processes) pushing
// through a small ring into one consumer. Every payload must arrive exactly
// once, and each producer's payloads in the order it pushed them. Producers
// and the consumer spin briefly, then park on wake words, as shoal's callers
// and actors do; a lost wake-up shows as a park that times out.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "ipc/request_ring.hpp"
#include "ipc/spin.hpp"
#include "tests/ipc/process_helpers.hpp"

namespace shoal::ipc {
namespace {

constexpr uint32_t kCapacity = 64;
constexpr auto kLostWakeUp = std::chrono::seconds(30);

struct Channel {
  WakeWord not_empty;  // the consumer parks here; producers notify after publish
  std::atomic<uint32_t> failed{0};
};

uint64_t encode(uint32_t producer, uint32_t seq) {
  return (uint64_t(producer) << 32) | seq;
}

// Pushes `value`, waiting for room as long as it takes. False on a lost wake-up.
bool push_blocking(RequestRing& ring, Channel& ch, ProcessSlotId me, uint64_t value) {
  for (;;) {
    Backoff spin(20'000);
    do {
      auto c = ring.try_claim(me);
      if (c) {
        std::memcpy(c->cell->payload, &value, 8);
        ring.publish(*c, me);
        ch.not_empty.notify();
        return true;
      }
      if (c.error() != RingError::kFull) return false;
    } while (spin.step());
    const uint32_t token = ring.header().not_full.prepare();
    auto c = ring.try_claim(me);
    if (c) {
      std::memcpy(c->cell->payload, &value, 8);
      ring.publish(*c, me);
      ch.not_empty.notify();
      return true;
    }
    if (!ring.header().not_full.park(token, kLostWakeUp)) return false;
  }
}

// Consumes `total` payloads, checking per-producer order. Returns an empty
// string or what went wrong.
std::string consume(RequestRing& ring, Channel& ch, uint32_t producers, uint64_t per_producer) {
  std::vector<uint64_t> next(producers, 0);
  const uint64_t total = uint64_t(producers) * per_producer;
  for (uint64_t got = 0; got < total;) {
    RingCell* cell = nullptr;
    Backoff spin(20'000);
    RequestRing::Peek p;
    while ((p = ring.try_peek(&cell)) != RequestRing::Peek::kReady) {
      if (p == RequestRing::Peek::kSkipped) continue;
      if (!spin.step()) {
        const uint32_t token = ch.not_empty.prepare();
        if (ring.try_peek(&cell) == RequestRing::Peek::kReady) break;
        if (!ch.not_empty.park(token, kLostWakeUp)) {
          return "consumer: lost wake-up after " + std::to_string(got) + " payloads";
        }
        spin = Backoff(20'000);
      }
    }
    uint64_t v;
    std::memcpy(&v, cell->payload, 8);
    ring.release_head();
    const uint32_t producer = uint32_t(v >> 32), seq = uint32_t(v);
    if (producer >= producers) return "garbage payload " + std::to_string(v);
    if (seq != next[producer]) {
      return "producer " + std::to_string(producer) + ": got " + std::to_string(seq) +
             ", expected " + std::to_string(next[producer]);
    }
    ++next[producer];
    ++got;
  }
  RingCell* cell;
  if (ring.try_peek(&cell) != RequestRing::Peek::kEmpty) return "payloads beyond the total";
  return "";
}

TEST(RingStress, FourThreadsTimesHundredThousandEachArriveExactlyOnceInOrder) {
  constexpr uint32_t kProducers = 4;
  constexpr uint32_t kEach = 100'000;
  void* memory = std::aligned_alloc(64, RequestRing::bytes_for(kCapacity));
  RequestRing ring = RequestRing::format(memory, kCapacity);
  Channel ch;
  std::vector<std::thread> producers;
  for (uint32_t p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (uint32_t i = 0; i < kEach; ++i) {
        if (!push_blocking(ring, ch, ProcessSlotId(p), encode(p, i))) {
          ch.failed.fetch_add(1);
          return;
        }
      }
    });
  }
  const std::string error = consume(ring, ch, kProducers, kEach);
  for (auto& t : producers)
    t.join();
  EXPECT_EQ(error, "");
  EXPECT_EQ(ch.failed.load(), 0u) << "a producer lost a wake-up or saw a corrupt ring";
  EXPECT_EQ(ring.depth(), 0u);
  std::free(memory);
}

TEST(RingStress, EightProcessesTimesHundredThousandEachArriveExactlyOnceInOrder) {
  constexpr uint32_t kProducers = 8;
  constexpr uint32_t kEach = 100'000;
  testing::SharedMemory mem(4096 + RequestRing::bytes_for(kCapacity));
  auto* ch = new (mem.data()) Channel{};
  RequestRing ring = RequestRing::format(static_cast<std::byte*>(mem.data()) + 4096, kCapacity);
  std::vector<pid_t> kids;
  for (uint32_t p = 0; p < kProducers; ++p) {
    kids.push_back(testing::fork_child([&, p] {
      for (uint32_t i = 0; i < kEach; ++i) {
        if (!push_blocking(ring, *ch, ProcessSlotId(p), encode(p, i))) return 1;
      }
      return 0;
    }));
  }
  const std::string error = consume(ring, *ch, kProducers, kEach);
  EXPECT_EQ(error, "");
  for (pid_t k : kids) {
    if (!error.empty()) ::kill(k, SIGKILL);
    EXPECT_EQ(testing::wait_child(k, std::chrono::seconds(120)), 0);
  }
  EXPECT_EQ(ring.depth(), 0u);
}

TEST(RingStress, ProducersKilledMidStreamLeaveOnlySkippableCells) {
  // Producers are killed at random while pushing; the survivors' payloads all
  // arrive; a killed producer's payloads arrive as a prefix of what it pushed
  // (never out of order, never twice), and its dead claims are skipped.
  constexpr uint32_t kProducers = 4;
  constexpr uint32_t kEach = 20'000;
  constexpr int kRounds = 25;
  testing::SharedMemory mem(4096 + RequestRing::bytes_for(kCapacity));
  auto* ch = new (mem.data()) Channel{};
  RequestRing ring = RequestRing::format(static_cast<std::byte*>(mem.data()) + 4096, kCapacity);
  uint32_t next_id = 0;
  std::srand(12345);
  for (int round = 0; round < kRounds; ++round) {
    std::vector<pid_t> kids;
    std::vector<uint32_t> ids;
    for (uint32_t p = 0; p < kProducers; ++p) {
      const uint32_t id = next_id++;
      ids.push_back(id);
      kids.push_back(testing::fork_child([&, id] {
        for (uint32_t i = 0; i < kEach; ++i) {
          if (!push_blocking(ring, *ch, ProcessSlotId(id), encode(id, i))) return 1;
        }
        return 0;
      }));
    }
    const size_t victim = size_t(std::rand()) % kProducers;
    const uint32_t kill_after = uint32_t(std::rand()) % (kEach / 2);
    std::vector<uint64_t> next(next_id, 0);
    bool killed = false;
    size_t finished = 0;
    std::vector<bool> done(kProducers, false);
    uint64_t idle_spins = 0;
    while (finished < kProducers) {
      RingCell* cell = nullptr;
      const auto p = ring.try_peek(&cell);
      if (p == RequestRing::Peek::kReady) {
        uint64_t v;
        std::memcpy(&v, cell->payload, 8);
        ring.release_head();
        const uint32_t producer = uint32_t(v >> 32), seq = uint32_t(v);
        ASSERT_LT(producer, next_id);
        ASSERT_EQ(seq, next[producer]) << "producer " << producer;
        ++next[producer];
        if (!killed && producer == ids[victim] && seq >= kill_after) {
          testing::kill_and_reap(kids[victim]);
          killed = true;
          done[victim] = true;
          ++finished;
          // The supervisor's part: the dead producer's claims become skips.
          ring.skip_claims_of(ProcessSlotId(ids[victim]));
        }
        continue;
      }
      if (p == RequestRing::Peek::kSkipped) continue;
      if (++idle_spins % 1024 == 0) {
        for (size_t k = 0; k < kProducers; ++k) {
          if (done[k]) continue;
          int status;
          if (::waitpid(kids[k], &status, WNOHANG) == kids[k]) {
            ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "producer " << ids[k];
            done[k] = true;
            ++finished;
          }
        }
        std::this_thread::yield();
      }
    }
    // Whatever is still queued belongs to the finished producers or is a skip.
    for (;;) {
      RingCell* cell = nullptr;
      const auto p = ring.try_peek(&cell);
      if (p == RequestRing::Peek::kSkipped) continue;
      if (p != RequestRing::Peek::kReady) {
        ASSERT_EQ(p, RequestRing::Peek::kEmpty) << "round " << round;
        break;
      }
      uint64_t v;
      std::memcpy(&v, cell->payload, 8);
      ring.release_head();
      ASSERT_EQ(uint32_t(v), next[uint32_t(v >> 32)]);
      ++next[uint32_t(v >> 32)];
    }
    for (size_t k = 0; k < kProducers; ++k) {
      if (k != victim) {
        EXPECT_EQ(next[ids[k]], kEach) << "round " << round;
      }
    }
    EXPECT_LE(next[ids[victim]], kEach);
  }
}

}  // namespace
}  // namespace shoal::ipc
