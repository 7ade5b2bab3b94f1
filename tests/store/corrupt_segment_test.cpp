// A corrupt segment: random bytes over the object table, over the payload and
// child fields of live entries, over a request ring. Every operation must give
// an error or a valid answer, never read outside the segment, and never hang.
//
// Most tests run on a private copy of a live store's segment (heap memory),
// so that ASan sees any access past its end; the table operations are the
// real ones, through views built exactly as Store builds them. One test runs
// on the live store itself, and one on a damaged header.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "ipc/request_ring.hpp"
#include "ipc/spin.hpp"
#include "tests/ipc/process_helpers.hpp"
#include "tests/store/store_fixture.hpp"

namespace shoal::testing {
namespace {

using store::ClaimResult;
using store::HeapAllocator;
using store::ObjectTable;
using store::WriterId;

// A live store with every kind of entry: inline, heap, containers (inline and
// overflow child lists), pending and claimed results, abandoned writes; some
// pinned twice.
struct Population {
  explicit Population(Store& s) {
    std::mt19937_64 rng(99);
    std::vector<uint64_t> all;
    for (int i = 0; i < 60; ++i) {
      const uint64_t bytes = i % 3 == 0   ? 8 + rng() % 150
                             : i % 3 == 1 ? 200 + rng() % 3000
                                          : 5000 + rng() % 90'000;
      std::vector<uint64_t> children;
      if (i % 7 == 6 && all.size() > 4) children = {all[0], all[1]};
      if (i % 11 == 10 && all.size() > 6) children = {all[2], all[3], all[4], all[5], all[6]};
      auto o = put_object(s, bytes, rng(), children);
      if (!o) std::abort();
      held.push_back(o->rec);
      all.push_back(o->packed());
      if (i % 5 == 0) held.push_back(*s.pin(o->slot, o->gen));
    }
    for (int i = 0; i < 10; ++i) {
      auto r = s.create_object(ObjectState::kPending, WriterId::actor(uint32_t(i)));
      held.push_back(*r);
      if (i % 2 == 0) (void)s.objects().claim((*r)->slot, (*r)->gen, s.me());
    }
    auto w = s.create_object(ObjectState::kWriting, WriterId::process(s.me()));
    (void)s.objects().reserve_payload((*w)->slot, 10'000, s.me());
    held.push_back(*w);
  }
  std::vector<RefRecord*> held;
};

// A byte-for-byte copy of a segment in heap memory, with the views Store::wire()
// builds, and this process's slot in it.
class Image {
 public:
  explicit Image(Store& s) : bytes_(s.segment().size()), me_(s.me()) {
    base_ = static_cast<std::byte*>(std::aligned_alloc(4096, bytes_));
    std::memcpy(base_, s.base(), bytes_);
    const store::SegmentLayout& l = s.layout();
    header_ = reinterpret_cast<store::SegmentHeader*>(base_);
    processes_ = ipc::ProcessTable(at<ipc::ProcessSlot>(l.processes_off), l.processes_count);
    heap_ = HeapAllocator(base_, l.total_bytes, &header_->alloc, at<uint64_t>(l.bitmap_off),
                          l.bitmap_words, at<uint64_t>(l.summary_off), l.summary_words, l.heap_off,
                          l.heap_bytes, &processes_);
    objects_ = ObjectTable(base_, l.total_bytes, at<ObjectEntry>(l.objects_off), l.objects_count,
                           &heap_, &processes_, header_);
  }
  Image(const Image&) = delete;
  ~Image() { std::free(base_); }

  template <class T>
  T* at(uint64_t off) const {
    return reinterpret_cast<T*>(base_ + off);
  }
  std::byte* base() const { return base_; }
  uint64_t size() const { return bytes_; }
  ObjectTable& objects() { return objects_; }
  HeapAllocator& heap() { return heap_; }
  ipc::ProcessSlotId me() const { return me_; }

