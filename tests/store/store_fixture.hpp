// Helpers for the store/ tests: a private session segment, puts and gets done
// the way core/ does them, payload patterns a reader can verify without
// knowing who wrote them, the supervisor's repair of a dead process, and
// checks that the object table is back to a known state.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "store/error_payload.hpp"
#include "store/store.hpp"

namespace shoal::testing {

using detail::RecordState;
using detail::RefRecord;
using store::Ctrl;
using store::ObjectEntry;
using store::ObjectState;
using store::Store;
using store::StoreError;

// A session segment of its own, joined as a driver; removed at the end.
struct TestStore {
  explicit TestStore(uint64_t bytes = 16ull << 20) {
    auto s = Store::create(bytes);
    if (!s) {
      ADD_FAILURE() << "Store::create: " << store::to_string(s.error());
      std::abort();
    }
    store = std::move(s).value();
    name = store->segment().name();
    auto me = store->join(ipc::ProcessKind::kDriver, ipc::kNoProcess, "test");
    if (!me) std::abort();
    // The first reference grows this process's record pool (a heap chunk):
    // take it now, so that baselines measured by tests include it.
    auto r = store->create_object(ObjectState::kWriting, store::WriterId::process(*me));
    if (!r) std::abort();
    store->objects().seal((*r)->slot, *me);
    store->unpin(*r);
  }
  ~TestStore() {
    store.reset();
    store::Segment::remove(name);
  }
  Store* operator->() const { return store.get(); }
  Store& operator*() const { return *store; }

