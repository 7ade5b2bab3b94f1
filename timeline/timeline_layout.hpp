// The layout of a session's timeline file: what every process of a session
// that records writes its call events into, and what `shoal timeline` reads,
// also after the session's processes are gone.
//
//   [TimelineHeader 4 KiB][process entries][strings][ring 0][ring 1]...
//   ring i: [RingHeader 64 B][event 0][event 1]...[event ring_events-1]
//
// Everything is reached by offset from the start of the mapping; nothing in
// the file is a pointer. The layout fields are checksummed and validated
// before use, so a damaged file gives an error, never a wild read.
//
// Rings are per thread: one writer each, so an event is written with plain
// stores and no read-modify-write. Process entries, rings and strings are
// claimed with one fetch_add on a counter in the header and never reused
// within a session: a dead process's events keep their names until export.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace shoal::timeline {

inline constexpr uint64_t kTimelineMagic = 0x454e494c454d4954ull;  // "TIMELINE"
inline constexpr uint32_t kTimelineVersion = 1;
inline constexpr uint64_t kTimelineHeaderBytes = 4096;

// What an event records. The fields of EventBody mean, per kind:
//
//   kind        name          group   error         peer_pid/tid   t0      t1       t2      object
//   value kCall       method/task   group   error type    caller         submit  start    end
//   result   - kSuspend    method/task   -       -             -              -       suspend
//   resume  result   - kPut, kGet  type name     -       -             -              -       start
//   end     object   bytes kActor*     class         -       message       actor process  - at at
//   -        actor index << 32 | restarts
//
// Times are clock ticks (timeline/clock.hpp); strings are indexes into the
// file's string table (0: none).
enum class EventKind : uint8_t {
  kNone = 0,            // never written (a zeroed slot)
  kCall = 1,            // a call, written by the callee when it ends
  kSuspend = 2,         // an interval an async call spent suspended at a co_await
  kPut = 3,             // an object put above kObjectEventMinBytes
  kGet = 4,             // a get of such an object
  kActorCreated = 5,    // written by the supervisor
  kActorRestarted = 6,  // written by the supervisor
  kActorDied = 7,       // written by the supervisor
};
inline constexpr uint8_t kLastEventKind = 7;

enum class Outcome : uint8_t {
  kOk = 0,
  kError = 1,      // the method threw; `error` names the exception type
  kCancelled = 2,  // cancel() reached it
};

struct EventBody {
  EventKind kind;
  Outcome outcome;
  uint16_t name;
  uint16_t group;
  uint16_t error;
  int32_t peer_pid;
  int32_t peer_tid;
  uint64_t t0;
  uint64_t t1;
  uint64_t t2;
  uint64_t object;  // (table slot << 32) | generation
  uint64_t value;
};
static_assert(sizeof(EventBody) == 56);
static_assert(offsetof(EventBody, name) == 2 && offsetof(EventBody, group) == 4 &&
              offsetof(EventBody, error) == 6 && offsetof(EventBody, peer_pid) == 8 &&
              offsetof(EventBody, peer_tid) == 12 && offsetof(EventBody, t0) == 16 &&
              offsetof(EventBody, value) == 48);  // as event_words() packs them
static_assert(std::is_trivially_copyable_v<EventBody>);
inline constexpr size_t kEventWords = sizeof(EventBody) / 8;

// The words of `b`, as a memcpy of it would give them, built in registers. A writer that
// memcpy()s the body into words on its stack and loads them back stalls on every load that
// spans the narrower fields' stores (a store-to-load forwarding failure, ~15 cycles each).
inline void event_words(const EventBody& b, uint64_t (&w)[kEventWords]) noexcept {
  if constexpr (std::endian::native == std::endian::little) {
    w[0] = uint64_t(uint8_t(b.kind)) | uint64_t(uint8_t(b.outcome)) << 8 | uint64_t(b.name) << 16 |
           uint64_t(b.group) << 32 | uint64_t(b.error) << 48;
    w[1] = uint64_t(uint32_t(b.peer_pid)) | uint64_t(uint32_t(b.peer_tid)) << 32;
    w[2] = b.t0;
    w[3] = b.t1;
    w[4] = b.t2;
    w[5] = b.object;
    w[6] = b.value;
  } else {
    std::memcpy(w, &b, sizeof(w));
  }
}

// One event slot: a sequence word guarding the body, one cache line in all.
//
// seq encodes the ring position p the slot holds: (p + 1) << 1 once the event
// is complete, ((p + 1) << 1) | 1 while its writer writes it, 0 if never
// written. The writer stores the odd value, fences (release), stores the
// body words, then stores the even value (release); a reader loads seq
// (acquire), copies the body, fences (acquire) and loads seq again: if both
// loads saw the same even value, the copy is the event at p, never a mix.
struct alignas(64) TimelineEvent {
  std::atomic<uint64_t> seq;
  uint64_t words[kEventWords];  // an EventBody, word by word (atomic_ref relaxed accesses)
};
static_assert(sizeof(TimelineEvent) == 64);
static_assert(std::is_standard_layout_v<TimelineEvent>);

