// LineForwarder: reads what a child process writes to a pipe and writes it on,
// line by line, each line prefixed ("(AsyncActor pid=42) ") and written with a
// single write(2) so lines from different processes never interleave.
//
// With a LogDeduplicator the lines go through it instead (it writes them, or
// folds repeats across processes). A forwarder with an empty prefix and a
// deduplicator reads lines that already carry their prefix: a rank's fork
// server sends its actors' lines to `shoal launch` that way.
#pragma once

#include <sys/types.h>

#include <string>

namespace shoal::launcher {

class LogDeduplicator;

class LineForwarder {
 public:
  LineForwarder() = default;
  // `source`: the pid of the process whose lines these are (with a prefix).
  LineForwarder(int in_fd, int out_fd, std::string prefix, LogDeduplicator* dedup = nullptr,
                pid_t source = 0)
      : in_fd_(in_fd),
        out_fd_(out_fd),
        prefix_(std::move(prefix)),
        dedup_(dedup),
        source_(source) {}
  LineForwarder(LineForwarder&& o) noexcept;
  LineForwarder& operator=(LineForwarder&& o) noexcept;
  ~LineForwarder();

  int fd() const { return in_fd_; }
  bool open() const { return in_fd_ >= 0; }
  // Reads what is available; forwards complete lines. On end of file, forwards
  // the last partial line (with a newline) and closes. Returns false once closed.
  bool pump();

 private:
  void emit(const char* data, size_t n);
  void close_input();

  int in_fd_ = -1;
  int out_fd_ = -1;
  std::string prefix_;
  LogDeduplicator* dedup_ = nullptr;
  pid_t source_ = 0;
  std::string partial_;
  std::string line_;
};

// write(2) all of `n` bytes, retrying on EINTR and short writes.
void write_all(int fd, const char* data, size_t n);

}  // namespace shoal::launcher
