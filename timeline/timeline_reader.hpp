// read_timeline(): a consistent copy of what a timeline file holds, taken
// while its writers may still be writing (or long after they died).
//
// Every event comes out whole or not at all (the sequence word of each slot,
// timeline_layout.hpp); every offset, count, index and string length read
// from the file is checked first, so a damaged file gives fewer events,
// never a wild read. Nothing here needs the session to be alive.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "timeline/clock.hpp"
#include "timeline/timeline_file.hpp"
#include "timeline/timeline_layout.hpp"

namespace shoal::timeline {

struct RecordedProcess {
  int32_t pid = 0;
  uint32_t kind = 0;  // ipc::ProcessKind
  std::string label;
};

// One thread's ring.
struct RecordedThread {
  uint32_t process = 0;  // index into TimelineSnapshot::processes, or kUnknownProcess
  int32_t pid = 0;
  int32_t tid = 0;
  std::string label;
  uint64_t written = 0;           // events the thread wrote (the newest one's position + 1)
  uint64_t dropped = 0;           // of those, not in `events`: overwritten, or unfinished when read
  std::vector<EventBody> events;  // oldest first
};
inline constexpr uint32_t kUnknownProcess = UINT32_MAX;

struct TimelineSnapshot {
  std::string session_name;
  uint64_t session_tag = 0;
  int32_t creator_pid = 0;
  uint64_t created_unix_ns = 0;
  ClockPair clock0{};  // both clocks at the file's creation
  uint32_t ring_events = 0;
  std::vector<RecordedProcess> processes;  // in the order they attached
  std::vector<RecordedThread> threads;     // in the order they claimed their rings
  std::vector<std::string> strings;        // by index; "" for 0 and for unfinished entries
  uint32_t processes_refused = 0;
  uint32_t threads_refused = 0;
  uint32_t strings_refused = 0;

  uint64_t dropped() const;  // over every thread
  // The string at `index`, or "" if out of range.
  const std::string& string(uint16_t index) const;
};

TimelineSnapshot read_timeline(const TimelineFile& file);

// Copies the event in `slot` if it is complete: true and its position in
// *pos, or false if it was never written or is being written right now.
bool read_event(const TimelineEvent& slot, EventBody* body, uint64_t* pos);

}  // namespace shoal::timeline
