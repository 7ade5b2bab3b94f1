// RefRecord: one reference a process holds on a store object. Records live in
// the holding process's own region of the shared segment so that, if the
// process dies, the supervisor can release exactly what it held.
//
// Store protocol (store/object_table.hpp uses it); installed with the public
// headers because an ObjectRef holds a RefRecord* and counts its copies in it.
#pragma once

#include <atomic>
#include <cstdint>
#include <type_traits>

namespace shoal::store {

// What the record's table operation had reached; the supervisor reads this
// after a crash to finish or undo the operation.
enum class RecordState : uint32_t {
  kFree = 0,
  kCreating = 1,   // about to claim a free table entry for a new object
  kPinning = 2,    // about to add a reference to an existing object
  kHeld = 3,       // holds one reference on (slot, gen)
  kReleasing = 4,  // about to drop its reference
};

struct RefRecord {
  std::atomic<uint32_t> local;  // ObjectRef copies in this process sharing the record
  std::atomic<uint32_t> state;  // RecordState
  uint32_t slot;                // object table index
  uint32_t gen;                 // generation of the entry when pinned
  // Reads of the object's payload begun through this record and not ended
  // (ObjectTable::begin_read): what the supervisor takes off the entry's
  // reader count when the process dies.
  std::atomic<uint32_t> reads;
  uint32_t reserved;
};

static_assert(sizeof(RefRecord) == 24);
static_assert(std::is_standard_layout_v<RefRecord>);
static_assert(std::atomic<uint32_t>::is_always_lock_free, "the supervisor reads records of others");

}  // namespace shoal::store

namespace shoal::detail {
using store::RecordState;
using store::RefRecord;
}  // namespace shoal::detail
