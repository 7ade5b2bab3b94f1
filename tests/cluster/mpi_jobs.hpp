// What the cluster tests share: running a job of several nodes under mpirun
// on this machine (each MPI process one node, with its own store) and reading
// what its ranks and actors printed.
#pragma once

#include <dirent.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/cli/processes.hpp"
#include "tests/support/test_support.hpp"

namespace shoal::testing {

// mpirun, as CMake found it; empty in a build without MPI.
inline std::string mpirun_path() {
  const char* p = std::getenv("SHOAL_MPIRUN");
  return p != nullptr ? p : "";
}

#define SHOAL_SKIP_WITHOUT_MPI()                                                         \
  if (::shoal::testing::mpirun_path().empty())                                           \
  GTEST_SKIP() << "shoal was built without MPI (no shoal_cluster): multi-node jobs are " \
                  "not available; install libopenmpi-dev openmpi-bin and reconfigure"

// Loopback TCP: the traffic really crosses the network stack, as between
// machines. The other choice is OpenMPI's default (shared memory here).
inline const std::vector<std::string> kTcp = {"--mca", "btl", "self,tcp"};
inline const std::vector<std::string> kDefaultTransport = {};

// `mpirun -n nodes [transport] PROGRAM...` with what running it here needs.
inline std::vector<std::string> mpirun_argv(int nodes, const std::vector<std::string>& transport,
                                            const std::vector<std::string>& program) {
  std::vector<std::string> argv{mpirun_path(), "--oversubscribe", "-n", std::to_string(nodes)};
  argv.insert(argv.end(), transport.begin(), transport.end());
  argv.insert(argv.end(), program.begin(), program.end());
  return argv;
}

// `shoal launch -n ranks -- <this test binary>` running peer function `peer`.
inline std::vector<std::string> launch_program(int ranks, const std::vector<std::string>& args) {
  std::vector<std::string> p{shoal_bin(), "launch", "-n", std::to_string(ranks), "--", self_exe()};
  p.insert(p.end(), args.begin(), args.end());
  return p;
}

// The environment of an mpirun started by a test: tests run as root here,
// which OpenMPI refuses unless told; small stores (there are several).
inline std::vector<std::string> mpi_env(const std::string& peer) {
  return {"OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1", "SHOAL_STORE_BYTES=256M",
          "SHOAL_TEST_PEER=" + peer};
}

// What a killed mpirun leaves behind: its session directory,
// $TMPDIR/ompi.<host>.<uid>/pid.<pid> (a normal exit removes it).
inline void remove_mpirun_session_dir(pid_t mpirun) {
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  const char* tmp = std::getenv("TMPDIR");
  const std::string dir = std::string(tmp && *tmp ? tmp : "/tmp") + "/ompi." + host + "." +
                          std::to_string(::getuid()) + "/pid." + std::to_string(mpirun);
  if (dir.find("/pid.") != std::string::npos && mpirun > 0) {
    run_command({"rm", "-rf", "--", dir});
  }
}

// "(rank R node K pid=P) text" or "(Name node K pid=P) text".
struct PrefixedLine {
  std::string who;  // "rank 3", "Printer"
  int node = -1;
  pid_t pid = 0;
  std::string text;
};

inline bool parse_prefixed(const std::string& line, PrefixedLine* out) {
  if (line.empty() || line[0] != '(') return false;
  const size_t close = line.find(") ");
  if (close == std::string::npos) return false;
  const std::string inside = line.substr(1, close - 1);  // "rank 3 node 1 pid=42"
  const size_t node_at = inside.rfind(" node ");
  const size_t pid_at = inside.rfind(" pid=");
  if (node_at == std::string::npos || pid_at == std::string::npos || pid_at < node_at) return false;
  out->who = inside.substr(0, node_at);
  out->node = std::atoi(inside.c_str() + node_at + 6);
  out->pid = pid_t(std::atoi(inside.c_str() + pid_at + 5));
  out->text = line.substr(close + 2);
  return true;
}

// The value after "key=" in a line's text ("" if absent).
inline std::string field_of(const std::string& text, const std::string& key) {
  const std::string k = " " + key + "=";
  const std::string padded = " " + text;
  const size_t at = padded.find(k);
  if (at == std::string::npos) return "";
  const size_t start = at + k.size();
  return padded.substr(start, padded.find(' ', start) - start);
}

// What /proc says about a process, for failure messages: its command line,
// state, parent and what each of its threads is blocked in.
inline std::string describe_process(pid_t pid) {
  auto slurp = [](const std::string& path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    std::string s = ss.str();
    for (char& c : s) {
      if (c == '\0') c = ' ';
    }
    while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
      s.pop_back();
    return s;
  };
  const std::string dir = "/proc/" + std::to_string(pid);
  std::string out = "pid " + std::to_string(pid) + " [" + slurp(dir + "/cmdline") +
                    "] stat: " + slurp(dir + "/stat").substr(0, 60);
  if (DIR* d = ::opendir((dir + "/task").c_str())) {
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] == '.') continue;
      const std::string t = dir + "/task/" + e->d_name;
      out += "\n  thread " + std::string(e->d_name) + " " + slurp(t + "/comm") + " in " +
             slurp(t + "/wchan");
    }
    ::closedir(d);
  }
  return out;
}

// Every pid and session a job's lines reported (fields pid=, actor=, worker=, remote=,
// session=).
struct Reported {
  std::set<pid_t> pids;
  std::set<std::string> sessions;
};

inline Reported reported(const std::string& out) {
  Reported r;
  for (const std::string& line : split_lines(out)) {
    PrefixedLine l;
    if (!parse_prefixed(line, &l)) continue;
    r.pids.insert(l.pid);
    for (const char* key : {"actor", "worker", "remote"}) {
      const std::string v = field_of(l.text, key);
      if (std::atoi(v.c_str()) > 0) r.pids.insert(pid_t(std::atoi(v.c_str())));
    }
    const std::string s = field_of(l.text, "session");
    if (!s.empty()) r.sessions.insert(s);
  }
  return r;
}

}  // namespace shoal::testing
