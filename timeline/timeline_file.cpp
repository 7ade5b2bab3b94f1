#include "timeline/timeline_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <new>
#include <utility>

#include "ipc/checksum.hpp"
#include "timeline/clock.hpp"

namespace shoal::timeline {

namespace {

constexpr uint64_t kPage = 4096;

uint64_t align_up(uint64_t v, uint64_t a) {
  return (v + a - 1) / a * a;
}

uint32_t round_up_pow2(uint32_t v) {
  uint32_t p = 1;
  while (p < v && p < kMaxRingEvents)
    p <<= 1;
  return p;
}

}  // namespace

const char* to_string(TimelineError error) {
  switch (error) {
    case TimelineError::kMissing:
      return "no such timeline file";
    case TimelineError::kExists:
      return "the timeline file already exists";
    case TimelineError::kCorrupt:
      return "the timeline file is corrupt";
    case TimelineError::kBadSize:
      return "timeline size out of range";
    case TimelineError::kFull:
      return "every process entry of the timeline is taken";
    case TimelineError::kSystem:
      return "system call failed";
  }
  return "unknown timeline error";
}

std::string timeline_path(const std::string& session_name) {
  return "/dev/shm/" + session_name + kTimelineSuffix;
}

TimelineLayout TimelineLayout::compute(uint32_t process_count, uint32_t string_count,
                                       uint32_t ring_count, uint32_t ring_events) {
  TimelineLayout l{};
  l.process_count = process_count;
  l.string_count = string_count;
  l.ring_count = ring_count;
  l.ring_events = round_up_pow2(ring_events);
  uint64_t off = kTimelineHeaderBytes;
  l.processes_off = off;
  off += uint64_t(process_count) * sizeof(ProcessEntry);
  l.strings_off = off;
  off += uint64_t(string_count) * sizeof(StringEntry);
  // Rings start on a page and take whole pages, so each can be faulted in
  // on its own when a thread claims it.
  l.rings_off = align_up(off, kPage);
  l.ring_stride =
      align_up(sizeof(RingHeader) + uint64_t(l.ring_events) * sizeof(TimelineEvent), kPage);
  l.total_bytes = l.rings_off + uint64_t(ring_count) * l.ring_stride;
  return l;
}

bool TimelineLayout::sane(uint64_t mapped) const {
  if (total_bytes != mapped || process_count == 0 || process_count > kMaxTimelineProcesses ||
      string_count < 2 || string_count > kMaxTimelineStrings || ring_count == 0 ||
      ring_count > kMaxTimelineRings || ring_events == 0 || ring_events > kMaxRingEvents ||
      (ring_events & (ring_events - 1)) != 0) {
    return false;
  }
  // Recomputing from the counts checks every offset and the order at once.
  const TimelineLayout want = compute(process_count, string_count, ring_count, ring_events);
  return want.processes_off == processes_off && want.strings_off == strings_off &&
         want.rings_off == rings_off && want.ring_stride == ring_stride &&
         want.total_bytes == total_bytes;
}

uint64_t TimelineLayout::checksum() const {
  return ipc::fnv1a(this, sizeof(*this));
}

TimelineFile::TimelineFile(TimelineFile&& o) noexcept {
  *this = std::move(o);
}

TimelineFile& TimelineFile::operator=(TimelineFile&& o) noexcept {
  if (this != &o) {
    this->~TimelineFile();
    base_ = std::exchange(o.base_, nullptr);
    size_ = std::exchange(o.size_, 0);
    layout_ = o.layout_;
    path_ = std::move(o.path_);
  }
  return *this;
}

TimelineFile::~TimelineFile() {
  if (base_ != nullptr) ::munmap(base_, size_);
  base_ = nullptr;
}

Result<TimelineFile, TimelineError> TimelineFile::create(const std::string& path,
                                                         const TimelineParams& params,
                                                         uint64_t session_tag,
                                                         const std::string& session_name) {
  if (params.rings == 0 || params.rings > kMaxTimelineRings || params.ring_events == 0 ||
      params.ring_events > kMaxRingEvents || params.processes == 0 ||
      params.processes > kMaxTimelineProcesses || params.strings < 2 ||
      params.strings > kMaxTimelineStrings) {
    return fail(TimelineError::kBadSize);
  }
  const TimelineLayout layout =
      TimelineLayout::compute(params.processes, params.strings, params.rings, params.ring_events);
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return fail(errno == EEXIST ? TimelineError::kExists : TimelineError::kSystem);
  ::fchmod(fd, 0600);  // whatever the umask
  // Sparse: only the header, the tables and the rings threads claim are ever
  // faulted in.
  if (::ftruncate(fd, off_t(layout.total_bytes)) != 0) {
    const int error = errno;
    ::close(fd);
    ::unlink(path.c_str());
    errno = error;
    return fail(TimelineError::kSystem);
  }
  void* p = ::mmap(nullptr, layout.total_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  const int error = errno;
  ::close(fd);
  if (p == MAP_FAILED) {
    ::unlink(path.c_str());
    errno = error;
    return fail(TimelineError::kSystem);
  }
  TimelineFile f;
  f.base_ = static_cast<std::byte*>(p);
  f.size_ = layout.total_bytes;
  f.layout_ = layout;
  f.path_ = path;
  auto* h = new (f.base_) TimelineHeader{};
  h->magic = kTimelineMagic;
  h->version = kTimelineVersion;
  h->header_bytes = sizeof(TimelineHeader);
  h->layout = layout;
  h->layout_checksum = layout.checksum();
  h->session_tag = session_tag;
  h->created_unix_ns = uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count());
  const ClockPair c = read_clocks();
  h->clock_ticks0 = c.ticks;
  h->clock_ns0 = c.ns;
  h->creator_pid = ::getpid();
  std::strncpy(h->session_name, session_name.c_str(), sizeof(h->session_name) - 1);
  // Nobody else maps the file before create() returns (it has no readers
  // yet); relaxed is enough.
  h->strings_claimed.store(1, std::memory_order_relaxed);
  return f;
}

Result<TimelineFile, TimelineError> TimelineFile::open(const std::string& path, bool writable) {
  const int fd = ::open(path.c_str(), (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return fail(errno == ENOENT ? TimelineError::kMissing : TimelineError::kSystem);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return fail(TimelineError::kSystem);
  }
  if (uint64_t(st.st_size) < kTimelineHeaderBytes) {
    ::close(fd);
    return fail(TimelineError::kCorrupt);
  }
  const uint64_t size = uint64_t(st.st_size);
  void* p = ::mmap(nullptr, size, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) return fail(TimelineError::kSystem);
  TimelineFile f;
  f.base_ = static_cast<std::byte*>(p);
  f.size_ = size;
  f.path_ = path;
  const TimelineHeader& h = f.header();
  if (h.magic != kTimelineMagic || h.version != kTimelineVersion ||
      h.header_bytes != sizeof(TimelineHeader) || h.layout_checksum != h.layout.checksum() ||
      !h.layout.sane(size)) {
    return fail(TimelineError::kCorrupt);
  }
  f.layout_ = h.layout;
  return f;
}

bool TimelineFile::remove(const std::string& path) {
  return ::unlink(path.c_str()) == 0;
}

}  // namespace shoal::timeline
