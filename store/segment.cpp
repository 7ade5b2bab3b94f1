#include "store/segment.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <utility>

#include "ipc/actor_table.hpp"
#include "ipc/checksum.hpp"
#include "ipc/process_table.hpp"
#include "store/object_entry.hpp"
#include "store/session_marker.hpp"
#include "store/spill_file.hpp"
#include "store/type_registry.hpp"

namespace shoal::store {

namespace {

constexpr uint64_t kHeaderBytes = 4096;
constexpr uint32_t kTypeRecords = 1024;

uint64_t align_up(uint64_t v, uint64_t a) {
  return (v + a - 1) / a * a;
}

}  // namespace

SegmentLayout SegmentLayout::compute(uint64_t bytes, uint64_t session_tag) {
  SegmentLayout l{};
  l.total_bytes = bytes;
  l.session_tag = session_tag;
  l.processes_count = ipc::kMaxProcesses;
  l.actors_count = ipc::kMaxActors;
  l.types_count = kTypeRecords;
  uint64_t entries = bytes / 8192;
  if (entries < 16384) entries = 16384;
  if (entries > (1u << 20)) entries = 1u << 20;
  l.objects_count = static_cast<uint32_t>(entries);

  uint64_t off = kHeaderBytes;
  l.processes_off = off;
  off += uint64_t(l.processes_count) * sizeof(ipc::ProcessSlot);
  off += uint64_t(l.processes_count) * sizeof(ReadyQueue);  // ready_queues_off()
  l.actors_off = off;
  off += uint64_t(l.actors_count) * sizeof(ipc::ActorEntry);
  l.types_off = off;
  off += uint64_t(l.types_count) * sizeof(TypeRecord);
  l.objects_off = off;
  off += uint64_t(l.objects_count) * sizeof(ObjectEntry);
  off = align_up(off, kPage);

  // The heap and its bitmaps share what is left: heap + heap/512 + heap/32768.
  const uint64_t rest = bytes > off + 4 * kPage ? bytes - off - 4 * kPage : 0;
  uint64_t heap = (rest / 513) * 512;
  heap = heap / kPage * kPage;
  l.bitmap_words = (heap / kGranule + 63) / 64;
  l.summary_words = (l.bitmap_words + 63) / 64;
  l.bitmap_off = off;
  off = align_up(off + l.bitmap_words * 8, 64);
  l.summary_off = off;
  off = align_up(off + l.summary_words * 8, kPage);
  l.heap_off = off;
  if (off + heap > bytes) heap = bytes > off ? (bytes - off) / kPage * kPage : 0;
  l.heap_bytes = heap;
  return l;
}

bool SegmentLayout::sane(uint64_t mapped) const {
  auto region_ok = [&](uint64_t off, uint64_t len, uint64_t after) {
    return off >= after && len <= mapped && off <= mapped - len;
  };
  if (total_bytes != mapped || processes_count == 0 || processes_count > ipc::kMaxProcesses ||
      actors_count == 0 || actors_count > ipc::kMaxActors || types_count == 0 ||
      objects_count == 0 || objects_count > (1u << 30) || heap_bytes % kPage != 0 ||
      heap_off % kPage != 0) {
    return false;
  }
  // Word counts bounded first: their byte sizes below must not wrap around.
  if (bitmap_words > mapped / 8 || summary_words > mapped / 8) return false;
  if (bitmap_words < (heap_bytes / kGranule + 63) / 64 || summary_words < (bitmap_words + 63) / 64)
    return false;
  return region_ok(processes_off, uint64_t(processes_count) * sizeof(ipc::ProcessSlot),
                   kHeaderBytes) &&
         region_ok(actors_off, uint64_t(actors_count) * sizeof(ipc::ActorEntry),
                   ready_queues_off() + uint64_t(processes_count) * sizeof(ReadyQueue)) &&
         region_ok(types_off, uint64_t(types_count) * sizeof(TypeRecord),
                   actors_off + uint64_t(actors_count) * sizeof(ipc::ActorEntry)) &&
         region_ok(objects_off, uint64_t(objects_count) * sizeof(ObjectEntry),
                   types_off + uint64_t(types_count) * sizeof(TypeRecord)) &&
         region_ok(bitmap_off, bitmap_words * 8,
                   objects_off + uint64_t(objects_count) * sizeof(ObjectEntry)) &&
         region_ok(summary_off, summary_words * 8, bitmap_off + bitmap_words * 8) &&
         region_ok(heap_off, heap_bytes, summary_off + summary_words * 8) &&
         processes_off % 64 == 0 && actors_off % 64 == 0 && types_off % 64 == 0 &&
         objects_off % 64 == 0 && bitmap_off % 8 == 0 && summary_off % 8 == 0;
}

uint64_t SegmentLayout::checksum() const {
  return ipc::fnv1a(this, sizeof(*this));
}

Segment::Segment(Segment&& o) noexcept
    : base_(std::exchange(o.base_, nullptr)),
      size_(std::exchange(o.size_, 0)),
      fd_(std::exchange(o.fd_, -1)),
      layout_(o.layout_),
      name_(std::move(o.name_)),
      dir_(std::move(o.dir_)) {
  wire_backing();
  o.wire_backing();
}

Segment& Segment::operator=(Segment&& o) noexcept {
  if (this != &o) {
    unmap();
    base_ = std::exchange(o.base_, nullptr);
    size_ = std::exchange(o.size_, 0);
    fd_ = std::exchange(o.fd_, -1);
    layout_ = o.layout_;
    name_ = std::move(o.name_);
    dir_ = std::move(o.dir_);
    wire_backing();
    o.wire_backing();
  }
  return *this;
}

Segment::~Segment() {
  unmap();
}

void Segment::unmap() noexcept {
  if (base_ != nullptr) {
    ::munmap(base_, size_);
    base_ = nullptr;
    size_ = 0;
  }
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  wire_backing();
}

void Segment::wire_backing() {
  if (base_ == nullptr || fd_ < 0 || layout_.total_bytes == 0) {
    heap_backing_ = StoreBacking();
    objects_backing_ = StoreBacking();
    return;
  }
  SegmentHeader& h = header();
  heap_backing_ =
      StoreBacking(fd_, &h.heap_backed, layout_.heap_off, layout_.heap_off + layout_.heap_bytes);
  objects_backing_ =
      StoreBacking(fd_, &h.objects_backed, layout_.objects_off,
                   layout_.objects_off + uint64_t(layout_.objects_count) * sizeof(ObjectEntry));
}

namespace {

// Descriptors of the store sit at or above this number, out of the way of
// the low numbers that children rearrange with dup2() before they exec.
constexpr int kStoreFdFloor = 64;

// Moves `fd` to kStoreFdFloor or above, close-on-exec (a program the user
// execs does not keep the store alive); -1 on failure (fd closed).
int lift_fd(int fd) {
  if (fd < 0 || fd >= kStoreFdFloor) return fd;
  const int high = ::fcntl(fd, F_DUPFD_CLOEXEC, kStoreFdFloor);
  ::close(fd);
  return high;
}

uint64_t now_unix_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace

Result<Segment, StoreError> Segment::map_fd(int fd, const std::string& name) {
  struct stat st;
  if (::fstat(fd, &st) != 0 || st.st_size <= 0) {
    ::close(fd);
    return fail(StoreError::kCorrupt);
  }
  void* p = ::mmap(nullptr, size_t(st.st_size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    const int saved = errno;
    ::close(fd);
    errno = saved;
    return fail(StoreError::kSystem);
  }
  Segment s;
  s.base_ = static_cast<std::byte*>(p);
  s.size_ = uint64_t(st.st_size);
  s.fd_ = fd;
  s.name_ = name;
  return s;
}

Result<Segment, StoreError> Segment::create(const std::string& dir, const std::string& name,
                                            uint64_t bytes, uint64_t session_tag,
                                            const std::string& spill_dir) {
  if (bytes < kMinSegmentBytes) bytes = kMinSegmentBytes;
  if (bytes > kMaxSegmentBytes) bytes = kMaxSegmentBytes;
  bytes = align_up(bytes, kBackingChunk);
  if (name.empty() || name.find('/') != std::string::npos || dir.empty()) {
    errno = EINVAL;
    return fail(StoreError::kSystem);
  }
  // Created under a name that says whose it is (so /proc/<pid>/maps and
  // /proc/<pid>/fd read "<dir>/<name>.store (deleted)"), and unlinked at once:
  // a crash between the two leaves an empty file that `shoal clean` removes.
  // O_TMPFILE would leave no window, but hugetlbfs and some file systems lack
  // it; memfd_create's pages are not counted in /dev/shm's size, which is the
  // limit a container sets and the one checked before creating.
  const std::string path = dir + "/" + name + kStoreFileSuffix;
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return fail(errno == EEXIST ? StoreError::kSegmentExists : StoreError::kSystem);
  ::unlink(path.c_str());
  fd = lift_fd(fd);
  if (fd < 0) return fail(StoreError::kSystem);
  ::fchmod(fd, 0600);  // whatever the umask
  auto close_fail = [&](StoreError e) -> Result<Segment, StoreError> {
    const int saved = errno;
    ::close(fd);
    errno = saved;
    return fail(e);
  };
  if (::ftruncate(fd, off_t(bytes)) != 0) return close_fail(StoreError::kSystem);
  const SegmentLayout layout = SegmentLayout::compute(bytes, session_tag);
  // The metadata but the object table is backed now (a few MiB, and the
  // bitmaps: 1/512 of the heap); the object table and the heap as they grow.
  if (auto r = StoreBacking::allocate(fd, 0, layout.objects_off); !r) return close_fail(r.error());
  if (auto r = StoreBacking::allocate(fd, layout.bitmap_off, layout.heap_off - layout.bitmap_off);
      !r) {
    return close_fail(r.error());
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) return close_fail(StoreError::kSystem);
  SessionMarker marker{};
  marker.magic = kMarkerMagic;
  marker.version = kMarkerVersion;
  marker.store_fd = fd;
  marker.holders[0] = ::getpid();
  marker.store_dev = uint64_t(st.st_dev);
  marker.store_ino = uint64_t(st.st_ino);
  marker.store_bytes = bytes;
  marker.created_unix_ns = now_unix_ns();
  std::strncpy(marker.store_dir, dir.c_str(), sizeof(marker.store_dir) - 1);
  const std::string spill_path = spill_dir.empty() ? "" : SpillFile::path_for(spill_dir, name);
  if (spill_dir.size() >= sizeof(marker.spill_dir) ||
      spill_path.size() >= sizeof(SegmentHeader::spill_path)) {
    errno = ENAMETOOLONG;
    return close_fail(StoreError::kSystem);
  }
  std::strncpy(marker.spill_dir, spill_dir.c_str(), sizeof(marker.spill_dir) - 1);
  if (auto r = SessionMarker::write(name, marker); !r) return close_fail(r.error());
  auto mapped = map_fd(fd, name);
  if (!mapped) {
    SessionMarker::remove(name);
    return fail(mapped.error());
  }
  Segment s = std::move(mapped).value();
  s.dir_ = dir;
  s.layout_ = layout;
  auto* h = new (s.base_) SegmentHeader{};
  h->magic = kSegmentMagic;
  h->version = kSegmentVersion;
  h->header_bytes = sizeof(SegmentHeader);
  h->layout = s.layout_;
  h->layout_checksum = s.layout_.checksum();
  h->created_unix_ns = marker.created_unix_ns;
  std::strncpy(h->name, name.c_str(), sizeof(h->name) - 1);
  std::strncpy(h->spill_path, spill_path.c_str(), sizeof(h->spill_path) - 1);
  h->supervisor_slot.store(ipc::kNoProcess, std::memory_order_relaxed);
  // relaxed: nobody else maps the segment yet.
  h->objects_backed.store(layout.objects_off, std::memory_order_relaxed);
  h->heap_backed.store(layout.heap_off, std::memory_order_relaxed);
  s.wire_backing();
  return s;
}

Result<Segment, StoreError> Segment::open(const std::string& name) {
  auto marker = SessionMarker::read(name);
  if (!marker) return fail(marker.error());
  int fd = -1;
  for (int i = 0; i < kMarkerHolders && fd < 0; ++i) {
    const pid_t holder = marker->holders[i];
    if (holder <= 0) continue;
    const std::string proc =
        "/proc/" + std::to_string(holder) + "/fd/" + std::to_string(marker->store_fd);
    fd = ::open(proc.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) continue;
    // A reused pid may hold some other file at that number.
    struct stat st;
    if (::fstat(fd, &st) != 0 || uint64_t(st.st_dev) != marker->store_dev ||
        uint64_t(st.st_ino) != marker->store_ino) {
      ::close(fd);
      fd = -1;
    }
  }
  if (fd < 0) return fail(StoreError::kSegmentMissing);
  return open_fd(fd, name, *marker);
}

Result<Segment, StoreError> Segment::open_inherited(const std::string& name, int fd) {
  auto marker = SessionMarker::read(name);
  if (!marker) return fail(marker.error());
  struct stat st;
  if (fd < 0 || ::fstat(fd, &st) != 0 || uint64_t(st.st_dev) != marker->store_dev ||
      uint64_t(st.st_ino) != marker->store_ino) {
    return open(name);  // not the store (a stale number): the marker's way
  }
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);  // it crossed one exec; no further
  return open_fd(fd, name, *marker);
}

Result<Segment, StoreError> Segment::open_fd(int fd, const std::string& name,
                                             const SessionMarker& marker) {
  fd = lift_fd(fd);
  if (fd < 0) return fail(StoreError::kSystem);
  auto mapped = map_fd(fd, name);
  if (!mapped) return fail(mapped.error());
  Segment s = std::move(mapped).value();
  s.dir_ = marker.store_dir;
  if (s.size_ < sizeof(SegmentHeader)) return fail(StoreError::kCorrupt);
  const SegmentHeader& h = s.header();
  if (h.magic != kSegmentMagic || h.version != kSegmentVersion ||
      h.layout_checksum != h.layout.checksum() || !h.layout.sane(s.size_)) {
    return fail(StoreError::kCorrupt);
  }
  s.layout_ = h.layout;
  s.wire_backing();
  return s;
}

bool Segment::remove(const std::string& name) {
  // The spill file first: once the marker is gone nothing names it.
  if (auto marker = SessionMarker::read(name); marker && marker->spill_dir[0] != '\0') {
    ::unlink(SpillFile::path_for(marker->spill_dir, name).c_str());
  }
  return SessionMarker::remove(name);
}

uint64_t random_u64() {
  static thread_local std::mt19937_64 rng{
      std::random_device{}() ^ (uint64_t(::getpid()) << 32) ^
      uint64_t(std::chrono::steady_clock::now().time_since_epoch().count())};
  uint64_t v = 0;
  while (v == 0)
    v = rng();
  return v;
}

std::string make_segment_name(uint64_t session_tag) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "shoal-%u-%d-%016llx", static_cast<unsigned>(::getuid()),
                static_cast<int>(::getpid()), static_cast<unsigned long long>(session_tag));
  return buf;
}

}  // namespace shoal::store
