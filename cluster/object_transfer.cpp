#include "cluster/object_transfer.hpp"

#include <cstring>

namespace shoal::cluster {

namespace {

std::string size_text(uint64_t b) {
  return std::to_string(b) + " bytes";
}

}  // namespace

ObjectTransfer::ObjectTransfer(store::Store& store, Transport& transport)
    : store_(store), transport_(transport) {}

ObjectTransfer::~ObjectTransfer() {
  for (auto& [id, o] : outgoing_) {
    store_.objects().end_read(o.rec);
    store_.unpin(o.rec);
  }
}

uint64_t ObjectTransfer::offer(int peer, uint32_t slot, uint32_t gen, Sent done) {
  const uint64_t id = next_transfer_++;
  auto rec = store_.pin(slot, gen);
  if (!rec) {
    done(fail(std::string("object to send: ") + store::to_string(rec.error())));
    return id;
  }
  // Kept in the store (never spilled) until it is sent.
  auto view = store_.objects().begin_read(*rec, store_.me());
  std::string why;
  if (!view) {
    why = std::string("object to send: ") + store::to_string(view.error());
  } else if (store_.objects().entry(slot).child_count != 0) {
    why = "an object holding ObjectRefs cannot be copied to another node yet";
  }
  if (!why.empty()) {
    if (view) store_.objects().end_read(*rec);
    store_.unpin(*rec);
    done(fail(why));
    return id;
  }
  ObjectOfferBody body{};
  body.transfer = id;
  body.bytes = view->size;
  body.type_fp = view->type_fp;
  body.codec = uint8_t(view->codec);
  body.inline_ok = store_.objects().entry(slot).data_off == 0;
  body.in_message = view->size <= kInMessageBytes;
  if (body.in_message) {
    std::byte* dst =
        transport_.append(peer, MessageType::kObjectOffer, uint32_t(sizeof(body) + view->size));
    std::memcpy(dst, &body, sizeof(body));
    if (view->size != 0) std::memcpy(dst + sizeof(body), view->data, view->size);
    store_.objects().end_read(*rec);
    store_.unpin(*rec);
    done(Result<void, std::string>());
    return id;
  }
  transport_.send(peer, MessageType::kObjectOffer, &body, sizeof(body));
  outgoing_.emplace(id, Outgoing{peer, *rec, view->data, view->size, std::move(done)});
  return id;
}

void ObjectTransfer::handle(int from, const Message& m) {
  switch (m.type) {
    case MessageType::kObjectOffer: {
      ObjectOfferBody offer;
      if (m.body.size() < sizeof(offer)) return;  // checked by the sender's framing; ignore junk
      std::memcpy(&offer, m.body.data(), sizeof(offer));
      on_offer(from, offer, m.body.subspan(sizeof(offer)));
      return;
    }
    case MessageType::kObjectAccept: {
      TransferBody t;
      if (m.body.size() != sizeof(t)) return;
      std::memcpy(&t, m.body.data(), sizeof(t));
      auto it = outgoing_.find(t.transfer);
      if (it == outgoing_.end() || it->second.peer != from) return;
      const Outgoing o = it->second;
      transport_.send_blob(
          from, tag_of(t.transfer), o.data, o.bytes, [this, id = t.transfer](bool ok) {
            auto it = outgoing_.find(id);
            if (it == outgoing_.end()) return;
            Outgoing done = std::move(it->second);
            outgoing_.erase(it);
            store_.objects().end_read(done.rec);
            store_.unpin(done.rec);
            if (ok) {
              done.done(Result<void, std::string>());
            } else {
              done.done(
                  fail(std::string("the blob did not reach node ") + std::to_string(done.peer)));
            }
          });
      return;
    }
    case MessageType::kObjectRefuse: {
      RefuseBody r;
      if (m.body.size() != sizeof(r)) return;
      std::memcpy(&r, m.body.data(), sizeof(r));
      auto it = outgoing_.find(r.transfer);
      if (it == outgoing_.end() || it->second.peer != from) return;
      Outgoing o = std::move(it->second);
      outgoing_.erase(it);
      store_.objects().end_read(o.rec);
      store_.unpin(o.rec);
      o.done(fail("node " + std::to_string(from) +
                  " cannot store it: " + store::to_string(store::StoreError(r.error)) + " (needs " +
                  size_text(o.bytes) + ", " + size_text(r.free_bytes) + " free)"));
      return;
    }
    default:
      return;
  }
}

void ObjectTransfer::refuse(int from, uint64_t transfer, store::StoreError error,
                            uint64_t requested) {
  const uint64_t cap = store_.heap().capacity(), used = store_.heap().used();
  RefuseBody r{transfer, cap > used ? cap - used : 0, uint32_t(error), 0};
  transport_.send(from, MessageType::kObjectRefuse, &r, sizeof(r));
  deliver(from, transfer,
          fail("object of " + size_text(requested) + " from node " + std::to_string(from) +
               ": this node's store is full (" + store::to_string(error) + ", " +
               size_text(r.free_bytes) + " free)"));
}

void ObjectTransfer::on_offer(int from, const ObjectOfferBody& offer,
                              std::span<const std::byte> payload) {
  if (offer.codec > store::kMaxCodec || (offer.in_message && payload.size() != offer.bytes)) {
    deliver(from, offer.transfer, fail(std::string("a malformed object offer")));
    return;
  }
  const ipc::ProcessSlotId me = store_.me();
  auto created =
      store_.create_object(store::ObjectState::kWriting, store::WriterId::process(me), 0);
  if (!created) {
    if (!offer.in_message) {
      refuse(from, offer.transfer, created.error(), offer.bytes);
    } else {
      deliver(from, offer.transfer,
              fail("object of " + size_text(offer.bytes) + " from node " + std::to_string(from) +
                   ": this node's store is full (" + store::to_string(created.error()) + ")"));
    }
    return;
  }
  store::RefRecord* rec = *created;
  const uint32_t slot = rec->slot;
  auto dst = store_.objects().reserve_payload(slot, offer.bytes, me, offer.inline_ok != 0);
  if (!dst) {
    // Keep the size: it is what frees a block already reserved.
    store_.objects().describe(slot, store::Codec::kNone, 0, store_.objects().entry(slot).size);
    store_.objects().seal(slot, me);
    store_.unpin(rec);
    if (!offer.in_message) {
      refuse(from, offer.transfer, dst.error(), offer.bytes);
    } else {
      deliver(from, offer.transfer,
              fail("object of " + size_text(offer.bytes) + " from node " + std::to_string(from) +
                   ": this node's store is full (" + store::to_string(dst.error()) + ")"));
    }
    return;
  }
  auto finish = [this, from, rec, slot, offer] {
    store_.objects().describe(slot, store::Codec(offer.codec), offer.type_fp, offer.bytes);
    store_.objects().seal(slot, store_.me());
    deliver(from, offer.transfer, rec);
  };
  if (offer.in_message) {
    if (offer.bytes != 0) std::memcpy(*dst, payload.data(), offer.bytes);
    finish();
    return;
  }
  ++incoming_;
  transport_.receive_blob(
      from, tag_of(offer.transfer), *dst, offer.bytes,
      [this, finish, rec, slot, from, offer](bool ok) {
        --incoming_;
        if (ok) {
          finish();
          return;
        }
        store_.objects().describe(slot, store::Codec::kNone, 0, store_.objects().entry(slot).size);
        store_.objects().seal(slot, store_.me());
        store_.unpin(rec);
        deliver(from, offer.transfer, fail(std::string("the object's bytes did not arrive")));
      });
  TransferBody t{offer.transfer};
  transport_.send(from, MessageType::kObjectAccept, &t, sizeof(t));
}

void ObjectTransfer::deliver(int from, uint64_t transfer,
                             Result<store::RefRecord*, std::string> r) {
  if (received_) {
    received_(from, transfer, std::move(r));
  } else if (r) {
    store_.unpin(*r);  // nobody wants it
  }
}

}  // namespace shoal::cluster
