// The wire format between two nodes' gateways: batches of framed messages.
//
// A batch is what one MPI message between two gateways carries: many small
// messages, so that a burst of calls costs one MPI send, not one each.
//
//   [BatchHeader 24 B][MessageHeader 8 B][body, padded to 8 B][MessageHeader]...
//
// Everything is little-endian host layout (every node of a job runs the same
// shoal on the same architecture). A batch read from the network is checked
// whole before any message is handed on: a bad length, count, magic or
// sequence number is an error naming the sender, never a wild read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>
#include <vector>

#include "ipc/result.hpp"

namespace shoal::cluster {

enum class MessageType : uint16_t {
  // ---- the job's end (gateway.cpp) ----
  kDone = 1,   // DoneBody: every rank of the sender has exited
  kBye = 2,    // empty: the sender sends nothing more; the last message of a pair
  kAbort = 3,  // AbortBody: a rank of the sender failed: every node stops
  // ---- objects between stores (object_transfer.cpp) ----
  kObjectOffer = 16,   // ObjectOfferBody [+ the payload, when it is small]
  kObjectAccept = 17,  // TransferBody: the receiver posted the payload's receive
  kObjectRefuse = 18,  // RefuseBody: the receiver cannot take it (its store is full)
  // ---- the node table (gateway.cpp) ----
  kHello = 4,  // HelloBody: the sender's host and session, once, as its gateway starts
  // ---- actors across nodes (remote_actors.cpp) ----
  kCreateActor = 32,   // CreateActorBody + the constructor's arguments: create it here
  kActorCreated = 33,  // ActorCreatedBody [+ the error message]: the answer to kCreateActor
  kActorPid = 34,      // ActorPidBody: the actor's process (re)started with this pid
  kKillActor = 35,     // ActorRefBody: shoal::kill() of the receiver's actor
  kReleaseActor = 36,  // ActorRefBody: the sender's node holds no handle to it any more
  kCall = 37,          // CallBody + the arguments: call the receiver's actor
  kResult = 38,        // ResultBody + the payload: the one outcome of a kCall
  kCancel = 39,        // CancelBody: shoal::cancel() of a kCall the receiver runs
  kLookup = 40,        // LookupBody: get_actor() of a name the sender's node does not have
  kLookedUp = 41,      // LookedUpBody: the answer to kLookup
  // ---- messages of the code that embeds a gateway (the bench, tests) ----
  kFirstExtension = 0x8000,
};

inline constexpr uint32_t kBatchMagic = 0x53484231;  // "SHB1"

struct BatchHeader {
  uint32_t magic;
  uint16_t from_node;
  uint16_t reserved;
  uint32_t count;     // messages in the batch
  uint32_t bytes;     // the whole batch, this header included
  uint64_t sequence;  // 1, 2, 3... per (sender, receiver): a lost or repeated batch shows
};
static_assert(sizeof(BatchHeader) == 24 && std::is_trivially_copyable_v<BatchHeader>);

struct MessageHeader {
  uint16_t type;  // MessageType
  uint16_t reserved;
  uint32_t bytes;  // the body's length, without its padding
};
static_assert(sizeof(MessageHeader) == 8 && std::is_trivially_copyable_v<MessageHeader>);

// The largest batch, and so the largest message body: 64 KiB is OpenMPI's
// eager limit over TCP, so a full batch still travels in one eager send with
// no rendezvous round trip. Anything larger goes as a blob (transport.hpp).
inline constexpr uint32_t kBatchBytes = 64 * 1024;
inline constexpr uint32_t kMaxBody = kBatchBytes - sizeof(BatchHeader) - sizeof(MessageHeader);

constexpr uint32_t padded(uint32_t n) {
  return (n + 7u) & ~7u;
}

enum class WireError : uint8_t {
  kShort = 1,    // smaller than a batch header, or than a message it announces
  kBadMagic,     // not a batch at all
  kBadLength,    // the header's length is not what arrived
  kBadSender,    // from a node other than the one MPI says sent it
  kBadSequence,  // a batch lost, repeated or reordered
  kBadCount,     // the messages do not fill the batch exactly
};
const char* to_string(WireError e);

struct Message {
  MessageType type;
  std::span<const std::byte> body;
};

// Builds one batch in a buffer of kBatchBytes. Not thread-safe.
class BatchWriter {
 public:
  BatchWriter();
  // Room for a message of `body_bytes` (<= kMaxBody) after what is there.
  bool fits(uint32_t body_bytes) const {
    return used_ + sizeof(MessageHeader) + padded(body_bytes) <= kBatchBytes;
  }
  // Appends a message and returns where its body goes (call fits() first).
  std::byte* append(MessageType type, uint32_t body_bytes);
  uint32_t count() const { return count_; }
  bool empty() const { return count_ == 0; }
  // Writes the batch header; the batch is then data()[0, size()).
  void seal(uint16_t from_node, uint64_t sequence);
  const std::byte* data() const { return buf_.data(); }
  uint32_t size() const { return used_; }
  void clear();

 private:
  std::vector<std::byte> buf_;
  uint32_t used_;
  uint32_t count_ = 0;
};

// Checks a received batch whole, then hands out its messages in order.
class BatchReader {
 public:
  static Result<BatchReader, WireError> open(const std::byte* data, size_t received,
                                             uint16_t from_node, uint64_t expected_sequence);
  // The next message; false after the last.
  bool next(Message* out);
  uint32_t count() const { return count_; }

