#include "tools/sessions.hpp"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>

#include "ipc/actor_table.hpp"
#include "ipc/request_ring.hpp"
#include "launcher/actor_lifecycle.hpp"
#include "store/segment.hpp"
#include "store/store.hpp"
#include "timeline/timeline_file.hpp"

namespace shoal::tools {

namespace {

enum class ShmKind { kMarker, kTimeline, kStoreFile };

// This user's shoal files in /dev/shm of one kind: session markers, timeline
// files, or store files a crash left named (between their creation and their
// unlink, an instant).
std::vector<std::string> list_shm(ShmKind kind) {
  std::vector<std::string> out;
  const std::string prefix = "shoal-" + std::to_string(::getuid()) + "-";
  DIR* d = ::opendir(store::kMarkerDir);
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.rfind(prefix, 0) != 0) continue;
    const ShmKind k = name.ends_with(timeline::kTimelineSuffix) ? ShmKind::kTimeline
                      : name.ends_with(store::kStoreFileSuffix) ? ShmKind::kStoreFile
                                                                : ShmKind::kMarker;
    if (k == kind) out.push_back(name);
  }
  ::closedir(d);
  return out;
}

}  // namespace

std::vector<std::string> list_segments() {
  return list_shm(ShmKind::kMarker);
}
std::vector<std::string> list_timelines() {
  return list_shm(ShmKind::kTimeline);
}

bool process_alive(pid_t pid) {
  if (pid <= 0) return false;
  if (::kill(pid, 0) == 0) return true;
  return errno == EPERM;
}

pid_t creator_pid_from_name(const std::string& name) {
  unsigned uid = 0;
  int pid = 0;
  unsigned long long tag = 0;
  if (std::sscanf(name.c_str(), "shoal-%u-%d-%llx", &uid, &pid, &tag) != 3) return 0;
  return pid_t(pid);
}

namespace {

std::string text(const char* field, size_t cap) {
  return std::string(field, strnlen(field, cap));
}

}  // namespace

SessionRow inspect(const std::string& name) {
  SessionRow row;
  row.name = name;
  row.creator = creator_pid_from_name(name);
  auto st = store::Store::attach(name);
  if (!st) {
    row.corrupt = st.error() == store::StoreError::kCorrupt;
    row.live = process_alive(row.creator);
    return row;
  }
  store::Store& s = **st;
  const store::SegmentHeader& h = s.header();
  // acquire: pairs with the supervisor's release store (run_daemon, run_launch).
  row.supervisor = h.supervisor_pid.load(std::memory_order_acquire);
  row.live = row.supervisor != 0 ? process_alive(row.supervisor) : process_alive(row.creator);
  row.world = h.world_size > 0 ? h.world_size : 1;
  row.capacity = s.segment().size();
  row.heap = s.heap().capacity();
  row.used = s.heap().used();
  row.objects = s.live_objects();
  const store::ObjectTable::SpillCounts spilled = s.objects().spilled();
  row.spilled_objects = spilled.objects;
  row.spilled_bytes = spilled.bytes;
  row.spill_file = s.spill_file().path();
  for (uint32_t i = 0; i < s.processes().size(); ++i) {
    if (!s.processes().is_dead(ipc::ProcessSlotId(i))) ++row.processes;
  }
  // acquire: pairs with the gateway's release store; node is written before.
  row.num_nodes = h.num_nodes.load(std::memory_order_acquire);
  if (row.num_nodes > 0) {
    row.node = h.node.load(std::memory_order_relaxed);
    row.calls_out = h.calls_out.load(std::memory_order_relaxed);
    row.calls_in = h.calls_in.load(std::memory_order_relaxed);
    for (uint32_t n = 0; n < store::kNodeRows && int(n) < row.num_nodes; ++n) {
      const store::NodeRow& r = h.nodes[n];
      // acquire: pairs with the gateway's release store once the row is written.
      if (r.joined.load(std::memory_order_acquire) == 0) continue;
      row.nodes.push_back(
          NodeInfo{int(n), text(r.host, sizeof(r.host)), text(r.session, sizeof(r.session))});
    }
  }
  for (uint32_t i = 0; i < s.actor_count(); ++i) {
    const ipc::ActorEntry& e = s.actor(i);
    // acquire: pairs with the stores of each state by the actor's creator and
    // the supervisor (release or seq_cst), which publish the fields read
    // below: the name from kCreating on, the class and the ring after it.
    const auto state = ipc::ActorState(e.state.load(std::memory_order_acquire));
    if (state == ipc::ActorState::kFree) continue;
    ActorRow a;
    a.index = i;
    a.name = text(e.name, sizeof(e.name));
    a.cls = e.kind == uint32_t(launcher::ActorKind::kWorker)
                ? "task"
                : text(e.class_name, sizeof(e.class_name));
    a.state = ipc::to_string(state);
    // The figures below are a snapshot, each read on its own.
    const bool remote = e.kind == uint32_t(launcher::ActorKind::kRemote);
    a.pid = remote ? e.remote_pid.load(std::memory_order_relaxed)
                   : e.pid.load(std::memory_order_relaxed);
    a.node = remote ? int(e.home_node) : row.node;
    a.core = e.cpu;
    a.depth = 0;
    // Whatever a corrupt segment holds there: checked without wrapping around.
    const uint64_t ring_off = e.ring_off, ring_bytes = e.ring_bytes, size = s.segment().size();
    if (ring_off != 0 && ring_off <= size && ring_bytes <= size - ring_off) {
      if (auto ring = ipc::RequestRing::attach(s.base() + ring_off, ring_bytes))
        a.depth = ring->depth();
    }
    a.restarts = e.restarts.load(std::memory_order_relaxed);
    a.served = e.calls_served.load(std::memory_order_relaxed);
    a.running = e.in_progress.load(std::memory_order_relaxed);
    // A count beyond the table is what a corrupt segment holds: show what fits.
    const uint32_t groups = std::min(e.group_count, ipc::kMaxGroups);
    for (uint32_t g = 0; g < groups; ++g) {
      a.groups.push_back(GroupRow{text(e.group_name[g], sizeof(e.group_name[g])), e.group_limit[g],
                                  e.group_running[g].load(std::memory_order_relaxed),
                                  e.group_queued[g].load(std::memory_order_relaxed)});
    }
    row.actors.push_back(a);
  }
  return row;
}

