// StreamLink: the payload of one link of a stream (ObjectRefStream, Generator), which is all the
// two sides share. A stream is a chain of store objects:
//
//   head (the call's result)  ->  link 1  ->  link 2  ->  ...  ->  end (or an error)
//                                   |           |
//                                 item 1      item 2
//
// The head is the call's result object, sealed by the generator's process when the generator
// starts: a kHeader link naming link 1. Each further link is created by the producer (writer:
// the actor, so the supervisor fails it with ActorDiedError when the actor dies) and sealed
// when the generator yields: a kItem link naming the item (an ordinary object holding the
// value), the next link and, on a bounded stream, an ack object; or a kEnd link when it
// returns; or an error object when it throws. A link holds what it names as children, so a
// consumer holding the link it reads next keeps everything after it alive, and one that drops
// it frees everything it has not taken. The head holds link 1 in its second child place (the
// first is its call's arguments object).
//
// Back-pressure (bound > 0): every item link names an ack object, created pending by the
// producer with the consumer's process as its writer; the consumer seals it as it takes the
// item. The producer waits for the ack of item k - bound before it goes on after yielding item
// k. An ack nobody but the producer holds any more means the consumer dropped the stream; a
// consumer that died has its acks failed by the supervisor; both wake the producer.
//
// Every field is checked by the reader: a link is only ever read through ObjectTable::read,
// with its codec, fingerprint and size compared first, and the ids it names pinned through
// the table (a bad id is an error, not a wild read).
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <shoal/detail/type_name.hpp>

namespace shoal::detail {

enum class StreamLinkKind : uint32_t { kHeader = 1, kItem = 2, kEnd = 3 };

struct StreamLink {
  uint32_t kind;      // StreamLinkKind
  uint16_t producer;  // process slot of the generator's process
  uint16_t reserved;
  uint32_t bound;  // back-pressure bound, 0: unbounded
  uint32_t index;  // the item's index in the stream (kItem)
  uint64_t item;   // (slot << 32) | gen of the item (kItem), else 0
  uint64_t next;   // the next link (kHeader, kItem), else 0
  uint64_t ack;    // the item's ack object (kItem of a bounded stream), else 0
};
static_assert(sizeof(StreamLink) == 40);
static_assert(std::is_trivially_copyable_v<StreamLink> && std::is_standard_layout_v<StreamLink>);

inline constexpr uint64_t kStreamLinkFingerprint = fnv1a("shoal::detail::StreamLink");

}  // namespace shoal::detail
