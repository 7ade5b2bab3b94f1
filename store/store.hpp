// Store: one process's handle on the session's object store, and the facade
// the rest of shoal goes through: the mapped segment, its tables, this
// process's slot and its reference records.
//
// Thread-safe: any thread may create, pin, unpin and wait at once.
#pragma once

#include <atomic>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <shoal/detail/ref_record.hpp>

#include "ipc/actor_table.hpp"
#include "ipc/process_table.hpp"
#include "ipc/result.hpp"
#include "store/heap_allocator.hpp"
#include "store/object_table.hpp"
#include "store/record_pool.hpp"
#include "store/segment.hpp"
#include "store/session_marker.hpp"
#include "store/spill_file.hpp"
#include "store/store_error.hpp"
#include "store/type_registry.hpp"

namespace shoal::store {

class Store {
 public:
  // Creates a new session segment of `bytes` (clamped to the limits), its
  // store file in `dir` and its marker in kMarkerDir; objects that do not fit
  // are spilled to a file in `spill_dir` ("": never).
  static Result<std::unique_ptr<Store>, StoreError> create(uint64_t bytes,
                                                           const std::string& dir = kMarkerDir,
                                                           const std::string& spill_dir = "");
  // Maps the existing segment `name` and validates it.
  static Result<std::unique_ptr<Store>, StoreError> attach(const std::string& name);
  // The same through an inherited descriptor (Segment::open_inherited).
  static Result<std::unique_ptr<Store>, StoreError> attach_inherited(const std::string& name,
                                                                     int fd);

  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;
  ~Store();

  // Takes a process slot for the calling process; needed before any reference
  // operation. `creator` is the process that spawned us (kNoProcess: none).
  Result<ipc::ProcessSlotId, StoreError> join(ipc::ProcessKind kind, ipc::ProcessSlotId creator,
                                              const char* label);
  // Drops every reference this process still holds and gives its slot back.
  // For a process that leaves the session but keeps running.
  void leave();
  // Forgets the slot without touching shared memory: for a forked child whose
  // parent's slot it inherited.
  void forget_slot() { me_ = ipc::kNoProcess; }

  ipc::ProcessSlotId me() const { return me_; }
  Segment& segment() { return segment_; }
  SegmentHeader& header() const { return segment_.header(); }
  const SegmentLayout& layout() const { return segment_.layout(); }
  uint64_t session_tag() const { return segment_.layout().session_tag; }
  ipc::ProcessTable& processes() { return processes_; }
  ObjectTable& objects() { return objects_; }
  HeapAllocator& heap() { return heap_; }
  TypeRegistry& types() { return types_; }
  SpillFile& spill_file() { return *spill_; }
  ipc::ActorTable& actors() { return actors_; }
  ipc::ActorEntry& actor(uint32_t index) const { return actors_.entry(index); }
  uint32_t actor_count() const { return actors_.size(); }
  ipc::WakeWord& my_wake() { return processes_.slot(me_).wake; }
  std::byte* base() const { return segment_.base(); }
  template <class T>
  T* at(uint64_t off) const {
    return segment_.at<T>(off);
  }

  // ---- references ----
  Result<RefRecord*, StoreError> create_object(ObjectState initial, uint32_t writer,
                                               uint32_t child_places = 0);
  Result<RefRecord*, StoreError> pin(uint32_t slot, uint32_t gen);
  // How many pin() calls this process has made: pin() is the one way a
  // process gets a second record for an object it may already hold (every
  // other record is made with a new object).
  uint64_t pins_made() const { return pins_made_.load(std::memory_order_relaxed); }
  // Drops the record's pin (freeing the object if it was the last) and
  // returns the record to the pool.
  void unpin(RefRecord* rec);

  // ---- waiting ----
  enum class Wait { kSealed, kTimedOut, kCorrupt };
  // Blocks the calling thread until (slot, gen) is sealed: spins for
  // `spin_ns`, then parks on this process's wake word. deadline_ns: steady
  // clock nanoseconds, 0 for none. The caller must hold a pin.
  Wait wait_sealed(uint32_t slot, uint32_t gen, uint64_t deadline_ns, uint64_t spin_ns);
  // Blocks until at least `want` of `objects` (packed slot/gen) are sealed.
  Wait wait_some(const std::vector<uint64_t>& objects, size_t want, uint64_t deadline_ns,
                 uint64_t spin_ns);

  // ---- the supervisor ----
  // Repairs everything process `dead` left behind; `writer_dead` and `fail`
  // as for ObjectTable::recover_entries.
  void recover_process(ipc::ProcessSlotId dead,
                       const std::function<bool(uint32_t writer)>& writer_dead,
                       const std::function<void(uint32_t slot)>& fail);

  // Objects alive in the session: table entries in use (a scan up to the
  // table's high water; for status and tests, not for hot paths).
  uint64_t live_objects() const;

 private:
  explicit Store(Segment segment);
  void wire();  // builds the table views over the mapping

  Segment segment_;
  ipc::ProcessTable processes_;
  ipc::ActorTable actors_;
  HeapAllocator heap_;
  ObjectTable objects_;
  TypeRegistry types_;
  ipc::ProcessSlotId me_ = ipc::kNoProcess;
  std::unique_ptr<RecordPool> records_;
  std::unique_ptr<SpillFile> spill_;
  std::atomic<uint64_t> pins_made_{0};  // relaxed: read by wait()'s shortcut, see pins_made()
};

}  // namespace shoal::store
