#include "cluster/node_launch.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>

namespace shoal::cluster {

bool NodeLaunch::session_created(store::Store& store, std::string* error) {
  auto reaper = SegmentReaper::start(store.segment().name());
  if (!reaper) {
    *error = "cannot start the segment reaper: " + reaper.error();
    return false;
  }
  reaper_ = std::move(*reaper);
  node_ = job_.node;
  num_nodes_ = job_.num_nodes;
  // The gateway thread shares the launcher's process slot: it sleeps on its
  // wake word, which pushes into the rings it serves and the seals of the
  // results it waits for notify.
  gateway_ = std::make_unique<Gateway>(
      Gateway::Options{&store, job_.node, job_.num_nodes, &store.my_wake()});
  remote_ = std::make_unique<RemoteActors>(*gateway_, store);
  remote_->install();
  if (job_.num_nodes == 0) {
    // The environment does not say how many nodes there are (PMIx alone):
    // MPI must be up before the ranks can be told their global numbers.
    gateway_->start();
    if (auto ready = gateway_->wait_ready(); !ready) {
      *error = ready.error();
      return false;
    }
    node_ = gateway_->node();
    num_nodes_ = gateway_->num_nodes();
  }
  return true;
}

NodeLaunch::~NodeLaunch() {
  if (parent_watch_.joinable()) {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(stop_fd_, &one, sizeof(one));
    parent_watch_.join();
  }
  if (parent_fd_ >= 0) ::close(parent_fd_);
  if (stop_fd_ >= 0) ::close(stop_fd_);
}

void NodeLaunch::ranks_started() {
  gateway_->start();
  const pid_t parent = ::getppid();
  if (parent <= 1) return;
  parent_fd_ = int(::syscall(SYS_pidfd_open, parent, 0));
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC);
  if (parent_fd_ < 0 || stop_fd_ < 0 || ::getppid() != parent) return;
  parent_watch_ = std::thread([this] { watch_parent(); });
}

void NodeLaunch::watch_parent() {
  pollfd fds[2] = {{parent_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
  while (::poll(fds, 2, -1) < 0) {
  }
  if (fds[0].revents != 0 && fds[1].revents == 0) {
    gateway_->lose("mpirun (or the daemon that started this node) is gone; ending the node");
  }
}

void NodeLaunch::drain_event() {
  uint64_t n;
  while (::read(gateway_->event_fd(), &n, sizeof(n)) == ssize_t(sizeof(n))) {
  }
}

std::optional<int> NodeLaunch::abort_status() {
  drain_event();
  return gateway_->abort_status();
}

std::optional<int> NodeLaunch::job_status() {
  drain_event();
  return gateway_->job_status();
}

bool NodeLaunch::finish(std::chrono::milliseconds timeout) {
  if (parent_watch_.joinable()) {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(stop_fd_, &one, sizeof(one));
    parent_watch_.join();
  }
  // A job torn down is not finalised: MPI may be waiting for the dead, and
  // its exit handlers with it. Nothing of the session is left by now.
  if (gateway_ && gateway_->abandoned()) return false;
  if (gateway_ && !gateway_->join(timeout)) return false;
  gateway_.reset();
  remote_.reset();
  reaper_.reset();
  return true;
}

int run_node_launch(launcher::LaunchOptions options, const launcher::MpiJob& job) {
  NodeLaunch link(job);
  options.node_link = &link;
  const int status = launcher::run_launch(options);
  if (!link.finish(std::chrono::seconds(5))) {
    // The job was torn down, or MPI did not let go (a peer died at the very
    // end): nothing of the session is left, so leave without MPI's exit
    // handlers, which could wait for the dead.
    std::fflush(nullptr);
    ::_exit(status == 0 ? 1 : status);
  }
  return status;
}

}  // namespace shoal::cluster
