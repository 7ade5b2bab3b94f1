// NodeLink: what `shoal launch` needs from the multi-node part of shoal
// (cluster/) when it runs as one node of an MPI job. The launcher drives it
// from its own loop and never calls MPI itself, so a shoal built without MPI
// has no NodeLink and launches exactly as on one machine.
//
// Calls come from the launcher's thread, in this order: session_created(),
// node() / num_nodes(), ranks_started(), then abort_status() and job_status()
// at every turn of the loop (with event_fd() among the descriptors it polls),
// local_failure() when one of its ranks fails, launcher_signalled() when it is
// told to stop, local_done() once every rank has exited. The launcher keeps serving its session
// (the others' calls into its actors) until job_status() has a value. The NodeLink outlives the
// launch.
#pragma once

#include <optional>
#include <string>

#include "store/store.hpp"

namespace shoal::launcher {

class NodeLink {
 public:
  virtual ~NodeLink() = default;

  // The node's session exists and no rank has started: the launcher may still
  // fork. False, with a message, if this node cannot join the job.
  virtual bool session_created(store::Store& store, std::string* error) = 0;
  virtual int node() const = 0;
  virtual int num_nodes() const = 0;
  // Every rank of this node has been started.
  virtual void ranks_started() = 0;

  // Readable when abort_status() or job_status() may have changed.
  virtual int event_fd() const = 0;
  // Set once another node failed, or a node was lost: the job's status. The
  // launcher then stops its ranks.
  virtual std::optional<int> abort_status() = 0;
  // A rank of this node failed with exit status `status`: the whole job stops.
  virtual void local_failure(int status) = 0;
  // The launcher got SIGINT, SIGTERM or SIGHUP: mpirun takes a job down that
  // way, so once the ranks are gone the node does not wait for the others.
  virtual void launcher_signalled(int status) = 0;
  // Every rank of this node has exited; `status` is the node's exit status.
  virtual void local_done(int status) = 0;
  // The job's exit status once every node is done: the same on every node.
  virtual std::optional<int> job_status() = 0;
  // The session is about to end (its store unmapped): nothing of the link
  // may touch the store after this returns.
  virtual void session_ending() = 0;
};

}  // namespace shoal::launcher
