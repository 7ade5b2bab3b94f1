// CallTrace: what the call paths record into the session's timeline
// (timeline/recorder.hpp) when it records, kept out of the paths themselves:
// each hook is one test of timeline::recording() and a call here.
//
// The caller stamps its submit time and thread into the call's cell (the
// last bytes of the payload, under kCallStamped, when the arguments leave
// room); the callee writes one event per call when it ends, with both ends'
// times and threads, so the export can draw the flow from submit to start.
// Async calls also record each interval they spent suspended.
#pragma once

#include <coroutine>
#include <cstdint>
#include <exception>

#include <shoal/detail/call.hpp>
#include <shoal/detail/call_context.hpp>

#include "timeline/recorder.hpp"

namespace shoal::detail {

class ActorProcess;

// The caller's side of a call, at kStampOffset of the cell's payload.
struct CallStamp {
  uint64_t submit = 0;  // timeline::ticks() when the call was published
  int32_t pid = 0;
  int32_t tid = 0;
};
static_assert(sizeof(CallStamp) == 16);
inline constexpr size_t kStampOffset = kCallPayloadBytes - sizeof(CallStamp);

// Writes the stamp into a call cell's payload about to be published, if its
// inline arguments (`inline_bytes`, 0 for an arguments object) leave room.
void stamp_call(std::byte* payload, size_t inline_bytes) noexcept;
// Copies the stamp of a cell's payload into `in` (copy_call(), when the
// header says kCallStamped).
void copy_stamp(const std::byte* payload, CallInput& in) noexcept;

// One call in progress on the callee, as the timeline sees it.
struct CallTrace {
  CallHeader header;
  CallStamp stamp;
  uint64_t start;
  uint64_t suspended_at;  // async calls: when it last suspended; 0 while it runs
  uint16_t method;        // interned name
  uint16_t group;         // interned name of its concurrency group; 0 for an actor with one group
};

// At the start of a call of concurrency group `group` (while recording).
void begin_trace(const ActorProcess& actor, const CallInput& in, CallTrace& trace,
                 uint32_t group) noexcept;
// At its end: writes the call's event; `error` is what it threw, if anything.
void end_trace(const ActorProcess& actor, const CallTrace& trace,
               const std::exception_ptr& error) noexcept;

// The event loop's resume of `h` (of call `ctx`) while recording: closes and
// records the interval the call was suspended, and notes when it suspends
// again.
void resume_traced(std::coroutine_handle<> h, CallContext* ctx);

// A put of `bytes` bytes that began at `start` (ticks), and a get.
void record_put(uint64_t object, std::string_view type_name, uint64_t bytes,
                uint64_t start) noexcept;
void record_get(uint64_t object, uint64_t type_fp, uint64_t bytes, uint64_t start) noexcept;

}  // namespace shoal::detail
