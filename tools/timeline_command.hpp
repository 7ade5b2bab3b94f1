// `shoal timeline [SESSION] -o FILE`: writes the recorded calls of a session
// (live or dead) as Chrome trace-event JSON, for Perfetto.
#pragma once

#include <string>

namespace shoal::tools {

// SESSION: a session's name (shoal-UID-PID-TAG) or a timeline file's path;
// "" picks this user's most recently created timeline. Returns the exit status.
int run_timeline(const std::string& session, const std::string& out_path);

}  // namespace shoal::tools
