// Segment: the session's one shared-memory segment, its header, and where
// every table lives inside it.
//
// The segment is a file in the store directory (/dev/shm unless the session
// says otherwise) that is unlinked as soon as it is created: it has no name
// while the session runs, and its memory is gone when the last process holding
// it is gone, however it died. Processes reach it through descriptors: forked
// children inherit the creator's, others open it again through a holder's
// /proc/<pid>/fd entry, found in the session's marker (store/session_marker.hpp).
// Every page is backed (store/store_backing.hpp) before it is touched.
//
//   [SegmentHeader 4 KiB][process table][ready queues][actor table][type registry]
//   [object table][heap bitmap][heap summary][heap ...................]
//
// Everything inside is reached by offset from the mapping's base; nothing in
// shared memory is a pointer. The layout fields are checksummed: a process
// attaching to a damaged segment gets kCorrupt, never a wild read.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>

#include "ipc/process_table.hpp"
#include "ipc/result.hpp"
#include "ipc/robust_lock.hpp"
#include "ipc/wake_word.hpp"
#include "store/heap_allocator.hpp"
#include "store/ready_queue.hpp"
#include "store/session_marker.hpp"
#include "store/store_backing.hpp"
#include "store/store_error.hpp"

namespace shoal::store {

inline constexpr uint64_t kSegmentMagic = 0x474553'4c414f4853ull;  // "SHOALSEG"
inline constexpr uint32_t kSegmentVersion = 10;  // bumped at every change of the layout
inline constexpr uint64_t kMinSegmentBytes = 16ull << 20;
inline constexpr uint64_t kMaxSegmentBytes = 1ull << 44;
// The store file is briefly <store dir>/<session name> + this, before it is
// unlinked (a crash in between leaves an empty one for `shoal clean`).
inline constexpr const char* kStoreFileSuffix = ".store";

enum class SessionState : uint32_t { kStarting = 0, kRunning = 1, kShuttingDown = 2 };

struct SegmentLayout {
  uint64_t total_bytes;
  uint64_t session_tag;
  uint64_t processes_off;
  uint64_t actors_off;
  uint64_t types_off;
  uint64_t objects_off;
  uint64_t bitmap_off;
  uint64_t summary_off;
  uint64_t heap_off;
  uint64_t heap_bytes;
  uint64_t bitmap_words;
  uint64_t summary_words;
  uint32_t processes_count;
  uint32_t actors_count;
  uint32_t types_count;
  uint32_t objects_count;

  // The process slots' ReadyQueues (one per slot) follow the process table.
  uint64_t ready_queues_off() const {
    return processes_off + uint64_t(processes_count) * sizeof(ipc::ProcessSlot);
  }
  // The layout of a segment of `bytes` bytes (already clamped to the limits).
  static SegmentLayout compute(uint64_t bytes, uint64_t session_tag);
  // True if every region is inside `mapped_bytes` and ordered as above.
  bool sane(uint64_t mapped_bytes) const;
  uint64_t checksum() const;
};
static_assert(std::is_trivially_copyable_v<SegmentLayout>);

// One node of a multi-node job, as its gateway greeted this one: where it
// runs and its session there. Written by this node's gateway only; `joined`
// (release) last.
inline constexpr uint32_t kNodeRows = 16;
struct alignas(64) NodeRow {
  std::atomic<uint32_t> joined;  // 1 once the row is written
  uint32_t reserved;
  char host[56];     // its host name, cut to fit
  char session[64];  // its segment's name
};
static_assert(sizeof(NodeRow) == 128);

struct alignas(64) SegmentHeader {
  // Lines 0-2: identity and layout; immutable once the segment is created.
  uint64_t magic;
  uint32_t version;
  uint32_t header_bytes;
  SegmentLayout layout;
  uint64_t layout_checksum;
  uint8_t pad0[40];

  // Line 3: the session.
  alignas(64) std::atomic<int32_t> creator_pid;
  std::atomic<int32_t> supervisor_pid;
  std::atomic<uint32_t> supervisor_slot;
  std::atomic<uint32_t> state;  // SessionState
  int32_t world_size;
  uint32_t reserved0;
  uint64_t created_unix_ns;
  char supervisor_socket[32];  // abstract unix socket name, without the leading NUL

  alignas(64) char name[64];  // the segment's name in /dev/shm

  // The heap allocator's shared state.
  AllocatorState alloc;

  // Lines: everything else that processes update.
  alignas(64) ipc::RobustLock registry_lock;  // actor names and actor table claims
  std::atomic<uint32_t> objects_high_water;   // highest object table index used + 1
  std::atomic<uint64_t> retired_created;      // objects_created of released process slots
  std::atomic<uint64_t> retired_freed;        // objects_freed of released process slots
  std::atomic<uint64_t> prefault_done;        // heap bytes faulted in so far
  ipc::WakeWord prefault_wake;                // the prefaulter parks here
  ipc::WakeWord supervisor_wake;              // bumped on every process registration
  // Backed watermarks (StoreBacking): file offsets below which the object
  // table and the heap have storage behind them.
  std::atomic<uint64_t> objects_backed;
  std::atomic<uint64_t> heap_backed;