inline constexpr uint64_t complete_seq(uint64_t pos) {
  return (pos + 1) << 1;
}
inline constexpr uint64_t writing_seq(uint64_t pos) {
  return complete_seq(pos) | 1;
}

// State word of a process entry, a ring and a string: 0 until its claimer has
// written it, then kPublished (a release store the reader's acquire load
// pairs with). A claimer killed in between leaves it 0: readers skip it.
inline constexpr uint32_t kPublished = 1;

// One process that attached to the timeline.
struct alignas(64) ProcessEntry {
  std::atomic<uint32_t> state;
  int32_t pid;
  uint32_t kind;  // ipc::ProcessKind
  uint32_t reserved;
  uint64_t attached_ticks;
  char label[104];  // "AsyncActor", "driver", "rank 0", "task", ...; NUL-terminated
};
static_assert(sizeof(ProcessEntry) == 128);
static_assert(std::is_standard_layout_v<ProcessEntry>);

// The header of one thread's ring; its events follow it.
struct alignas(64) RingHeader {
  std::atomic<uint32_t> state;
  uint32_t process;  // index of the writer's ProcessEntry
  int32_t pid;
  int32_t tid;
  char label[48];  // the thread's name ("event loop", ...), "" if none; NUL-terminated
};
static_assert(sizeof(RingHeader) == 64);
static_assert(std::is_standard_layout_v<RingHeader>);

// One interned string: a method, class, group or exception type name.
inline constexpr size_t kMaxStringBytes = 119;
struct alignas(64) StringEntry {
  std::atomic<uint32_t> state;
  uint32_t len;
  char text[kMaxStringBytes + 1];  // NUL-terminated
};
static_assert(sizeof(StringEntry) == 128);
static_assert(std::is_standard_layout_v<StringEntry>);

struct TimelineLayout {
  uint64_t total_bytes;
  uint64_t processes_off;
  uint64_t strings_off;
  uint64_t rings_off;
  uint64_t ring_stride;  // bytes from one ring's header to the next
  uint32_t process_count;
  uint32_t string_count;
  uint32_t ring_count;
  uint32_t ring_events;  // events per ring, a power of two

  // The layout for these counts; ring_events is rounded up to a power of two.
  static TimelineLayout compute(uint32_t process_count, uint32_t string_count, uint32_t ring_count,
                                uint32_t ring_events);
  // True if every region lies inside `mapped_bytes`, in order, and the counts
  // are within their limits.
  bool sane(uint64_t mapped_bytes) const;
  uint64_t checksum() const;

  uint64_t process_off(uint32_t i) const {
    return processes_off + uint64_t(i) * sizeof(ProcessEntry);
  }
  uint64_t string_off(uint32_t i) const { return strings_off + uint64_t(i) * sizeof(StringEntry); }
  uint64_t ring_off(uint32_t i) const { return rings_off + uint64_t(i) * ring_stride; }
};
static_assert(std::is_trivially_copyable_v<TimelineLayout>);

// Limits a file must respect to be opened (a corrupt header cannot ask for more).
inline constexpr uint32_t kMaxTimelineProcesses = 1u << 16;
inline constexpr uint32_t kMaxTimelineStrings = 1u << 16;  // string indexes are 16 bits
inline constexpr uint32_t kMaxTimelineRings = 1u << 16;
inline constexpr uint32_t kMaxRingEvents = 1u << 24;

struct alignas(64) TimelineHeader {
  // Lines 0-1: identity and layout, immutable once the file is created.
  uint64_t magic;
  uint32_t version;
  uint32_t header_bytes;
  TimelineLayout layout;
  uint64_t layout_checksum;

  // Line 2: the session and the clock, immutable once the file is created.
  alignas(64) uint64_t session_tag;
  uint64_t created_unix_ns;
  uint64_t clock_ticks0;  // ticks() at creation ...
  uint64_t clock_ns0;     // ... and CLOCK_MONOTONIC nanoseconds at the same instant
  int32_t creator_pid;
  uint32_t reserved0;
  char session_name[64];  // NUL-terminated

  // Line: claim counters, each a fetch_add by a claimer (never undone: a
  // claim whose owner died stays unpublished).
  alignas(64) std::atomic<uint32_t> processes_claimed;
  std::atomic<uint32_t> strings_claimed;  // starts at 1: string 0 is "none"
  std::atomic<uint32_t> rings_claimed;
  std::atomic<uint32_t> processes_refused;  // attached when every entry was taken
  std::atomic<uint32_t> threads_refused;    // wanted a ring when every ring was taken
  std::atomic<uint32_t> strings_refused;    // interned when the table was full
};
static_assert(sizeof(TimelineHeader) <= kTimelineHeaderBytes);
static_assert(std::is_standard_layout_v<TimelineHeader>);

}  // namespace shoal::timeline
