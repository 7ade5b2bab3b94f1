// CallTrace: what the call paths record into the session's timeline
// (timeline/recorder.hpp) when it records, kept out of the paths themselves:
// each hook is one test of timeline::recording() and a call here.
//
// The caller stamps its submit time and thread into the call's cell (right
// after the inline arguments, under kCallStamped, when they leave room); the
// callee writes one event per call when it ends, with both ends'
// times and threads, so the export can draw the flow from submit to start.
// Async calls also record each interval they spent suspended.
//
// A call's event is written before its result (or error, or the end of its
// stream) is sealed: a caller that has seen the result finds the call in the
// timeline, even when it shuts the session down at once (which kills the
// actors without waiting for them).
#pragma once

#include <coroutine>
#include <cstdint>
#include <exception>

#include <shoal/detail/call.hpp>
#include <shoal/detail/call_context.hpp>

#include "timeline/recorder.hpp"

namespace shoal::detail {

class ActorProcess;

// The caller's side of a call, at stamp_offset() of the cell's payload.
struct CallStamp {
  uint64_t submit = 0;  // timeline::ticks() when the call was published
  int32_t pid = 0;
  int32_t tid = 0;
};
static_assert(sizeof(CallStamp) == 16);

// Where the stamp of a call with `inline_bytes` bytes of inline arguments sits in its payload:
// right after them, 8-byte aligned. For up to 8 bytes of arguments that is in the cell's first
// cache line, which the call writes and reads anyway; a stamp in a line of its own would move a
// second line from the caller's core to the callee's on every call.
inline constexpr size_t stamp_offset(size_t inline_bytes) {
  return (sizeof(CallHeader) + inline_bytes + 7) & ~size_t(7);
}
inline constexpr bool stamp_fits(size_t inline_bytes) {
  return inline_bytes <= kInlineArgBytes &&
         stamp_offset(inline_bytes) + sizeof(CallStamp) <= kCallPayloadBytes;
}
static_assert(8 /* the cell's seq */ + stamp_offset(8) + sizeof(CallStamp) <= 64);

// Writes the stamp into a call cell's payload about to be published, if its
// inline arguments (`inline_bytes`, 0 for an arguments object) leave room.
void stamp_call(std::byte* payload, size_t inline_bytes) noexcept;
// Copies the stamp of a cell's payload into `in` (copy_call(), when the
// header says kCallStamped); a stamp that cannot fit beside the arguments
// the header claims is dropped (the flag cleared), never read.
void copy_stamp(const std::byte* payload, CallInput& in) noexcept;

// One call in progress on the callee, as the timeline sees it.
struct CallTrace {
  const ActorProcess* actor;
  CallHeader header;
  CallStamp stamp;
  uint64_t start;
  uint64_t suspended_at;  // async calls: when it last suspended; 0 while it runs
  uint16_t method;        // interned name
  uint16_t group;         // interned name of its concurrency group; 0 for an actor with one group
  bool recorded;          // its event is written: end_trace() does nothing more
};

// At the start of a call of concurrency group `group` (while recording). `follows`: the calling
// thread went to this call from the end of the previous call it traced without idling long
// enough to read the clock (under a microsecond: ActorProcess::next_call()). Its start is then
// that end or the call's submit time, whichever is later, and the clock (~24 ns a read here) is
// not read: a call that was waiting all along starts where the previous one ended (what the
// thread did between the two, ~0.1 µs, is drawn as part of this call); one submitted meanwhile
// starts at its submit (the thread found it within its first spins, a cache-line transfer and at
// most a few hundred nanoseconds later). That spares a read on every call of an actor that
// keeps up with its caller or falls behind it.
void begin_trace(const ActorProcess& actor, const CallInput& in, CallTrace& trace, uint32_t group,
                 bool follows = false) noexcept;
// At its end, before its outcome is sealed: writes the call's event, once; `error` is what it
// threw, if anything.
void end_trace(CallTrace& trace, const std::exception_ptr& error) noexcept;

// The threaded pool: the traced call running on this thread (nullptr once it has ended).
void set_thread_trace(CallTrace* trace) noexcept;
// While recording, just before the result object `target` is sealed (complete_call()): ends the
// trace of the call running on this thread, or in the running coroutine, if that is its result.
void end_trace_of_result(uint32_t slot, uint32_t gen) noexcept;
// The same before the last link of a stream is sealed: ends the running call's trace.
void end_trace_of_stream() noexcept;

// The event loop's resume of `h` (of call `ctx`) while recording: closes and
// records the interval the call was suspended, and notes when it suspends
// again.
void resume_traced(std::coroutine_handle<> h, CallContext* ctx);

// A put of `bytes` bytes that began at `start` (ticks), and a get.
void record_put(uint64_t object, std::string_view type_name, uint64_t bytes,
                uint64_t start) noexcept;
void record_get(uint64_t object, uint64_t type_fp, uint64_t bytes, uint64_t start) noexcept;

}  // namespace shoal::detail
