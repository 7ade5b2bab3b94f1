// RequestRing, one behaviour at a time: FIFO order, a full ring and its
// back-pressure, producers that die between claim and publish, and corrupt
// words that must give kCorrupt instead of a hang. The stress tests (many
// producers, threads and processes) are in ring_stress_test.cpp.
#include "ipc/request_ring.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "ipc/spin.hpp"
#include "tests/ipc/process_helpers.hpp"

namespace shoal::ipc {
namespace {

using testing::eventually;
using testing::fork_child;
using testing::wait_child;

// A ring in private, 64-byte aligned memory.
struct LocalRing {
  explicit LocalRing(uint32_t capacity)
      : memory(static_cast<std::byte*>(std::aligned_alloc(64, RequestRing::bytes_for(capacity)))),
        ring(RequestRing::format(memory.get(), capacity)) {}
  struct Free {
    void operator()(std::byte* p) const { std::free(p); }
  };
  std::unique_ptr<std::byte, Free> memory;
  RequestRing ring;
};

bool push(RequestRing& ring, ProcessSlotId me, uint64_t value) {
  auto c = ring.try_claim(me);
  if (!c) return false;
  std::memcpy(c->cell->payload, &value, 8);
  ring.publish(*c, me);
  return true;
}

// kReady: the value; anything else: nullopt (skipped cells are passed over).
std::optional<uint64_t> pop(RequestRing& ring) {
  for (;;) {
    RingCell* cell = nullptr;
    switch (ring.try_peek(&cell)) {
      case RequestRing::Peek::kReady: {
        uint64_t v;
        std::memcpy(&v, cell->payload, 8);
        ring.release_head();
        return v;
      }
      case RequestRing::Peek::kSkipped:
        continue;
      case RequestRing::Peek::kEmpty:
      case RequestRing::Peek::kInProgress:
        return std::nullopt;
    }
  }
}

TEST(RequestRing, SingleThreadFifoAcrossManyLaps) {
  LocalRing r(8);
  uint64_t next_in = 0, next_out = 0;
  for (int round = 0; round < 500; ++round) {
    const int n = 1 + round % 8;
    for (int i = 0; i < n; ++i)
      ASSERT_TRUE(push(r.ring, 1, next_in++));
    EXPECT_EQ(r.ring.depth(), uint64_t(n));
    for (int i = 0; i < n; ++i) {
      auto v = pop(r.ring);
      ASSERT_TRUE(v.has_value());
      EXPECT_EQ(*v, next_out++);
    }
    EXPECT_FALSE(pop(r.ring).has_value());
  }
  EXPECT_EQ(r.ring.head(), next_in);
}

TEST(RequestRing, FullRingRefusesUntilTheConsumerFreesACell) {
  LocalRing r(4);
  for (uint64_t i = 0; i < 4; ++i)
    ASSERT_TRUE(push(r.ring, 1, i));
  auto full = r.ring.try_claim(1);
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error(), RingError::kFull);
  EXPECT_EQ(*pop(r.ring), 0u);
  ASSERT_TRUE(push(r.ring, 1, 4));
  EXPECT_EQ(r.ring.try_claim(1).error(), RingError::kFull);
  for (uint64_t i = 1; i <= 4; ++i)
    EXPECT_EQ(*pop(r.ring), i);
}

TEST(RequestRing, ForEachQueuedSeesPublishedCellsOnly) {
  LocalRing r(8);
  ASSERT_TRUE(push(r.ring, 1, 10));
  auto claimed = r.ring.try_claim(2);  // in progress
  ASSERT_TRUE(claimed.ok());
  ASSERT_TRUE(push(r.ring, 1, 12));
  std::vector<uint64_t> seen;
  r.ring.for_each_queued([&](RingCell& c) {
    uint64_t v;
    std::memcpy(&v, c.payload, 8);
    seen.push_back(v);
  });
  EXPECT_EQ(seen, (std::vector<uint64_t>{10, 12}));
  EXPECT_EQ(*pop(r.ring), 10u);
  RingCell* cell;
  EXPECT_EQ(r.ring.try_peek(&cell), RequestRing::Peek::kInProgress);
}

TEST(RequestRing, FullRingBlocksProducerUntilConsumerFrees) {
  LocalRing r(4);
  for (uint64_t i = 0; i < 4; ++i)
    ASSERT_TRUE(push(r.ring, 1, i));
  std::atomic<int> parked_rounds{0};
  std::thread producer([&] {
    // The producer's side of back-pressure: claim, else announce and park on
    // not_full, re-trying before sleeping.
    for (uint64_t v = 4; v < 12; ++v) {
      for (;;) {
        auto c = r.ring.try_claim(1);
        if (!c) {
          ASSERT_EQ(c.error(), RingError::kFull);
          const uint32_t token = r.ring.header().not_full.prepare();
          c = r.ring.try_claim(1);  // the consumer may have freed a cell meanwhile
          if (!c) {
            parked_rounds.fetch_add(1);
            r.ring.header().not_full.park(token, std::chrono::seconds(60));
            continue;
          }
        }
        std::memcpy(c->cell->payload, &v, 8);
        r.ring.publish(*c, 1);
        break;
      }
    }
  });
  ASSERT_TRUE(eventually([&] { return parked_rounds.load() > 0; }, std::chrono::seconds(30)));
  std::vector<uint64_t> got;
  while (got.size() < 12) {
    if (auto v = pop(r.ring)) {
      got.push_back(*v);
    } else {
      std::this_thread::yield();
    }
  }
  producer.join();
  for (uint64_t i = 0; i < 12; ++i)
    EXPECT_EQ(got[i], i);
}

TEST(RequestRing, ProducerKilledBetweenClaimAndPublishIsSkipped) {
  constexpr uint32_t kCap = 8;
  testing::SharedMemory mem(RequestRing::bytes_for(kCap));
  RequestRing ring = RequestRing::format(mem.data(), kCap);
  ASSERT_TRUE(push(ring, 1, 100));
  constexpr ProcessSlotId kDoomed = 7;
  const pid_t doomed = fork_child([&] {
    auto c = ring.try_claim(kDoomed);
    if (!c) return 1;
    std::memset(c->cell->payload, 0xee, 16);  // half written...
    ::raise(SIGKILL);                         // ...and gone
    return 2;
  });
  EXPECT_EQ(wait_child(doomed, std::chrono::seconds(30)), 128 + SIGKILL);
  ASSERT_TRUE(push(ring, 1, 102));  // a live producer queues behind the dead cell

  EXPECT_EQ(*pop(ring), 100u);
  RingCell* cell;
  EXPECT_EQ(ring.try_peek(&cell), RequestRing::Peek::kInProgress) << "waits on the dead claim";
  EXPECT_EQ(ring.skip_claims_of(3), 0u) << "another slot's cells are untouched";
  EXPECT_EQ(ring.skip_claims_of(kDoomed), 1u);
  EXPECT_EQ(ring.skip_claims_of(kDoomed), 0u);
  EXPECT_EQ(ring.try_peek(&cell), RequestRing::Peek::kSkipped);
  EXPECT_EQ(*pop(ring), 102u) << "the consumer moved past the dead cell";
  EXPECT_FALSE(pop(ring).has_value());
  // The ring goes on working over the skipped cell's position.
  for (uint64_t i = 0; i < 3 * kCap; ++i) {
    ASSERT_TRUE(push(ring, 1, i));
    EXPECT_EQ(*pop(ring), i);
  }
}

TEST(RequestRing, ConsumerKilledBetweenFreeingACellAndMovingHeadIsTakenUpByTheNext) {
  constexpr uint32_t kCap = 4;
  testing::SharedMemory mem(RequestRing::bytes_for(kCap));
  RequestRing ring = RequestRing::format(mem.data(), kCap);
  for (uint64_t i = 0; i < 3; ++i)
    ASSERT_TRUE(push(ring, 1, i));
  // A consumer process takes the first call, frees its cell and dies before head moves:
  // release_head() writes the cell's word, then head; head is put back as that death leaves it.
  const pid_t consumer = fork_child([&] {
    RingCell* cell = nullptr;
    if (ring.try_peek(&cell) != RequestRing::Peek::kReady) return 1;
    const uint64_t pos = ring.head();
    ring.release_head();
    ring.header().head.store(pos, std::memory_order_relaxed);
    ::raise(SIGKILL);
    return 2;
  });
  EXPECT_EQ(wait_child(consumer, std::chrono::seconds(30)), 128 + SIGKILL);
  EXPECT_EQ(ring.head(), 0u);
  // Producers refill the freed cell: the ring is full from their side.
  ASSERT_TRUE(push(ring, 1, 3));
  ASSERT_TRUE(push(ring, 1, 4));
  EXPECT_EQ(ring.try_claim(1).error(), RingError::kFull);
  // The next consumer steps over the freed position instead of seeing an empty ring forever.
  for (uint64_t i = 1; i <= 4; ++i) {
    auto v = pop(ring);
    ASSERT_TRUE(v.has_value()) << "call " << i << " never reached the consumer";
    EXPECT_EQ(*v, i);
  }
  EXPECT_FALSE(pop(ring).has_value());
  for (uint64_t i = 0; i < 3 * kCap; ++i) {
    ASSERT_TRUE(push(ring, 1, i));
    EXPECT_EQ(*pop(ring), i);
  }
}

TEST(RequestRing, AttachValidatesTheHeader) {
  LocalRing r(16);
  EXPECT_TRUE(RequestRing::attach(r.memory.get(), RequestRing::bytes_for(16)).ok());
  EXPECT_EQ(RequestRing::attach(r.memory.get(), RequestRing::bytes_for(16) - 1).error(),
            RingError::kCorrupt);
  EXPECT_EQ(RequestRing::attach(nullptr, 4096).error(), RingError::kCorrupt);
  EXPECT_EQ(RequestRing::attach(r.memory.get() + 8, 4096).error(), RingError::kCorrupt);
  RingHeader& h = r.ring.header();
  h.capacity = 12;  // not a power of two
  EXPECT_EQ(RequestRing::attach(r.memory.get(), RequestRing::bytes_for(16)).error(),
            RingError::kCorrupt);
  h.capacity = 1u << 30;  // bigger than the memory
  EXPECT_EQ(RequestRing::attach(r.memory.get(), RequestRing::bytes_for(16)).error(),
            RingError::kCorrupt);
  h.capacity = 16;
  h.magic = 0;
  EXPECT_EQ(RequestRing::attach(r.memory.get(), RequestRing::bytes_for(16)).error(),
            RingError::kCorrupt);
}

// ---- corrupt words: kCorrupt (or a plain answer), never a hang ----

// try_claim in a thread with a deadline: a hang fails the test instead of
// wedging it. (A hung claimer is left spinning on memory that stays alive.)
std::optional<Result<RequestRing::Claim, RingError>> claim_with_deadline(
    std::shared_ptr<LocalRing> ring) {
  struct Outcome {
    std::atomic<int> done{0};
    std::optional<Result<RequestRing::Claim, RingError>> result;
  };
  auto out = std::make_shared<Outcome>();
  std::thread t([out, ring] {
    out->result.emplace(ring->ring.try_claim(1));
    out->done.store(1, std::memory_order_release);
  });
  if (!eventually([&] { return out->done.load(std::memory_order_acquire) == 1; },
                  std::chrono::seconds(5))) {
    t.detach();
    return std::nullopt;
  }
  t.join();
  return out->result;
}

class CorruptRing : public ::testing::TestWithParam<int64_t> {};

TEST_P(CorruptRing, GarbageSequenceAtTailGivesCorruptNotAHang) {
  // The cell at tail stands for tail + delta: only delta 0 (free for us) and
  // -capacity (full) make sense.
  constexpr uint32_t kCap = 64;
  auto r = std::make_shared<LocalRing>(kCap);
  for (uint64_t i = 0; i < 10; ++i) {
    ASSERT_TRUE(push(r->ring, 1, i));
    ASSERT_TRUE(pop(r->ring).has_value());
  }
  const uint64_t tail = r->ring.header().tail.load();
  RingCell& cell = reinterpret_cast<RingCell*>(&r->ring.header() + 1)[tail % kCap];
  const int64_t delta = GetParam();
  cell.seq.store(
      RequestRing::make_seq(uint64_t(int64_t(tail) + delta), RequestRing::CellState::kFree, 0));
  auto got = claim_with_deadline(r);
  ASSERT_TRUE(got.has_value()) << "try_claim spins forever on a cell standing for tail"
                               << (delta >= 0 ? "+" : "") << delta;
  ASSERT_FALSE(got->ok());
  EXPECT_EQ(got->error(), RingError::kCorrupt);
}

INSTANTIATE_TEST_SUITE_P(Deltas, CorruptRing,
                         ::testing::Values(1, 2, 63, 64, 65, 128, 1000, -1, -2, -63, -65, -1000),
                         [](const auto& info) {
                           const int64_t d = info.param;
                           return (d < 0 ? "minus" : "plus") + std::to_string(d < 0 ? -d : d);
                         });

TEST(RequestRing, GarbageTailGivesCorruptNotAHang) {
  constexpr uint32_t kCap = 64;
  auto r = std::make_shared<LocalRing>(kCap);
  ASSERT_TRUE(push(r->ring, 1, 1));
  for (uint64_t garbage : {uint64_t(1000003), uint64_t(130), uint64_t(1) << 47}) {
    r->ring.header().tail.store(garbage);
    auto got = claim_with_deadline(r);
    ASSERT_TRUE(got.has_value()) << "tail " << garbage;
    ASSERT_FALSE(got->ok()) << "tail " << garbage;
    EXPECT_EQ(got->error(), RingError::kCorrupt) << "tail " << garbage;
  }
  EXPECT_EQ(*pop(r->ring), 1u) << "what was published is still delivered";
}

TEST(RequestRing, CapacityCorruptedAfterAttachStaysInBounds) {
  // Attached views live for the whole life of an actor: a header that changes
  // under them must not move their accesses outside the ring (ASan).
  constexpr uint32_t kCap = 16;
  LocalRing r(kCap);
  auto view = RequestRing::attach(r.memory.get(), RequestRing::bytes_for(kCap));
  ASSERT_TRUE(view.ok());
  ASSERT_TRUE(push(*view, 1, 5));
  r.ring.header().capacity = 1u << 20;
  r.ring.header().tail.store(kCap * 1000 + 7);
  (void)view->try_claim(1);
  RingCell* cell;
  (void)view->try_peek(&cell);
  (void)view->skip_claims_of(1);
  view->for_each_queued([](RingCell&) {});
  (void)view->depth();
}

}  // namespace
}  // namespace shoal::ipc
