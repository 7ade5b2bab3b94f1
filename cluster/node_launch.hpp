// `shoal launch` as one node of an MPI job: `mpirun -n K shoal launch -n N --
// PROGRAM` makes each of the K MPI processes one node, with its own session
// and N ranks, and its gateway to the others (gateway.hpp).
//
// NodeLaunch is the launcher::NodeLink that `shoal launch` drives: it starts
// the segment reaper before any rank, the gateway once the ranks are started
// (MPI then initialises while the ranks start up), and answers the launcher's
// questions about the rest of the job from the gateway's state. It also
// watches its parent (mpirun, or its daemon): should that die, nobody would
// take the job down, so the node does it itself.
#pragma once

#include <chrono>
#include <memory>
#include <thread>

#include "cluster/gateway.hpp"
#include "cluster/remote_actors.hpp"
#include "cluster/segment_reaper.hpp"
#include "launcher/launch.hpp"
#include "launcher/mpi_job.hpp"
#include "launcher/node_link.hpp"

namespace shoal::cluster {

class NodeLaunch final : public launcher::NodeLink {
 public:
  explicit NodeLaunch(launcher::MpiJob job) : job_(std::move(job)) {}
  ~NodeLaunch() override;

  bool session_created(store::Store& store, std::string* error) override;
  int node() const override { return node_; }
  int num_nodes() const override { return num_nodes_; }
  void ranks_started() override;
  int event_fd() const override { return gateway_->event_fd(); }
  std::optional<int> abort_status() override;
  void local_failure(int status) override { gateway_->report_failure(status); }
  void launcher_signalled(int) override { gateway_->abandon(); }
  void local_done(int status) override { gateway_->finish_local(status); }
  std::optional<int> job_status() override;
  void session_ending() override { gateway_->detach_services(); }

  // After the launch: waits up to `timeout` for the gateway to finish MPI.
  // False if it did not, or if the job was abandoned (MPI left as it is).
  bool finish(std::chrono::milliseconds timeout);

 private:
  void drain_event();
  void watch_parent();

  launcher::MpiJob job_;
  int node_ = 0;
  int num_nodes_ = 1;
  std::unique_ptr<SegmentReaper> reaper_;
  std::unique_ptr<RemoteActors> remote_;  // outlives the gateway's thread
  std::unique_ptr<Gateway> gateway_;
  // Our parent is mpirun's daemon on this machine (or srun's step daemon):
  // if it dies, nobody will tell us the job is over. A thread watches it.
  int parent_fd_ = -1;
  int stop_fd_ = -1;
  std::thread parent_watch_;
};

// Runs `shoal launch` as one node of `job`; returns its exit status, the same
// on every node of the job.
int run_node_launch(launcher::LaunchOptions options, const launcher::MpiJob& job);

}  // namespace shoal::cluster
