// RecordPool: this process's RefRecords. They live in chunks of the shared heap
// chained from the process's slot (held_head), so the supervisor can walk them
// after a crash; free records are tracked in process memory only.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

#include <shoal/detail/ref_record.hpp>

#include "ipc/process_table.hpp"
#include "ipc/result.hpp"
#include "store/heap_allocator.hpp"
#include "store/store_error.hpp"

namespace shoal::store {

inline constexpr uint32_t kRecordsPerChunk = 4096;
inline constexpr uint32_t kMaxRecordChunks = 256;        // 2^20 records: the lock tag's limit
inline constexpr uint32_t kHeldChunkMagic = 0x484c4443;  // "HLDC"

struct alignas(64) HeldChunk {
  uint64_t next_off;  // segment offset of the next chunk, 0: last
  uint32_t magic;
  uint32_t capacity;
  uint8_t pad[48];
  RefRecord records[kRecordsPerChunk];
};
static_assert(sizeof(HeldChunk) == 64 + kRecordsPerChunk * sizeof(RefRecord));
static_assert(std::is_standard_layout_v<HeldChunk>);
static_assert(std::atomic_ref<uint32_t>::is_always_lock_free,
              "the magic is read by other processes");

class RecordPool {
 public:
  RecordPool() = default;
  RecordPool(std::byte* base, HeapAllocator* heap, ipc::ProcessSlot* slot, ipc::ProcessSlotId me,
             uint64_t pool_id)
      : base_(base), heap_(heap), slot_(slot), me_(me), pool_id_(pool_id) {}

  // A free record, or kTooManyRefs / kHeapFull. Thread-safe.
  Result<RefRecord*, StoreError> acquire();
  void release(RefRecord* rec);
  // The record's index, for lock tags.
  uint32_t index_of(const RefRecord* rec) const;

  // Walks the chunk chain of (possibly dead) process `slot`, bounds-checked.
  template <class F>
  static void for_each_record(std::byte* base, const HeapAllocator& heap,
                              const ipc::ProcessSlot& slot, F&& f);
  // Frees the chunks of dead process `slot` (after its records are recovered).
  static void free_chunks(std::byte* base, HeapAllocator& heap, ipc::ProcessSlot& slot,
                          ipc::ProcessSlotId me);

 private:
  Result<void, StoreError> grow();  // mu_ held

  std::byte* base_ = nullptr;
  HeapAllocator* heap_ = nullptr;
  ipc::ProcessSlot* slot_ = nullptr;
  ipc::ProcessSlotId me_ = ipc::kNoProcess;
  uint64_t pool_id_ = 0;
  mutable std::mutex mu_;
  std::vector<HeldChunk*> chunks_;  // index k holds records k*4096 ..
  std::vector<uint32_t> free_;      // free record indices (beyond the per-thread caches)
};

template <class F>
void RecordPool::for_each_record(std::byte* base, const HeapAllocator& heap,
                                 const ipc::ProcessSlot& slot, F&& f) {
  // acquire: pairs with free_chunks()'s release store. (The chain itself is
  // linked by the allocator's journaled step, under its lock.)
  uint64_t off = slot.held_head.load(std::memory_order_acquire);
  for (uint32_t k = 0; off != 0 && k < kMaxRecordChunks; ++k) {
    if (!heap.contains(off, sizeof(HeldChunk)) || off % 64 != 0) return;
    auto* chunk = reinterpret_cast<HeldChunk*>(base + off);
    // acquire: pairs with the release fence before grow() writes the magic.
    if (std::atomic_ref<uint32_t>(chunk->magic).load(std::memory_order_acquire) !=
            kHeldChunkMagic ||
        chunk->capacity != kRecordsPerChunk) {
      return;
    }
    for (uint32_t i = 0; i < kRecordsPerChunk; ++i)
      f(&chunk->records[i], k * kRecordsPerChunk + i);
    off = chunk->next_off;
  }
}

}  // namespace shoal::store
