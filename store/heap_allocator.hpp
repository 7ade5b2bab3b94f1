// HeapAllocator: the allocator for objects too large to live inline, for call
// rings and for the processes' reference records.
//
// The heap is cut into 64-byte granules with one bit each. Blocks of up to
// 4 KiB take a run of granules inside one bitmap word; larger blocks take whole
// words (4 KiB pages), found through a summary bitmap with one bit per word
// (set: the word has allocated granules). Search is first-fit from the lowest
// address, so freed memory is reused first and stays warm.
//
// A process may die at any instant inside the allocator. All of its state is
// behind one RobustLock, and every operation is first written to a journal as
// the final state it establishes (bits to set or clear, a word that receives
// the block's offset, the new byte count). Replaying the journal is idempotent,
// so whoever takes the lock over from a dead holder replays it and carries on.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "ipc/process_table.hpp"
#include "ipc/result.hpp"
#include "ipc/robust_lock.hpp"
#include "store/store_backing.hpp"
#include "store/store_error.hpp"

namespace shoal::store {

inline constexpr uint64_t kGranule = 64;
inline constexpr uint64_t kPage = 4096;

struct AllocJournal {
  enum Op : uint32_t { kNone = 0, kAlloc = 1, kFree = 2 };
  std::atomic<uint32_t> op;  // published last; kNone: nothing in flight
  uint32_t reserved;
  uint64_t first;       // first granule of the block
  uint64_t count;       // granules
  uint64_t link_off;    // segment offset of a uint64_t that receives the block's
                        // offset (alloc) or 0 (free); 0: none
  uint64_t used_after;  // the heap's used bytes once the operation is done
};
static_assert(std::is_standard_layout_v<AllocJournal>);

struct alignas(64) AllocatorState {
  ipc::RobustLock lock;
  uint32_t reserved;
  AllocJournal journal;
  std::atomic<uint64_t> used;        // bytes in allocated blocks (readable without the lock)
  std::atomic<uint64_t> high_water;  // highest heap byte ever allocated, relative to the heap
  uint64_t hint_small;               // lowest bitmap word that may have a free granule
};
static_assert(sizeof(AllocatorState) == 128);
static_assert(std::is_standard_layout_v<AllocatorState>);
// The journal's op and the byte counts are shared between processes.
static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(std::atomic<uint32_t>::is_always_lock_free);

class HeapAllocator {
 public:
  HeapAllocator() = default;
  // `base`: the mapped segment; the heap is [heap_off, heap_off + heap_bytes).
  HeapAllocator(std::byte* base, uint64_t segment_bytes, AllocatorState* state, uint64_t* bitmap,
                uint64_t bitmap_words, uint64_t* summary, uint64_t summary_words, uint64_t heap_off,
                uint64_t heap_bytes, const ipc::ProcessTable* processes)
      : base_(base),
        segment_bytes_(segment_bytes),
        state_(state),
        bitmap_(bitmap),
        bitmap_words_(bitmap_words),
        summary_(summary),
        summary_words_(summary_words),
        heap_off_(heap_off),
        heap_bytes_(heap_bytes),
        processes_(processes) {}

  // Where the heap's pages get their storage: every block is backed before
  // allocate() hands it out (none: the pages are assumed backed).
  void set_backing(const StoreBacking* backing) { backing_ = backing; }

  // Lays out an empty heap (creator only, before anyone else maps the segment).
  void format();

  // Allocates a block for `bytes` and, if link_off != 0, stores its segment
  // offset in the uint64_t at link_off as part of the same journaled step.
  // kNoBacking: the block's pages could not get storage (file system full).
  Result<uint64_t, StoreError> allocate(uint64_t bytes, uint64_t link_off, ipc::ProcessSlotId me);

  // Frees the block at `off` allocated for `bytes`; zeroes the uint64_t at
  // link_off (if not 0) in the same journaled step.
  Result<void, StoreError> free(uint64_t off, uint64_t bytes, uint64_t link_off,
                                ipc::ProcessSlotId me);

  // Supervisor: if `dead` held the lock, take it over and repair.
  void recover_from(ipc::ProcessSlotId dead, ipc::ProcessSlotId me);

  bool contains(uint64_t off, uint64_t bytes) const {
    return off >= heap_off_ && bytes <= heap_bytes_ && off - heap_off_ <= heap_bytes_ - bytes;
  }
  uint64_t capacity() const { return heap_bytes_; }
  uint64_t used() const { return state_->used.load(std::memory_order_relaxed); }
  uint64_t high_water() const { return state_->high_water.load(std::memory_order_relaxed); }
  uint64_t heap_off() const { return heap_off_; }
  static uint64_t block_bytes(uint64_t bytes) { return granules_for(bytes) * kGranule; }

 private:
  static uint64_t granules_for(uint64_t bytes);
  void lock(ipc::ProcessSlotId me);
  void replay();  // applies the journal (idempotent) and clears it; lock held
  void apply(uint64_t first, uint64_t count, bool set);
  void write_link(uint64_t link_off, uint64_t value);
  bool link_ok(uint64_t link_off) const {
    return link_off % 8 == 0 && link_off >= 8 && link_off <= segment_bytes_ - 8;
  }
  bool find_small(uint64_t count, uint64_t* first);
  bool find_large(uint64_t words, uint64_t* first_word);

  std::byte* base_ = nullptr;
  uint64_t segment_bytes_ = 0;
  AllocatorState* state_ = nullptr;
  uint64_t* bitmap_ = nullptr;
  uint64_t bitmap_words_ = 0;
  uint64_t* summary_ = nullptr;
  uint64_t summary_words_ = 0;
  uint64_t heap_off_ = 0;
  uint64_t heap_bytes_ = 0;
  const ipc::ProcessTable* processes_ = nullptr;
  const StoreBacking* backing_ = nullptr;
};

}  // namespace shoal::store
