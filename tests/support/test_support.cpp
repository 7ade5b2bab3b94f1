#include "tests/support/test_support.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <thread>

#include "core/src/runtime.hpp"
#include "ipc/actor_table.hpp"
#include "launcher/actor_lifecycle.hpp"

namespace shoal::testing {

namespace {

std::map<std::string, PeerFn>& peers() {
  static std::map<std::string, PeerFn> m;
  return m;
}

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

PeerRegistrar::PeerRegistrar(const char* name, PeerFn fn) {
  peers()[name] = fn;
}

PeerFn find_peer(const std::string& name) {
  auto it = peers().find(name);
  return it == peers().end() ? nullptr : it->second;
}

CommandResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                          const std::vector<std::string>& env) {
  CommandResult r;
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) return r;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    for (const std::string& e : env)
      ::putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> args;
    for (const std::string& a : argv)
      args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool out_open = true, err_open = true;
  char buf[65536];
  while (out_open || err_open) {
    pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    ::poll(fds, 2, int(left.count()));
    for (int i = 0; i < 2; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP))) continue;
      const ssize_t n = ::read(fds[i].fd, buf, sizeof(buf));
      if (n > 0) {
        (i == 0 ? r.out : r.err).append(buf, size_t(n));
      } else {
        (i == 0 ? out_open : err_open) = false;
        fds[i].fd = -1;
      }
    }
    if (!out_open) fds[0].fd = -1;
  }
  ::close(out[0]);
  ::close(err[0]);
  const int code = wait_child(pid, std::chrono::duration_cast<std::chrono::milliseconds>(
                                       deadline - std::chrono::steady_clock::now()));
  r.exit_code = code;
  return r;
}

int wait_child(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return decode_status(status);
    if (r < 0) return -1;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

std::string shoal_bin() {
  const char* p = std::getenv("SHOAL_BIN");
  return p ? p : "shoal";
}

std::string example_bin(const std::string& name) {
  const char* p = std::getenv("SHOAL_EXAMPLES_DIR");
  return std::string(p ? p : ".") + "/" + name;
}

std::string test_bin(const std::string& name) {
  const char* p = std::getenv("SHOAL_TEST_BINARY_DIR");
  return std::string(p ? p : ".") + "/" + name;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

pid_t spawn_peer(const std::string& name, const std::vector<std::string>& args) {
  const std::string session = session_name();
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setenv("SHOAL_SESSION", session.c_str(), 1);
    ::setenv("SHOAL_RANK", "1", 1);
    ::setenv("SHOAL_TEST_PEER", name.c_str(), 1);
    std::vector<std::string> all{"/proc/self/exe"};
    for (const auto& a : args)
      all.push_back(a);
    std::vector<char*> argv;
    for (auto& a : all)
      argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv("/proc/self/exe", argv.data());
    ::_exit(127);
  }
  return pid;
}

std::string session_name() {
  return detail::runtime().store->segment().name();
}
uint64_t store_used_bytes() {
  return detail::runtime().store->heap().used();
}
uint64_t store_live_objects() {
  return detail::runtime().store->live_objects();
}
uint64_t store_heap_bytes() {
  return detail::runtime().store->heap().capacity();
}
uint64_t store_spilled_objects() {
  return detail::runtime().store->objects().spilled().objects;
}
std::string store_spill_file() {
  return detail::runtime().store->spill_file().path();
}

uint32_t live_actors() {
  store::Store& s = *detail::runtime().store;
  uint32_t n = 0;
  for (uint32_t i = 0; i < s.actor_count(); ++i) {
    const ipc::ActorEntry& e = s.actor(i);
    const auto st = ipc::ActorState(e.state.load(std::memory_order_acquire));
    if (st != ipc::ActorState::kFree && st != ipc::ActorState::kDead &&
        e.kind != uint32_t(launcher::ActorKind::kWorker)) {
      ++n;
    }
  }
  return n;
}

uint64_t live_objects_once_actors_ended() {
  // An owned actor frees its token (and the arguments it holds) before its
  // process ends, so once no actor lives their objects are gone too.
  (void)eventually([] { return live_actors() == 0; }, std::chrono::seconds(10));
  return store_live_objects();
}

std::vector<std::string> shm_segments() {
  std::vector<std::string> out;
  const std::string prefix = "shoal-" + std::to_string(::getuid()) + "-";
  if (DIR* d = ::opendir("/dev/shm")) {
    while (dirent* e = ::readdir(d)) {
      if (std::string(e->d_name).rfind(prefix, 0) == 0) out.push_back(e->d_name);
    }
    ::closedir(d);
  }
  return out;
}

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

bool process_alive(pid_t pid) {
  return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM);
}

}  // namespace shoal::testing