  std::unique_ptr<Store> store;
  std::string name;
};

// ---- payloads ----
// The first 8 bytes hold a seed and the rest a sequence derived from it, so
// any reader can tell a good payload from a torn or foreign one.
inline uint64_t pattern_word(uint64_t seed, uint64_t i) {
  uint64_t z = seed + (i + 1) * 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  return z ^ (z >> 27);
}
inline void fill_pattern(std::byte* p, uint64_t n, uint64_t seed) {
  if (n < 8) {
    std::memset(p, int(seed & 0xff), n);
    return;
  }
  std::memcpy(p, &seed, 8);
  uint64_t i = 1;
  for (; (i + 1) * 8 <= n; ++i) {
    const uint64_t w = pattern_word(seed, i);
    std::memcpy(p + i * 8, &w, 8);
  }
  for (uint64_t b = i * 8; b < n; ++b)
    p[b] = std::byte(pattern_word(seed, i) >> (8 * (b % 8)));
}
inline bool check_pattern(const std::byte* p, uint64_t n) {
  if (n < 8) return true;
  uint64_t seed;
  std::memcpy(&seed, p, 8);
  std::vector<std::byte> want(n);
  fill_pattern(want.data(), n, seed);
  return std::memcmp(want.data(), p, n) == 0;
}

inline constexpr uint64_t kTestTypeFp = 0x7e57'7e57'7e57'7e57ull;

// An object this process holds one reference on.
struct Obj {
  RefRecord* rec = nullptr;
  uint32_t slot = 0;
  uint32_t gen = 0;
  uint64_t packed() const { return store::pack_child(slot, gen); }
};

// A put as core's put_object does it: create, reserve, write, describe,
// children, seal. On failure nothing is left behind.
inline Result<Obj, StoreError> put_object(Store& s, uint64_t bytes, uint64_t seed,
                                          const std::vector<uint64_t>& children = {}) {
  auto created = s.create_object(ObjectState::kWriting, store::WriterId::process(s.me()),
                                 uint32_t(children.size()));
  if (!created) return fail(created.error());
  RefRecord* rec = *created;
  const uint32_t slot = rec->slot;
  auto abandon = [&](StoreError e) -> Result<Obj, StoreError> {
    // As core does it: the size stays, it is what frees a reserved block.
    s.objects().describe(slot, store::Codec::kNone, 0, s.objects().entry(slot).size);
    s.objects().seal(slot, s.me());
    s.unpin(rec);
    return fail(e);
  };
  auto dst = s.objects().reserve_payload(slot, bytes, s.me());
  if (!dst) return abandon(dst.error());
  fill_pattern(*dst, bytes, seed);
  s.objects().describe(slot, store::Codec::kRaw, kTestTypeFp, bytes);
  if (!children.empty()) {
    auto r = s.objects().set_children(slot, children.data(), uint32_t(children.size()), s.me());
    if (!r) return abandon(r.error());
  }
  s.objects().seal(slot, s.me());
  return Obj{rec, slot, rec->gen};
}

// Reads a sealed object this process holds and checks its pattern.
inline bool read_ok(Store& s, uint32_t slot, uint64_t expect_bytes) {
  auto v = s.objects().read(slot);
  return v && v->size == expect_bytes && v->codec == store::Codec::kRaw &&
         v->type_fp == kTestTypeFp && check_pattern(v->data, v->size);
}

// ---- the supervisor's side ----
// What the supervisor does for a dead process: `dead_actors` lists actor
// indices whose writers count as gone.
inline void fail_object(Store& s, uint32_t slot) {
  ObjectEntry& e = s.objects().entry(slot);
  const uint32_t gen = e.gen.load(std::memory_order_relaxed);
  if (!s.objects().claim_for_failure(slot, gen, s.me())) return;
  store::ErrorPayload err;
  err.kind = store::ErrorKind::kObjectLost;
  err.message = "the process writing this object died before sealing it";
  (void)store::seal_error(s, slot, err);
}

inline void recover_dead(Store& s, ipc::ProcessSlotId dead,
                         const std::set<uint32_t>& dead_actors = {}) {
  s.recover_process(
      dead,
      [&](uint32_t writer) {
        if (store::WriterId::kind(writer) == store::WriterId::kProcessKind) {
          return s.processes().is_dead(ipc::ProcessSlotId(store::WriterId::id(writer)));
        }
        if (store::WriterId::kind(writer) == store::WriterId::kActorKind) {
          return dead_actors.count(store::WriterId::id(writer)) != 0;
        }
        return true;
      },
      [&](uint32_t slot) { fail_object(s, slot); });
}

// The slot `pid` holds in the process table, or kNoProcess.
inline ipc::ProcessSlotId slot_of(Store& s, pid_t pid) {
  for (uint32_t i = 0; i < s.processes().size(); ++i) {
    const uint64_t o =
        s.processes().slot(ipc::ProcessSlotId(i)).owner.load(std::memory_order_acquire);
    if (ipc::owner_state(o) != ipc::ProcessState::kFree && ipc::owner_pid(o) == pid) {
      return ipc::ProcessSlotId(i);
    }
  }
  return ipc::kNoProcess;
}

// The supervisor's reaction to the death of `pid`: mark its slot dead, repair
// what it left, give the slot back. False if it had no slot.
inline bool supervise_death(Store& s, pid_t pid) {
  const ipc::ProcessSlotId slot = slot_of(s, pid);
  if (slot == ipc::kNoProcess) return false;
  s.processes().mark_dead(slot, pid);
  recover_dead(s, slot);
  s.processes().release(slot);
  return true;
}

// ---- the table's state ----
struct TableCensus {
  uint32_t in_use = 0;  // entries not free
  uint32_t locked = 0;  // entries with a lock tag
  std::vector<uint32_t> in_use_slots;
};
inline TableCensus census(Store& s) {
  TableCensus c;
  const uint32_t hw = s.objects().high_water();
  for (uint32_t i = 0; i < hw; ++i) {
    const uint64_t ctrl = s.objects().entry(i).ctrl.load(std::memory_order_acquire);
    if (ctrl != 0) {
      ++c.in_use;
      c.in_use_slots.push_back(i);
    }
    if (Ctrl::lock(ctrl) != 0) ++c.locked;
  }
  return c;
}

inline uint32_t pins_of(Store& s, uint32_t slot) {
  return Ctrl::pins(s.objects().entry(slot).ctrl.load(std::memory_order_acquire));
}
inline ObjectState state_of(Store& s, uint32_t slot) {
  return Ctrl::state(s.objects().entry(slot).ctrl.load(std::memory_order_acquire));
}

}  // namespace shoal::testing
