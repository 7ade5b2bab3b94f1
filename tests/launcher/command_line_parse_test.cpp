// The parsers of `shoal launch`'s sizes and core lists (tests/fuzz fuzzes
// them; the inputs here are the ones it found, and the grammar's edges).
#include <gtest/gtest.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <vector>

#include "launcher/launch.hpp"
#include "launcher/session.hpp"

namespace shoal::testing {
namespace {

using launcher::parse_cpu_list;
using launcher::parse_size;

TEST(ParseSize, NumbersAndUnitsWithOptionalBOrIBGiveBytes) {
  EXPECT_EQ(parse_size("1048576"), 1048576u);
  EXPECT_EQ(parse_size("64k"), 64u << 10);
  EXPECT_EQ(parse_size("64kb"), 64u << 10);
  EXPECT_EQ(parse_size("512M"), 512u << 20);
  EXPECT_EQ(parse_size("2GiB"), 2ull << 30);
  EXPECT_EQ(parse_size("2gib"), 2ull << 30);
  EXPECT_EQ(parse_size("1T"), 1ull << 40);
  EXPECT_EQ(parse_size("18446744073709551615"), UINT64_MAX);
}

// Found by tests/fuzz/size_fuzz: text after the unit was accepted as long as
// it was B, b or i, up to two characters ("1KBB" was 1 KiB).
TEST(ParseSize, AnythingButBOrIBAfterTheUnitIsRefused) {
  for (const char* text : {"1KBB", "1Kbb", "1KBb", "3Mi", "2GiBB", "2Gii", "1KB ", "1K B"}) {
    EXPECT_EQ(parse_size(text), std::nullopt) << text;
  }
}

TEST(ParseSize, EmptySignsSpacesOverflowAndUnknownUnitsAreRefused) {
  for (const char* text :
       {"", " 12", "+5", "-5", "5X", "G", "18446744073709551616", "17179869184G", "16777216T"}) {
    EXPECT_EQ(parse_size(text), std::nullopt) << text;
  }
}

TEST(ParseCpuList, ListsAndRangesGiveEveryCoreInOrder) {
  std::string error;
  EXPECT_EQ(parse_cpu_list("0", &error), std::vector<int>{0});
  if (::sysconf(_SC_NPROCESSORS_CONF) >= 2) {
    EXPECT_EQ(parse_cpu_list("0-1,0", &error), (std::vector<int>{0, 1, 0}));
  }
  EXPECT_EQ(error, "");
}

TEST(ParseCpuList, MalformedListsAreRefusedWithAMessageNamingTheProblem) {
  const struct {
    const char* text;
    const char* message;
  } cases[] = {
      {"", "empty"},
      {"0-", "bad range"},
      {"1-0", "bad range"},
      {"0,", "expected a number after the ',' at position 1"},
      {"0;1", "expected ',' at position 1"},
      {"a-b", "expected a number at position 0"},
      {"99999999999", "expected a number"},
      {"4095", "does not exist"},
      {"0-1048575", "does not exist"},
  };
  for (const auto& c : cases) {
    std::string error;
    EXPECT_EQ(parse_cpu_list(c.text, &error), std::nullopt) << c.text;
    EXPECT_NE(error.find(c.message), std::string::npos) << c.text << ": " << error;
  }
}

}  // namespace
}  // namespace shoal::testing
