// The caller's timeline stamp in a call cell: it sits right after the inline
// arguments when they leave room, comes back intact on the callee's side, never
// touches the arguments, and a cell whose header claims a stamp that cannot fit
// beside its arguments (a corrupt or hostile cell) has the claim dropped, never read.
#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <cstring>

#include "core/src/call_trace.hpp"

namespace shoal::detail {
namespace {

using Payload = std::array<std::byte, kCallPayloadBytes>;

// A payload with `args` inline argument bytes, each byte of them `fill`.
Payload cell_with_args(size_t args, std::byte fill) {
  Payload p{};
  CallHeader h{};
  h.args_len = uint32_t(args);
  std::memcpy(p.data(), &h, sizeof(h));
  std::memset(p.data() + sizeof(h), int(fill), args);
  return p;
}

CallHeader header_of(const Payload& p) {
  CallHeader h;
  std::memcpy(&h, p.data(), sizeof(h));
  return h;
}

TEST(CallStamp, SitsInTheCellsFirstLineForUpToEightArgumentBytes) {
  for (size_t args = 0; args <= 8; ++args)
    EXPECT_LE(8 + stamp_offset(args) + sizeof(CallStamp), 64u) << args << " argument bytes";
  EXPECT_EQ(stamp_offset(0), sizeof(CallHeader));
  EXPECT_EQ(stamp_offset(1), sizeof(CallHeader) + 8);
}

TEST(CallStamp, RoundTripsBesideEveryArgumentLengthThatLeavesRoom) {
  size_t stamped = 0;
  for (size_t args = 0; args <= kInlineArgBytes; ++args) {
    Payload p = cell_with_args(args, std::byte{0x5a});
    stamp_call(p.data(), args);
    const CallHeader h = header_of(p);
    ASSERT_EQ((h.flags & kCallStamped) != 0, stamp_fits(args)) << args << " argument bytes";
    if (!stamp_fits(args)) continue;
    ++stamped;
    CallInput in;
    in.header = h;
    std::memcpy(in.inline_args, p.data() + sizeof(CallHeader), args);
    copy_stamp(p.data(), in);
    ASSERT_NE(in.header.flags & kCallStamped, 0) << args;
    for (size_t i = 0; i < args; ++i)
      ASSERT_EQ(in.inline_args[i], std::byte{0x5a}) << "argument byte " << i << " of " << args;
    CallStamp got;
    std::memcpy(&got, p.data() + stamp_offset(args), sizeof(got));
    EXPECT_NE(got.submit, 0u) << args;
  }
  // 0..72 bytes of arguments leave room for the 16-byte stamp in the 120-byte payload.
  EXPECT_EQ(stamped, 73u);
}

TEST(CallStamp, AClaimedStampThatCannotFitBesideTheArgumentsIsDropped) {
  for (size_t args : {size_t(73), size_t(80), kInlineArgBytes}) {
    Payload p = cell_with_args(args, std::byte{0x11});
    CallInput in;
    in.header = header_of(p);
    in.header.flags |= kCallStamped;  // what the cell claims, not what fits
    std::memcpy(in.inline_args, p.data() + sizeof(CallHeader), args);
    copy_stamp(p.data(), in);
    EXPECT_EQ(in.header.flags & kCallStamped, 0) << args << " argument bytes";
    for (size_t i = 0; i < args; ++i)
      ASSERT_EQ(in.inline_args[i], std::byte{0x11}) << "argument byte " << i << " of " << args;
  }
}

}  // namespace
}  // namespace shoal::detail
