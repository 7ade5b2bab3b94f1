#include "store/spill_file.hpp"

#include <fcntl.h>
#include <limits.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace shoal::store {

namespace {
uint64_t pack(pid_t pid, int fd) {
  return (uint64_t(uint32_t(pid)) << 32) | uint32_t(fd);
}
}  // namespace

SpillFile::~SpillFile() {
  const uint64_t o = opened_.load(std::memory_order_relaxed);
  if (o != 0 && pid_t(o >> 32) == ::getpid()) ::close(int(uint32_t(o)));
}

int SpillFile::fd() {
  const pid_t me = ::getpid();
  // acquire: pairs with the release store below, so the descriptor is open.
  uint64_t o = opened_.load(std::memory_order_acquire);
  if (o != 0 && pid_t(o >> 32) == me) return int(uint32_t(o));
  if (path_.empty()) return -1;
  std::lock_guard<std::mutex> lock(open_mu_);
  o = opened_.load(std::memory_order_relaxed);
  if (o != 0 && pid_t(o >> 32) == me) return int(uint32_t(o));
  const int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  // release: pairs with the acquire load above in other threads. A parent's
  // descriptor is not closed here: in this process its number is not ours.
  opened_.store(pack(me, fd), std::memory_order_release);
  return fd;
}

Result<void, StoreError> SpillFile::write(const iovec* iov, size_t n, uint64_t off) {
  const int f = fd();
  if (f < 0)
    return fail(errno == ENOSPC || errno == EDQUOT ? StoreError::kSpillDiskFull
                                                   : StoreError::kSpillFailed);
  std::vector<iovec> rest(iov, iov + n);
  size_t first = 0;
  while (first < rest.size()) {
    const int count = int(rest.size() - first < IOV_MAX ? rest.size() - first : IOV_MAX);
    const ssize_t w = ::pwritev(f, &rest[first], count, off_t(off));
    if (w < 0) {
      if (errno == EINTR) continue;
      return fail(errno == ENOSPC || errno == EDQUOT ? StoreError::kSpillDiskFull
                                                     : StoreError::kSpillFailed);
    }
    if (w == 0) {
      errno = ENOSPC;
      return fail(StoreError::kSpillDiskFull);
    }
    off += uint64_t(w);
    size_t left = size_t(w);
    while (left > 0 && first < rest.size()) {
      if (left >= rest[first].iov_len) {
        left -= rest[first].iov_len;
        ++first;
      } else {
        rest[first].iov_base = static_cast<char*>(rest[first].iov_base) + left;
        rest[first].iov_len -= left;
        left = 0;
      }
    }
  }
  return {};
}

Result<void, StoreError> SpillFile::read(uint64_t off, std::byte* dst, uint64_t len) {
  const int f = fd();
  if (f < 0) return fail(StoreError::kSpillFailed);
  while (len > 0) {
    const ssize_t r = ::pread(f, dst, len, off_t(off));
    if (r < 0) {
      if (errno == EINTR) continue;
      return fail(StoreError::kSpillFailed);
    }
    if (r == 0) {
      errno = EIO;  // the file is shorter than the copy: someone truncated it
      return fail(StoreError::kSpillFailed);
    }
    dst += r;
    off += uint64_t(r);
    len -= uint64_t(r);
  }
  return {};
}

void SpillFile::punch(uint64_t off, uint64_t len) {
  const int f = fd();
  if (f < 0 || len == 0) return;
  (void)::fallocate(f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off_t(off), off_t(len));
}

void SpillFile::scrub(uint64_t off, uint64_t len) {
  const int f = fd();
  if (f < 0 || len == 0) return;
  alignas(4096) static const std::byte zeros[kSpillAlign] = {};
  std::vector<iovec> iov(size_t((len + kSpillAlign - 1) / kSpillAlign));
  uint64_t left = len;
  for (iovec& v : iov) {
    v.iov_base = const_cast<std::byte*>(zeros);
    v.iov_len = size_t(left < kSpillAlign ? left : kSpillAlign);
    left -= v.iov_len;
  }
  // Best effort: a full disk leaves the range unwritten, and the punch frees
  // what it can.
  (void)write(iov.data(), iov.size(), off);
  punch(off, len);
}

}  // namespace shoal::store
