#include "cluster/gateway.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "cluster/idle_backoff.hpp"
#include "cluster/object_transfer.hpp"
#include "cluster/transport.hpp"
#include "ipc/spin.hpp"

namespace shoal::cluster {

Gateway::Gateway(Options options) : options_(options) {
  event_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  // relaxed: before the gateway thread and any poster exist.
  if (options_.wake != nullptr) wake_.store(options_.wake, std::memory_order_relaxed);
}

void Gateway::add_service(GatewayService* service) {
  SHOAL_CHECK(!thread_.joinable()) << "add_service() after start()";
  services_.push_back(service);
}

void Gateway::detach_services() {
  auto detach = [this] {
    for (GatewayService* svc : services_)
      svc->stopping("the session is ending");
    services_.clear();
    // The slot's wake word goes with the segment: sleep on our own from now on.
    // release: pairs with the acquire load in wake().
    wake_.store(&own_wake_, std::memory_order_release);
  };
  if (thread_.joinable()) {
    call(detach);
    // A thread that had ended ran none of it: posters wake our own word too.
    // release: pairs with the acquire load in wake().
    wake_.store(&own_wake_, std::memory_order_release);
  } else {
    detach();  // never started: nobody else runs them
  }
}

Gateway::~Gateway() {
  if (thread_.joinable()) {
    abandon();
    thread_.join();
  }
  objects_.reset();
  if (event_fd_ >= 0) ::close(event_fd_);
}

void Gateway::set_handler(MessageType type, Handler handler) {
  SHOAL_CHECK(!thread_.joinable()) << "set_handler() after start()";
  SHOAL_CHECK(uint16_t(type) >= uint16_t(MessageType::kFirstExtension))
      << "message type " << uint16_t(type) << " is shoal's own";
  handlers_[uint16_t(type)] = std::move(handler);
}

void Gateway::set_object_handler(ObjectReceived received) {
  SHOAL_CHECK(!thread_.joinable()) << "set_object_handler() after start()";
  object_handler_ = std::move(received);
}

void Gateway::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { run(); });
}

Result<void, std::string> Gateway::wait_ready() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return ready_; });
  if (!error_.empty()) return fail(error_);
  return {};
}

void Gateway::post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    posted_.push_back(std::move(fn));
  }
  // release: pairs with the exchange in drain_posted(); then wake a sleeper.
  work_.store(true, std::memory_order_release);
  wake()->notify();
}

void Gateway::call(const std::function<void()>& fn) {
  auto done = std::make_shared<bool>(false);
  post([this, &fn, done] {
    fn();
    std::lock_guard<std::mutex> lock(mu_);
    *done = true;
    cv_.notify_all();
  });
  std::unique_lock<std::mutex> lock(mu_);
  // A gateway thread that ends first never runs it.
  cv_.wait(lock, [&] { return *done || thread_done_; });
}

void Gateway::report_failure(int status) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!origin_) failure_ = status;
    origin_ = true;
  }
  work_.store(true, std::memory_order_release);
  wake()->notify();
}

void Gateway::finish_local(int status) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (local_status_) return;
    local_status_ = status;
    // A gateway that will never hear from the others ends with this node.
    if (lost_ || abandoned_) publish(job_status_, status);
  }
  work_.store(true, std::memory_order_release);
  wake()->notify();
}

void Gateway::abandon() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    abandoned_ = true;
    if (local_status_) publish(job_status_, *local_status_);
  }
  work_.store(true, std::memory_order_release);
  wake()->notify();
}

void Gateway::lose(const std::string& why) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!lost_) {
      std::fprintf(stderr, "shoal: node %d: %s\n", node_, why.c_str());
      error_ = why;
    }
    lost_ = true;
    publish(abort_status_, 1);
    if (local_status_) publish(job_status_, *local_status_);
  }
  work_.store(true, std::memory_order_release);
  wake()->notify();
}

bool Gateway::abandoned() {
  std::lock_guard<std::mutex> lock(mu_);
  return abandoned_ || lost_;
}

bool Gateway::join(std::chrono::milliseconds timeout) {
  if (!thread_.joinable()) return true;
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, timeout, [this] { return thread_done_; })) return false;
  }
  thread_.join();
  return true;
}

void Gateway::send(int peer, MessageType type, const void* body, uint32_t bytes) {
  if (bye_sent_) return;  // the peers stop listening after our kBye
  transport_->send(peer, type, body, bytes);
}

std::byte* Gateway::append(int peer, MessageType type, uint32_t bytes) {
  if (bye_sent_) return nullptr;
  return transport_->append(peer, type, bytes);
}

