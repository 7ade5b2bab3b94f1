// What `shoal status` and `shoal clean` know about the sessions in /dev/shm.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace shoal::tools {

// Names of this user's session segments in /dev/shm (not their timeline files).
std::vector<std::string> list_segments();
// Names of this user's timeline files in /dev/shm (<session>.timeline).
std::vector<std::string> list_timelines();

// One actor or worker of a session, as `shoal status` shows it: a snapshot,
// each figure read on its own.
// One concurrency group of an actor: its limit, calls in progress and calls waiting for it.
struct GroupRow {
  std::string name;
  int limit;
  uint32_t running;
  uint32_t queued;
};

struct ActorRow {
  uint32_t index;
  std::string name, cls, state;
  pid_t pid;
  int core;
  uint64_t depth;
  int restarts;
  uint64_t served;
  uint32_t running;
  std::vector<GroupRow> groups;  // the default group first
  int node = 0;  // where it runs: this session's node, or another (an actor of another node)
};

// A node of the job a session's node belongs to, as that node greeted it.
struct NodeInfo {
  int node = 0;
  std::string host, session;
};

struct SessionRow {
  std::string name;
  bool live = false;
  bool corrupt = false;
  pid_t supervisor = 0, creator = 0;
  int world = 1;
  uint64_t capacity = 0, used = 0, heap = 0, objects = 0;
  uint64_t spilled_objects = 0, spilled_bytes = 0;  // objects out in the spill file
  std::string spill_file;
  uint32_t processes = 0;
  std::vector<ActorRow> actors;
  // One node of a multi-node job (num_nodes > 0): which, and the nodes it is joined to.
  int node = 0, num_nodes = 0;
  std::vector<NodeInfo> nodes;  // every node that greeted it, itself included
  uint64_t calls_out = 0, calls_in = 0;
};

// What the segment `name` says about its session (without joining it).
SessionRow inspect(const std::string& name);
// Every live session of this user.
std::vector<SessionRow> live_sessions();

// True if `pid` names a running process.
bool process_alive(pid_t pid);

// The pid encoded in a segment name (shoal-<uid>-<pid>-<tag>), or 0.
pid_t creator_pid_from_name(const std::string& name);

int run_status(bool json);
// `shoal status --watch`: refreshed every second until q, Ctrl-C or, if
// count > 0, `count` refreshes (tools/status_watch.cpp).
int run_status_watch(int count);
int run_clean(bool dry_run);

}  // namespace shoal::tools
