// The batch format between gateways (cluster/wire.hpp): what a writer frames a
// reader gives back in order, byte for byte; a batch fills up exactly; and a
// damaged batch (short, foreign, from the wrong sender, out of sequence, a
// length that overruns) is refused whole, naming what is wrong.
#include <gtest/gtest.h>

#if SHOAL_HAVE_CLUSTER

#include <cstring>
#include <string>
#include <vector>

#include "cluster/wire.hpp"

using shoal::cluster::BatchHeader;
using shoal::cluster::BatchReader;
using shoal::cluster::BatchWriter;
using shoal::cluster::kBatchBytes;
using shoal::cluster::kMaxBody;
using shoal::cluster::Message;
using shoal::cluster::MessageHeader;
using shoal::cluster::MessageType;
using shoal::cluster::WireError;

namespace {

std::vector<std::byte> body_of(size_t n, int seed) {
  std::vector<std::byte> b(n);
  for (size_t i = 0; i < n; ++i)
    b[i] = std::byte((i * 13 + size_t(seed)) & 0xff);
  return b;
}

void put(BatchWriter& w, MessageType t, const std::vector<std::byte>& body) {
  ASSERT_TRUE(w.fits(uint32_t(body.size())));
  std::byte* dst = w.append(t, uint32_t(body.size()));
  if (!body.empty()) std::memcpy(dst, body.data(), body.size());
}

std::vector<std::byte> bytes_of(const BatchWriter& w) {
  return std::vector<std::byte>(w.data(), w.data() + w.size());
}

WireError refused(const std::vector<std::byte>& b, uint16_t from = 3, uint64_t seq = 7) {
  auto r = BatchReader::open(b.data(), b.size(), from, seq);
  EXPECT_FALSE(r.ok());
  return r.ok() ? WireError(0) : r.error();
}

}  // namespace

TEST(Wire, MessagesComeBackInOrderByteForByte) {
  BatchWriter w;
  std::vector<std::vector<std::byte>> bodies;
  for (int i = 0; i < 50; ++i) {
    bodies.push_back(body_of(size_t(i * 7 % 61), i));
    put(w, MessageType(uint16_t(MessageType::kFirstExtension) + uint16_t(i)), bodies.back());
  }
  w.seal(3, 7);
  const std::vector<std::byte> b = bytes_of(w);
  auto r = BatchReader::open(b.data(), b.size(), 3, 7);
  ASSERT_TRUE(r.ok()) << to_string(r.error());
  EXPECT_EQ(r->count(), 50u);
  Message m;
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(r->next(&m));
    EXPECT_EQ(uint16_t(m.type), uint16_t(MessageType::kFirstExtension) + i);
    ASSERT_EQ(m.body.size(), bodies[size_t(i)].size());
    EXPECT_EQ(std::memcmp(m.body.data(), bodies[size_t(i)].data(), m.body.size()), 0);
  }
  EXPECT_FALSE(r->next(&m));
}

TEST(Wire, AnEmptyBodyAndTheLargestBodyBothTravel) {
  BatchWriter w;
  put(w, MessageType::kBye, {});
  w.seal(0, 1);
  auto b = bytes_of(w);
  auto r = BatchReader::open(b.data(), b.size(), 0, 1);
  ASSERT_TRUE(r.ok());
  Message m;
  ASSERT_TRUE(r->next(&m));
  EXPECT_EQ(m.type, MessageType::kBye);
  EXPECT_TRUE(m.body.empty());

  BatchWriter big;
  const auto body = body_of(kMaxBody, 1);
  put(big, MessageType::kFirstExtension, body);
  EXPECT_FALSE(big.fits(0)) << "a batch holding a largest message is full";
  big.seal(0, 1);
  EXPECT_LE(big.size(), kBatchBytes);
  b = bytes_of(big);
  r = BatchReader::open(b.data(), b.size(), 0, 1);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->next(&m));
  EXPECT_EQ(m.body.size(), size_t(kMaxBody));
}

TEST(Wire, ABatchFillsUpExactlyAndClearsForReuse) {
  BatchWriter w;
  int n = 0;
  while (w.fits(100)) {
    put(w, MessageType::kFirstExtension, body_of(100, n));
    ++n;
  }
  EXPECT_EQ(n, int((kBatchBytes - sizeof(BatchHeader)) / (sizeof(MessageHeader) + 104)));
  w.clear();
  EXPECT_TRUE(w.empty());
  EXPECT_EQ(w.size(), sizeof(BatchHeader));
}

TEST(Wire, DamagedBatchesAreRefusedNamingTheProblem) {
  BatchWriter w;
  put(w, MessageType::kFirstExtension, body_of(40, 1));
  put(w, MessageType::kFirstExtension, body_of(5, 2));
  w.seal(3, 7);
  const std::vector<std::byte> good = bytes_of(w);
  ASSERT_TRUE(BatchReader::open(good.data(), good.size(), 3, 7).ok());

  EXPECT_EQ(refused(std::vector<std::byte>(good.begin(), good.begin() + 10)), WireError::kShort);
  auto foreign = good;
  foreign[0] = std::byte(0x00);
  EXPECT_EQ(refused(foreign), WireError::kBadMagic);
  auto truncated = good;
  truncated.resize(good.size() - 8);
  EXPECT_EQ(refused(truncated), WireError::kBadLength);
  EXPECT_EQ(refused(good, 4, 7), WireError::kBadSender);
  EXPECT_EQ(refused(good, 3, 8), WireError::kBadSequence);
  EXPECT_EQ(refused(good, 3, 6), WireError::kBadSequence);

  // The second message's length runs past the end.
  auto overrun = good;
  MessageHeader h;
  const size_t second = sizeof(BatchHeader) + sizeof(MessageHeader) + 40;
  std::memcpy(&h, overrun.data() + second, sizeof(h));
  h.bytes = 4000;
  std::memcpy(overrun.data() + second, &h, sizeof(h));
  EXPECT_EQ(refused(overrun), WireError::kShort);
  h.bytes = 0xffffffffu;  // would wrap when padded
  std::memcpy(overrun.data() + second, &h, sizeof(h));
  EXPECT_EQ(refused(overrun), WireError::kShort);

  // A count that leaves bytes over.
  auto extra = good;
  BatchHeader bh;
  std::memcpy(&bh, extra.data(), sizeof(bh));
  bh.count = 1;
  std::memcpy(extra.data(), &bh, sizeof(bh));
  EXPECT_EQ(refused(extra), WireError::kBadCount);

  for (WireError e : {WireError::kShort, WireError::kBadMagic, WireError::kBadLength,
                      WireError::kBadSender, WireError::kBadSequence, WireError::kBadCount}) {
    EXPECT_GT(std::string(to_string(e)).size(), 8u);
  }
}

#else

TEST(Wire, NeedsTheClusterLibrary) {
  GTEST_SKIP() << "shoal was built without MPI (no shoal_cluster): the wire format is not built";
}

#endif
