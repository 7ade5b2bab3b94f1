#include "store/segment.hpp"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/interprocess/shared_memory_object.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <utility>

#include "ipc/actor_table.hpp"
#include "ipc/process_table.hpp"
#include "store/object_entry.hpp"
#include "store/type_registry.hpp"

namespace bip = boost::interprocess;

namespace shoal::store {

namespace {

constexpr uint64_t kHeaderBytes = 4096;
constexpr uint32_t kTypeRecords = 1024;

uint64_t align_up(uint64_t v, uint64_t a) {
  return (v + a - 1) / a * a;
}

uint64_t fnv1a(const void* data, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
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
                   processes_off + uint64_t(processes_count) * sizeof(ipc::ProcessSlot)) &&
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
  return fnv1a(this, sizeof(*this));
}

Segment::Segment(Segment&& o) noexcept
    : base_(std::exchange(o.base_, nullptr)),
      size_(std::exchange(o.size_, 0)),
      layout_(o.layout_),
      name_(std::move(o.name_)) {}

Segment& Segment::operator=(Segment&& o) noexcept {
  if (this != &o) {
    unmap();
    base_ = std::exchange(o.base_, nullptr);
    size_ = std::exchange(o.size_, 0);
    layout_ = o.layout_;
    name_ = std::move(o.name_);
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
}

namespace {

// Maps the whole of `shm`. The Segment owns the mapping itself: it must outlive
// the shared_memory_object handle and move between owners.
Result<std::pair<std::byte*, uint64_t>, StoreError> map_whole(bip::shared_memory_object& shm) {
  bip::offset_t size = 0;
  if (!shm.get_size(size) || size <= 0) return fail(StoreError::kCorrupt);
  void* p = ::mmap(nullptr, static_cast<size_t>(size), PROT_READ | PROT_WRITE, MAP_SHARED,
                   shm.get_mapping_handle().handle, 0);
  if (p == MAP_FAILED) return fail(StoreError::kSystem);
  return std::make_pair(static_cast<std::byte*>(p), static_cast<uint64_t>(size));
}

}  // namespace

Result<Segment, StoreError> Segment::create(const std::string& name, uint64_t bytes,
                                            uint64_t session_tag) {
  if (bytes < kMinSegmentBytes) bytes = kMinSegmentBytes;
  if (bytes > kMaxSegmentBytes) bytes = kMaxSegmentBytes;
  bytes = align_up(bytes, kPage);
  try {
    bip::permissions perm;
    perm.set_permissions(0600);
    bip::shared_memory_object shm(bip::create_only, name.c_str(), bip::read_write, perm);
    ::fchmod(shm.get_mapping_handle().handle, 0600);  // whatever the umask
    shm.truncate(static_cast<bip::offset_t>(bytes));
    auto mapped = map_whole(shm);
    if (!mapped) {
      bip::shared_memory_object::remove(name.c_str());
      return fail(mapped.error());
    }
    Segment s;
    s.base_ = mapped->first;
    s.size_ = mapped->second;
    s.name_ = name;
    s.layout_ = SegmentLayout::compute(s.size_, session_tag);
    auto* h = new (s.base_) SegmentHeader{};
    h->magic = kSegmentMagic;
    h->version = kSegmentVersion;
    h->header_bytes = sizeof(SegmentHeader);
    h->layout = s.layout_;
    h->layout_checksum = s.layout_.checksum();
    h->created_unix_ns =
        static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count());
    std::strncpy(h->name, name.c_str(), sizeof(h->name) - 1);
    h->supervisor_slot.store(ipc::kNoProcess, std::memory_order_relaxed);
    return s;
  } catch (const bip::interprocess_exception& e) {
    if (e.get_error_code() == bip::already_exists_error) return fail(StoreError::kSegmentExists);
    return fail(StoreError::kSystem);
  }
}

Result<Segment, StoreError> Segment::open(const std::string& name) {
  try {
    bip::shared_memory_object shm(bip::open_only, name.c_str(), bip::read_write);
    auto mapped = map_whole(shm);
    if (!mapped) return fail(mapped.error());
    Segment s;
    s.base_ = mapped->first;
    s.size_ = mapped->second;
    s.name_ = name;
    if (s.size_ < sizeof(SegmentHeader)) return fail(StoreError::kCorrupt);
    const SegmentHeader& h = s.header();
    if (h.magic != kSegmentMagic || h.version != kSegmentVersion ||
        h.layout_checksum != h.layout.checksum() || !h.layout.sane(s.size_)) {
      return fail(StoreError::kCorrupt);
    }
    s.layout_ = h.layout;
    return s;
  } catch (const bip::interprocess_exception& e) {
    if (e.get_error_code() == bip::not_found_error) return fail(StoreError::kSegmentMissing);
    return fail(StoreError::kSystem);
  }
}

bool Segment::remove(const std::string& name) {
  return bip::shared_memory_object::remove(name.c_str());
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
