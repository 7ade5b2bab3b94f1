// AttachedRings: the request rings a thread calls into, each attached and
// validated once per (actor, generation) of the session (core/src only).
//
// From then on the place and the capacity validated then are used, never
// re-read from shared memory: a header corrupted later cannot move a write
// outside the ring (a corrupt cell is still found by try_claim()).
//
// Lifetimes: one per thread, reset when the thread first calls in another
// session; the rings it hands out stay valid until the next attach() of the
// same actor on that thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ipc/actor_table.hpp"
#include "ipc/request_ring.hpp"
#include "store/store.hpp"

namespace shoal::detail {

class AttachedRings {
 public:
  // The calling thread's.
  static AttachedRings& mine() noexcept;

  // The ring of actor (index, gen) if this thread has attached it, or null.
  ipc::RequestRing* find(const store::Store& s, uint32_t index, uint32_t gen) noexcept;
  // The ring of actor (index, gen), attached now if need be: its entry's state
  // was just read as starting or alive, which publishes ring_off and
  // ring_bytes (immutable from then on for this generation). Null, with what
  // failed in `why`, if the ring is not inside the segment or fails validation.
  ipc::RequestRing* attach(store::Store& s, const ipc::ActorEntry& a, uint32_t index, uint32_t gen,
                           std::string* why);

 private:
  struct Attached {
    uint32_t gen = 0;
    bool valid = false;
    ipc::RequestRing ring;
  };
  void reset_for(const store::Store& s);

  const store::Store* store_ = nullptr;
  uint64_t session_tag_ = 0;
  std::vector<Attached> rings_;  // by actor index
};

}  // namespace shoal::detail
