// The compiled side of the public templates: every call from a header into the runtime goes
// through these functions (defined in core/src). Nothing here is part of the public API.
//
// Lifetimes: the records and bytes these functions hand out point into the session's segment and
// are valid while the caller holds a ref to the object and the session lasts. Without a session
// (after shutdown() too) the functions that reach the store throw UsageError, except
// retain_ref(), release_ref(), ref_ready(), same_object(), is_sealed(), note_type() and
// pins_made(), which do nothing (false, 0). Any thread may call them.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include <shoal/detail/ref_record.hpp>
#include <shoal/object_id.hpp>

namespace shoal {
class ObjectRefBase;
}  // namespace shoal

namespace shoal::detail {

// How an object's payload is encoded (mirrors the store's codec byte).
enum class CodecKind : uint8_t { kNone = 0, kRaw = 1, kMsgpack = 2, kError = 3 };

// Bumped by every init() and shutdown() (and by an actor process as it installs its runtime):
// an ObjectRef remembers the epoch it was made in and does nothing to the store once the session
// it belongs to has ended. Inline: every new ref and every wait() reads it.
extern std::atomic<uint32_t> g_epoch;
inline uint32_t epoch() noexcept {
  // relaxed, pairing with the fetch_add of init() and shutdown(): the epoch only tells sessions
  // apart, it publishes no data.
  return g_epoch.load(std::memory_order_relaxed);
}

// ---- references ----
// An ObjectRef's copy, release, ready(), id() and == go through these. They
// are safe on any thread at any time, also after or while shutdown() runs: for
// a ref of a session that has ended (or is ending) they touch nothing.
void retain_ref(RefRecord* rec, uint32_t epoch) noexcept;       // one more ObjectRef copy of rec
void release_ref(RefRecord* rec, uint32_t epoch) noexcept;      // one ObjectRef copy of rec fewer
bool ref_ready(const RefRecord* rec, uint32_t epoch) noexcept;  // false once the session ended
ObjectId ref_id(const RefRecord* rec, uint32_t epoch);  // throws UsageError if the session ended
bool same_object(const RefRecord* a, uint32_t a_epoch, const RefRecord* b,
                 uint32_t b_epoch) noexcept;  // false if either session ended
RefRecord* pin_id(const ObjectId& id);        // throws ObjectNotFoundError / UsageError
// Whether a ref's object is sealed; the ref must be of the live session
// (check_live), which must not end meanwhile.
bool is_sealed(const RefRecord* rec) noexcept;
void check_live(const RefRecord* rec, uint32_t epoch);  // throws UsageError if the session ended
uint64_t pins_made() noexcept;  // Store::pins_made() of this process (0 outside a session)
// An ObjectRef inside an encoded value (call arguments, msgpack): its id as 16 bytes. Packing
// records the ref as a child of the value being encoded (ChildCollector below); throws
// UsageError for an empty ref or one of an ended session.
void pack_object_id(const ObjectRefBase& ref, char out[16]);
// The inverse; throws (through throw_decode_failure) unless `size` is 16.
ObjectId unpack_object_id(const char* data, uint32_t size);

// ---- wait ----
// The records of the last not_ready list wait() returned on this thread, in
// order, with the session epoch and pins_made() they were checked at.
struct WaitListMemo {
  std::vector<const RefRecord*> records;
  uint32_t epoch = 0;
  uint64_t pins = 0;
};
WaitListMemo& wait_list_memo();
// Throws std::invalid_argument if a table slot is listed twice (the slots of
// live refs: two refs to one object).
void check_distinct_slots(std::vector<uint32_t> slots);

// ---- put ----
struct PutArgs {
  CodecKind codec = CodecKind::kRaw;
  uint64_t type_fp = 0;
  std::string_view type_name;
  const void* data = nullptr;
  size_t size = 0;
  const uint64_t* children = nullptr;  // packed (slot << 32 | gen) of contained refs
  uint32_t child_count = 0;
  size_t align = 1;  // alignment the payload needs
};
RefRecord* put_object(const PutArgs& args);  // throws ObjectStoreFullError

// ---- get ----
// Ends a read begun by read_sealed() (a no-op once its session has ended);
// add_read() begins another of an object already being read.
void end_read(const RefRecord* rec, uint32_t epoch) noexcept;
void add_read(const RefRecord* rec, uint32_t epoch) noexcept;

// One read of an object's payload in the store: while it lasts the object is
// not spilled, so the bytes stay where they are. A copy is a read of its own.
class ReadHold {
 public:
  ReadHold() = default;
  // `rec` must outlive the hold (the ref it belongs to is held beside it).
  ReadHold(const RefRecord* rec, uint32_t epoch) noexcept : rec_(rec), epoch_(epoch) {}
  ReadHold(const ReadHold& o) noexcept : rec_(o.rec_), epoch_(o.epoch_) {
    if (rec_ != nullptr) add_read(rec_, epoch_);
  }
  ReadHold(ReadHold&& o) noexcept : rec_(o.rec_), epoch_(o.epoch_) { o.rec_ = nullptr; }
  ReadHold& operator=(ReadHold o) noexcept {
    std::swap(rec_, o.rec_);
    std::swap(epoch_, o.epoch_);
    return *this;
  }
  ~ReadHold() {
    if (rec_ != nullptr) end_read(rec_, epoch_);
  }

 private:
  const RefRecord* rec_ = nullptr;
  uint32_t epoch_ = 0;
};

struct ObjectBytes {
  CodecKind codec = CodecKind::kNone;
  uint64_t type_fp = 0;
  const std::byte* data = nullptr;
  size_t size = 0;
  ReadHold hold;  // data stays valid while this lives
};
// Blocks this thread until rec's object is sealed, then returns its bytes.
// Rethrows a failed call's error; throws GetTimeoutError, EventLoopBlockedError.
ObjectBytes wait_and_read(const RefRecord* rec, std::optional<std::chrono::nanoseconds> timeout);
// The same for an object known to be sealed (no waiting, no loop check).
ObjectBytes read_sealed(const RefRecord* rec);
[[noreturn]] void throw_type_mismatch(std::string_view expected_name, uint64_t actual_fp,
                                      const RefRecord* rec);
[[noreturn]] void throw_decode_failure(std::string_view type_name, const char* why);
// Throws EventLoopBlockedError when called on an async actor's event-loop thread.
void check_blocking_allowed(const char* operation);

// Blocks until num_returns of recs are sealed or the timeout passes; sets
// ready[i]. Returns how many are ready.
size_t wait_refs(const std::vector<const RefRecord*>& recs, size_t num_returns,
                 std::optional<std::chrono::nanoseconds> timeout, std::vector<char>& ready);

// Registers `type_name` for fingerprint `fp` in the session (once per process).
void note_type(uint64_t fp, std::string_view type_name);

// Collects the refs packed while encoding a value, so the containing object
// can pin them. Nested scopes stack.
class ChildCollector {
 public:
  ChildCollector();
  ~ChildCollector();
  ChildCollector(const ChildCollector&) = delete;
  ChildCollector& operator=(const ChildCollector&) = delete;
  const std::vector<uint64_t>& children() const { return children_; }
  static void add(uint64_t packed);  // no-op outside any collector

 private:
  std::vector<uint64_t> children_;
  ChildCollector* outer_;
};

}  // namespace shoal::detail