 private:
  BatchReader(const std::byte* data, uint32_t bytes, uint32_t count)
      : data_(data), bytes_(bytes), count_(count) {}
  const std::byte* data_;
  uint32_t bytes_;
  uint32_t count_;
  uint32_t at_ = sizeof(BatchHeader);
};

// ---- bodies ----
struct DoneBody {
  int32_t status;  // the node's exit status
  uint8_t origin;  // 1: the failure, if any, began on this node (not a consequence of kAbort)
  uint8_t pad[3];
};
struct AbortBody {
  int32_t status;
};
struct HelloBody {
  char host[56];
  char session[64];
};
static_assert(std::is_trivially_copyable_v<DoneBody> && std::is_trivially_copyable_v<AbortBody>);

// Actors across nodes. An actor of another node is named by the entry that
// stands for it in the caller's actor table (the proxy) on the caller's side,
// and by its own entry (index, gen) on its node; a call by its caller-side
// result entry (slot << 32 | gen), unique while the call is pending.
inline constexpr uint32_t kWireGroups = 7;  // concurrency groups beyond the default one
inline constexpr uint32_t kWireNameBytes = 64;
inline constexpr uint32_t kWireGroupNameBytes = 24;
struct CreateActorBody {
  uint32_t proxy_index;
  uint32_t proxy_gen;
  uint64_t class_id;
  uint64_t ctor_id;
  uint64_t args_type_fp;  // the constructor-arguments object's fingerprint
  uint32_t kind;          // launcher::ActorKind on the actor's node
  int32_t max_concurrency;
  int32_t max_restarts;
  int32_t cpu;
  uint32_t generator_backpressure;
  uint32_t ring_cells;
  uint32_t group_count;  // groups beyond the default one, <= kWireGroups
  uint32_t args_bytes;   // the constructor's arguments follow the body
  int32_t group_limit[kWireGroups];
  uint32_t pad;
  char class_name[kWireNameBytes];
  char name[kWireNameBytes];
  char group_name[kWireGroups][kWireGroupNameBytes];
};
static_assert(sizeof(CreateActorBody) == 392 && std::is_trivially_copyable_v<CreateActorBody>);
struct ActorCreatedBody {
  uint32_t proxy_index;
  uint32_t proxy_gen;
  uint32_t index;  // the actor's entry on its node (ok)
  uint32_t gen;
  uint32_t ok;             // 1: created; 0: the error message follows the body
  uint32_t message_bytes;  // of that message
};
struct ActorPidBody {
  uint32_t proxy_index;
  uint32_t proxy_gen;
  int32_t pid;
  uint32_t pad;
};
struct ActorRefBody {
  uint32_t index;  // the actor's entry on the receiver's node
  uint32_t gen;
  uint32_t proxy_index;  // the sender's entry standing for it
  uint32_t proxy_gen;
};
inline constexpr uint16_t kResultInlineOk = 1;  // ResultBody::flags: 16-byte alignment will do
struct CallBody {
  uint64_t call_id;
  uint32_t index;  // the receiver's actor
  uint32_t gen;
  uint32_t method;
  uint32_t signature;
  uint16_t flags;  // the call header's concurrency-group bits
  uint16_t pad;
  uint32_t stream_bound;
  uint32_t args_bytes;  // the arguments follow the body
  uint32_t pad2;
};
static_assert(sizeof(CallBody) == 40 && std::is_trivially_copyable_v<CallBody>);
struct ResultBody {
  uint64_t call_id;
  uint64_t type_fp;
  uint32_t codec;  // store::Codec (kError: an encoded store::ErrorPayload)
  uint16_t flags;  // kResultInlineOk
  uint16_t pad;
  uint64_t bytes;  // the payload follows the body
};
static_assert(sizeof(ResultBody) == 32 && std::is_trivially_copyable_v<ResultBody>);
struct CancelBody {
  uint64_t call_id;
};
struct LookupBody {
  uint32_t proxy_index;
  uint32_t proxy_gen;
  uint64_t class_id;
  char name[kWireNameBytes];
};
inline constexpr uint32_t kLookupNone = 0, kLookupFound = 1, kLookupWrongClass = 2;
struct LookedUpBody {
  uint32_t proxy_index;
  uint32_t proxy_gen;
  uint32_t outcome;  // kLookup*
  uint32_t index;    // found: the actor's entry on the sender's node
  uint32_t gen;
  uint32_t kind;  // found: its launcher::ActorKind
  int32_t pid;    // found: its process, 0 if none yet
  uint32_t pad;
  char class_name[kWireNameBytes];  // found or wrong class: its class
};
static_assert(std::is_trivially_copyable_v<LookupBody> &&
              std::is_trivially_copyable_v<LookedUpBody>);
static_assert(std::is_trivially_copyable_v<ActorCreatedBody> &&
              std::is_trivially_copyable_v<ActorPidBody> &&
              std::is_trivially_copyable_v<ActorRefBody> &&
              std::is_trivially_copyable_v<CancelBody>);

}  // namespace shoal::cluster
