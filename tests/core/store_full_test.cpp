// A full store: put throws ObjectStoreFullError naming the requested and free
// bytes; dropping references makes room again; nothing else is disturbed.
// The session is small on purpose (64 MiB), whatever SHOAL_STORE_BYTES says.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <shoal/shoal.hpp>

#include "tests/support/test_support.hpp"

using namespace std::chrono_literals;
using shoal::testing::eventually;
using shoal::testing::store_live_objects;
using shoal::testing::store_used_bytes;

namespace {

constexpr size_t kStoreBytes = size_t(64) << 20;

std::vector<uint8_t> filled(size_t n, uint8_t byte) {
  return std::vector<uint8_t>(n, byte);
}

// The two ways a byte count may be written in a message: exact, or as the
// runtime's "%.2f MiB"/"%.2f GiB".
bool mentions_bytes(const std::string& text, uint64_t bytes) {
  if (text.find(std::to_string(bytes)) != std::string::npos) return true;
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.2f MiB", double(bytes) / double(1 << 20));
  if (text.find(buf) != std::string::npos) return true;
  std::snprintf(buf, sizeof(buf), "%.2f GiB", double(bytes) / double(1ull << 30));
  return text.find(buf) != std::string::npos;
}

class StoreFull : public ::testing::Test {
 protected:
  // Without spilling: a put that does not fit fails at once (spill_test.cpp has the rest).
  static void SetUpTestSuite() {
    shoal::init(shoal::Config{.store_bytes = kStoreBytes, .spill = false});
  }
  static void TearDownTestSuite() { shoal::shutdown(); }

  // Free bytes of the empty store, as the error reports them.
  static uint64_t free_when_empty() {
    try {
      shoal::put(filled(kStoreBytes * 2, 1));
    } catch (const shoal::ObjectStoreFullError& e) {
      return e.free_bytes();
    }
    ADD_FAILURE() << "a put of twice the store's size succeeded";
    return 0;
  }
};

TEST_F(StoreFull, PutLargerThanTheStoreThrowsWithRequestedAndFreeBytes) {
  const size_t requested = size_t(80) << 20;
  try {
    shoal::put(filled(requested, 7));
    FAIL() << "an 80 MiB put into a 64 MiB store succeeded";
  } catch (const shoal::ObjectStoreFullError& e) {
    EXPECT_EQ(e.requested_bytes(), requested);
    EXPECT_LE(e.free_bytes(), kStoreBytes);
    EXPECT_GT(e.free_bytes(), 0u);
    const std::string what = e.what();
    EXPECT_TRUE(mentions_bytes(what, e.requested_bytes())) << what;
    EXPECT_TRUE(mentions_bytes(what, e.free_bytes())) << what;
  }
  // The store is still usable.
  EXPECT_EQ(shoal::get(shoal::put(std::string("still fine"))), "still fine");
}

TEST_F(StoreFull, SamePutSucceedsAfterReferencesAreDropped) {
  const uint64_t baseline = store_live_objects();
  const uint64_t empty_free = free_when_empty();
  ASSERT_GT(empty_free, uint64_t(16) << 20);
  // Two big objects fill most of the store; a small and a medium one stay
  // around to show the failure disturbs nothing else.
  auto small = shoal::put(12345);
  auto medium = shoal::put(filled(size_t(1) << 20, 0x5A));
  const size_t big = size_t(empty_free * 0.42);
  std::optional<shoal::ObjectRef<std::vector<uint8_t>>> b1 = shoal::put(filled(big, 1));
  std::optional<shoal::ObjectRef<std::vector<uint8_t>>> b2 = shoal::put(filled(big, 2));
  const size_t wanted = size_t(empty_free * 0.5);
  try {
    shoal::put(filled(wanted, 3));
    FAIL() << "a put of half the store succeeded with 84% of it in use";
  } catch (const shoal::ObjectStoreFullError& e) {
    EXPECT_EQ(e.requested_bytes(), wanted);
    EXPECT_LT(e.free_bytes(), wanted);
    EXPECT_TRUE(mentions_bytes(e.what(), wanted)) << e.what();
  }
  // A failed put leaves no object behind.
  EXPECT_EQ(store_live_objects(), baseline + 4);
  b1.reset();
  b2.reset();
  EXPECT_TRUE(eventually([&] { return store_live_objects() == baseline + 2; }));
  auto third = shoal::put(filled(wanted, 3));
  const auto view = shoal::get_view(third);
  ASSERT_EQ(view.size(), wanted);
  EXPECT_EQ(view[0], 3);
  EXPECT_EQ(view[wanted - 1], 3);
  EXPECT_EQ(shoal::get(small), 12345);
  EXPECT_TRUE(shoal::get(medium) == filled(size_t(1) << 20, 0x5A));
}

TEST_F(StoreFull, RepeatedFailedPutsLeakNothing) {
  // This process's first reference allocates its chunk of reference records
  // (kept while it is in the session): measure from after it, as when other
  // tests of this file ran first.
  (void)shoal::put(1);
  const uint64_t objects = store_live_objects();
  const uint64_t used = store_used_bytes();
  for (int i = 0; i < 50; ++i) {
    EXPECT_THROW(shoal::put(filled(kStoreBytes, uint8_t(i))), shoal::ObjectStoreFullError);
  }
  EXPECT_EQ(store_live_objects(), objects);
  EXPECT_EQ(store_used_bytes(), used);
  // And the whole store is still there to be used.
  const uint64_t empty_free = free_when_empty();
  auto most = shoal::put(filled(size_t(empty_free * 0.9), 9));
  EXPECT_EQ(shoal::get_view(most).size(), size_t(empty_free * 0.9));
}

TEST_F(StoreFull, ManySmallObjectsUntilFullThenAllFreed) {
  const uint64_t baseline = store_live_objects();
  std::vector<shoal::ObjectRef<std::vector<uint8_t>>> refs;
  bool full = false;
  for (int i = 0; i < 100000 && !full; ++i) {
    try {
      refs.push_back(shoal::put(filled(64 << 10, uint8_t(i))));
    } catch (const shoal::ObjectStoreFullError& e) {
      full = true;
      EXPECT_EQ(e.requested_bytes(), uint64_t(64) << 10);
    }
  }
  ASSERT_TRUE(full);
  ASSERT_GT(refs.size(), 100u);
  EXPECT_TRUE(shoal::get(refs[refs.size() / 2]) == filled(64 << 10, uint8_t(refs.size() / 2)));
  refs.clear();
  EXPECT_TRUE(eventually([&] { return store_live_objects() == baseline; }));
  EXPECT_EQ(shoal::get(shoal::put(filled(size_t(8) << 20, 4))).size(), size_t(8) << 20);
}

}  // namespace
