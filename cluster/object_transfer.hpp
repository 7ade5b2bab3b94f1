// ObjectTransfer: copies sealed objects from this node's store into another
// node's, the way every cross-node get will: straight from the sender's
// shared memory into a block of the receiver's store, MPI reading one and
// writing the other, with no copy staged on either gateway's heap.
//
//   sender                                   receiver
//   offer: pin, kObjectOffer ------------->  create the object, reserve its block
//          (small payloads ride along           (store full: kObjectRefuse)
//           and are done here)                post the blob receive into the block
//                           <-------------  kObjectAccept
//   MPI_Isend from the mapped object ====>  MPI_Irecv into the block
//   unpin, done(ok)                          describe, seal, received(ref)
//
// Threads: the gateway's only (it drives the Transport). Lifetime: within the
// gateway's; it unpins what it still holds when destroyed.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>

#include <shoal/detail/ref_record.hpp>

#include "cluster/transport.hpp"
#include "cluster/wire.hpp"
#include "ipc/result.hpp"
#include "store/store.hpp"

namespace shoal::cluster {

struct ObjectOfferBody {
  uint64_t transfer;   // the sender's id for this transfer; its blob tag derives from it
  uint64_t bytes;      // payload length
  uint64_t type_fp;    // the payload's type fingerprint
  uint8_t codec;       // store::Codec
  uint8_t in_message;  // 1: the payload follows this body in the message
  uint8_t inline_ok;   // 1: the sender kept it inside its table entry (alignment <= 16)
  uint8_t pad[5];
};
struct TransferBody {
  uint64_t transfer;
};
struct RefuseBody {
  uint64_t transfer;
  uint64_t free_bytes;  // what the receiver's store had free
  uint32_t error;       // store::StoreError
  uint32_t pad;
};
static_assert(sizeof(ObjectOfferBody) == 32 && std::is_trivially_copyable_v<ObjectOfferBody>);
static_assert(std::is_trivially_copyable_v<RefuseBody>);

class ObjectTransfer {
 public:
  // Payloads up to this size travel inside the offer: one message, no round
  // trip; the copy out of the batch costs less than the round trip would.
  static constexpr uint64_t kInMessageBytes = 32 * 1024;

  ObjectTransfer(store::Store& store, Transport& transport);
  ObjectTransfer(const ObjectTransfer&) = delete;
  ObjectTransfer& operator=(const ObjectTransfer&) = delete;
  ~ObjectTransfer();

  // Sends the sealed object (slot, gen) of this node's store to `peer`;
  // `done` runs once the receiver has it or has refused it (with why).
  // Returns the transfer's id.
  using Sent = std::function<void(Result<void, std::string>)>;
  uint64_t offer(int peer, uint32_t slot, uint32_t gen, Sent done);

  // What arrives: a reference to the new object in this node's store (the
  // callee owns it and unpins it), or why it could not be stored.
  using Received =
      std::function<void(int from, uint64_t transfer, Result<store::RefRecord*, std::string>)>;
  void set_received(Received received) { received_ = std::move(received); }

  // The kObject* messages the gateway receives.
  void handle(int from, const Message& message);
  // Transfers this side has started and not finished.
  size_t pending() const { return outgoing_.size() + incoming_; }

 private:
  struct Outgoing {
    int peer;
    store::RefRecord* rec;
    const std::byte* data;
    uint64_t bytes;
    Sent done;
  };

  int tag_of(uint64_t transfer) const { return int(transfer % uint64_t(transport_.tag_limit())); }
  void on_offer(int from, const ObjectOfferBody& offer, std::span<const std::byte> payload);
  void refuse(int from, uint64_t transfer, store::StoreError error, uint64_t requested);
  void deliver(int from, uint64_t transfer, Result<store::RefRecord*, std::string> r);

  store::Store& store_;
  Transport& transport_;
  Received received_;
  std::unordered_map<uint64_t, Outgoing> outgoing_;
  size_t incoming_ = 0;
  uint64_t next_transfer_ = 1;
};

}  // namespace shoal::cluster
