// Gateway: one node's link to the other nodes of an MPI job. It runs MPI on a
// thread of its own, the gateway thread, inside whichever process embeds it:
// a node's `shoal launch`, or each `shoal bench` process under mpirun (so the
// bench measures MPI between the very processes that carry cross-node calls).
//
// The gateway thread loops: hand on what MPI delivered, run what other
// threads posted, send what accumulated as one batch per peer, then spin or
// sleep (IdleBackoff) if there was nothing to do.
//
// The job's end, on every node alike: once this node is done (finish_local)
// it sends kDone to every peer; once it has every peer's kDone the job's
// status is known (job_status(), the same on every node) and it sends kBye,
// its last message; once it has every peer's kBye and MPI has sent all it
// had, it finalises MPI and the gateway thread ends. report_failure() makes
// every node stop first (kAbort, abort_status() elsewhere). A peer lost (an
// MPI error) or abandon() ends the thread at once without finalising: the job
// is being taken down, and MPI_Finalize could wait for the dead.
//
// Lifetime: the store outlives the gateway; the destructor abandons a gateway
// still running and joins its thread. Threads: everything may be called from
// any thread, except what is marked "gateway thread".
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "cluster/wire.hpp"
#include "ipc/result.hpp"
#include "ipc/wake_word.hpp"
#include "store/store.hpp"

namespace shoal::cluster {

class Transport;
class ObjectTransfer;

// A part of the gateway's work done by another object (remote_actors.hpp):
// it takes the messages of its types, works at every turn of the loop, and
// settles what it owes when the gateway stops. Gateway thread only.
class GatewayService {
 public:
  virtual ~GatewayService() = default;
  virtual bool handles(MessageType type) const = 0;
  virtual void deliver(int from, MessageType type, std::span<const std::byte> body) = 0;
  // One turn of work; true if there was any.
  virtual bool poll() = 0;
  // The gateway thread is ending (`why`); nothing more will arrive.
  virtual void stopping(const std::string& why) = 0;
};

class Gateway {
 public:
  struct Options {
    store::Store* store = nullptr;  // this node's store
    int expected_node = -1;         // what the environment said; checked against MPI
    int expected_nodes = 0;         // 0: whatever MPI says
    // Where the idle gateway thread sleeps: the wake word of its process
    // slot, which ring pushes and seals it waits for notify (null: a private
    // word, woken by post() and the job's end only).
    ipc::WakeWord* wake = nullptr;
  };
  // A handler for messages of the embedding code (types >= kFirstExtension);
  // runs on the gateway thread.
  using Handler = std::function<void(int from, std::span<const std::byte> body)>;

  explicit Gateway(Options options);
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;
  ~Gateway();

  // Before start().
  void set_handler(MessageType type, Handler handler);
  // Before start(): a service working on the gateway thread (not owned; it
  // outlives the gateway thread).
  void add_service(GatewayService* service);
  // Stops the services (their stopping()) and drops them, on the gateway
  // thread, which from then on sleeps on a word of its own; returns once done
  // (at once if that thread has ended). Before the store goes away.
  void detach_services();
  // Before start(): who takes the objects other nodes send (ObjectTransfer).
  using ObjectReceived =
      std::function<void(int from, uint64_t transfer, Result<store::RefRecord*, std::string>)>;
  void set_object_handler(ObjectReceived received);
  // Starts the gateway thread, which initialises MPI; returns at once.
  void start();
  // Waits until MPI is up: then node() and num_nodes() are MPI's. An error
  // (MPI failed, or disagrees with the environment) is a message.
  Result<void, std::string> wait_ready();
  int node() const { return node_; }
  int num_nodes() const { return num_nodes_; }

  // Runs `fn` on the gateway thread, soon.
  void post(std::function<void()> fn);
  // Runs `fn` on the gateway thread and waits for it (not from that thread).
  void call(const std::function<void()>& fn);

