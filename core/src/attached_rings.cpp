#include "core/src/attached_rings.hpp"

namespace shoal::detail {

AttachedRings& AttachedRings::mine() noexcept {
  thread_local AttachedRings rings;
  return rings;
}

void AttachedRings::reset_for(const store::Store& s) {
  store_ = &s;
  session_tag_ = s.session_tag();
  rings_.assign(s.actor_count(), Attached{});
}

ipc::RequestRing* AttachedRings::find(const store::Store& s, uint32_t index,
                                      uint32_t gen) noexcept {
  if (store_ != &s || session_tag_ != s.session_tag() || index >= rings_.size()) return nullptr;
  Attached& a = rings_[index];
  return a.valid && a.gen == gen ? &a.ring : nullptr;
}

ipc::RequestRing* AttachedRings::attach(store::Store& s, const ipc::ActorEntry& a, uint32_t index,
                                        uint32_t gen, std::string* why) {
  if (ipc::RequestRing* ring = find(s, index, gen)) return ring;
  if (store_ != &s || session_tag_ != s.session_tag()) reset_for(s);
  Attached& cached = rings_[index];
  cached.valid = false;
  const uint64_t ring_off = a.ring_off, ring_bytes = a.ring_bytes;
  const uint64_t segment_bytes = s.segment().size();
  if (ring_off == 0 || ring_off > segment_bytes || ring_bytes > segment_bytes - ring_off) {
    *why = "its place (offset " + std::to_string(ring_off) + ", " + std::to_string(ring_bytes) +
           " bytes) is not inside the segment (" + std::to_string(segment_bytes) + " bytes)";
    return nullptr;
  }
  auto ring = ipc::RequestRing::attach(s.base() + ring_off, ring_bytes);
  if (!ring) {
    *why = "its header fails validation (magic number, capacity or size)";
    return nullptr;
  }
  cached.ring = *ring;
  cached.gen = gen;
  cached.valid = true;
  return &cached.ring;
}

}  // namespace shoal::detail
