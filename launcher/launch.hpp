// `shoal launch -n N [--cpus LIST] [--store-size SIZE] -- PROGRAM [ARGS]`: runs N
// ranks of PROGRAM in one session, like mpirun. The launcher creates the
// session, is its supervisor, prefixes every line a rank prints with
// "(rank R pid=P) ", writes on the lines of the ranks' actors (which their
// fork servers send it), folding those that several actors print
// (LogDeduplicator), and exits with the first non-zero status of any rank
// (killing the others). The segment is removed whatever happens: ranks
// crashing, SIGINT or SIGTERM to the launcher. As one node of a multi-node job
// (LaunchOptions::node_link) the prefix is "(rank R node K pid=P) ".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace shoal::launcher {

struct LaunchOptions {
  int ranks = 1;
  std::vector<int> cpus;     // rank i runs on cpus[i % size]; empty: not pinned
  uint64_t store_bytes = 0;  // 0: the default
  std::string store_dir;     // "": SHOAL_STORE_DIR, else /dev/shm
  bool prefault = true;
  std::vector<std::string> argv;  // PROGRAM and its arguments
  // Record the job into the session's timeline file (SHOAL_TIMELINE=1 or 0
  // overrides); run_launch() names the file in *timeline_path.
  bool timeline = false;
  // Set when this launch is one node of a multi-node job (cluster/): ranks are
  // numbered node * ranks + local rank and the job ends on every node at once.
  class NodeLink* node_link = nullptr;
};

// Runs the job; returns the launcher's exit status. If the job recorded a
// timeline and `timeline_path` is set, the file's path is stored there.
int run_launch(const LaunchOptions& options, std::string* timeline_path = nullptr);

// "0-3,6,8-9" -> {0,1,2,3,6,8,9}. Every core must exist on this machine.
std::optional<std::vector<int>> parse_cpu_list(const std::string& text, std::string* error);

// PROGRAM as execvp would find it, or "" if there is no such executable.
std::string find_program(const std::string& program);

}  // namespace shoal::launcher
