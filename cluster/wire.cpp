#include "cluster/wire.hpp"

#include <cstring>

namespace shoal::cluster {

const char* to_string(WireError e) {
  switch (e) {
    case WireError::kShort:
      return "truncated batch";
    case WireError::kBadMagic:
      return "not a shoal batch";
    case WireError::kBadLength:
      return "batch length differs from what arrived";
    case WireError::kBadSender:
      return "batch from another node than its sender";
    case WireError::kBadSequence:
      return "batch out of sequence (lost, repeated or reordered)";
    case WireError::kBadCount:
      return "messages do not fill the batch";
  }
  return "bad batch";
}

BatchWriter::BatchWriter() : buf_(kBatchBytes), used_(sizeof(BatchHeader)) {}

std::byte* BatchWriter::append(MessageType type, uint32_t body_bytes) {
  SHOAL_CHECK(body_bytes <= kMaxBody && fits(body_bytes))
      << "message of " << body_bytes << " bytes does not fit the batch";
  MessageHeader h{uint16_t(type), 0, body_bytes};
  std::memcpy(buf_.data() + used_, &h, sizeof(h));
  std::byte* body = buf_.data() + used_ + sizeof(h);
  // The padding is zeroed: batches carry nothing of what the buffer held before.
  if (padded(body_bytes) != body_bytes) {
    std::memset(body + body_bytes, 0, padded(body_bytes) - body_bytes);
  }
  used_ += uint32_t(sizeof(h)) + padded(body_bytes);
  ++count_;
  return body;
}

void BatchWriter::seal(uint16_t from_node, uint64_t sequence) {
  BatchHeader h{kBatchMagic, from_node, 0, count_, used_, sequence};
  std::memcpy(buf_.data(), &h, sizeof(h));
}

void BatchWriter::clear() {
  used_ = sizeof(BatchHeader);
  count_ = 0;
}

Result<BatchReader, WireError> BatchReader::open(const std::byte* data, size_t received,
                                                 uint16_t from_node, uint64_t expected_sequence) {
  if (received < sizeof(BatchHeader)) return fail(WireError::kShort);
  BatchHeader h;
  std::memcpy(&h, data, sizeof(h));
  if (h.magic != kBatchMagic) return fail(WireError::kBadMagic);
  if (h.bytes != received || received > kBatchBytes) return fail(WireError::kBadLength);
  if (h.from_node != from_node) return fail(WireError::kBadSender);
  if (h.sequence != expected_sequence) return fail(WireError::kBadSequence);
  // Walk every message once: afterwards next() cannot leave the batch.
  uint64_t at = sizeof(BatchHeader);
  for (uint32_t i = 0; i < h.count; ++i) {
    if (at + sizeof(MessageHeader) > received) return fail(WireError::kShort);
    MessageHeader m;
    std::memcpy(&m, data + at, sizeof(m));
    if (m.bytes > kMaxBody) return fail(WireError::kShort);
    at += sizeof(MessageHeader) + uint64_t(padded(m.bytes));
    if (at > received) return fail(WireError::kShort);
  }
  if (at != received) return fail(WireError::kBadCount);
  return BatchReader(data, uint32_t(received), h.count);
}

bool BatchReader::next(Message* out) {
  if (at_ >= bytes_) return false;
  MessageHeader m;
  std::memcpy(&m, data_ + at_, sizeof(m));
  out->type = MessageType(m.type);
  out->body = std::span<const std::byte>(data_ + at_ + sizeof(m), m.bytes);
  at_ += uint32_t(sizeof(m)) + padded(m.bytes);
  return true;
}

}  // namespace shoal::cluster
