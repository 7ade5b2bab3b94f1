// ObjectEntry: one slot of the object table, and the encoding of its control
// word. Every object in the store is one entry; objects of up to kInlineBytes
// live inside it, larger ones in a heap block it points to by offset.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "ipc/process_table.hpp"

namespace shoal::store {

// Lifecycle: kFree -> kPending (a call's result, waiting for its writer) or
// kWriting (claimed by its writer) -> kSealed (immutable) -> kFreeing -> kFree.
enum class ObjectState : uint32_t {
  kFree = 0,
  kPending = 1,
  kWriting = 2,
  kSealed = 3,
  kFreeing = 4,
};

// Where a sealed object's payload is. Only heap payloads (not inline ones)
// ever leave the store. kResident -> kSpilling (a spiller writes it out; a
// reader may take it back to kResident at any time) -> kSpilled (in the spill
// file, its heap block freed) -> kRestoring (a reader reads it back into a new
// block) -> kResident.
enum class Residency : uint32_t {
  kResident = 0,
  kSpilling = 1,
  kSpilled = 2,
  kRestoring = 3,
};

// Unsealed: pending or being written, so a writer (or a failure) will seal it.
constexpr bool is_unsealed(ObjectState s) {
  return s == ObjectState::kPending || s == ObjectState::kWriting;
}
// Live: an object that can be pinned (unsealed or sealed, not being freed).
constexpr bool is_live(ObjectState s) {
  return is_unsealed(s) || s == ObjectState::kSealed;
}

// The control word `ctrl`, written down once:
//   bits 0..23   pins: references held on the object (process records and
//                containing objects). Zero while unsealed means abandoned:
//                the writer frees it at seal time.
//   bits 24..27  ObjectState
//   bit  28      kCancelRequested: cancel() asked for the call to be dropped
//   bits 29..30  Residency of a sealed object's payload (see object_spill.cpp)
//   bits 32..63  lock tag, 0 when unlocked. Every change to pins or state is a
//                CAS that also sets the tag of the one operation in flight;
//                the tag names who did it (see LockTag), so after a crash the
//                supervisor knows exactly which operations landed.
struct Ctrl {
  static constexpr uint64_t kPinMask = (1ull << 24) - 1;
  static constexpr int kStateShift = 24;
  static constexpr uint64_t kStateMask = 0xfull << kStateShift;
  static constexpr uint64_t kCancelRequested = 1ull << 28;
  static constexpr int kResidencyShift = 29;
  static constexpr uint64_t kResidencyMask = 0x3ull << kResidencyShift;
  static constexpr int kLockShift = 32;

  static constexpr uint32_t pins(uint64_t c) { return uint32_t(c & kPinMask); }
  static constexpr ObjectState state(uint64_t c) {
    return ObjectState((c & kStateMask) >> kStateShift);
  }
  static constexpr uint32_t lock(uint64_t c) { return uint32_t(c >> kLockShift); }
  static constexpr Residency residency(uint64_t c) {
    return Residency((c & kResidencyMask) >> kResidencyShift);
  }
  static constexpr uint64_t with_residency(uint64_t c, Residency r) {
    return (c & ~kResidencyMask) | (uint64_t(r) << kResidencyShift);
  }
  static constexpr uint64_t with_state(uint64_t c, ObjectState s) {
    return (c & ~kStateMask) | (uint64_t(s) << kStateShift);
  }
  static constexpr uint64_t with_lock(uint64_t c, uint32_t tag) {
    return (c & 0xffffffffull) | (uint64_t(tag) << kLockShift);
  }
  static constexpr uint64_t unlocked(uint64_t c) { return c & 0xffffffffull; }
  static constexpr uint64_t make(uint32_t pins, ObjectState s) {
    return uint64_t(pins) | (uint64_t(s) << kStateShift);
  }
};

// Lock tags: who holds an entry's lock.
//   bits 30..31 kind: 1 a process's RefRecord (bits 20..29 process slot,
//               bits 0..19 record index), 2 another entry (its index: a
//               container pinning or releasing its children), 3 a process
//               itself (bits 0..15 slot: claims, seals, frees).
struct LockTag {
  static constexpr uint32_t kRecordKind = 1, kEntryKind = 2, kProcessKind = 3;
  static constexpr uint32_t kMaxRecordIndex = (1u << 20) - 1;
  static constexpr uint32_t kMaxEntryIndex = (1u << 30) - 1;

