// Cross-node benchmarks, run by `mpirun -n 2 shoal bench --filter node`: each
// bench process is one node and that node's gateway (the same code a node's
// `shoal launch` runs), and node 0 measures against node 1:
//   baseline_mpi_pingpong         8-byte round trips per second, plain MPI
//   baseline_mpi_gigabytes        64 MiB messages, plain MPI
//   node_store_transfer_gigabytes a 64 MiB object copied from node 0's store
//                                 into node 1's by the gateways (offer, accept,
//                                 one MPI transfer between the two mappings)
//   cross_node_actor_calls_sync   calls of an actor on node 1, one at a time
//   cross_node_actor_calls_async  the same, 1,000 in flight
// The MPI exchanges run on the gateway threads, between the same two
// processes and over the same MPI transport that carries cross-node traffic.
// The actor calls take the product's path: node 0's ring of the actor's
// proxy, its gateway, MPI, node 1's gateway, the actor's ring, and back.
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <shoal/shoal.hpp>

#include "cluster/gateway.hpp"
#include "cluster/object_transfer.hpp"
#include "cluster/remote_actors.hpp"
#include "cluster/transport.hpp"
#include "core/src/runtime.hpp"
#include "launcher/mpi_job.hpp"
#include "launcher/session.hpp"
#include "tools/bench/bench.hpp"
#include "tools/bench/measure.hpp"

namespace shoal_bench {

// The actor of the cross-node call figures, on node 1.
class NodeTarget {
 public:
  int small_value() { return 42; }
};

}  // namespace shoal_bench

SHOAL_ACTOR(shoal_bench::NodeTarget, &shoal_bench::NodeTarget::small_value);

namespace shoal::bench {
namespace {

using shoal_bench::NodeTarget;

constexpr uint64_t kBigBytes = uint64_t(64) << 20;
constexpr int kStopTag = 0;
constexpr int kDataTag = 1;

// What node 0 asks node 1 to do; node 1's gateway thread does it at once.
constexpr auto kEcho = cluster::MessageType(uint16_t(cluster::MessageType::kFirstExtension) + 1);
constexpr auto kSink = cluster::MessageType(uint16_t(cluster::MessageType::kFirstExtension) + 2);
constexpr auto kStored = cluster::MessageType(uint16_t(cluster::MessageType::kFirstExtension) + 3);

// Memory of `bytes`, every page faulted in: what is measured is MPI, not the
// kernel handing out fresh pages.
struct WarmBuffer {
  explicit WarmBuffer(uint64_t bytes) : size(bytes) {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::runtime_error("mmap of a benchmark buffer failed");
    data = static_cast<std::byte*>(p);
    std::memset(data, 0x5a, bytes);
  }
  ~WarmBuffer() { ::munmap(data, size); }
  std::byte* data;
  uint64_t size;
};

class BenchNode final : public NodeRun {
 public:
  bool before_init(std::string* error) override {
    auto job = launcher::detect_mpi_job();
    if (!job || !*job) {
      *error = job ? "no MPI job" : job.error();
      return false;
    }
    job_ = **job;
    // The session is this node's (its actors print "(Class node K pid=P)").
    ::setenv(launcher::kNodeEnv, std::to_string(job_.node).c_str(), 1);
    ::setenv(launcher::kNumNodesEnv,
             std::to_string(job_.num_nodes > 0 ? job_.num_nodes : 1).c_str(), 1);
    ::setenv(launcher::kLocalRankEnv, "0", 1);
    return true;
  }