  // ---- the job's end ----
  // A process of this node failed with `status`: every node stops.
  void report_failure(int status);
  // Everything of this node is done; `status` is its exit status.
  void finish_local(int status);
  // Stop without waiting for the others (the job is being killed): once this
  // node is done too, job_status() is its own status.
  void abandon();
  // The job is lost (mpirun is gone, say): like a lost peer, with `why`
  // printed once. Every node stops; this one does not wait for the others.
  void lose(const std::string& why);
  // Set when another node failed (its status) or a peer was lost (1).
  std::optional<int> abort_status() const { return load(abort_status_); }
  // The job's exit status, once known.
  std::optional<int> job_status() const { return load(job_status_); }
  // Readable when abort_status() or job_status() changed (eventfd).
  int event_fd() const { return event_fd_; }
  // Waits up to `timeout` for the gateway thread to end; false if it has not.
  bool join(std::chrono::milliseconds timeout);
  // True once the gateway thread has ended and MPI was finalised.
  bool finalized() const { return finalized_.load(std::memory_order_acquire); }
  // True once this node stopped without finalising MPI (abandon(), lose(),
  // a lost peer): the job is being torn down and the process should leave.
  bool abandoned();

  // ---- gateway thread ----
  Transport& transport() { return *transport_; }
  ObjectTransfer& objects() { return *objects_; }
  // Queues a message to `peer` (sent with the next batch). Dropped once this
  // node has said kBye.
  void send(int peer, MessageType type, const void* body, uint32_t bytes);
  // Queues a message of `bytes` (<= kMaxBody) to `peer` and returns where its
  // body goes; null once this node has said kBye.
  std::byte* append(int peer, MessageType type, uint32_t bytes);

 private:
  static constexpr int kUnset = INT32_MIN;
  static std::optional<int> load(const std::atomic<int>& v) {
    // acquire: pairs with the release in publish(); what led to the value is visible.
    const int x = v.load(std::memory_order_acquire);
    return x == kUnset ? std::nullopt : std::optional<int>(x);
  }

  void run();
  bool startup();
  void deliver(int from, const struct Message& m);
  void greet();
  void write_row(int node, const HelloBody& b);
  bool drain_posted();
  bool advance_end();
  void publish(std::atomic<int>& slot, int value);
  void signal_event();
  void exit_thread(bool finalize);

  Options options_;
  std::map<uint16_t, Handler> handlers_;
  ObjectReceived object_handler_;
  std::unique_ptr<Transport> transport_;
  std::unique_ptr<ObjectTransfer> objects_;
  std::thread thread_;
  int node_ = 0;
  int num_nodes_ = 1;
  int event_fd_ = -1;
  // Where the gateway thread sleeps when idle, and posters wake it: the
  // slot's word (Options::wake) until detach_services(), then our own.
  ipc::WakeWord* wake() const { return wake_.load(std::memory_order_acquire); }
  ipc::WakeWord own_wake_;
  std::atomic<ipc::WakeWord*> wake_{&own_wake_};
  std::vector<GatewayService*> services_;

  // Posted work and the job's end as other threads see it (mu_).
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::function<void()>> posted_;
  bool ready_ = false;
  bool thread_done_ = false;
  std::string error_;
  std::optional<int> local_status_;  // finish_local()
  std::optional<int> failure_;       // report_failure(), not yet sent
  bool origin_ = false;              // report_failure() was called
  bool abandoned_ = false;
  bool lost_ = false;              // a peer was lost, or MPI failed
  std::atomic<bool> work_{false};  // posted_ or the end state changed: do not sleep

  // The job's end as the gateway thread sees it.
  bool done_sent_ = false;
  bool bye_sent_ = false;
  std::vector<std::optional<DoneBody>> peer_done_;
  std::vector<char> peer_bye_;

  std::atomic<int> abort_status_{kUnset};
  std::atomic<int> job_status_{kUnset};
  std::atomic<bool> finalized_{false};
};

}  // namespace shoal::cluster