  static constexpr uint32_t record(ipc::ProcessSlotId slot, uint32_t index) {
    return (kRecordKind << 30) | (uint32_t(slot & 0x3ff) << 20) | (index & kMaxRecordIndex);
  }
  static constexpr uint32_t entry(uint32_t index) { return (kEntryKind << 30) | index; }
  static constexpr uint32_t process(ipc::ProcessSlotId slot) { return (kProcessKind << 30) | slot; }
  static constexpr uint32_t kind(uint32_t tag) { return tag >> 30; }
  static constexpr ipc::ProcessSlotId record_slot(uint32_t tag) {
    return ipc::ProcessSlotId((tag >> 20) & 0x3ff);
  }
  static constexpr uint32_t record_index(uint32_t tag) { return tag & kMaxRecordIndex; }
  static constexpr uint32_t entry_index(uint32_t tag) { return tag & kMaxEntryIndex; }
  static constexpr ipc::ProcessSlotId process_slot(uint32_t tag) {
    return ipc::ProcessSlotId(tag & 0xffff);
  }
  // The process whose death leaves this tag orphaned (kNoProcess for entry tags).
  static constexpr ipc::ProcessSlotId owner(uint32_t tag) {
    return kind(tag) == kRecordKind    ? record_slot(tag)
           : kind(tag) == kProcessKind ? process_slot(tag)
                                       : ipc::kNoProcess;
  }
};
static_assert(ipc::kMaxProcesses <= 1024, "record tags keep 10 bits of process slot");

// Who will seal an unsealed object: a process (a put in progress) or an actor
// (a call's result; workers are actors too). The supervisor fails an actor's
// unsealed results when the actor's process dies.
struct WriterId {
  static constexpr uint32_t kProcessKind = 1, kActorKind = 2;
  static constexpr uint32_t process(ipc::ProcessSlotId slot) { return (kProcessKind << 30) | slot; }
  static constexpr uint32_t actor(uint32_t index) { return (kActorKind << 30) | index; }
  static constexpr uint32_t kind(uint32_t w) { return w >> 30; }
  static constexpr uint32_t id(uint32_t w) { return w & ((1u << 30) - 1); }
};

// How the payload is encoded; the core layer decides, the store only keeps it.
enum class Codec : uint8_t {
  kNone = 0,     // no payload (ObjectRef<void>)
  kRaw = 1,      // the bytes of a trivially copyable value or contiguous container
  kMsgpack = 2,  // msgpack-cxx
  kError = 3,    // a failed call: an encoded ErrorInfo
};
inline constexpr uint8_t kMaxCodec = 3;

inline constexpr size_t kInlineBytes = 160;
// Objects smaller than a page are never spilled: each copy in the spill file
// starts on a page boundary, so they would cost a page of file and of I/O
// each and free next to nothing. Their reads are therefore not counted
// (ObjectTable::begin_read()), which keeps a get of a small object free of
// writes to its entry, a line every reader of it shares.
inline constexpr uint64_t kMinSpillBytes = 4096;
inline constexpr uint32_t kInlineChildren = 2;
// The waiter field: kNoWaiter, kManyWaiters (several processes: the sealer
// wakes every parked process and has every loop check all its waits), or one
// process's slot + 1, with kLoopWaiter set when that process's event loop
// waits (the sealer queues the object on that process's ReadyQueue).
inline constexpr uint32_t kNoWaiter = 0;
inline constexpr uint32_t kManyWaiters = 0xffffffffu;
inline constexpr uint32_t kLoopWaiter = 1u << 30;
static_assert(ipc::kMaxProcesses < kLoopWaiter, "a slot + 1 leaves the loop bit clear");

struct alignas(64) ObjectEntry {
  // Line 0: what a waiter polls, and what a reader needs for small objects.
  std::atomic<uint64_t> ctrl;    // see Ctrl
  std::atomic<uint32_t> gen;     // bumped at every free; changed only under the lock
  std::atomic<uint32_t> waiter;  // who waits for the seal (see kLoopWaiter)
  // Payload bytes. Atomic: a spiller's scan reads it without the entry's lock
  // (a hint it re-checks under the lock) while the entry may be freed and
  // reused. Every access is relaxed: the ctrl word's release and acquire
  // order it with the rest of the entry.
  std::atomic<uint64_t> size;
  uint64_t type_fp;  // fingerprint of the C++ type put
  uint32_t writer;   // WriterId
  uint16_t creator;  // process slot + 1 of the creating process
  uint8_t codec;     // Codec
  uint8_t reserved0;
  uint16_t claimer;  // process slot + 1 of whoever put it in kWriting
  // Process slot + 1 of the one process moving the payload between the store
  // and the spill file (a spiller or a restorer), 0 for none: claimed by CAS
  // from 0, cleared by its owner, or by the supervisor when the owner died.
  // kMoverLetGo on top: the object's last reference went while it moved, and
  // its free was left to the mover (ObjectTable::release_mover()).
  std::atomic<uint16_t> mover;
  // Reads in progress (get's decoding, a View's life): a read object is never
  // spilled. A process that dies while reading leaves its count behind, which
  // only keeps the object in memory until it is freed (the free resets it).
  std::atomic<uint32_t> readers;
  // Lines 0-3: small payloads, 16-byte aligned.
  alignas(16) std::byte inline_data[kInlineBytes];
  // Line 3: large payloads and contained references.
  uint64_t data_off;                   // segment offset of the heap block (0: inline)
  uint64_t children_off;               // segment offset of an overflow child list (0: inline)
  uint32_t child_count;                // references this object holds on others
  std::atomic<uint32_t> child_cursor;  // children pinned so far (see ObjectTable)
  uint64_t children_inline[kInlineChildren];  // (slot << 32) | gen, 0 for an empty place
  // A resident payload's age (the seal clock when it was sealed or restored:
  // spilling goes oldest first), or, with kSpillBit set, the offset of its
  // copy in the spill file (from the spiller's claim until the copy is gone).
  // Before that, while a streaming call's result is pending: the back-pressure
  // bound its caller asked for (CallOptions; 0: the actor's own), written
  // before the call is published and read by the callee before it seals the
  // result (see ObjectTable::set_call_bound()).
  std::atomic<uint64_t> spill_word;
};

static_assert(sizeof(ObjectEntry) == 256);
static_assert(offsetof(ObjectEntry, inline_data) == 48);
static_assert(offsetof(ObjectEntry, data_off) == 208);
static_assert(offsetof(ObjectEntry, mover) == 42);
static_assert(offsetof(ObjectEntry, readers) == 44);
static_assert(offsetof(ObjectEntry, spill_word) == 248);
static_assert(std::atomic<uint16_t>::is_always_lock_free);
inline constexpr uint64_t kSpillBit = 1ull << 63;
inline constexpr uint16_t kMoverLetGo = 0x8000;
static_assert(ipc::kMaxProcesses < kMoverLetGo, "a mover's slot + 1 leaves kMoverLetGo clear");
static_assert(std::is_standard_layout_v<ObjectEntry>);
// ctrl, gen, waiter, mover, readers and child_cursor are shared between processes.
static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(std::atomic<uint32_t>::is_always_lock_free);

inline constexpr uint64_t pack_child(uint32_t slot, uint32_t gen) {
  return (uint64_t(slot) << 32) | gen;
}

}  // namespace shoal::store
