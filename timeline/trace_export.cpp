#include "timeline/trace_export.hpp"

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <unordered_map>
#include <vector>

namespace shoal::timeline {

namespace {

using Json = nlohmann::ordered_json;

// Thread ids of lanes after the first: above every real tid (Linux keeps
// them below 2^22), unique per thread and lane, and still a positive int32.
int64_t lane_tid(int32_t tid, uint32_t lane) {
  if (lane == 0) return tid;
  return (int64_t(1) << 30) + int64_t(uint32_t(tid) & 0x3fffff) * kMaxLanes + lane;
}

const char* outcome_name(Outcome o) {
  switch (o) {
    case Outcome::kOk:
      return "ok";
    case Outcome::kError:
      return "error";
    case Outcome::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

// One slice to lay out on a thread's lanes: a few words pointing into the
// snapshot, turned into JSON only as it is written (a timeline holds
// millions of events).
struct Slice {
  enum class Role : uint8_t { kCall, kSubmit, kSuspend, kObject };
  uint64_t start = 0, end = 0;  // ticks
  const EventBody* event = nullptr;
  const RecordedThread* thread = nullptr;  // the thread that recorded it
  uint64_t flow = 0;                       // calls and submits: 0 if none
  Role role = Role::kCall;
  uint32_t lane = 0;
};

struct Track {
  int32_t pid = 0;
  int32_t tid = 0;
  std::string name;  // the thread's name
  uint64_t dropped = 0;
  std::vector<Slice> slices;  // laid out: in start order, each with its lane
  uint32_t lanes = 1;
};

class Exporter {
 public:
  Exporter(const TimelineSnapshot& s, double ticks_per_ns, std::ostream& out)
      : s_(s), ticks_per_ns_(ticks_per_ns > 0 ? ticks_per_ns : 1.0), out_(out) {}

  TraceSummary run() {
    for (const RecordedProcess& p : s_.processes) {
      if (!process_names_.count(p.pid)) {
        process_names_[p.pid] = p.label + " pid=" + std::to_string(p.pid);
        process_order_.push_back(p.pid);
      }
    }
    for (const RecordedThread& t : s_.threads) {
      Track& track = track_of(t.pid, t.tid);
      if (!t.label.empty()) track.name = t.label;
      track.dropped += t.dropped;
      for (const EventBody& e : t.events)
        add(t, e);
    }
    for (auto& [key, track] : tracks_)
      lay_out(track);

    out_ << "{\"traceEvents\":[";
    for (int32_t pid : process_order_) {
      emit(metadata("process_name", pid, std::nullopt, Json{{"name", process_names_[pid]}}));
      emit(metadata("process_sort_index", pid, std::nullopt,
                    Json{{"sort_index", sort_index_of(pid)}}));
    }
    for (auto& [key, track] : tracks_) {
      for (uint32_t lane = 0; lane < track.lanes; ++lane) {
        const int64_t tid = lane_tid(track.tid, lane);
        Json args{{"name", lane == 0 ? track.name : track.name + " #" + std::to_string(lane + 1)}};
        if (lane == 0 && track.dropped != 0) args["dropped_events"] = track.dropped;
        emit(metadata("thread_name", track.pid, tid, std::move(args)));
        emit(metadata("thread_sort_index", track.pid, tid,
                      Json{{"sort_index", int64_t(track.tid) * kMaxLanes + lane}}));
      }
      for (const Slice& sl : track.slices)
        emit(slice_json(track, sl));
    }
    for (const Json& i : instants_)
      emit(i);
    out_ << "],\"displayTimeUnit\":\"ns\",\"otherData\":"
         << Json{{"session", s_.session_name},
                 {"creator_pid", s_.creator_pid},
                 {"created_unix_ns", s_.created_unix_ns},
                 {"ring_events", s_.ring_events},
                 {"dropped_events", s_.dropped()},
                 {"processes_not_recorded", s_.processes_refused},
                 {"threads_not_recorded", s_.threads_refused},
                 {"names_not_recorded", s_.strings_refused},
                 {"ticks_per_ns", ticks_per_ns_}}
                .dump(-1, ' ', false, Json::error_handler_t::replace)
         << "}\n";
    summary_.processes = process_order_.size();
    summary_.dropped = s_.dropped();
    return summary_;
  }

 private:
  void emit(const Json& e) {
    if (summary_.events++ != 0) out_ << ',';
    // Names come from the file: a stray byte is replaced, never a throw.
    out_ << e.dump(-1, ' ', false, Json::error_handler_t::replace);
  }

  double micros(uint64_t t) const {
    // Signed: an event stamped before the file's creation (a clock read
    // just before it) lands slightly before zero rather than in the future.
    const double ns = double(int64_t(t - s_.clock0.ticks)) / ticks_per_ns_;
    return std::round(ns) / 1000.0;
  }
  double duration(uint64_t from, uint64_t to) const {
    return to > from ? std::round(double(to - from) / ticks_per_ns_) / 1000.0 : 0.0;
  }

  static Json metadata(const char* name, int32_t pid, std::optional<int64_t> tid, Json args) {
    Json m{{"name", name}, {"ph", "M"}, {"pid", pid}};
    if (tid) m["tid"] = *tid;
    m["args"] = std::move(args);
    return m;
  }

  int64_t sort_index_of(int32_t pid) const {
    return std::find(process_order_.begin(), process_order_.end(), pid) - process_order_.begin();
  }

  const std::string& process_name(int32_t pid) {
    auto it = process_names_.find(pid);
    if (it != process_names_.end()) return it->second;
    // A process that never attached: known only from others' events.
    process_order_.push_back(pid);
    return process_names_[pid] = "pid=" + std::to_string(pid);
  }

  Track& track_of(int32_t pid, int32_t tid) {
    process_name(pid);
    Track& t = tracks_[{pid, tid}];
    if (t.name.empty()) {
      t.pid = pid;
      t.tid = tid;
      t.name = tid == pid ? "main thread" : "thread " + std::to_string(tid);
    }
    return t;
  }

  std::string object_id(uint64_t object) const {
    char buf[40];
    std::snprintf(buf, sizeof(buf), "%016" PRIx64 "%08x%08x", s_.session_tag,
                  uint32_t(object >> 32), uint32_t(object));
    return buf;
  }

  std::string name_or(uint16_t index, const char* fallback) const {
    const std::string& n = s_.string(index);
    return n.empty() ? fallback : n;
  }

  std::string class_of(const RecordedThread& t) const {
    return t.process < s_.processes.size() ? s_.processes[t.process].label : std::string();
  }

  void add(const RecordedThread& t, const EventBody& e) {
    Slice sl;
    sl.event = &e;
    sl.thread = &t;
    sl.start = e.t1;
    sl.end = std::max(e.t1, e.t2);
    switch (e.kind) {
      case EventKind::kCall: {
        sl.role = Slice::Role::kCall;
        if (e.peer_pid > 0 && e.t0 != 0) {
          sl.flow = next_flow_++;
          Slice submit = sl;
          submit.role = Slice::Role::kSubmit;
          submit.start = submit.end = e.t0;
          track_of(e.peer_pid, e.peer_tid > 0 ? e.peer_tid : e.peer_pid).slices.push_back(submit);
        }
        ++summary_.calls;
        track_of(t.pid, t.tid).slices.push_back(sl);
        break;
      }
      case EventKind::kSuspend:
        sl.role = Slice::Role::kSuspend;
        track_of(t.pid, t.tid).slices.push_back(sl);
        break;
      case EventKind::kPut:
      case EventKind::kGet:
        sl.role = Slice::Role::kObject;
        track_of(t.pid, t.tid).slices.push_back(sl);
        break;
      case EventKind::kActorCreated:
      case EventKind::kActorRestarted:
      case EventKind::kActorDied: {
        const char* what = e.kind == EventKind::kActorCreated     ? "created"
                           : e.kind == EventKind::kActorRestarted ? "restarted"
                                                                  : "died";
        const int32_t pid = e.peer_pid > 0 ? e.peer_pid : t.pid;
        track_of(pid, pid);
        Json args{{"class", name_or(e.name, "?")},
                  {"actor", uint32_t(e.value >> 32)},
                  {"restarts", uint32_t(e.value)}};
        if (e.error != 0) args["message"] = s_.string(e.error);
        instants_.push_back(Json{{"name", std::string(what) + " " + name_or(e.name, "actor")},
                                 {"cat", "actor"},
                                 {"ph", "i"},
                                 {"s", "p"},
                                 {"ts", micros(e.t1)},
                                 {"pid", pid},
                                 {"tid", pid},
                                 {"args", std::move(args)}});
        break;
      }
      case EventKind::kNone:
        break;  // a zeroed or damaged slot
    }
  }

  Json slice_json(const Track& track, const Slice& sl) {
    const EventBody& e = *sl.event;
    Json j;
    switch (sl.role) {
      case Slice::Role::kCall: {
        const std::string method = name_or(e.name, "?");
        Json args{{"method", method},
                  {"class", class_of(*sl.thread)},
                  {"outcome", outcome_name(e.outcome)}};
        if (e.outcome == Outcome::kError) args["error_type"] = name_or(e.error, "?");
        if (e.group != 0) args["group"] = name_or(e.group, "?");
        args["object"] = object_id(e.object);
        if (sl.flow != 0) {
          args["caller"] = process_name(e.peer_pid);
          args["caller_tid"] = e.peer_tid;
          args["queued_us"] = duration(e.t0, e.t1);
        }
        j = Json{{"name", method}, {"cat", "call"}, {"ph", "X"}};
        if (sl.flow != 0) {
          j["bind_id"] = sl.flow;
          j["flow_in"] = true;
        }
        j["args"] = std::move(args);
        break;
      }
      case Slice::Role::kSubmit: {
        const std::string method = name_or(e.name, "?");
        j = Json{{"name", "submit " + method},
                 {"cat", "submit"},
                 {"ph", "X"},
                 {"bind_id", sl.flow},
                 {"flow_out", true},
                 {"args", Json{{"method", method},
                               {"callee", process_name(sl.thread->pid)},
                               {"object", object_id(e.object)}}}};
        break;
      }
      case Slice::Role::kSuspend:
        j = Json{{"name", "suspended"},
                 {"cat", "suspend"},
                 {"ph", "X"},
                 {"args", Json{{"method", name_or(e.name, "?")}, {"object", object_id(e.object)}}}};
        break;
      case Slice::Role::kObject:
        j = Json{{"name", e.kind == EventKind::kPut ? "put" : "get"},
                 {"cat", "object"},
                 {"ph", "X"},
                 {"args", Json{{"bytes", e.value},
                               {"type", s_.string(e.name)},
                               {"object", object_id(e.object)}}}};
        break;
    }
    j["ts"] = micros(sl.start);
    j["dur"] = duration(sl.start, sl.end);
    j["pid"] = track.pid;
    j["tid"] = lane_tid(track.tid, sl.lane);
    return j;
  }

  // Places every slice of a thread on the first lane where it nests (lane
  // k keeps the end times of its slices still open at the current start),
  // suspensions on their call's lane; leaves the slices in start order.
  static void lay_out(Track& t) {
    std::stable_sort(t.slices.begin(), t.slices.end(), [](const Slice& a, const Slice& b) {
      return a.start != b.start ? a.start < b.start : a.end > b.end;
    });
    std::vector<std::vector<uint64_t>> open;
    std::unordered_map<uint64_t, uint32_t> lane_of_call;  // result object -> lane
    // A call never nests in another call (two calls of an async actor that
    // overlap are concurrent, not one inside the other): it takes a lane
    // with nothing open. Suspensions, submits and object events nest.
    auto fits = [&](uint32_t lane, const Slice& sl) {
      std::vector<uint64_t>& stack = open[lane];
      while (!stack.empty() && stack.back() <= sl.start)
        stack.pop_back();
      if (sl.role == Slice::Role::kCall) return stack.empty();
      return stack.empty() || stack.back() >= sl.end;
    };
    for (Slice& sl : t.slices) {
      uint32_t lane = UINT32_MAX;
      if (sl.role == Slice::Role::kSuspend) {
        auto it = lane_of_call.find(sl.event->object);
        if (it != lane_of_call.end() && fits(it->second, sl)) lane = it->second;
      }
      for (uint32_t k = 0; lane == UINT32_MAX && k < open.size(); ++k) {
        if (fits(k, sl)) lane = k;
      }
      if (lane == UINT32_MAX) {
        if (open.size() < kMaxLanes) {
          open.emplace_back();
          lane = uint32_t(open.size() - 1);
        } else {
          lane = kMaxLanes - 1;  // overlaps; the viewer shows it as best it can
        }
      }
      open[lane].push_back(sl.end);
      sl.lane = lane;
      if (sl.role == Slice::Role::kCall) lane_of_call[sl.event->object] = lane;
    }
    t.lanes = std::max<uint32_t>(1, uint32_t(open.size()));
  }

  const TimelineSnapshot& s_;
  const double ticks_per_ns_;
  std::ostream& out_;
  std::map<std::pair<int32_t, int32_t>, Track> tracks_;
  std::map<int32_t, std::string> process_names_;
  std::vector<int32_t> process_order_;
  std::vector<Json> instants_;
  uint64_t next_flow_ = 1;
  TraceSummary summary_;
};

}  // namespace

TraceSummary write_trace(const TimelineSnapshot& snapshot, double ticks_per_ns, std::ostream& out) {
  return Exporter(snapshot, ticks_per_ns, out).run();
}

std::string trace_json(const TimelineSnapshot& snapshot, double ticks_per_ns,
                       TraceSummary* summary) {
  std::ostringstream out;
  const TraceSummary s = write_trace(snapshot, ticks_per_ns, out);
  if (summary != nullptr) *summary = s;
  return out.str();
}

Result<TraceSummary, std::string> export_trace(const std::string& timeline_path,
                                               const std::string& out_path) {
  auto file = TimelineFile::open(timeline_path, /*writable=*/false);
  if (!file) {
    std::string why = to_string(file.error());
    if (file.error() == TimelineError::kSystem)
      why += std::string(" (") + std::strerror(errno) + ")";
    return fail(timeline_path + ": " + why);
  }
  const TimelineSnapshot snapshot = read_timeline(*file);
  const double rate = ticks_per_ns_since(snapshot.clock0);
  if (out_path == "-") {
    const TraceSummary s = write_trace(snapshot, rate, std::cout);
    std::cout.flush();
    if (!std::cout) return fail(std::string("cannot write the trace to stdout"));
    return s;
  }
  std::ofstream out(out_path, std::ios::binary | std::ios::trunc);
  if (!out) return fail("cannot open " + out_path + " for writing: " + std::strerror(errno));
  const TraceSummary s = write_trace(snapshot, rate, out);
  out.close();
  if (!out) return fail("cannot write " + out_path + ": " + std::strerror(errno));
  return s;
}

}  // namespace shoal::timeline