std::vector<SessionRow> live_sessions() {
  std::vector<SessionRow> rows;
  for (const std::string& name : list_segments()) {
    SessionRow r = inspect(name);
    if (r.live) rows.push_back(std::move(r));
  }
  return rows;
}

int run_status(bool json) {
  const std::vector<SessionRow> rows = live_sessions();
  if (json) {
    nlohmann::ordered_json sessions = nlohmann::ordered_json::array();
    for (const SessionRow& r : rows) {
      nlohmann::ordered_json actors = nlohmann::ordered_json::array();
      for (const ActorRow& a : r.actors) {
        nlohmann::ordered_json groups = nlohmann::ordered_json::array();
        for (const GroupRow& g : a.groups) {
          groups.push_back(
              {{"name", g.name}, {"limit", g.limit}, {"running", g.running}, {"queued", g.queued}});
        }
        actors.push_back({{"index", a.index},
                          {"name", a.name},
                          {"class", a.cls},
                          {"pid", a.pid},
                          {"core", a.core},
                          {"state", a.state},
                          {"queue_depth", a.depth},
                          {"running", a.running},
                          {"restarts", a.restarts},
                          {"calls_served", a.served},
                          {"concurrency_groups", std::move(groups)},
                          {"node", a.node}});
      }
      sessions.push_back({{"name", r.name},
                          {"supervisor_pid", r.supervisor},
                          {"creator_pid", r.creator},
                          {"world_size", r.world},
                          {"corrupt", r.corrupt},
                          {"capacity_bytes", r.capacity},
                          {"heap_bytes", r.heap},
                          {"used_bytes", r.used},
                          {"objects", r.objects},
                          {"spilled_objects", r.spilled_objects},
                          {"spilled_bytes", r.spilled_bytes},
                          {"spill_file", r.spill_file},
                          {"processes", r.processes},
                          {"actors", std::move(actors)}});
      if (r.num_nodes > 0) {
        nlohmann::ordered_json nodes = nlohmann::ordered_json::array();
        for (const NodeInfo& n : r.nodes)
          nodes.push_back({{"node", n.node}, {"host", n.host}, {"session", n.session}});
        sessions.back()["node"] = r.node;
        sessions.back()["num_nodes"] = r.num_nodes;
        sessions.back()["nodes"] = std::move(nodes);
        sessions.back()["calls_to_other_nodes"] = r.calls_out;
        sessions.back()["calls_from_other_nodes"] = r.calls_in;
      }
    }
    // Names come from shared memory: never let a stray byte make the
    // output invalid JSON (replace it rather than throw).
    const std::string text = nlohmann::ordered_json{{"sessions", std::move(sessions)}}.dump(
        -1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    std::printf("%s\n", text.c_str());
    return 0;
  }
  if (rows.empty()) {
    std::printf("no live shoal sessions\n");
    return 0;
  }
  for (const SessionRow& r : rows) {
    std::printf("session %s%s\n", r.name.c_str(), r.corrupt ? " (corrupt)" : "");
    std::printf("  supervisor pid %d, world size %d, %u processes\n", int(r.supervisor), r.world,
                r.processes);
    std::printf("  store: %.1f MiB used of %.1f MiB heap (%.1f MiB segment), %" PRIu64 " objects\n",
                double(r.used) / 1048576.0, double(r.heap) / 1048576.0,
                double(r.capacity) / 1048576.0, r.objects);
    std::printf("  spilled: %" PRIu64 " objects, %.1f MiB in %s\n", r.spilled_objects,
                double(r.spilled_bytes) / 1048576.0,
                r.spill_file.empty() ? "(no spill file)" : r.spill_file.c_str());
    if (r.num_nodes > 0) {
      std::printf("  node %d of %d; calls: %" PRIu64 " to other nodes, %" PRIu64 " from them\n",
                  r.node, r.num_nodes, r.calls_out, r.calls_in);
      for (const NodeInfo& n : r.nodes) {
        std::printf("    node %d%s on %s, session %s\n", n.node, n.node == r.node ? " (this)" : "",
                    n.host.c_str(), n.session.c_str());
      }
      if (r.num_nodes > int(store::kNodeRows)) {
        std::printf("    (and %d more nodes)\n", r.num_nodes - int(store::kNodeRows));
      }
    }
    if (r.actors.empty()) continue;
    const bool nodes = r.num_nodes > 0;
    std::printf("  %-16s %-20s %8s %5s %-10s %6s %8s %10s%s\n", "NAME", "CLASS", "PID", "CORE",
                "STATE", "QUEUE", "RESTARTS", "SERVED", nodes ? "  NODE" : "");
    for (const ActorRow& a : r.actors) {
      std::printf("  %-16s %-20s %8d %5s %-10s %6" PRIu64 " %8d %10" PRIu64 "%s\n",
                  a.name.empty() ? "-" : a.name.c_str(), a.cls.c_str(), int(a.pid),
                  a.core >= 0 ? std::to_string(a.core).c_str() : "-", a.state.c_str(), a.depth,
                  a.restarts, a.served, nodes ? ("  " + std::to_string(a.node)).c_str() : "");
      // Concurrency groups, for an actor that has more than the default one.
      if (a.groups.size() < 2) continue;
      for (const GroupRow& g : a.groups) {
        std::printf("    group %-16s limit=%d running=%u queued=%u\n", g.name.c_str(), g.limit,
                    g.running, g.queued);
      }
    }
  }
  return 0;
}

int run_clean(bool dry_run) {
  int removed = 0;
  for (const std::string& name : list_segments()) {
    const SessionRow r = inspect(name);
    if (r.live) continue;
    std::printf("%s %s%s\n", dry_run ? "would remove" : "removed", name.c_str(),
                r.corrupt ? " (corrupt)" : "");
    if (!dry_run) store::Segment::remove(name);
    ++removed;
  }
  // A timeline outlives its session so that it can still be exported; it
  // goes once the session is over.
  for (const std::string& file : list_timelines()) {
    const std::string session =
        file.substr(0, file.size() - std::strlen(timeline::kTimelineSuffix));
    struct stat st;
    const bool segment = ::stat(("/dev/shm/" + session).c_str(), &st) == 0;
    if (segment && inspect(session).live) continue;
    std::printf("%s %s\n", dry_run ? "would remove" : "removed", file.c_str());
    if (!dry_run) timeline::TimelineFile::remove("/dev/shm/" + file);
    ++removed;
  }
  // A store file still named: its creator died between creating and
  // unlinking it.
  for (const std::string& file : list_shm(ShmKind::kStoreFile)) {
    if (process_alive(creator_pid_from_name(file))) continue;
    std::printf("%s %s\n", dry_run ? "would remove" : "removed", file.c_str());
    if (!dry_run) ::unlink((std::string(store::kMarkerDir) + "/" + file).c_str());
    ++removed;
  }
  if (removed == 0) std::printf("nothing to clean\n");
  return 0;
}

}  // namespace shoal::tools
