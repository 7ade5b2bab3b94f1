// LineForwarder: reads what a child process writes to a pipe and writes it on,
// line by line, each line prefixed ("(AsyncActor pid=42) ") and written with a
// single write(2) so lines from different processes never interleave.
#pragma once

#include <string>

namespace shoal::launcher {

class LineForwarder {
 public:
  LineForwarder() = default;
  LineForwarder(int in_fd, int out_fd, std::string prefix)
      : in_fd_(in_fd), out_fd_(out_fd), prefix_(std::move(prefix)) {}
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
  std::string partial_;
  std::string line_;
};

// write(2) all of `n` bytes, retrying on EINTR and short writes.
void write_all(int fd, const char* data, size_t n);

}  // namespace shoal::launcher
