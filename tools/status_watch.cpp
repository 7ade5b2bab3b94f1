// `shoal status --watch`: the live sessions, redrawn every second until q or
// Ctrl-C. On a terminal it takes the alternate screen (as top does), reads
// keys without waiting for Enter, and gives the terminal back as it found it
// however it ends (q, Ctrl-C, SIGTERM, SIGHUP). Anywhere else (a pipe, a file)
// it prints one plain block per second. An actor with concurrency groups has one
// line per group under its row.
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ipc/spin.hpp"
#include "tools/sessions.hpp"

namespace shoal::tools {

namespace {

constexpr uint64_t kRefreshNs = 1'000'000'000;
constexpr int kWidth = 80;  // the view is laid out for 80 columns

volatile sig_atomic_t g_stop = 0;
void on_stop_signal(int) {
  g_stop = 1;
}

// Calls served by one actor at the previous refresh.
struct Sample {
  uint64_t served = 0;
  uint64_t at_ns = 0;
};

std::string rate_text(double per_s) {
  char buf[32];
  if (per_s >= 9.995e5) {
    std::snprintf(buf, sizeof(buf), "%.2fM", per_s / 1e6);
  } else if (per_s >= 9.995e3) {
    std::snprintf(buf, sizeof(buf), "%.1fk", per_s / 1e3);
  } else {
    std::snprintf(buf, sizeof(buf), "%.0f", per_s);
  }
  return buf;
}

std::string mib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f MiB", double(bytes) / 1048576.0);
  return buf;
}

// The lines of one refresh; `last` carries each actor's sample to the next.
std::vector<std::string> render(const std::vector<SessionRow>& sessions,
                                std::map<std::string, Sample>& last, uint64_t now_ns) {
  std::vector<std::string> out;
  char line[512];
  const std::time_t wall = std::time(nullptr);
  char clock[16];
  std::strftime(clock, sizeof(clock), "%H:%M:%S", std::localtime(&wall));
  std::snprintf(line, sizeof(line), "shoal status --watch   %s   (q or Ctrl-C to quit)", clock);
  out.push_back(line);
  std::map<std::string, Sample> next;
  if (sessions.empty()) {
    out.push_back("");
    out.push_back("no live shoal sessions");
  }
  for (const SessionRow& s : sessions) {
    out.push_back("");
    std::snprintf(line, sizeof(line), "session %s%s  world %d, %u processes", s.name.c_str(),
                  s.corrupt ? " (corrupt)" : "", s.world, s.processes);
    out.push_back(line);
    const double pct = s.heap != 0 ? 100.0 * double(s.used) / double(s.heap) : 0.0;
    std::snprintf(line, sizeof(line), "  store %s used of %s (%.1f%%), %" PRIu64 " objects",
                  mib(s.used).c_str(), mib(s.heap).c_str(), pct, s.objects);
    out.push_back(line);
    if (s.actors.empty()) continue;
    std::snprintf(line, sizeof(line), "  %-20s %7s %4s %-10s %6s %4s %8s %8s", "ACTOR", "PID",
                  "CORE", "STATE", "QUEUE", "RUN", "CALLS/S", "RESTARTS");
    out.push_back(line);
    for (const ActorRow& a : s.actors) {
      const std::string key = s.name + "/" + std::to_string(a.index) + "/" + a.cls + "/" + a.name;
      std::string rate = "-";
      if (auto it = last.find(key); it != last.end() && now_ns > it->second.at_ns) {
        const uint64_t done = a.served >= it->second.served ? a.served - it->second.served : 0;
        rate = rate_text(double(done) * 1e9 / double(now_ns - it->second.at_ns));
      }
      next[key] = Sample{a.served, now_ns};
      std::string who = a.name.empty() ? a.cls : a.name + " " + a.cls;
      if (who.size() > 20) who = who.substr(0, 19) + "~";
      const std::string core = a.core >= 0 ? std::to_string(a.core) : "-";
      std::snprintf(line, sizeof(line), "  %-20s %7d %4s %-10s %6" PRIu64 " %4u %8s %8d",
                    who.c_str(), int(a.pid), core.c_str(), a.state.c_str(), a.depth, a.running,
                    rate.c_str(), a.restarts);
      out.push_back(line);
      // Concurrency groups, for an actor with more than the default one (as `shoal status`).
      if (a.groups.size() < 2) continue;
      for (const GroupRow& g : a.groups) {
        std::snprintf(line, sizeof(line), "  group %-23s limit=%d running=%u queued=%u",
                      g.name.c_str(), g.limit, g.running, g.queued);
        out.push_back(line);
      }
    }
  }
  last = std::move(next);
  return out;
}

// The terminal as we found it, given back by the destructor.
class Terminal {
 public:
  Terminal() {
    if (::isatty(STDIN_FILENO) && ::tcgetattr(STDIN_FILENO, &saved_) == 0) {
      termios raw = saved_;
      raw.c_lflag &= ~tcflag_t(ICANON | ECHO);  // keys one at a time, unechoed; ISIG stays: Ctrl-C
      raw.c_cc[VMIN] = 0;
      raw.c_cc[VTIME] = 0;
      keys_ = ::tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
    }
    // Alternate screen, cursor hidden.
    write_out("\x1b[?1049h\x1b[?25l");
  }
  ~Terminal() {
    write_out("\x1b[?25h\x1b[?1049l");
    if (keys_) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  }
  Terminal(const Terminal&) = delete;
  Terminal& operator=(const Terminal&) = delete;

