// Segment: one mapping of a session segment, owned by exactly one Segment at
// a time. Moving hands the mapping over; assigning over a Segment that maps
// something unmaps it first; the last owner unmaps it.
#include "store/segment.hpp"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cerrno>
#include <string>
#include <utility>

namespace shoal::testing {
namespace {

using store::Segment;

// True if the page at `p` is mapped in this process.
bool mapped(const void* p) {
  return ::msync(const_cast<void*>(p), 4096, MS_ASYNC) == 0 || errno != ENOMEM;
}

// A fresh segment, removed from /dev/shm at the end of the test.
struct Fresh {
  Fresh() {
    const uint64_t tag = store::random_u64();
    name = store::make_segment_name(tag);
    auto s = Segment::create(store::kMarkerDir, name, store::kMinSegmentBytes, tag);
    if (!s) {
      ADD_FAILURE() << "Segment::create: " << store::to_string(s.error());
      std::abort();
    }
    segment = std::move(s).value();
  }
  ~Fresh() { Segment::remove(name); }
  std::string name;
  Segment segment;
};

TEST(Segment, MoveConstructionHandsTheMappingOver) {
  Fresh f;
  std::byte* const base = f.segment.base();
  const uint64_t size = f.segment.size();
  const uint64_t tag = f.segment.layout().session_tag;
  {
    Segment moved(std::move(f.segment));
    EXPECT_EQ(moved.base(), base);
    EXPECT_EQ(moved.size(), size);
    EXPECT_EQ(moved.name(), f.name);
    EXPECT_EQ(moved.layout().session_tag, tag);
    EXPECT_EQ(moved.header().magic, store::kSegmentMagic);
    EXPECT_EQ(f.segment.base(), nullptr) << "the moved-from Segment owns nothing";
    EXPECT_EQ(f.segment.size(), 0u);
    EXPECT_TRUE(mapped(base));
  }
  EXPECT_FALSE(mapped(base)) << "the new owner unmapped it";
}

TEST(Segment, MoveAssignmentUnmapsWhatTheTargetMappedAndTakesTheOther) {
  Fresh a;
  Fresh b;
  std::byte* const a_base = a.segment.base();
  std::byte* const b_base = b.segment.base();
  a.segment = std::move(b.segment);
  EXPECT_FALSE(mapped(a_base)) << "the target's own mapping is gone";
  EXPECT_EQ(a.segment.base(), b_base);
  EXPECT_EQ(a.segment.name(), b.name);
  EXPECT_EQ(a.segment.header().magic, store::kSegmentMagic);
  EXPECT_EQ(b.segment.base(), nullptr);
  EXPECT_EQ(b.segment.size(), 0u);
  EXPECT_TRUE(mapped(b_base));

  a.segment = Segment();
  EXPECT_FALSE(mapped(b_base)) << "assigning an empty Segment unmaps";
  EXPECT_EQ(a.segment.base(), nullptr);
}

TEST(Segment, SelfMoveAssignmentKeepsTheMapping) {
  Fresh f;
  std::byte* const base = f.segment.base();
  Segment& same = f.segment;
  f.segment = std::move(same);
  EXPECT_EQ(f.segment.base(), base);
  EXPECT_TRUE(mapped(base));
  EXPECT_EQ(f.segment.header().magic, store::kSegmentMagic);
}

TEST(Segment, AMovedSegmentStillOpensByName) {
  Fresh f;
  Segment moved(std::move(f.segment));
  auto again = Segment::open(f.name);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->layout().session_tag, moved.layout().session_tag);
  EXPECT_NE(again->base(), moved.base()) << "a second mapping of the same segment";
}

}  // namespace
}  // namespace shoal::testing
