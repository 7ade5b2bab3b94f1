#include "store/record_pool.hpp"

#include <cstring>

namespace shoal::store {

namespace {

// Free records cached per thread so the common acquire/release takes no lock.
// Keyed by pool id: a new session in the same process starts empty.
struct ThreadCache {
  uint64_t pool_id = 0;
  uint32_t count = 0;
  RefRecord* records[64];
};
thread_local ThreadCache t_cache;

}  // namespace

Result<void, StoreError> RecordPool::grow() {
  if (chunks_.size() >= kMaxRecordChunks) return fail(StoreError::kTooManyRefs);
  // The new chunk is linked from the last chunk (or the slot) by the allocator's
  // journaled step, so a crash cannot leave it unreachable.
  const uint64_t link =
      chunks_.empty() ? uint64_t(reinterpret_cast<std::byte*>(&slot_->held_head) - base_)
                      : uint64_t(reinterpret_cast<std::byte*>(&chunks_.back()->next_off) - base_);
  auto off = heap_->allocate(sizeof(HeldChunk), link, me_);
  if (!off) return fail(off.error());
  auto* chunk = reinterpret_cast<HeldChunk*>(base_ + *off);
  // Reachable from here on. Until the magic is written the supervisor treats
  // the chunk as holding nothing (a freed chunk's magic is always cleared).
  std::memset(static_cast<void*>(chunk), 0, sizeof(HeldChunk));
  chunk->capacity = kRecordsPerChunk;
  // release: the zeroed records and the capacity before the magic; pairs with
  // for_each_record()'s acquire load of the magic.
  std::atomic_thread_fence(std::memory_order_release);
  std::atomic_ref<uint32_t>(chunk->magic).store(kHeldChunkMagic, std::memory_order_relaxed);
  const uint32_t k = uint32_t(chunks_.size());
  chunks_.push_back(chunk);
  free_.reserve(free_.size() + kRecordsPerChunk);
  for (uint32_t i = kRecordsPerChunk; i-- > 0;)
    free_.push_back(k * kRecordsPerChunk + i);
  return {};
}

Result<RefRecord*, StoreError> RecordPool::acquire() {
  ThreadCache& tc = t_cache;
  if (tc.pool_id == pool_id_ && tc.count > 0) return tc.records[--tc.count];
  std::lock_guard<std::mutex> lock(mu_);
  if (tc.pool_id != pool_id_) {
    tc.pool_id = pool_id_;
    tc.count = 0;
  }
  if (free_.empty()) {
    auto r = grow();
    if (!r) return fail(r.error());
  }
  const uint32_t index = free_.back();
  free_.pop_back();
  RefRecord* rec = &chunks_[index / kRecordsPerChunk]->records[index % kRecordsPerChunk];
  // Refill the thread's cache while we hold the lock.
  while (tc.count < 32 && !free_.empty()) {
    const uint32_t i = free_.back();
    free_.pop_back();
    tc.records[tc.count++] = &chunks_[i / kRecordsPerChunk]->records[i % kRecordsPerChunk];
  }
  return rec;
}

void RecordPool::release(RefRecord* rec) {
  ThreadCache& tc = t_cache;
  if (tc.pool_id == pool_id_ && tc.count < 64) {
    tc.records[tc.count++] = rec;
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  free_.push_back(index_of(rec));
  if (tc.pool_id == pool_id_) {
    // The cache is full: hand half of it back in one go.
    while (tc.count > 32)
      free_.push_back(index_of(tc.records[--tc.count]));
  }
}

uint32_t RecordPool::index_of(const RefRecord* rec) const {
  // Chunks never move and are few (one per 4096 records held at once).
  for (size_t k = 0; k < chunks_.size(); ++k) {
    const RefRecord* first = chunks_[k]->records;
    if (rec >= first && rec < first + kRecordsPerChunk) {
      return uint32_t(k * kRecordsPerChunk + size_t(rec - first));
    }
  }
  SHOAL_CHECK(false) << "record " << rec << " is not in this process's pool";
  return 0;
}

void RecordPool::free_chunks(std::byte* base, HeapAllocator& heap, ipc::ProcessSlot& slot,
                             ipc::ProcessSlotId me) {
  // acquire: as in for_each_record().
  uint64_t off = slot.held_head.load(std::memory_order_acquire);
  // release: the records were recovered before the chain is cut; pairs with
  // the acquire loads of held_head.
  slot.held_head.store(0, std::memory_order_release);
  for (uint32_t k = 0; off != 0 && k < kMaxRecordChunks; ++k) {
    if (!heap.contains(off, sizeof(HeldChunk)) || off % 64 != 0) return;
    auto* chunk = reinterpret_cast<HeldChunk*>(base + off);
    // A chunk without its magic was never finished: free it, but its next
    // pointer means nothing.
    const uint64_t next = chunk->magic == kHeldChunkMagic ? chunk->next_off : 0;
    chunk->magic = 0;
    (void)heap.free(off, sizeof(HeldChunk), 0, me);
    off = next;
  }
}

}  // namespace shoal::store