  static void write_out(const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      const ssize_t n = ::write(STDOUT_FILENO, s.data() + off, s.size() - off);
      if (n <= 0) return;
      off += size_t(n);
    }
  }

  // What fits: at most kWidth columns, and the terminal's size.
  static void size(int* cols, int* rows) {
    winsize ws{};
    *cols = kWidth;
    *rows = 1000;
    if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
      *cols = std::min<int>(kWidth, ws.ws_col);
      *rows = ws.ws_row > 1 ? ws.ws_row : 24;
    }
  }

 private:
  termios saved_{};
  bool keys_ = false;
};

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: poll() returns at once
  for (int sig : {SIGINT, SIGTERM, SIGHUP})
    ::sigaction(sig, &sa, nullptr);
}

// Waits until `deadline_ns` or a stop; true if q was pressed (or a signal came).
bool wait_for_quit(uint64_t deadline_ns, bool* stdin_open) {
  for (;;) {
    if (g_stop) return true;
    const uint64_t now = ipc::now_ns();
    if (now >= deadline_ns) return false;
    pollfd p{*stdin_open ? STDIN_FILENO : -1, POLLIN, 0};
    const int timeout_ms = int((deadline_ns - now + 999'999) / 1'000'000);
    if (::poll(&p, 1, timeout_ms) <= 0) continue;
    if (p.revents & (POLLIN | POLLHUP)) {
      char keys[64];
      const ssize_t n = ::read(STDIN_FILENO, keys, sizeof(keys));
      if (n <= 0) {
        *stdin_open = false;  // end of input: only signals stop us now
        continue;
      }
      for (ssize_t i = 0; i < n; ++i) {
        if (keys[i] == 'q' || keys[i] == 'Q') return true;
      }
    } else if (p.revents & (POLLERR | POLLNVAL)) {
      *stdin_open = false;
    }
  }
}

}  // namespace

int run_status_watch(int count) {
  install_stop_handlers();
  const bool tty = ::isatty(STDOUT_FILENO);
  bool stdin_open = true;
  std::map<std::string, Sample> last;
  std::unique_ptr<Terminal> terminal;
  if (tty) terminal = std::make_unique<Terminal>();
  uint64_t deadline = ipc::now_ns();
  for (int frame = 0; count <= 0 || frame < count; ++frame) {
    const std::vector<SessionRow> sessions = live_sessions();
    std::vector<std::string> lines = render(sessions, last, ipc::now_ns());
    std::string text;
    if (tty) {
      int cols, rows;
      Terminal::size(&cols, &rows);
      if (int(lines.size()) > rows - 1) {
        const size_t hidden = lines.size() - size_t(rows - 2);
        lines.resize(size_t(rows - 2));
        lines.push_back("... " + std::to_string(hidden) + " more lines");
      }
      text = "\x1b[H";
      for (std::string& l : lines) {
        if (int(l.size()) > cols) l.resize(size_t(cols));
        text += l + "\x1b[K\n";
      }
      text += "\x1b[J";
    } else {
      for (std::string& l : lines) {
        if (int(l.size()) > kWidth) l.resize(kWidth);
        text += l + "\n";
      }
      text += "\n";
    }
    Terminal::write_out(text);
    if (count > 0 && frame + 1 >= count) break;
    deadline += kRefreshNs;
    if (deadline < ipc::now_ns()) deadline = ipc::now_ns() + kRefreshNs;  // fell behind
    if (wait_for_quit(deadline, &stdin_open)) break;
  }
  terminal.reset();
  return 0;
}

}  // namespace shoal::tools