void Gateway::publish(std::atomic<int>& slot, int value) {
  int expected = kUnset;
  // release: pairs with the acquire in load(); first value wins.
  if (slot.compare_exchange_strong(expected, value, std::memory_order_release,
                                   std::memory_order_relaxed)) {
    signal_event();
  }
}

void Gateway::signal_event() {
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(event_fd_, &one, sizeof(one));
}

bool Gateway::startup() {
  auto t = Transport::init();
  std::string error;
  int node = options_.expected_node, nodes = options_.expected_nodes;
  if (!t) {
    error = t.error();
  } else {
    transport_ = std::move(*t);
    node = transport_->node();
    nodes = transport_->num_nodes();
    const bool node_ok = options_.expected_node < 0 || options_.expected_node == node;
    const bool size_ok = options_.expected_nodes <= 0 || options_.expected_nodes == nodes;
    if (!node_ok || !size_ok) {
      error = "MPI makes this process rank " + std::to_string(node) + " of " +
              std::to_string(nodes) + ", but its environment said node " +
              std::to_string(options_.expected_node) + " of " +
              std::to_string(options_.expected_nodes);
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  // Read by other threads after wait_ready(), under mu_.
  node_ = node;
  num_nodes_ = nodes;
  ready_ = true;
  cv_.notify_all();
  if (!error.empty()) {
    error_ = error;
    lost_ = true;
    std::fprintf(stderr, "shoal: node %d cannot join the job: %s\n", options_.expected_node,
                 error.c_str());
    publish(abort_status_, 1);
    if (local_status_) publish(job_status_, *local_status_);
    return false;
  }
  greet();
  objects_ = std::make_unique<ObjectTransfer>(*options_.store, *transport_);
  objects_->set_received(std::move(object_handler_));
  peer_done_.assign(size_t(num_nodes_), std::nullopt);
  peer_bye_.assign(size_t(num_nodes_), 0);
  return true;
}

// This node's row of the node table, and a greeting to every peer, which
// writes its row in theirs (`shoal status` shows the nodes a session is joined to).
void Gateway::greet() {
  store::SegmentHeader& h = options_.store->header();
  HelloBody me{};
  ::gethostname(me.host, sizeof(me.host) - 1);
  std::snprintf(me.session, sizeof(me.session), "%s", options_.store->segment().name().c_str());
  write_row(node_, me);
  // relaxed: published by the release store of num_nodes that follows.
  h.node.store(node_, std::memory_order_relaxed);
  // release: pairs with `shoal status`'s acquire load; node is written.
  h.num_nodes.store(num_nodes_, std::memory_order_release);
  for (int p = 0; p < num_nodes_; ++p) {
    if (p != node_) transport_->send(p, MessageType::kHello, &me, sizeof(me));
  }
}

void Gateway::write_row(int node, const HelloBody& b) {
  if (node < 0 || uint32_t(node) >= store::kNodeRows) return;
  store::NodeRow& row = options_.store->header().nodes[node];
  std::memcpy(row.host, b.host, sizeof(row.host));
  row.host[sizeof(row.host) - 1] = '\0';
  std::memcpy(row.session, b.session, sizeof(row.session));
  row.session[sizeof(row.session) - 1] = '\0';
  // release: pairs with `shoal status`'s acquire load; the row is written.
  row.joined.store(1, std::memory_order_release);
}

void Gateway::deliver(int from, const Message& m) {
  switch (m.type) {
    case MessageType::kHello: {
      HelloBody b;
      if (m.body.size() != sizeof(b)) return;
      std::memcpy(&b, m.body.data(), sizeof(b));
      write_row(from, b);
      return;
    }
    case MessageType::kDone: {
      DoneBody d;
      if (m.body.size() != sizeof(d)) return;
      std::memcpy(&d, m.body.data(), sizeof(d));
      peer_done_[size_t(from)] = d;
      return;
    }
    case MessageType::kBye:
      peer_bye_[size_t(from)] = 1;
      return;
    case MessageType::kAbort: {
      AbortBody a;
      if (m.body.size() != sizeof(a)) return;
      std::memcpy(&a, m.body.data(), sizeof(a));
      publish(abort_status_, a.status);
      return;
    }
    case MessageType::kObjectOffer:
    case MessageType::kObjectAccept:
    case MessageType::kObjectRefuse:
      objects_->handle(from, m);
      return;
    default: {
      for (GatewayService* svc : services_) {
        if (svc->handles(m.type)) {
          svc->deliver(from, m.type, m.body);
          return;
        }
      }
      auto it = handlers_.find(uint16_t(m.type));
      if (it != handlers_.end()) it->second(from, m.body);
      return;
    }
  }
}

bool Gateway::drain_posted() {
  // acq_rel: pairs with the release stores of post() and the end-state setters.
  if (!work_.exchange(false, std::memory_order_acq_rel)) return false;
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard<std::mutex> lock(mu_);
    batch.swap(posted_);
  }
  for (auto& fn : batch)
    fn();
  return true;
}

// One turn of the job's end (see the header); true once MPI may be finalised.
bool Gateway::advance_end() {
  std::optional<int> failure, local;
  bool origin;
  {
    std::lock_guard<std::mutex> lock(mu_);
    failure = std::exchange(failure_, std::nullopt);
    local = local_status_;
    origin = origin_;
  }
  if (failure) {
    const AbortBody a{*failure};
    for (int p = 0; p < num_nodes_; ++p) {
      if (p != node_) send(p, MessageType::kAbort, &a, sizeof(a));
    }
  }
  if (local && !done_sent_) {
    const DoneBody d{*local, uint8_t(origin), {}};
    for (int p = 0; p < num_nodes_; ++p) {
      if (p != node_) send(p, MessageType::kDone, &d, sizeof(d));
    }
    done_sent_ = true;
  }
  if (done_sent_ && !bye_sent_) {
    for (int p = 0; p < num_nodes_; ++p) {
      if (p != node_ && !peer_done_[size_t(p)]) return false;
    }
    // Every node is done. The job's status: the failure of the lowest node
    // where one began, else any node's failure, else 0; the same everywhere.
    std::vector<DoneBody> all(static_cast<size_t>(num_nodes_));
    for (int p = 0; p < num_nodes_; ++p) {
      all[size_t(p)] = p == node_ ? DoneBody{*local, uint8_t(origin), {}} : *peer_done_[size_t(p)];
    }
    int status = 0;
    for (const DoneBody& d : all) {
      if (d.origin && d.status != 0) {
        status = d.status;
        break;
      }
    }
    if (status == 0) {
      for (const DoneBody& d : all) {
        if (d.status != 0) {
          status = d.status;
          break;
        }
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      publish(job_status_, status);
    }
    for (int p = 0; p < num_nodes_; ++p) {
      if (p != node_) send(p, MessageType::kBye, nullptr, 0);
    }
    bye_sent_ = true;
  }
  if (!bye_sent_) return false;
  for (int p = 0; p < num_nodes_; ++p) {
    if (p != node_ && !peer_bye_[size_t(p)]) return false;
  }
  return !transport_->sends_pending() && objects_->pending() == 0;
}

void Gateway::exit_thread(bool finalize) {
  for (GatewayService* svc : services_) {
    svc->stopping(finalize ? "the job ended"
                           : "node " + std::to_string(node_) + " lost the other nodes of the job");
  }
  if (finalize) {
    transport_->finalize();
    // release: pairs with the acquire in finalized(); read after join().
    finalized_.store(true, std::memory_order_release);
  }
  std::lock_guard<std::mutex> lock(mu_);
  thread_done_ = true;
  cv_.notify_all();
  signal_event();
}

void Gateway::run() {
  if (!startup()) {
    exit_thread(false);
    return;
  }
  IdleBackoff backoff;
  const Transport::Deliver deliver = [this](int from, const Message& m) { this->deliver(from, m); };
  for (;;) {
    bool worked = transport_->progress(deliver);
    worked |= drain_posted();
    for (GatewayService* svc : services_)
      worked |= svc->poll();
    if (transport_->failed()) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!lost_ && !abandoned_) {
        std::fprintf(stderr, "shoal: node %d lost the other nodes: %s\n", node_,
                     transport_->error().c_str());
      }
      lost_ = true;
      error_ = transport_->error();
      publish(abort_status_, 1);
      if (local_status_) publish(job_status_, *local_status_);
      break;
    }
    bool abandoned;
    {
      std::lock_guard<std::mutex> lock(mu_);
      abandoned = abandoned_ || lost_;
    }
    if (abandoned) break;
    const bool over = advance_end();
    transport_->flush();
    if (over) {
      exit_thread(true);
      return;
    }
    if (worked) {
      backoff.worked();
      continue;
    }
    if (backoff.idle(transport_->busy())) continue;
    ipc::WakeWord* const sleep_on = wake();
    const uint32_t token = sleep_on->prepare();
    // acquire: pairs with the release of post(); seen set, it is not slept through.
    if (work_.load(std::memory_order_acquire)) continue;
    // A ring push or a seal since the last turn notified before prepare():
    // look once more after it, or that notice would be slept through.
    bool more = false;
    for (GatewayService* svc : services_)
      more |= svc->poll();
    if (more) {
      backoff.worked();
      continue;
    }
    sleep_on->park(token, std::chrono::nanoseconds(backoff.sleep_ns()));
  }
  exit_thread(false);
}

}  // namespace shoal::cluster
