// StoreBacking: which bytes of one region of the store file are known to have
// storage behind them, and getting more before anyone touches them.
//
// A page of a shared file that has no storage behind it is allocated at its
// first touch; on a full file system that touch is a SIGBUS. So no page of
// the store is touched before fallocate() has backed it: each region that
// grows (the object table, the heap) keeps a watermark in the segment header,
// every byte of the file below it is allocated, and whoever needs a byte past
// it backs the next chunk first. A full file system then is a clean
// StoreError::kNoBacking at the allocation that needed the memory.
//
// The watermark lives in shared memory (every process of the session sees
// it); the descriptor is this process's. Thread-safe; a process killed inside
// extend() leaves at worst a chunk backed that the watermark does not count
// yet (the next extend() backs it again, which is a no-op).
#pragma once

#include <atomic>
#include <cstdint>

#include "ipc/result.hpp"
#include "store/store_error.hpp"

namespace shoal::store {

// Bytes backed at a time. Large enough that the syscall is rare (one per
// 2 MiB of growth, about a millisecond on tmpfs), small enough that a store
// on a nearly full file system does not strand much, and a multiple of every
// huge page size in common use below 1 GiB (hugetlbfs backs whole pages).
inline constexpr uint64_t kBackingChunk = 2ull << 20;

class StoreBacking {
 public:
  StoreBacking() = default;
  // The region [begin, end) of the file open at `fd`; `watermark` holds the
  // file offset below which the region is backed (begin <= *watermark).
  StoreBacking(int fd, std::atomic<uint64_t>* watermark, uint64_t begin, uint64_t end)
      : fd_(fd), watermark_(watermark), begin_(begin), end_(end) {}

  // Makes sure every byte of the region below the file offset `upto` has
  // storage. One load when it has; else fallocate() of the missing chunks.
  Result<void, StoreError> ensure(uint64_t upto) const {
    // acquire: pairs with the release CAS in extend(): a watermark past `upto`
    // means the fallocate() that backed those bytes has returned.
    if (watermark_ == nullptr || upto <= watermark_->load(std::memory_order_acquire)) return {};
    return extend(upto);
  }
  uint64_t backed() const {
    // relaxed: a figure for status and tests.
    return watermark_ ? watermark_->load(std::memory_order_relaxed) : 0;
  }

  // Allocates storage for [off, off + len) of `fd` (fallocate, or writing
  // where the file system has no fallocate). kNoBacking: the file system is
  // full; kSystem: another failure, errno says which.
  static Result<void, StoreError> allocate(int fd, uint64_t off, uint64_t len);

 private:
  Result<void, StoreError> extend(uint64_t upto) const;

  int fd_ = -1;
  std::atomic<uint64_t>* watermark_ = nullptr;
  uint64_t begin_ = 0;
  uint64_t end_ = 0;
};

}  // namespace shoal::store
