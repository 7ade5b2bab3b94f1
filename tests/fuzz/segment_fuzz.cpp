// Fuzzes attaching to a session store whose header and layout are anything
// at all: a corrupt or hostile store file, reached the way `shoal status` and
// `shoal clean` reach it (tools::inspect(), without joining) and a peer of the
// session maps it (Store::attach(), then join() and leave()): through the
// session's marker, which names this process as the holder of the store's
// descriptor. Every input must attach, or fail with a StoreError: never crash
// or read outside the mapping.
//
// Input: one mode byte, then the start of the segment file (its header, and
// the tables, when the layout puts them that close). Mode bits:
//   1  the harness forges the identity (magic number, version, layout
//      checksum), so the input reaches the layout checks, as a forged
//      segment would
//   2  the file is extended (sparse) to the layout's total_bytes, if at most
//      64 MiB, so that a layout may describe the whole file
//   4  after attaching, join the session and leave it again
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "store/segment.hpp"
#include "store/session_marker.hpp"
#include "store/store.hpp"
#include "tools/sessions.hpp"

namespace {

using shoal::store::SegmentHeader;

constexpr uint64_t kMaxFileBytes = 64ull << 20;

// The store file of the forged session: written from `bytes`, `size` bytes
// long, unlinked, and named in the session's marker `name` with this process
// as its holder. Returns its descriptor (-1 on a failure of the harness).
int write_session(const std::string& name, const std::vector<uint8_t>& bytes, uint64_t size) {
  const std::string path = "/dev/shm/" + name + ".fuzzstore";
  const int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  ::unlink(path.c_str());
  bool ok = bytes.empty() || ::write(fd, bytes.data(), bytes.size()) == ssize_t(bytes.size());
  ok = ok && ::ftruncate(fd, off_t(size)) == 0;
  struct stat st;
  ok = ok && ::fstat(fd, &st) == 0;
  shoal::store::SessionMarker marker{};
  marker.magic = shoal::store::kMarkerMagic;
  marker.version = shoal::store::kMarkerVersion;
  marker.store_fd = fd;
  marker.holders[0] = ::getpid();
  marker.store_dev = uint64_t(st.st_dev);
  marker.store_ino = uint64_t(st.st_ino);
  marker.store_bytes = size;
  std::strncpy(marker.store_dir, "/dev/shm", sizeof(marker.store_dir) - 1);
  shoal::store::SessionMarker::remove(name);
  ok = ok && static_cast<bool>(shoal::store::SessionMarker::write(name, marker));
  if (!ok) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  std::vector<uint8_t> image(data + 1, data + size);
  uint64_t file_bytes = image.size();
  if (image.size() >= sizeof(SegmentHeader)) {
    SegmentHeader h;
    std::memcpy(static_cast<void*>(&h), image.data(), sizeof(h));
    if (mode & 1) {
      h.magic = shoal::store::kSegmentMagic;
      h.version = shoal::store::kSegmentVersion;
      h.layout_checksum = h.layout.checksum();
      std::memcpy(image.data(), static_cast<const void*>(&h), offsetof(SegmentHeader, pad0));
    }
    if ((mode & 2) && h.layout.total_bytes > file_bytes && h.layout.total_bytes <= kMaxFileBytes)
      file_bytes = h.layout.total_bytes;
  }
  static const std::string name = shoal::store::make_segment_name(0xf022);
  const int fd = write_session(name, image, file_bytes);
  if (fd < 0) std::abort();

  (void)shoal::tools::inspect(name);
  if (auto store = shoal::store::Store::attach(name)) {
    if ((mode & 4) &&
        (*store)->join(shoal::ipc::ProcessKind::kDriver, shoal::ipc::kNoProcess, "fuzz")) {
      (*store)->leave();
    }
  } else if (store.error() != shoal::store::StoreError::kCorrupt &&
             store.error() != shoal::store::StoreError::kSystem) {
    std::abort();  // the file is there: missing or existing make no sense
  }
  shoal::store::SessionMarker::remove(name);
  ::close(fd);
  return 0;
}