  bool join(std::string* error) override {
    store::Store& s = *detail::runtime().store;
    // The gateway thread shares this process's slot, as a node's launcher's
    // does; this driver's fork server forks the actors node 0 creates here.
    gateway_ = std::make_unique<cluster::Gateway>(
        cluster::Gateway::Options{&s, job_.node, job_.num_nodes, &s.my_wake()});
    remote_ = std::make_unique<cluster::RemoteActors>(*gateway_, s);
    remote_->install();
    // release: pairs with the gateway's acquire load before it starts an actor here.
    s.header().node_spawner.store(uint32_t(s.me()) + 1, std::memory_order_release);
    gateway_->set_handler(kEcho, [this](int from, std::span<const std::byte>) { echo(from); });
    gateway_->set_handler(kSink, [this](int from, std::span<const std::byte>) { sink(from); });
    gateway_->set_handler(kStored, [this](int, std::span<const std::byte> body) { stored(body); });
    // Node 1 keeps no object it receives: it says so and frees it.
    gateway_->set_object_handler(
        [this](int from, uint64_t transfer, Result<store::RefRecord*, std::string> r) {
          const uint64_t reply[2] = {transfer, r ? 1u : 0u};
          if (r) detail::runtime().store->unpin(*r);
          gateway_->send(from, kStored, reply, sizeof(reply));
        });
    gateway_->start();
    auto ready = gateway_->wait_ready();
    if (!ready) {
      *error = ready.error();
      return false;
    }
    if (lead()) {
      std::fprintf(stderr, "cross-node run: %d nodes (%s's mpirun)\n", gateway_->num_nodes(),
                   job_.source.c_str());
    }
    return true;
  }

  bool lead() const override { return gateway_ && gateway_->node() == 0; }

  void serve() override {
    // This node has nothing of its own to do: it is done at once, and the run
    // ends when node 0 is (meanwhile its gateway answers node 0).
    gateway_->finish_local(0);
    wait_for_job();
  }

  void leave(int status) override {
    if (!gateway_) return;
    gateway_->finish_local(status);
    wait_for_job();
    if (!gateway_->join(std::chrono::seconds(10))) {
      // MPI did not let go: leave its thread be rather than wait at exit.
      note("node %d: MPI did not finish", gateway_->node());
      (void)gateway_.release();
      (void)remote_.release();
    }
  }

  cluster::Gateway* gateway() {
    return gateway_ && gateway_->num_nodes() > 1 ? gateway_.get() : nullptr;
  }

  // A promise node 0's bench thread waits on, kept by kStored.
  std::promise<bool>& expect_stored() {
    stored_ = std::promise<bool>();
    return stored_;
  }

 private:
  void wait_for_job() {
    while (!gateway_->job_status())
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }

  // Node 1: answers every 8-byte message with itself until the stop tag.
  void echo(int from) {
    char buf[8];
    cluster::Transport& t = gateway_->transport();
    for (;;) {
      const std::optional<int> tag = t.raw_receive(from, buf, sizeof(buf));
      if (!tag || *tag == kStopTag) return;
      if (!t.raw_send(from, *tag, buf, sizeof(buf))) return;
    }
  }

  // Node 1: takes 64 MiB messages, acknowledging each, until the stop tag.
  void sink(int from) {
    if (!sink_buffer_) sink_buffer_ = std::make_unique<WarmBuffer>(kBigBytes);
    cluster::Transport& t = gateway_->transport();
    const char ack = 1;
    for (;;) {
      const std::optional<int> tag = t.raw_receive(from, sink_buffer_->data, sink_buffer_->size);
      if (!tag || *tag == kStopTag) return;
      if (!t.raw_send(from, kDataTag, &ack, 1)) return;
    }
  }

  void stored(std::span<const std::byte> body) {
    uint64_t reply[2] = {0, 0};
    if (body.size() == sizeof(reply)) std::memcpy(reply, body.data(), sizeof(reply));
    stored_.set_value(reply[1] == 1);
  }

