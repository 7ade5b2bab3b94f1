#include "store/store.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>

#include "ipc/spin.hpp"

namespace shoal::store {

Store::Store(Segment segment) : segment_(std::move(segment)) {
  wire();
}

Store::~Store() = default;

void Store::wire() {
  const SegmentLayout& l = segment_.layout();
  std::byte* base = segment_.base();
  processes_ = ipc::ProcessTable(segment_.at<ipc::ProcessSlot>(l.processes_off), l.processes_count);
  actors_ = ipc::ActorTable(segment_.at<ipc::ActorEntry>(l.actors_off), l.actors_count);
  heap_ = HeapAllocator(base, l.total_bytes, &segment_.header().alloc,
                        segment_.at<uint64_t>(l.bitmap_off), l.bitmap_words,
                        segment_.at<uint64_t>(l.summary_off), l.summary_words, l.heap_off,
                        l.heap_bytes, &processes_);
  heap_.set_backing(&segment_.heap_backing());
  objects_ = ObjectTable(base, l.total_bytes, segment_.at<ObjectEntry>(l.objects_off),
                         l.objects_count, &heap_, &processes_, &segment_.header());
  objects_.set_backing(&segment_.objects_backing());
  objects_.set_ready_queues(segment_.at<ReadyQueue>(l.ready_queues_off()));
  // The path is the creator's; a damaged one (no terminator) means no spilling.
  const char* path = segment_.header().spill_path;
  const size_t n = ::strnlen(path, sizeof(segment_.header().spill_path));
  spill_ = std::make_unique<SpillFile>(
      n < sizeof(segment_.header().spill_path) ? std::string(path, n) : std::string());
  objects_.set_spill_file(spill_.get());
  types_ = TypeRegistry(segment_.at<TypeRecord>(l.types_off), l.types_count);
}

Result<std::unique_ptr<Store>, StoreError> Store::create(uint64_t bytes, const std::string& dir,
                                                         const std::string& spill_dir) {
  const uint64_t tag = random_u64();
  auto seg = Segment::create(dir, make_segment_name(tag), bytes, tag, spill_dir);
  if (!seg) return fail(seg.error());
  std::unique_ptr<Store> s(new Store(std::move(seg).value()));
  // A fresh segment reads as zeros, and zero is the empty state of every
  // table (free slots, free entries, free actors, a free heap): only the heap
  // bitmap's tail needs writing. init() stays fast whatever the size.
  s->heap_.format();
  return s;
}

Result<std::unique_ptr<Store>, StoreError> Store::attach(const std::string& name) {
  auto seg = Segment::open(name);
  if (!seg) return fail(seg.error());
  return std::unique_ptr<Store>(new Store(std::move(seg).value()));
}

Result<std::unique_ptr<Store>, StoreError> Store::attach_inherited(const std::string& name,
                                                                   int fd) {
  auto seg = Segment::open_inherited(name, fd);
  if (!seg) return fail(seg.error());
  return std::unique_ptr<Store>(new Store(std::move(seg).value()));
}

Result<ipc::ProcessSlotId, StoreError> Store::join(ipc::ProcessKind kind,
                                                   ipc::ProcessSlotId creator, const char* label) {
  auto slot = processes_.claim(::getpid(), kind, creator, label);
  if (!slot) return fail(StoreError::kTooManyProcesses);
  me_ = *slot;
  records_ = std::make_unique<RecordPool>(segment_.base(), &heap_, &processes_.slot(me_), me_,
                                          random_u64());
  return me_;
}

void Store::leave() {
  if (me_ == ipc::kNoProcess) return;
  ipc::ProcessSlot& slot = processes_.slot(me_);
  // Our own records, released the way the supervisor would after a death.
  RecordPool::for_each_record(segment_.base(), heap_, slot, [&](RefRecord* rec, uint32_t index) {
    objects_.recover_record(rec, index, me_, me_);
  });
  RecordPool::free_chunks(segment_.base(), heap_, slot, me_);
  header().retired_created.fetch_add(slot.objects_created.load(std::memory_order_relaxed),
                                     std::memory_order_relaxed);
  header().retired_freed.fetch_add(slot.objects_freed.load(std::memory_order_relaxed),
                                   std::memory_order_relaxed);
  processes_.release(me_);
  records_.reset();
  me_ = ipc::kNoProcess;
}

Result<RefRecord*, StoreError> Store::create_object(ObjectState initial, uint32_t writer,
                                                    uint32_t child_places) {
  auto rec = records_->acquire();
  if (!rec) return fail(rec.error());
  RefRecord* r = *rec;
  r->reads.store(0, std::memory_order_relaxed);  // relaxed: the record is not in use yet
  auto slot = objects_.create(r, records_->index_of(r), me_, initial, writer, child_places);
  if (!slot) {
    records_->release(r);
    return fail(slot.error());
  }
  r->local.store(1, std::memory_order_relaxed);
  return r;
}

Result<RefRecord*, StoreError> Store::pin(uint32_t slot, uint32_t gen) {
  // Counted before the record exists: a wait() running on another thread
  // that sees the new record also sees the count move (both relaxed, but the
  // record reaches that thread only through a release/acquire hand-over).
  pins_made_.fetch_add(1, std::memory_order_relaxed);
  auto rec = records_->acquire();
  if (!rec) return fail(rec.error());
  RefRecord* r = *rec;
  r->reads.store(0, std::memory_order_relaxed);  // relaxed: the record is not in use yet
  auto pinned = objects_.pin(r, records_->index_of(r), me_, slot, gen);
  if (!pinned) {
    records_->release(r);
    return fail(pinned.error());
  }
  r->local.store(1, std::memory_order_relaxed);
  return r;
}

void Store::unpin(RefRecord* rec) {
  objects_.unpin(rec, records_->index_of(rec), me_);
  records_->release(rec);
}

Store::Wait Store::wait_sealed(uint32_t slot, uint32_t gen, uint64_t deadline_ns,
                               uint64_t spin_ns) {
  if (!objects_.valid_slot(slot)) return Wait::kCorrupt;
  if (objects_.sealed(slot)) return Wait::kSealed;
  ipc::Backoff spin(spin_ns);
  while (spin.step()) {
    if (objects_.sealed(slot)) return Wait::kSealed;
    if (deadline_ns != 0 && (spin.spins() & 63) == 0 && ipc::now_ns() >= deadline_ns) {
      return Wait::kTimedOut;
    }
  }
  ipc::WakeWord& wake = my_wake();
  for (;;) {
    // We hold a pin, so only a corrupt entry changes generation under us.
    if (objects_.generation(slot) != gen) return Wait::kCorrupt;
    objects_.register_waiter(slot, me_);
    const uint32_t token = wake.prepare();
    if (objects_.sealed(slot)) return Wait::kSealed;
    uint64_t park_ns = 100'000'000;  // re-validate now and then
    if (deadline_ns != 0) {
      const uint64_t now = ipc::now_ns();
      if (now >= deadline_ns) return Wait::kTimedOut;
      if (deadline_ns - now < park_ns) park_ns = deadline_ns - now;
    }
    wake.park(token, std::chrono::nanoseconds(park_ns));
    if (objects_.sealed(slot)) return Wait::kSealed;
  }
}

Store::Wait Store::wait_some(const std::vector<uint64_t>& objects, size_t want,
                             uint64_t deadline_ns, uint64_t spin_ns) {
  auto count_sealed = [&]() {
    size_t n = 0;
    for (uint64_t o : objects) {
      const uint32_t s = uint32_t(o >> 32);
      if (objects_.valid_slot(s) && objects_.sealed(s)) ++n;
    }
    return n;
  };
  if (count_sealed() >= want) return Wait::kSealed;
  ipc::Backoff spin(spin_ns);
  while (spin.step()) {
    if ((spin.spins() & 7) != 0) continue;
    if (count_sealed() >= want) return Wait::kSealed;
    if (deadline_ns != 0 && ipc::now_ns() >= deadline_ns) return Wait::kTimedOut;
  }
  ipc::WakeWord& wake = my_wake();
  for (;;) {
    for (uint64_t o : objects) {
      const uint32_t s = uint32_t(o >> 32);
      if (!objects_.valid_slot(s)) return Wait::kCorrupt;
      if (objects_.generation(s) != uint32_t(o)) return Wait::kCorrupt;
      if (!objects_.sealed(s)) objects_.register_waiter(s, me_);
    }
    const uint32_t token = wake.prepare();
    if (count_sealed() >= want) return Wait::kSealed;
    uint64_t park_ns = 100'000'000;
    if (deadline_ns != 0) {
      const uint64_t now = ipc::now_ns();
      if (now >= deadline_ns) return Wait::kTimedOut;
      if (deadline_ns - now < park_ns) park_ns = deadline_ns - now;
    }
    wake.park(token, std::chrono::nanoseconds(park_ns));
    if (count_sealed() >= want) return Wait::kSealed;
  }
}

void Store::recover_process(ipc::ProcessSlotId dead,
                            const std::function<bool(uint32_t writer)>& writer_dead,
                            const std::function<void(uint32_t slot)>& fail) {
  ipc::ProcessSlot& slot = processes_.slot(dead);
  // 1. The allocator first: its journal may still have to link a block into an
  //    entry that the steps below free.
  heap_.recover_from(dead, me_);
  // 2. The operations it was inside, before any plain reference: dropping a
  //    reference waits until its entry is unlocked, and an entry the dead
  //    process left locked (a second pin of an object it already held, a
  //    release by a container it was freeing) is unlocked by nobody but us.
  //    First the operations its records name...
  RecordPool::for_each_record(segment_.base(), heap_, slot, [&](RefRecord* rec, uint32_t index) {
    objects_.recover_record_if_locked(rec, index, dead, me_);
  });
  //    ...then the spills and restores it was inside (before the generic
  //    unlock below, which does not know a spill's last step)...
  objects_.recover_moves(dead, me_);
  //    ...then whatever else it left locked: frees under its process tag and
  //    the children they were releasing, and the child it was pinning for a
  //    container it wrote (undone for every object whose writer is gone; the
  //    failing of such objects waits for the last step).
  objects_.recover_entries(dead, me_, writer_dead, [](uint32_t) {});
  // 3. Every reference it held.
  RecordPool::for_each_record(segment_.base(), heap_, slot, [&](RefRecord* rec, uint32_t index) {
    objects_.recover_record(rec, index, dead, me_);
  });
  // 4. Unsealed objects nobody will write, orphaned calls.
  objects_.recover_entries(dead, me_, writer_dead, fail);
  // 5. Its reference chunks.
  RecordPool::free_chunks(segment_.base(), heap_, slot, me_);
  header().retired_created.fetch_add(slot.objects_created.load(std::memory_order_relaxed),
                                     std::memory_order_relaxed);
  header().retired_freed.fetch_add(slot.objects_freed.load(std::memory_order_relaxed),
                                   std::memory_order_relaxed);
  slot.objects_created.store(0, std::memory_order_relaxed);
  slot.objects_freed.store(0, std::memory_order_relaxed);
}

uint64_t Store::live_objects() const {
  // Counted where they are, in the table: per-process counters of creates and
  // frees cannot stay exact when a process is killed between an entry's CAS and
  // its count, and a recovery then counts the free a second time (or a create
  // never). Entries in use all sit below the high water.
  return objects_.live_count();
}

}  // namespace shoal::store
