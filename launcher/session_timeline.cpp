#include "launcher/session_timeline.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "timeline/recorder.hpp"
#include "timeline/timeline_file.hpp"

namespace shoal::launcher {

bool timeline_wanted(bool requested) {
  if (const char* env = std::getenv("SHOAL_TIMELINE")) {
    if (std::strcmp(env, "1") == 0) return true;
    if (std::strcmp(env, "0") == 0) return false;
  }
  return requested;
}

std::string create_timeline(store::Store& store, ipc::ProcessKind kind, std::string_view label) {
  const std::string& name = store.segment().name();
  const std::string path = timeline::timeline_path(name);
  auto file = timeline::TimelineFile::create(path, {}, store.session_tag(), name);
  if (!file) {
    std::fprintf(stderr, "shoal: not recording a timeline: cannot create %s: %s (%s)\n",
                 path.c_str(), timeline::to_string(file.error()), std::strerror(errno));
    return "";
  }
  auto attached = timeline::attach(path, kind, label);
  if (!attached) {
    std::fprintf(stderr, "shoal: not recording a timeline: %s: %s\n", path.c_str(),
                 timeline::to_string(attached.error()));
    return "";
  }
  return path;
}

void join_timeline(store::Store& store, ipc::ProcessKind kind, std::string_view label) {
  const std::string path = timeline::timeline_path(store.segment().name());
  auto attached = timeline::attach(path, kind, label);
  if (!attached && attached.error() != timeline::TimelineError::kMissing) {
    std::fprintf(stderr, "shoal: not recording a timeline: %s: %s\n", path.c_str(),
                 timeline::to_string(attached.error()));
  }
}

void timeline_forked(ipc::ProcessKind kind, std::string_view label) {
  if (timeline::attached_file() == nullptr) return;
  (void)timeline::attach_forked(kind, label);
}

}  // namespace shoal::launcher
