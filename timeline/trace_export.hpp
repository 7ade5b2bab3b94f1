// The timeline as Chrome trace-event JSON (the JSON object format), which
// Perfetto (ui.perfetto.dev) and chrome://tracing open:
//
// - a track per process, named like its log prefix ("AsyncActor pid=9064",
//   "driver pid=9000"), and per thread; calls that overlap on one thread
//   (an async actor's, which share its event loop) are laid out on lanes of
//   that thread ("event loop", "event loop #2", ...), so each lane nests;
// - a complete event ("X", cat "call") per call on the callee's lane, from
//   its start to its end, with its method, class, caller, outcome, result
//   object id and concurrency group; inside it, an "X" (cat "suspend") per
//   interval it spent suspended;
// - a zero-length "X" (cat "submit") on the caller's thread at the submit
//   time, and a flow from it to the call ("bind_id" with "flow_out" /
//   "flow_in", which binds each end to its own slice);
// - "X" events (cat "object") for large puts and gets, and process-scoped
//   instants ("i", cat "actor") for actor creations, restarts and deaths;
// - "otherData": the session, and how many events were dropped (the oldest,
//   overwritten when a ring wrapped) or never recorded.
//
// Timestamps are microseconds since the timeline file was created.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string>

#include "ipc/result.hpp"
#include "timeline/timeline_reader.hpp"

namespace shoal::timeline {

// At most this many lanes per thread: an async actor running 1000 calls at
// once gets 128 lanes, the rest overlapping on the last one.
inline constexpr uint32_t kMaxLanes = 128;

struct TraceSummary {
  size_t calls = 0;      // complete events of calls
  size_t events = 0;     // every trace event written, metadata included
  size_t processes = 0;  // process tracks
  uint64_t dropped = 0;  // events the rings dropped
};

// Writes the trace of `snapshot` to `out`, event by event (a timeline may
// hold millions); `ticks_per_ns` converts its clock (see ticks_per_ns_since()).
TraceSummary write_trace(const TimelineSnapshot& snapshot, double ticks_per_ns, std::ostream& out);
// The same as one string.
std::string trace_json(const TimelineSnapshot& snapshot, double ticks_per_ns,
                       TraceSummary* summary = nullptr);

// Reads the timeline file at `timeline_path` and writes its trace to
// `out_path` ("-": stdout). Errors are messages naming the file and the problem.
Result<TraceSummary, std::string> export_trace(const std::string& timeline_path,
                                               const std::string& out_path);

}  // namespace shoal::timeline
