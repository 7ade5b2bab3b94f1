// The writing side of the timeline: what the call paths of a recording
// process use to put events into the session's timeline file.
//
// Hooks test recording() first: with recording off that is one relaxed load
// of a global and a predictable branch, nothing else. With it on, an event
// is a handful of plain stores into this thread's own ring in the file: no
// allocation, no system call, no lock, no read-modify-write (each thread owns
// its ring, claimed at its first event). The last event a thread was writing
// when its process was killed is the only one lost; every earlier one is in
// the file for `shoal timeline` to export.
//
// Lifetimes: attach() maps the file for the rest of the process's life
// (detach() stops recording but never unmaps, so a thread still inside a
// hook can finish). A forked child inherits the mapping but not the
// recording: it calls attach_forked() to record as a process of its own.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "ipc/process_table.hpp"
#include "ipc/result.hpp"
#include "timeline/clock.hpp"
#include "timeline/timeline_file.hpp"
#include "timeline/timeline_layout.hpp"

namespace shoal::timeline {

// Object puts and gets of at least this many bytes are recorded. A small put
// costs ~80 ns, which an event would double; from 64 KiB a put is a memcpy
// of microseconds and its event is noise.
inline constexpr uint64_t kObjectEventMinBytes = 64 * 1024;

namespace detail {

// This thread's ring, as the writer sees it (process-local memory).
struct ThreadRing {
  TimelineEvent* events = nullptr;
  uint64_t mask = 0;   // ring_events - 1
  uint64_t next = 0;   // position of the next event
  uint32_t epoch = 0;  // the attach() it was claimed under
};

// relaxed everywhere: a hook that reads a stale value writes one event more
// or less around attach/detach, into memory that stays mapped either way.
inline std::atomic<bool> g_recording{false};
inline std::atomic<uint32_t> g_epoch{0};  // bumped by every attach and detach
// initial-exec: a hook reads these at a fixed offset from the thread
// pointer, never through __tls_get_addr (shoal links into executables).
[[gnu::tls_model("initial-exec")]] inline thread_local ThreadRing* t_ring = nullptr;
[[gnu::tls_model("initial-exec")]] inline thread_local int32_t t_tid = 0;
inline std::atomic<int32_t> g_pid{0};  // set by attach, before g_recording

// Claims a ring for this thread (or a discard ring if none is left).
ThreadRing* claim_ring() noexcept;
int32_t fetch_tid() noexcept;

inline ThreadRing* this_thread_ring() noexcept {
  ThreadRing* r = t_ring;
  if (r == nullptr || r->epoch != g_epoch.load(std::memory_order_relaxed)) [[unlikely]] {
    r = claim_ring();
  }
  return r;
}

}  // namespace detail

inline bool recording() noexcept {
  return detail::g_recording.load(std::memory_order_relaxed);
}

// This thread's id and this process's pid, cached (getpid/gettid are system
// calls); valid while recording.
inline int32_t thread_id() noexcept {
  const int32_t t = detail::t_tid;
  return t != 0 ? t : detail::fetch_tid();
}
inline int32_t process_id() noexcept {
  return detail::g_pid.load(std::memory_order_relaxed);
}

// How far ahead of the event being written write_event() prefetches.
inline constexpr uint64_t kPrefetchEvents = 4;

// Writes one event into this thread's ring. Call only while recording().
inline void write_event(const EventBody& body) noexcept {
  detail::ThreadRing* r = detail::this_thread_ring();
  const uint64_t pos = r->next++;
  TimelineEvent& e = r->events[pos & r->mask];
  // The slot a few events ahead, fetched for writing now so that its line is
  // in this core's cache by the time it is written: each event is a whole
  // line written once, so without this every event's stores miss the cache.
  __builtin_prefetch(&r->events[(pos + kPrefetchEvents) & r->mask], 1, 3);
  e.seq.store(writing_seq(pos), std::memory_order_relaxed);
  // release fence: the odd seq above is ordered before every body word
  // below. Pairs with the acquire fence in read_event(): a reader that sees
  // any of these words then sees the odd seq (or a later one) on its second
  // load and drops its copy.
  std::atomic_thread_fence(std::memory_order_release);
  uint64_t words[kEventWords];
  event_words(body, words);
  for (size_t i = 0; i < kEventWords; ++i) {
    std::atomic_ref<uint64_t>(e.words[i]).store(words[i], std::memory_order_relaxed);
  }
  // release: publishes the body words. Pairs with the acquire load of seq in
  // read_event().
  e.seq.store(complete_seq(pos), std::memory_order_release);
}

// ---- the events the call paths record ----

// One call, written by the callee when the call ends.
struct CallEvent {
  uint64_t submit = 0;  // ticks() on the caller, when it submitted
  uint64_t start = 0;   // ticks() on the callee, when the call started
  uint64_t end = 0;     // ticks() on the callee, when it ended
  int32_t caller_pid = 0;
  int32_t caller_tid = 0;
  uint64_t result = 0;      // the result object: (slot << 32) | generation
  uint16_t method = 0;      // intern()ed method or task function name
  uint16_t group = 0;       // intern()ed concurrency group, 0: the default group
  uint16_t error_type = 0;  // intern()ed exception type when outcome is kError
  Outcome outcome = Outcome::kOk;
};

inline void record_call(const CallEvent& c) noexcept {
  write_event(EventBody{EventKind::kCall, c.outcome, c.method, c.group, c.error_type, c.caller_pid,
                        c.caller_tid, c.submit, c.start, c.end, c.result, 0});
}

// An interval [from, to] an async call spent suspended at a co_await.
inline void record_suspension(uint16_t method, uint64_t result, uint64_t from,
                              uint64_t to) noexcept {
  write_event(
      EventBody{EventKind::kSuspend, Outcome::kOk, method, 0, 0, 0, 0, 0, from, to, result, 0});
}

// A put or get (kind kPut or kGet) of an object of `bytes` bytes, at least
// kObjectEventMinBytes.
inline void record_object(EventKind kind, uint16_t type_name, uint64_t object, uint64_t bytes,
                          uint64_t start, uint64_t end) noexcept {
  write_event(EventBody{kind, Outcome::kOk, type_name, 0, 0, 0, 0, 0, start, end, object, bytes});
}

// An actor's lifecycle (kind kActorCreated, kActorRestarted or kActorDied),
// written by the supervisor: `pid` is the actor's process (the new one for a
// restart, the dead one for a death).
inline void record_actor(EventKind kind, uint16_t class_name, int32_t pid, uint32_t actor_index,
                         uint32_t restarts, uint16_t message, uint64_t at) noexcept {
  write_event(EventBody{kind, Outcome::kOk, class_name, 0, message, pid, 0, 0, at, at, 0,
                        (uint64_t(actor_index) << 32) | restarts});
}

// ---- names ----

// The index of `text` (cut to kMaxStringBytes) in the file's string table,
// added if missing; 0 when not recording or when the table is full. Takes a
// process-local lock and may scan the table: call it once per name (when a
// class or function is first used) and keep the index, never per call.
uint16_t intern(std::string_view text) noexcept;

// Names the calling thread's track ("event loop", "pool 2"); only before the
// thread's first event, which copies it into the ring.
void set_thread_label(std::string_view label) noexcept;

// ---- the process ----

// Starts recording in this process into the timeline file at `path`, as a
// process of `kind` named `label` (the name its log lines carry: "driver",
// "rank 0", "AsyncActor", "task"). kCorrupt/kMissing/kSystem as for
// TimelineFile::open; kFull when every process entry is taken (the file
// counts the refusal).
Result<void, TimelineError> attach(const std::string& path, ipc::ProcessKind kind,
                                   std::string_view label);
// The same in a freshly forked child, over the mapping inherited from its
// parent (no file descriptor needed); kMissing if the parent had none.
Result<void, TimelineError> attach_forked(ipc::ProcessKind kind, std::string_view label);
// Stops recording in this process. The mapping stays (see above).
void detach() noexcept;
// Pauses (true) or resumes (false) recording in this process without
// leaving the file: what `shoal bench` uses to measure the same actors with
// recording on and off. Does nothing if the process is not attached.
void set_paused(bool paused) noexcept;

// The file this process records into (or last recorded into), or nullptr.
const TimelineFile* attached_file() noexcept;

}  // namespace shoal::timeline
