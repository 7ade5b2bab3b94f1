// LogDeduplicator: folds the lines that several processes of a session print
// identically, as Ray does ("[repeated 9x across cluster]").
//
// Every actor and worker line of a session passes one deduplicator: the
// session daemon's (a plain session) or the launcher's (`shoal launch`, whose
// ranks' fork servers send their actors' lines to it). A line is written at
// once the first time; while its window (kWindow from that first time) is
// open, the same text on the same stream is folded as soon as a second
// process has printed it, every repeat from then on counted. When the
// window ends the fold is written once:
//
//   (AsyncActor pid=N) line [repeated 3x across processes]
//
// with the prefix of the last process that repeated it. Lines of one process
// alone are never folded (the seed examples print the same line several
// times from one actor and must print them all), and the drivers' and
// ranks' own lines never pass here. SHOAL_DEDUP_LOGS=0 turns it off.
//
// Single-threaded: owned by the loop that reads the pipes.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>

namespace shoal::launcher {

class LogDeduplicator {
 public:
  // Ray's window. Long enough to catch the same line from a pool of actors
  // started together, short enough that the fold reads as "just now".
  static constexpr uint64_t kWindowNs = 5'000'000'000ull;
  // Distinct lines remembered at once; beyond it the oldest window is closed
  // early (its fold written), so a flood of distinct lines costs bounded memory.
  static constexpr size_t kMaxOpenLines = 4096;

  explicit LogDeduplicator(uint64_t window_ns = kWindowNs, size_t max_open = kMaxOpenLines)
      : window_ns_(window_ns), max_open_(max_open) {}
  ~LogDeduplicator() { flush_all(); }
  LogDeduplicator(const LogDeduplicator&) = delete;
  LogDeduplicator& operator=(const LogDeduplicator&) = delete;

  // Whether this session folds lines: SHOAL_DEDUP_LOGS is not "0".
  static bool enabled_by_environment();

  // Line `text` (no newline) printed by process `pid`, whose lines carry
  // `prefix` ("(AsyncActor pid=42) "), for `out_fd`.
  void line(int out_fd, std::string_view prefix, pid_t pid, std::string_view text, uint64_t now_ns);
  // Writes the folds of the windows that have ended by `now_ns`.
  void flush_expired(uint64_t now_ns);
  // Writes every pending fold (the session is ending).
  void flush_all();
  size_t open_lines() const { return open_.size(); }

 private:
  struct Key {
    int fd;
    std::string text;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const noexcept {
      return std::hash<std::string>()(k.text) ^ (size_t(k.fd) * 0x9e3779b97f4a7c15ull);
    }
  };
  struct Window {
    uint64_t opened_ns = 0;
    pid_t first_pid = 0;
    bool several = false;     // a second process has printed it
    uint64_t folded = 0;      // repeats not written
    std::string fold_prefix;  // of the last folded repeat
  };

  void close_oldest();

  const uint64_t window_ns_;
  const size_t max_open_;
  std::unordered_map<Key, Window, KeyHash> open_;
  std::deque<Key> order_;  // keys by opening time, oldest first
  std::string out_;
};

// "(AsyncActor pid=42) hello" -> prefix "(AsyncActor pid=42) ", pid 42, text
// "hello"; false if the line does not start with such a prefix.
bool split_prefixed_line(std::string_view line, std::string_view* prefix, pid_t* pid,
                         std::string_view* text);

}  // namespace shoal::launcher
