// SpillFile: one process's handle on the session's spill file, where objects
// that do not fit in the store are kept (see ObjectTable's spilling,
// store/object_spill.cpp).
//
// The file is <spill dir>/<session name>.spill, created by the first process
// that spills. Space in it is handed out by a counter in the segment header
// that only grows (SegmentHeader::spill_end), so an offset is never reused;
// the copy of an object is punched out of the file (its disk blocks freed) as
// soon as it is not needed any more, and the file is removed with the
// session's marker (Segment::remove, also by `shoal clean`).
//
// Thread-safe; every access is a pread/pwrite at an explicit offset, so
// processes and threads share the file without a lock.
#pragma once

#include <sys/uio.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>

#include "ipc/result.hpp"
#include "store/store_error.hpp"

namespace shoal::store {

// Every copy in the file starts on a block of this size, so punching it out
// frees whole file system blocks.
inline constexpr uint64_t kSpillAlign = 4096;

class SpillFile {
 public:
  SpillFile() = default;
  explicit SpillFile(std::string path) : path_(std::move(path)) {}
  SpillFile(const SpillFile&) = delete;
  SpillFile& operator=(const SpillFile&) = delete;
  ~SpillFile();

  static std::string path_for(const std::string& dir, const std::string& session_name) {
    return dir + "/" + session_name + ".spill";
  }
  const std::string& path() const { return path_; }
  bool enabled() const { return !path_.empty(); }
  static uint64_t padded(uint64_t bytes) {
    return (bytes + kSpillAlign - 1) / kSpillAlign * kSpillAlign;
  }

  // Writes the buffers `iov[0..n)` to the file at `off`, one pwritev() per
  // IOV_MAX buffers. kSpillDiskFull: no room (ENOSPC, EDQUOT); kSpillFailed:
  // any other failure, errno says which.
  Result<void, StoreError> write(const iovec* iov, size_t n, uint64_t off);
  // Reads `len` bytes at `off` into `dst`.
  Result<void, StoreError> read(uint64_t off, std::byte* dst, uint64_t len);
  // Frees the file's blocks of [off, off + len) (best effort: a file system
  // without hole punching keeps them until the file is removed).
  void punch(uint64_t off, uint64_t len);
  // Takes back a range a dead process may have been writing: zeroes it, then
  // punches it. A pwritev() of lazily faulted shared pages cut short by a
  // kill -9 can leave ext4 holding blocks of the range that a punch alone
  // does not free; written over first, the whole range is punched out.
  void scrub(uint64_t off, uint64_t len);

 private:
  int fd();  // opens (creating) the file at first use; -1 with errno on failure

  std::string path_;
  std::mutex open_mu_;
  // The descriptor and the process that opened it: a forked child opens the
  // file again (a fork server closes what it inherits, and the number may
  // name another file by then).
  std::atomic<uint64_t> opened_{0};  // (pid << 32) | fd, 0 for none
};

}  // namespace shoal::store