  // Spilling (store/object_spill.cpp, store/spill_file.hpp).
  alignas(64) std::atomic<uint64_t> spill_end;  // spill file bytes handed out (never reused)
  std::atomic<uint64_t> seal_clock;             // ages of resident payloads (spill oldest first)
  ipc::WakeWord spill_wake;                     // the background spiller parks here
  std::atomic<uint32_t> spill_requested;        // 1 from a put past the threshold to the round
  char spill_path[256];                         // the spill file, "" for no spilling

  // One node of a multi-node job (cluster/); zero on one machine.
  // Process slot + 1 of the node's gateway, which serves the rings of the
  // entries standing for other nodes' actors (launcher::ActorKind::kRemote).
  // release: stored once the gateway serves; creators load it with acquire.
  alignas(64) std::atomic<uint32_t> gateway_slot;
  // Process slot + 1 whose fork server forks the actors other nodes create
  // here (the node server: the program started in that role), 0 until it
  // is up. release/acquire as gateway_slot.
  std::atomic<uint32_t> node_spawner;
  // Bumped (release) after a kRemote entry is created or killed; the
  // gateway (acquire) rescans the actor table when it changes.
  std::atomic<uint32_t> remote_epoch;
  // The job this node belongs to, written by its gateway once MPI is up:
  // this node and the job's size (release; 0 nodes: not a node of a job),
  // then each peer's row as its greeting arrives (`shoal status`).
  std::atomic<int32_t> node;
  std::atomic<int32_t> num_nodes;
  // Calls this node's gateway sent to other nodes and took from them
  // (relaxed counters, for `shoal status`).
  std::atomic<uint64_t> calls_out;
  std::atomic<uint64_t> calls_in;

  // Lines of the node table: the first kNodeRows nodes of the job.
  alignas(64) NodeRow nodes[kNodeRows];
};
static_assert(sizeof(SegmentHeader) == 896 + sizeof(NodeRow) * kNodeRows);
static_assert(offsetof(SegmentHeader, spill_end) == 512);
static_assert(sizeof(SegmentHeader) <= 4096, "the header fits the segment's first page");
static_assert(std::is_standard_layout_v<SegmentHeader>);
// Processes share these words: a lock-based std::atomic would put its lock in
// process memory, where the other processes never see it.
static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(std::atomic<uint32_t>::is_always_lock_free);
static_assert(std::atomic<int32_t>::is_always_lock_free);

// A mapping of a session segment. Move-only; unmaps on destruction.
class Segment {
 public:
  Segment() = default;
  Segment(Segment&&) noexcept;
  Segment& operator=(Segment&&) noexcept;
  ~Segment();

  // Creates an unnamed store file of `bytes` bytes in `dir` (mode 0600) and
  // the session's marker `name`, backs the metadata, maps it and writes an
  // empty layout. Nothing else is backed or faulted in. kNoBacking: `dir` has
  // no room even for the metadata.
  // `spill_dir`: where objects that do not fit are spilled ("": nowhere).
  static Result<Segment, StoreError> create(const std::string& dir, const std::string& name,
                                            uint64_t bytes, uint64_t session_tag,
                                            const std::string& spill_dir = "");
  // Maps the store of the live session `name` (through its marker) and
  // validates its header. kSegmentMissing: no marker, or no live holder.
  static Result<Segment, StoreError> open(const std::string& name);
  // The same through `fd`, a descriptor of the store inherited across exec
  // (shoal launch's ranks); falls back to open(name) if `fd` is not that
  // store. Takes `fd` over.
  static Result<Segment, StoreError> open_inherited(const std::string& name, int fd);
  // Removes the session's marker and its spill file (the store goes with its
  // last holder).
  static bool remove(const std::string& name);

  std::byte* base() const { return base_; }
  uint64_t size() const { return size_; }
  SegmentHeader& header() const { return *reinterpret_cast<SegmentHeader*>(base_); }
  const SegmentLayout& layout() const { return layout_; }  // validated private copy
  const std::string& name() const { return name_; }
  const std::string& dir() const { return dir_; }
  int fd() const { return fd_; }  // the store file; inherited by forked children
  const StoreBacking& heap_backing() const { return heap_backing_; }
  const StoreBacking& objects_backing() const { return objects_backing_; }

  template <class T>
  T* at(uint64_t off) const {
    return reinterpret_cast<T*>(base_ + off);
  }

 private:
  void unmap() noexcept;  // leaves the Segment empty, as a default-constructed one
  static Result<Segment, StoreError> map_fd(int fd, const std::string& name);
  static Result<Segment, StoreError> open_fd(int fd, const std::string& name,
                                             const SessionMarker& marker);
  void wire_backing();

  std::byte* base_ = nullptr;
  uint64_t size_ = 0;
  int fd_ = -1;
  SegmentLayout layout_{};
  std::string name_;
  std::string dir_;
  StoreBacking heap_backing_;
  StoreBacking objects_backing_;
};

// A name no other session (another user, a concurrent run) can collide with.
std::string make_segment_name(uint64_t session_tag);
uint64_t random_u64();

}  // namespace shoal::store
