// What `shoal status` and `shoal clean` know about the sessions in /dev/shm.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace shoal::tools {

// Names of this user's session segments in /dev/shm.
std::vector<std::string> list_segments();

// True if `pid` names a running process.
bool process_alive(pid_t pid);

// The pid encoded in a segment name (shoal-<uid>-<pid>-<tag>), or 0.
pid_t creator_pid_from_name(const std::string& name);

int run_status(bool json);
int run_clean(bool dry_run);

}  // namespace shoal::tools