 private:
  std::byte* base_ = nullptr;
  uint64_t bytes_ = 0;
  ipc::ProcessSlotId me_;
  store::SegmentHeader* header_ = nullptr;
  ipc::ProcessTable processes_;
  HeapAllocator heap_;
  ObjectTable objects_;
};

void scribble(void* p, size_t n, std::mt19937_64& rng) {
  auto* b = static_cast<unsigned char*>(p);
  for (size_t i = 0; i < n; ++i)
    b[i] = static_cast<unsigned char>(rng());
}

// Drops, in the image, every reference the population holds in the live store
// (the records are copied: the image's table is the one being released).
void drop_all(Image& img, const Population& pop) {
  for (const RefRecord* held : pop.held) {
    RefRecord rec{};
    rec.slot = held->slot;
    rec.gen = held->gen;
    rec.state.store(held->state.load());
    img.objects().unpin(&rec, 3, img.me());
  }
}

// Touches every byte of a payload the table says is valid (ASan checks it is
// inside the image) and returns a checksum so nothing is optimised away.
uint64_t touch(const store::PayloadView& v) {
  uint64_t sum = 0;
  for (uint64_t i = 0; i < v.size; ++i)
    sum += uint64_t(v.data[i]);
  return sum;
}

struct Exercise {
  uint64_t reads_ok = 0, pins_ok = 0, claims = 0, errors = 0;
  double seconds = 0;
  double slowest_slot_seconds = 0;
  uint32_t slowest_slot = 0;
};

// Every operation a process can do on an entry it has an id for, on every
// entry of the table. Records live outside the segment (the table only needs
// their address and index).
Exercise exercise_all(ObjectTable& t, ipc::ProcessSlotId me, uint64_t seed) {
  Exercise x;
  std::mt19937_64 rng(seed);
  RefRecord rec{};
  uint64_t sink = 0;
  const auto start = std::chrono::steady_clock::now();
  const uint32_t n = t.size();
  for (uint32_t slot = 0; slot <= n; ++slot) {  // one past the end too
    const auto slot_start = std::chrono::steady_clock::now();
    if (auto v = t.read(slot)) {
      sink += touch(*v);
      ++x.reads_ok;
    } else {
      ++x.errors;
    }
    if (auto kids = t.children(slot)) {
      for (uint64_t c : *kids)
        sink += t.valid_slot(uint32_t(c >> 32));
    }
    const uint32_t gen = t.valid_slot(slot) ? t.entry(slot).gen.load() : uint32_t(rng());
    for (uint32_t g : {gen, gen + 1, uint32_t(rng())}) {
      if (t.pin(&rec, 7, me, slot, g)) {
        ++x.pins_ok;
        if (auto v = t.read(slot)) sink += touch(*v);
        t.unpin(&rec, 7, me);
      } else {
        ++x.errors;
      }
    }
    const ClaimResult c = t.claim(slot, gen, me);
    if (c != ClaimResult::kGone) {
      ++x.claims;
      t.seal(slot, me);
    }
    (void)t.request_cancel(slot, gen);
    (void)t.claim_for_failure(slot, gen + 1, me);
    const double d =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - slot_start).count();
    if (d > x.slowest_slot_seconds) {
      x.slowest_slot_seconds = d;
      x.slowest_slot = slot;
    }
  }
  x.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (sink == 42) std::fprintf(stderr, " ");  // keep `sink` alive
  return x;
}

void report(const Exercise& x, const char* what) {
  std::fprintf(stderr,
               "[ %s ] %.2f s; reads ok %llu, pins ok %llu, claims %llu, errors %llu; slowest "
               "slot %u: %.3f s\n",
               what, x.seconds, (unsigned long long)x.reads_ok, (unsigned long long)x.pins_ok,
               (unsigned long long)x.claims, (unsigned long long)x.errors, x.slowest_slot,
               x.slowest_slot_seconds);
}

// An operation that waits on a lock which the corrupt word says a live
// process holds gives up after 5 s (ObjectTable::wait_unlocked). Each test
// allows for that, per entry, but nothing like a hang.
constexpr double kBudgetSeconds = 120;

class CorruptSegment : public ::testing::TestWithParam<uint64_t> {
 protected:
  TestStore s;
};

TEST_P(CorruptSegment, RandomBytesOverTheObjectTable) {
  Population pop(*s);
  Image img(*s);
  std::mt19937_64 rng(GetParam());
  const uint32_t hw = img.objects().high_water();
  // Every entry in use and the one after it (free entries are zeros: garbage
  // there is as likely as anywhere).
  bool previous_in_use = false;
  for (uint32_t i = 0; i < hw + 16; ++i) {
    ObjectEntry& e = img.objects().entry(i);
    const bool in_use = e.ctrl.load() != 0;
    if (in_use || previous_in_use) scribble(&e, sizeof(ObjectEntry), rng);
    previous_in_use = in_use;
  }
  const Exercise x = exercise_all(img.objects(), img.me(), GetParam());
  report(x, "table");
  EXPECT_LT(x.seconds, kBudgetSeconds);
  EXPECT_GT(x.errors, 0u);
}

TEST_P(CorruptSegment, RandomPayloadOffsetsAndSizesOfLiveEntries) {
  Population pop(*s);
  Image img(*s);
  std::mt19937_64 rng(GetParam());
  const uint64_t heap_end = img.heap().heap_off() + img.heap().capacity();
  const uint64_t nasty[] = {1,
                            8,
                            img.heap().heap_off() - 64,
                            heap_end - 8,
                            heap_end,
                            heap_end + 4096,
                            img.size() - 1,
                            ~0ull,
                            ~0ull - 4095,
                            1ull << 63};
  for (uint32_t i = 0; i < img.objects().high_water(); ++i) {
    ObjectEntry& e = img.objects().entry(i);
    if (e.ctrl.load() == 0) continue;
    switch (rng() % 4) {
      case 0:
        e.data_off = rng();
        break;
      case 1:
        e.data_off = nasty[rng() % std::size(nasty)];
        break;
      case 2:
        e.size = rng();
        break;
      case 3:
        e.size = nasty[rng() % std::size(nasty)];
        e.data_off = rng() % 2 ? 0 : e.data_off;
        break;
    }
    if (rng() % 4 == 0) e.codec = uint8_t(rng());
  }
  const Exercise x = exercise_all(img.objects(), img.me(), GetParam());
  report(x, "payload fields");
  EXPECT_LT(x.seconds, kBudgetSeconds);
  // Dropping every reference frees what the table can free and leaks the rest.
  drop_all(img, pop);
}

TEST_P(CorruptSegment, RandomChildListsOfLiveEntries) {
  Population pop(*s);
  Image img(*s);
  std::mt19937_64 rng(GetParam());
  for (uint32_t i = 0; i < img.objects().high_water(); ++i) {
    ObjectEntry& e = img.objects().entry(i);
    if (e.ctrl.load() == 0) continue;
    switch (rng() % 5) {
      case 0:
        e.child_count = uint32_t(rng());
        break;
      case 1:
        e.child_cursor.store(uint32_t(rng()));
        break;
      case 2:
        e.children_off = rng() % 2 ? rng() : img.heap().heap_off() + (rng() % 4096) * 64;
        break;
      case 3:
        e.children_inline[0] = rng();
        e.children_inline[1] = store::pack_child(uint32_t(rng() % 64), uint32_t(rng() % 4));
        break;
      case 4:
        e.child_count = uint32_t(rng());
        e.child_cursor.store(uint32_t(rng()));
        break;
    }
  }
  const Exercise x = exercise_all(img.objects(), img.me(), GetParam());
  report(x, "child fields");
  EXPECT_LT(x.seconds, kBudgetSeconds);
  // The frees walk the child lists: the part most exposed to a bad count.
  const auto start = std::chrono::steady_clock::now();
  drop_all(img, pop);
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr, "[ child fields ] dropping every reference: %.2f s\n", secs);
  EXPECT_LT(secs, kBudgetSeconds);
}

INSTANTIATE_TEST_SUITE_P(Seeds, CorruptSegment, ::testing::Values(1, 2, 3));

TEST(CorruptSegmentLive, RandomBytesOverTheLiveTableThenEveryOperationAndARecovery) {
  // The live store itself: a second process holds references, its table
  // entries are scribbled over, it dies, the supervisor repairs what it can.
  TestStore s;
  Population pop(*s);
  Shared<std::atomic<uint32_t>> ready;
  const std::string name = s.name;
  const pid_t holder = fork_child([&]() -> int {
    auto st = Store::attach(name);
    if (!st || !(*st)->join(ipc::ProcessKind::kRank, ipc::kNoProcess, "holder")) return 1;
    for (uint32_t i = 0; i < (*st)->objects().high_water(); ++i) {
      const uint32_t gen = (*st)->objects().entry(i).gen.load();
      (void)(*st)->pin(i, gen);
    }
    auto o = put_object(**st, 70'000, 5);
    (void)o;
    ready->store(1);
    for (;;)
      ::pause();
  });
  ASSERT_TRUE(eventually([&] { return ready->load() == 1; }, std::chrono::seconds(30)));
  std::mt19937_64 rng(4);
  const uint32_t hw = s->objects().high_water();
  // Entries in use and their neighbours. Leave the lock tags alone in half of
  // them so that pins get through to the rest of the garbage.
  bool previous_in_use = false;
  for (uint32_t i = 0; i < hw + 4; ++i) {
    ObjectEntry& e = s->objects().entry(i);
    const uint64_t ctrl = e.ctrl.load();
    const bool in_use = ctrl != 0;
    if (in_use || previous_in_use) {
      scribble(&e, sizeof(ObjectEntry), rng);
      if (i % 2 == 0) e.ctrl.store(Ctrl::unlocked(e.ctrl.load()));
      if (i % 4 == 0) e.ctrl.store(ctrl);
    }
    previous_in_use = in_use;
  }
  const Exercise x = exercise_all(s->objects(), s->me(), 4);
  report(x, "live table");
  EXPECT_LT(x.seconds, kBudgetSeconds);

  kill_and_reap(holder);
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(supervise_death(*s, holder));
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr, "[ live table ] recovery of the holder: %.2f s\n", secs);
  EXPECT_LT(secs, kBudgetSeconds);
  for (RefRecord* r : pop.held)
    s->unpin(r);
  // The store still serves new objects.
  auto o = put_object(*s, 20'000, 6);
  ASSERT_TRUE(o.ok());
  EXPECT_TRUE(read_ok(*s, o->slot, 20'000));
}

TEST(CorruptSegmentLocks, LockLeftOnAFreeProcessSlotIsCorruptAtOnce) {
  // A lock tag naming a slot no process holds cannot be a live operation: its
  // owner unlocked before leaving, or the supervisor did before freeing it.
  TestStore s;
  auto o = put_object(*s, 5000, 1);
  ASSERT_TRUE(o.ok());
  ObjectEntry& e = s->objects().entry(o->slot);
  const uint64_t good = e.ctrl.load();
  ipc::ProcessSlotId free_slot = 0;
  while (s->processes().slot(free_slot).owner.load() != 0)
    ++free_slot;
  for (uint32_t tag : {store::LockTag::record(free_slot, 17), store::LockTag::process(free_slot)}) {
    e.ctrl.store(Ctrl::with_lock(good, tag));
    const auto start = std::chrono::steady_clock::now();
    auto pinned = s->pin(o->slot, o->gen);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ASSERT_FALSE(pinned.ok());
    EXPECT_EQ(pinned.error(), StoreError::kCorrupt);
    EXPECT_LT(secs, 4.0) << "took the 5 s road meant for live holders";
    EXPECT_EQ(s->objects().claim(o->slot, o->gen, s->me()), ClaimResult::kGone);
  }
  e.ctrl.store(good);
  s->unpin(o->rec);
}

TEST(CorruptSegmentLocks, LockNamingALiveProcessIsCorruptAfterFiveSeconds) {
  // The cost of garbage that names a live process: each operation on that
  // entry waits out ObjectTable's 5 s bound before it reports kCorrupt.
  TestStore s;
  auto o = put_object(*s, 64, 1);
  ASSERT_TRUE(o.ok());
  ObjectEntry& e = s->objects().entry(o->slot);
  const uint64_t good = e.ctrl.load();
  e.ctrl.store(Ctrl::with_lock(good, store::LockTag::record(s->me(), 999'999)));
  const auto start = std::chrono::steady_clock::now();
  auto pinned = s->pin(o->slot, o->gen);
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_FALSE(pinned.ok());
  EXPECT_EQ(pinned.error(), StoreError::kCorrupt);
  EXPECT_GE(secs, 4.9);
  std::fprintf(stderr, "[ live lock ] pin gave up after %.2f s\n", secs);
  EXPECT_LT(secs, 60.0);
  e.ctrl.store(good);
  s->unpin(o->rec);
}

TEST(CorruptSegmentRing, RandomBytesOverARingGiveErrorsOrAnswersInBoundedTime) {
  constexpr uint32_t kCap = 64;
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const size_t bytes = ipc::RequestRing::bytes_for(kCap);
    auto* mem = static_cast<std::byte*>(std::aligned_alloc(64, bytes));
    ipc::RequestRing ring = ipc::RequestRing::format(mem, kCap);
    for (uint64_t i = 0; i < 100; ++i) {
      auto c = ring.try_claim(1);
      ASSERT_TRUE(c.ok());
      std::memcpy(c->cell->payload, &i, 8);
      ring.publish(*c, 1);
      if (i % 3 != 2) {
        ipc::RingCell* cell;
        ASSERT_EQ(ring.try_peek(&cell), ipc::RequestRing::Peek::kReady);
        ring.release_head();
      }
    }
    std::mt19937_64 rng(seed);
    // Header words, cell sequence words, or everything.
    switch (seed % 3) {
      case 0:
        scribble(mem, sizeof(ipc::RingHeader), rng);
        break;
      case 1:
        for (uint32_t i = 0; i < kCap; ++i) {
          if (rng() % 3 == 0)
            reinterpret_cast<ipc::RingCell*>(mem + sizeof(ipc::RingHeader))[i].seq.store(rng());
        }
        break;
      case 2:
        scribble(mem, bytes, rng);
        break;
    }
    std::atomic<int> done{0};
    std::thread t([&] {
      auto attached = ipc::RequestRing::attach(mem, bytes);
      if (attached) {
        ipc::RequestRing r = *attached;
        for (int i = 0; i < 200; ++i) {
          auto c = r.try_claim(2);
          if (!c) break;
          r.publish(*c, 2);
        }
        for (int i = 0; i < 1000; ++i) {
          ipc::RingCell* cell = nullptr;
          const auto p = r.try_peek(&cell);
          if (p == ipc::RequestRing::Peek::kReady) {
            r.release_head();
          } else if (p != ipc::RequestRing::Peek::kSkipped) {
            break;
          }
        }
        (void)r.skip_claims_of(2);
        r.for_each_queued([](ipc::RingCell&) {});
        (void)r.depth();
      }
      done.store(1);
    });
    const bool finished = eventually([&] { return done.load() == 1; }, std::chrono::seconds(10));
    if (!finished) {
      t.detach();  // leaves `mem` to the spinning thread
      FAIL() << "a ring operation hangs on the corrupt ring";
    }
    t.join();
    std::free(mem);
  }
}

TEST(CorruptSegmentHeader, DamagedLayoutOrChecksumFailsAttachWithCorrupt) {
  for (int damage = 0; damage < 5; ++damage) {
    TestStore s;
    store::SegmentHeader& h = s->header();
    switch (damage) {
      case 0:
        h.layout.heap_off += 4096;
        break;  // a layout field
      case 1:
        h.layout.objects_count *= 2;
        break;  // another
      case 2:
        h.layout_checksum ^= 1;
        break;  // the checksum itself
      case 3:
        h.magic ^= 0xff;
        break;
      case 4:
        h.version += 1;
        break;
    }
    auto attached = Store::attach(s.name);
    ASSERT_FALSE(attached.ok()) << "damage " << damage;
    EXPECT_EQ(attached.error(), StoreError::kCorrupt) << "damage " << damage;
  }
  // A layout that is self-consistent (checksum recomputed) but points outside
  // the segment is refused as well.
  TestStore s;
  store::SegmentHeader& h = s->header();
  h.layout.heap_bytes += 1ull << 30;
  h.layout_checksum = h.layout.checksum();
  auto attached = Store::attach(s.name);
  ASSERT_FALSE(attached.ok());
  EXPECT_EQ(attached.error(), StoreError::kCorrupt);
  EXPECT_EQ(Store::attach("shoal-no-such-segment-" + std::to_string(::getpid())).error(),
            StoreError::kSegmentMissing);
}

// Bitmap and summary word counts near 2^61 made their byte sizes wrap around
// to a few bytes: a layout with a valid checksum passed the bounds checks, and
// the heap allocator would scan 2^61 words (tests/fuzz/segment_fuzz forges
// such layouts).
TEST(CorruptSegmentHeader, WordCountsWhoseByteSizesWrapAroundFailAttachWithCorrupt) {
  TestStore s;
  store::SegmentHeader& h = s->header();
  h.layout.bitmap_words += 1ull << 61;
  h.layout.summary_words += 1ull << 61;
  h.layout_checksum = h.layout.checksum();
  auto attached = Store::attach(s.name);
  ASSERT_FALSE(attached.ok());
  EXPECT_EQ(attached.error(), StoreError::kCorrupt);
}

}  // namespace
}  // namespace shoal::testing
