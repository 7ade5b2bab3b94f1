// SegmentReaper: removes a session's segment from /dev/shm when the process
// that made it dies, however it dies.
//
// A node's launcher can be killed -9: mpirun does so to the survivors of a
// failed job a second after its SIGTERM, and anyone may. Its ranks, their fork
// servers and actors die with it (PR_SET_PDEATHSIG), but nobody would be left
// to remove the segment. The reaper is a small child process in a session of
// its own (signals to the launcher's process group do not reach it), holding
// no descriptor but the read end of a pipe whose write end only the launcher
// holds. When that end closes (the launcher exited or was killed), or the
// launcher's main thread dies (PR_SET_PDEATHSIG), it unlinks the segment and
// exits.
//
// Start it while the process may still fork (before MPI is initialised).
// Lifetime: destroying the SegmentReaper closes the pipe and reaps the child.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "ipc/result.hpp"

namespace shoal::cluster {

class SegmentReaper {
 public:
  static Result<std::unique_ptr<SegmentReaper>, std::string> start(const std::string& segment);
  SegmentReaper(const SegmentReaper&) = delete;
  SegmentReaper& operator=(const SegmentReaper&) = delete;
  ~SegmentReaper();

  pid_t pid() const { return pid_; }

 private:
  SegmentReaper(pid_t pid, int fd) : pid_(pid), fd_(fd) {}
  pid_t pid_;
  int fd_;  // the pipe's write end
};

}  // namespace shoal::cluster
