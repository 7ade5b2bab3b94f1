#include "launcher/line_forwarder.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "ipc/spin.hpp"
#include "launcher/log_deduplicator.hpp"

namespace shoal::launcher {

void write_all(int fd, const char* data, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return;  // the reader is gone; nothing useful to do
    }
    data += w;
    n -= size_t(w);
  }
}

LineForwarder::LineForwarder(LineForwarder&& o) noexcept {
  *this = std::move(o);
}

LineForwarder& LineForwarder::operator=(LineForwarder&& o) noexcept {
  if (this != &o) {
    close_input();
    in_fd_ = std::exchange(o.in_fd_, -1);
    out_fd_ = o.out_fd_;
    prefix_ = std::move(o.prefix_);
    dedup_ = o.dedup_;
    source_ = o.source_;
    partial_ = std::move(o.partial_);
  }
  return *this;
}

LineForwarder::~LineForwarder() {
  close_input();
}

void LineForwarder::close_input() {
  if (in_fd_ >= 0) ::close(in_fd_);
  in_fd_ = -1;
}

void LineForwarder::emit(const char* data, size_t n) {
  if (dedup_ != nullptr) {
    const std::string_view text(data, n);
    if (!prefix_.empty()) {
      dedup_->line(out_fd_, prefix_, source_, text, ipc::now_ns());
      return;
    }
    std::string_view prefix, rest;
    pid_t pid = 0;
    if (split_prefixed_line(text, &prefix, &pid, &rest)) {
      dedup_->line(out_fd_, prefix, pid, rest, ipc::now_ns());
      return;
    }
  }
  line_.clear();
  line_.reserve(prefix_.size() + n + 1);
  line_.append(prefix_);
  line_.append(data, n);
  line_.push_back('\n');
  write_all(out_fd_, line_.data(), line_.size());
}

bool LineForwarder::pump() {
  if (in_fd_ < 0) return false;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(in_fd_, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return true;
    }
    if (n <= 0) {
      if (!partial_.empty()) emit(partial_.data(), partial_.size());
      partial_.clear();
      close_input();
      return false;
    }
    size_t start = 0;
    for (size_t i = 0; i < size_t(n); ++i) {
      if (buf[i] != '\n') continue;
      if (partial_.empty()) {
        emit(buf + start, i - start);
      } else {
        partial_.append(buf + start, i - start);
        emit(partial_.data(), partial_.size());
        partial_.clear();
      }
      start = i + 1;
    }
    partial_.append(buf + start, size_t(n) - start);
    if (size_t(n) < sizeof(buf)) return true;  // drained what was there
  }
}

}  // namespace shoal::launcher
