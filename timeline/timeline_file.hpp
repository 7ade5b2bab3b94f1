// TimelineFile: a mapping of a session's timeline file (timeline_layout.hpp),
// /dev/shm/<session name>.timeline, mode 0600.
//
// The session's creator makes it when recording is on; every process that
// records maps it (a forked child inherits the mapping); `shoal timeline`
// maps it read-only, also after every process of the session is gone, until
// `shoal clean` removes it. Move-only; unmaps on destruction, so whoever
// writes events into it must keep it alive for as long as it may write.
#pragma once

#include <cstdint>
#include <string>

#include "ipc/result.hpp"
#include "timeline/timeline_layout.hpp"

namespace shoal::timeline {

enum class TimelineError {
  kMissing,  // no file by that name
  kExists,   // create(): a file by that name already exists
  kCorrupt,  // the header or layout fails validation
  kBadSize,  // create(): counts out of range
  kFull,     // attach(): every process entry of the file is taken
  kSystem,   // a system call failed; errno says why
};
const char* to_string(TimelineError error);

// How big a timeline is: fixed at creation.
struct TimelineParams {
  // Threads that can record over the session's life (rings are never reused:
  // a dead thread's events stay until export). 256 covers a driver, a
  // supervisor and a few dozen actors with thread pools, with restarts.
  uint32_t rings = 256;
  // Events per ring (rounded up to a power of two). 16384 events of 64 bytes
  // = 1 MiB per recording thread, faulted in when the thread claims it; the
  // last ~16k calls of a busy actor, the oldest dropped beyond.
  uint32_t ring_events = 16384;
  uint32_t processes = 1024;  // as many as a session has process slots
  uint32_t strings = 4096;
};

class TimelineFile {
 public:
  TimelineFile() = default;
  TimelineFile(TimelineFile&&) noexcept;
  TimelineFile& operator=(TimelineFile&&) noexcept;
  ~TimelineFile();

  // Creates `path` exclusively (mode 0600) and writes an empty timeline.
  static Result<TimelineFile, TimelineError> create(const std::string& path,
                                                    const TimelineParams& params,
                                                    uint64_t session_tag,
                                                    const std::string& session_name);
  // Maps an existing timeline and validates its header; read-only unless
  // `writable`.
  static Result<TimelineFile, TimelineError> open(const std::string& path, bool writable);
  static bool remove(const std::string& path);

  bool valid() const { return base_ != nullptr; }
  std::byte* base() const { return base_; }
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }
  TimelineHeader& header() const { return *reinterpret_cast<TimelineHeader*>(base_); }
  // The layout as validated when the file was mapped: a header damaged
  // later cannot move an offset outside the mapping.
  const TimelineLayout& layout() const { return layout_; }

  ProcessEntry& process(uint32_t i) const { return *at<ProcessEntry>(layout_.process_off(i)); }
  StringEntry& string(uint32_t i) const { return *at<StringEntry>(layout_.string_off(i)); }
  RingHeader& ring(uint32_t i) const { return *at<RingHeader>(layout_.ring_off(i)); }
  TimelineEvent* ring_events(uint32_t i) const {
    return at<TimelineEvent>(layout_.ring_off(i) + sizeof(RingHeader));
  }

 private:
  template <class T>
  T* at(uint64_t off) const {
    return reinterpret_cast<T*>(base_ + off);
  }

  std::byte* base_ = nullptr;
  uint64_t size_ = 0;
  TimelineLayout layout_{};
  std::string path_;
};

// The timeline path of session `session_name`: /dev/shm/<name>.timeline.
std::string timeline_path(const std::string& session_name);
inline constexpr const char* kTimelineSuffix = ".timeline";

}  // namespace shoal::timeline
