#include "launcher/log_deduplicator.hpp"

#include <cstdlib>
#include <cstring>

#include "launcher/line_forwarder.hpp"

namespace shoal::launcher {

bool LogDeduplicator::enabled_by_environment() {
  const char* v = std::getenv("SHOAL_DEDUP_LOGS");
  return v == nullptr || std::strcmp(v, "0") != 0;
}

void LogDeduplicator::line(int out_fd, std::string_view prefix, pid_t pid, std::string_view text,
                           uint64_t now_ns) {
  flush_expired(now_ns);
  Key key{out_fd, std::string(text)};
  auto it = open_.find(key);
  if (it != open_.end()) {
    Window& w = it->second;
    if (pid != w.first_pid) w.several = true;
    if (w.several) {
      ++w.folded;
      w.fold_prefix.assign(prefix);
      return;
    }
  }
  // A new window: if that is one too many, the oldest fold goes out first.
  const bool opens = it == open_.end();
  if (opens && open_.size() >= max_open_) close_oldest();
  out_.assign(prefix);
  out_.append(text);
  out_.push_back('\n');
  write_all(out_fd, out_.data(), out_.size());
  if (!opens) return;  // the same process again: its window stays as it is
  order_.push_back(key);
  open_.emplace(std::move(key), Window{now_ns, pid, false, 0, {}});
}

void LogDeduplicator::close_oldest() {
  while (!order_.empty()) {
    auto it = open_.find(order_.front());
    order_.pop_front();
    if (it == open_.end()) continue;
    const Window& w = it->second;
    if (w.folded != 0) {
      out_.assign(w.fold_prefix);
      out_.append(it->first.text);
      out_.append(" [repeated ");
      out_.append(std::to_string(w.folded));
      out_.append("x across processes]\n");
      write_all(it->first.fd, out_.data(), out_.size());
    }
    open_.erase(it);
    return;
  }
}

void LogDeduplicator::flush_expired(uint64_t now_ns) {
  while (!order_.empty()) {
    auto it = open_.find(order_.front());
    if (it == open_.end()) {
      order_.pop_front();
      continue;
    }
    if (now_ns - it->second.opened_ns < window_ns_) return;
    close_oldest();
  }
}

void LogDeduplicator::flush_all() {
  while (!order_.empty())
    close_oldest();
}

bool split_prefixed_line(std::string_view line, std::string_view* prefix, pid_t* pid,
                         std::string_view* text) {
  if (line.empty() || line[0] != '(') return false;
  for (size_t at = line.find(" pid=", 1); at != std::string_view::npos;
       at = line.find(" pid=", at + 1)) {
    size_t i = at + 5;
    long value = 0;
    while (i < line.size() && line[i] >= '0' && line[i] <= '9' && value < (1L << 31)) {
      value = value * 10 + (line[i] - '0');
      ++i;
    }
    if (i == at + 5 || line.compare(i, 2, ") ") != 0) continue;
    *prefix = line.substr(0, i + 2);
    *pid = pid_t(value);
    *text = line.substr(i + 2);
    return true;
  }
  return false;
}

}  // namespace shoal::launcher
