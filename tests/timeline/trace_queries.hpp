// Questions the timeline tests ask of an exported trace (Chrome trace-event
// JSON, parsed): which events match, what a metadata event names, how many
// complete events overlap.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace shoal::testing {

// The events of `trace` for which `keep` holds, in the trace's order.
inline std::vector<nlohmann::json> events_where(
    const nlohmann::json& trace, const std::function<bool(const nlohmann::json&)>& keep) {
  std::vector<nlohmann::json> out;
  for (const nlohmann::json& e : trace["traceEvents"]) {
    if (keep(e)) out.push_back(e);
  }
  return out;
}

// The name a metadata event `what` ("process_name", "thread_name") gives
// process `pid` (and thread `tid`, unless -1); "" if there is none.
inline std::string metadata_name(const nlohmann::json& trace, const char* what, int64_t pid,
                                 int64_t tid = -1) {
  for (const nlohmann::json& e : trace["traceEvents"]) {
    if (e["ph"] != "M" || e["name"] != what || e["pid"] != pid) continue;
    if (tid >= 0 && e["tid"] != tid) continue;
    return e["args"]["name"];
  }
  return "";
}

// The most of `events` (complete events, "X") in progress at one instant.
inline size_t max_overlap(const std::vector<nlohmann::json>& events) {
  std::vector<std::pair<double, int>> edges;
  for (const nlohmann::json& e : events) {
    edges.emplace_back(e["ts"].get<double>(), +1);
    edges.emplace_back(e["ts"].get<double>() + e["dur"].get<double>(), -1);
  }
  std::sort(edges.begin(), edges.end());  // an end before a start at the same time
  int now = 0, most = 0;
  for (auto [t, d] : edges)
    most = std::max(most, now += d);
  return size_t(most);
}

}  // namespace shoal::testing
