// SessionTimeline: how the processes of a session come to record into its
// timeline file (timeline/), the one place that decides it.
//
// The session's creator (a plain driver, or `shoal launch`) creates the file
// when recording is on; every process that joins the session records if the
// file exists: forked ones (the daemon, fork servers, actors, workers) over
// the mapping they inherit, ranks by opening it. A failure to record is a
// warning on stderr, never a failed session.
#pragma once

#include <string>
#include <string_view>

#include "ipc/process_table.hpp"
#include "store/store.hpp"

namespace shoal::launcher {

// Whether a new session records: SHOAL_TIMELINE=1 or 0 if set, else `requested`.
bool timeline_wanted(bool requested);

// Creates the timeline file of the session in `store` and records into it as
// `label`. Returns the file's path, or "" (after a warning) if it could not.
std::string create_timeline(store::Store& store, ipc::ProcessKind kind, std::string_view label);
// Records into the timeline of the session in `store` if it has one.
void join_timeline(store::Store& store, ipc::ProcessKind kind, std::string_view label);
// In a freshly forked process: records as a process of its own if the parent
// recorded.
void timeline_forked(ipc::ProcessKind kind, std::string_view label);

}  // namespace shoal::launcher
