// Decoding payloads that no encoder wrote (a corrupt store, a hostile
// process): each fails as a shoal::Error naming the type and the problem, at
// once and without allocating for what the payload only announces. The inputs
// are the ones tests/fuzz/codec_fuzz found.
#include <gtest/gtest.h>

#include <shoal/shoal.hpp>

#include <cstddef>
#include <map>
#include <string>
#include <vector>

namespace shoal::testing {
namespace {

using IntMap = std::map<std::string, int>;

template <class T>
std::string decode_error(const std::string& payload) {
  try {
    (void)detail::decode<T>(reinterpret_cast<const std::byte*>(payload.data()), payload.size());
  } catch (const shoal::Error& e) {
    return e.what();
  }
  return "decoded";
}

// Found by codec_fuzz: a 5-byte array header announcing 2^32 - 1 elements
// made msgpack-cxx allocate 96 GiB of msgpack::object before reading one.
TEST(CodecDecode, ArrayHeaderAnnouncingMoreElementsThanThePayloadHoldsIsRefusedUpFront) {
  const std::string e =
      decode_error<std::vector<std::string>>(std::string("\xdd\xff\xff\xff\xff", 5));
  EXPECT_NE(e.find("cannot decode a std::vector<"), std::string::npos) << e;
  EXPECT_NE(e.find("array size overflow"), std::string::npos) << e;
  // 2^24 elements: 400 MB of msgpack::object for a 5-byte payload.
  EXPECT_NE(decode_error<std::vector<std::string>>(std::string("\xdd\x01\x00\x00\x00", 5))
                .find("array size overflow"),
            std::string::npos);
}

TEST(CodecDecode, MapsAndStringsLongerThanThePayloadAndDeepNestingAreRefused) {
  EXPECT_NE(decode_error<IntMap>(std::string("\xdf\x00\x10\x00\x00", 5)).find("map size overflow"),
            std::string::npos);
  // A string is read only once its bytes are there: no allocation, an error.
  EXPECT_NE(decode_error<std::vector<std::string>>(std::string("\x91\xdb\xff\xff\xff\xff", 6))
                .find("cannot decode"),
            std::string::npos);
  // Nested deeper than the type: an error (msgpack-cxx parses without recursion).
  EXPECT_NE(decode_error<std::vector<std::vector<int>>>(std::string(100000, '\x91'))
                .find("cannot decode"),
            std::string::npos);
}

TEST(CodecDecode, TruncatedAndMistypedPayloadsFailNamingTheType) {
  EXPECT_NE(decode_error<std::vector<std::string>>("\x92\xa1"
                                                   "a\xa5"
                                                   "bc")
                .find("std::vector"),
            std::string::npos);
  EXPECT_NE(decode_error<std::vector<std::string>>("\x92\x01\x02").find("std::vector"),
            std::string::npos);
  EXPECT_NE(decode_error<int>(std::string("\x01\x02", 2)).find("size differs from sizeof(T)"),
            std::string::npos);
  EXPECT_NE(decode_error<std::vector<int>>(std::string(5, '\x01')).find("whole number"),
            std::string::npos);
}

// Outside a session, a ref inside a value cannot be pinned: an error, not a crash.
TEST(CodecDecode, RefInsideAValueWithoutASessionFailsAsAnError) {
  std::string ext("\x91\xd8\x53", 3);
  ext += std::string(16, '\x01');
  EXPECT_NE(decode_error<std::vector<ObjectRef<int>>>(ext).find("cannot decode"),
            std::string::npos);
}

}  // namespace
}  // namespace shoal::testing
