#include "store/store_backing.hpp"

#include <fcntl.h>

#include <cerrno>

namespace shoal::store {

Result<void, StoreError> StoreBacking::allocate(int fd, uint64_t off, uint64_t len) {
  if (len == 0) return {};
  int rc = 0;
  do {
    rc = ::fallocate(fd, 0, off_t(off), off_t(len));
  } while (rc != 0 && errno == EINTR);
  if (rc != 0 && (errno == EOPNOTSUPP || errno == ENOSYS)) {
    // No fallocate here (some FUSE and network file systems): glibc writes a
    // zero into each block that reads as zero, which only the caller's
    // not-yet-used range can be.
    rc = ::posix_fallocate(fd, off_t(off), off_t(len));
    if (rc != 0) errno = rc;
  }
  if (rc == 0) return {};
  if (errno == ENOSPC || errno == EDQUOT || errno == ENOMEM) return fail(StoreError::kNoBacking);
  return fail(StoreError::kSystem);
}

Result<void, StoreError> StoreBacking::extend(uint64_t upto) const {
  if (upto > end_) upto = end_;
  // acquire: as in ensure().
  uint64_t have = watermark_->load(std::memory_order_acquire);
  if (upto <= have) return {};
  uint64_t want = (upto + kBackingChunk - 1) / kBackingChunk * kBackingChunk;
  if (want > end_) want = end_;
  // Several processes may back the same chunk at once: fallocate() of an
  // allocated range is a no-op, and the watermark only moves up.
  auto done = allocate(fd_, have, want - have);
  if (!done) return done;
  // release: pairs with the acquire loads in ensure(): the allocation above
  // happened before anyone sees the new watermark.
  while (have < want && !watermark_->compare_exchange_weak(have, want, std::memory_order_release,
                                                           std::memory_order_relaxed)) {
  }
  return {};
}

}  // namespace shoal::store
