#include "tools/timeline_command.hpp"

#include <cstdio>
#include <string>

#include "timeline/timeline_file.hpp"
#include "timeline/trace_export.hpp"
#include "tools/sessions.hpp"

namespace shoal::tools {

namespace {

// The timeline of this user created last, or "" if there is none.
std::string most_recent_timeline(size_t* how_many) {
  std::string best;
  uint64_t best_ns = 0;
  *how_many = 0;
  for (const std::string& file : list_timelines()) {
    const std::string path = "/dev/shm/" + file;
    auto t = timeline::TimelineFile::open(path, /*writable=*/false);
    if (!t) continue;
    ++*how_many;
    if (best.empty() || t->header().created_unix_ns > best_ns) {
      best = path;
      best_ns = t->header().created_unix_ns;
    }
  }
  return best;
}

}  // namespace

int run_timeline(const std::string& session, const std::string& out_path) {
  std::string path;
  if (session.empty()) {
    size_t count = 0;
    path = most_recent_timeline(&count);
    if (path.empty()) {
      std::fprintf(stderr,
                   "shoal timeline: no recorded session (record one with SHOAL_TIMELINE=1 or "
                   "`shoal launch --timeline`)\n");
      return 1;
    }
    if (count > 1)
      std::fprintf(stderr, "shoal timeline: the most recent of %zu: %s\n", count, path.c_str());
  } else if (session.find('/') != std::string::npos) {
    path = session;
  } else {
    path = timeline::timeline_path(session);
  }
  auto written = timeline::export_trace(path, out_path);
  if (!written) {
    std::fprintf(stderr, "shoal timeline: %s\n", written.error().c_str());
    return 1;
  }
  const timeline::TraceSummary& s = *written;
  std::fprintf(stderr, "shoal timeline: %zu calls of %zu processes written to %s", s.calls,
               s.processes, out_path.c_str());
  if (s.dropped != 0) {
    std::fprintf(stderr, " (%llu older events were dropped: the buffers were full)",
                 static_cast<unsigned long long>(s.dropped));
  }
  std::fprintf(stderr, "\n");
  return 0;
}

}  // namespace shoal::tools