  launcher::MpiJob job_;
  std::unique_ptr<cluster::RemoteActors> remote_;  // outlives the gateway's thread
  std::unique_ptr<cluster::Gateway> gateway_;
  std::unique_ptr<WarmBuffer> sink_buffer_;
  std::promise<bool> stored_;
};

BenchNode g_node;
const bool g_registered = (set_node_run(&g_node), true);

// The gateway to node 1, or nullptr (with a notice) outside a run of 2+ nodes.
cluster::Gateway* peer_gateway() {
  cluster::Gateway* g = g_node.gateway();
  if (g == nullptr) note("cross-node benchmarks need a run of 2 nodes: mpirun -n 2 shoal bench");
  return g;
}

double mpi_pingpong() {
  cluster::Gateway* g = g_node.gateway();
  double rate = 0;
  g->call([&] {
    cluster::Transport& t = g->transport();
    t.send(1, kEcho, nullptr, 0);
    t.flush();
    char buf[8] = {};
    bool ok = true;
    rate = median_rate(
        [&] {
          for (int i = 0; i < 100 && ok; ++i) {
            ok = t.raw_send(1, kDataTag, buf, sizeof(buf)) && t.raw_receive(1, buf, sizeof(buf));
          }
        },
        100);
    t.raw_send(1, kStopTag, nullptr, 0);
    if (!ok) rate = 0;
  });
  if (rate == 0) throw std::runtime_error("the MPI ping-pong failed");
  return rate;
}

double mpi_gigabytes() {
  cluster::Gateway* g = g_node.gateway();
  WarmBuffer buf(kBigBytes);
  double us = 0;
  bool ok = true;
  g->call([&] {
    cluster::Transport& t = g->transport();
    t.send(1, kSink, nullptr, 0);
    t.flush();
    char ack;
    us = median_us([&] {
      ok = ok && t.raw_send(1, kDataTag, buf.data, buf.size) && t.raw_receive(1, &ack, 1);
    });
    t.raw_send(1, kStopTag, nullptr, 0);
  });
  if (!ok || us <= 0) throw std::runtime_error("the 64 MiB MPI transfers failed");
  return double(kBigBytes) / 1e9 / (us / 1e6);
}

double store_transfer() {
  cluster::Gateway* g = g_node.gateway();
  std::vector<uint8_t> value(kBigBytes, 0x5a);
  const ObjectRef<std::vector<uint8_t>> ref = put(value);
  const ObjectId id = ref.id();
  bool ok = true;
  const double us = median_us([&] {
    std::future<bool> stored = g_node.expect_stored().get_future();
    std::promise<bool> sent;
    g->call([&] {
      g->objects().offer(1, id.slot(), id.generation(),
                         [&](Result<void, std::string> r) { sent.set_value(r.ok()); });
    });
    ok = ok && stored.get();
    ok = sent.get_future().get() && ok;
  });
  if (!ok) throw std::runtime_error("the 64 MiB object did not reach node 1's store");
  return double(kBigBytes) / 1e9 / (us / 1e6);
}

// One benchmark: its baselines are measured first, in the same run, between
// the same two processes (and shown beside its figures whatever --filter says).
void cross_node(Reporter& rep) {
  if (peer_gateway() == nullptr) return;
  rep.measure("baseline_mpi_pingpong", Unit::kPerSecond, mpi_pingpong);
  rep.measure("baseline_mpi_gigabytes", Unit::kGigabytesPerSecond, mpi_gigabytes);
  rep.measure("node_store_transfer_gigabytes", Unit::kGigabytesPerSecond, store_transfer);
}

const Register kCrossNode("cross_node", {"node_store_transfer_gigabytes"}, cross_node,
                          {"baseline_mpi_pingpong", "baseline_mpi_gigabytes"});

void cross_node_calls(Reporter& rep) {
  if (peer_gateway() == nullptr) return;
  auto a = actor<NodeTarget>().options({.node = 1}).remote();
  rep.measure("cross_node_actor_calls_sync", Unit::kPerSecond,
              [&] { return sync_rate(a, &NodeTarget::small_value); });
  rep.measure("cross_node_actor_calls_async", Unit::kPerSecond, [&] {
    return async_rate([&](int) { return a.task(&NodeTarget::small_value).remote(); });
  });
}

const Register kCrossNodeCalls("cross_node_calls",
                               {"cross_node_actor_calls_sync", "cross_node_actor_calls_async"},
                               cross_node_calls,
                               {"baseline_mpi_pingpong", "baseline_mpi_gigabytes"});

}  // namespace
}  // namespace shoal::bench
