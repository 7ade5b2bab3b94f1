// Transport: MPI point-to-point between the gateways of a job's nodes, the
// only code of shoal that calls MPI.
//
// Threads: MPI is initialised with MPI_THREAD_FUNNELED by the thread that
// calls init(), and every other call below must come from that same thread
// (the gateway's). Lifetime: one Transport per process, for the whole job;
// MPI cannot be initialised twice.
//
// Three kinds of traffic, each on a communicator of its own:
//  * batches: small messages (wire.hpp) are appended to the open batch of
//    their destination and leave together at flush(), one MPI_Isend per batch.
//    kReceiveDepth receives of kBatchBytes stay posted for any sender and are
//    handed on in the order they were posted, which is the order MPI matched
//    them in: what one node sends another arrives in the order it was sent.
//  * blobs: large payloads sent straight from the caller's memory and
//    received straight into it (a store block on either side), never staged.
//  * raw: blocking exchanges beside the others, for measuring MPI itself
//    between the same two processes (the bench's baselines).
// Errors are returned by MPI (MPI_ERRORS_RETURN), not fatal: the first one
// puts the transport in a failed state with a message, and the gateway ends
// the node.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cluster/wire.hpp"
#include "ipc/result.hpp"

namespace shoal::cluster {

class Transport {
 public:
  // Receives of one batch each that stay posted: enough for a burst from
  // every peer while the gateway is busy elsewhere (16 x 64 KiB = 1 MiB).
  static constexpr int kReceiveDepth = 16;
  // Batches on their way to one peer before flush() holds the rest back, so
  // that a slow receiver bounds what a fast sender has queued in MPI.
  static constexpr size_t kMaxBatchesInFlight = 64;
  // One MPI message carries at most this much of a blob (MPI counts are int).
  static constexpr uint64_t kBlobChunkBytes = uint64_t(1) << 30;

  // Initialises MPI on the calling thread. An error is a message.
  static Result<std::unique_ptr<Transport>, std::string> init();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;
  // Leaves MPI as it is: a job being taken down is not finalised (finalize()).
  ~Transport();

  int node() const { return node_; }
  int num_nodes() const { return num_nodes_; }

  // ---- batches ----
  // Room for a message of `body_bytes` (<= kMaxBody) to `peer`, in its open
  // batch; the caller writes the body there before the next flush().
  std::byte* append(int peer, MessageType type, uint32_t body_bytes);
  void send(int peer, MessageType type, const void* body, uint32_t body_bytes);
  // Hands every open batch to MPI (up to kMaxBatchesInFlight per peer).
  void flush();

  // ---- blobs ----
  // `done(ok)` runs on this thread, inside progress(), once MPI is finished
  // with the memory, which must stay valid until then. Tags are the caller's
  // (below tag_limit()); a blob matches the receive of the same sender and
  // tag, so two blobs in flight between the same pair need two tags.
  using BlobDone = std::function<void(bool ok)>;
  void send_blob(int peer, int tag, const std::byte* data, uint64_t bytes, BlobDone done);
  void receive_blob(int peer, int tag, std::byte* data, uint64_t bytes, BlobDone done);
  int tag_limit() const { return tag_limit_; }

  // ---- progress ----
  using Deliver = std::function<void(int from, const Message& message)>;
  // Hands on what has arrived (`deliver` may append and send), completes
  // sends and blobs. True if anything happened.
  bool progress(const Deliver& deliver);
  // Batches or blobs MPI has not finished sending.
  bool sends_pending() const;
  // Sends or blob receives in flight: MPI moves their bytes only while it is
  // asked for progress, so the gateway must not sleep meanwhile.
  bool busy() const { return !in_flight_.empty() || !blob_ops_.empty(); }

  // ---- raw exchanges (blocking; the bench) ----
  bool raw_send(int peer, int tag, const void* data, uint64_t bytes);
  // Receives one message from `peer` into `data` (at most `bytes`); its tag.
  std::optional<int> raw_receive(int peer, void* data, uint64_t bytes);

  // Ends MPI cleanly: cancels the posted receives and finalises. Call once
  // every peer has said kBye and sends_pending() is false.
  void finalize();

  bool failed() const { return failed_; }
  const std::string& error() const { return error_; }

  struct Stats {
    uint64_t batches_sent = 0, messages_sent = 0;
    uint64_t batches_received = 0, messages_received = 0;
    uint64_t blobs_sent = 0, blobs_received = 0, blob_bytes = 0;
  };
  const Stats& stats() const { return stats_; }

 private:
  struct Outgoing {
    std::deque<std::unique_ptr<BatchWriter>> queue;  // back: the open batch
    size_t in_flight = 0;
    uint64_t sequence = 0;
  };
  struct InFlight {
    MPI_Request request;
    int peer;
    std::unique_ptr<BatchWriter> batch;
  };
  struct BlobOp {
    std::vector<MPI_Request> requests;
    BlobDone done;
    bool receive;
    uint64_t bytes;
  };

  Transport() = default;
  bool check(int rc, const char* what, int peer = -1);
  std::unique_ptr<BatchWriter> take_writer();
  void post_receive(int index);
  bool start_blob(int peer, int tag, std::byte* data, uint64_t bytes, BlobDone done, bool receive);

  int node_ = 0;
  int num_nodes_ = 1;
  int tag_limit_ = 32767;
  MPI_Comm batches_ = MPI_COMM_NULL;
  MPI_Comm blobs_ = MPI_COMM_NULL;
  MPI_Comm raw_ = MPI_COMM_NULL;

  std::vector<Outgoing> out_;  // by peer
  std::vector<InFlight> in_flight_;
  std::vector<std::unique_ptr<BatchWriter>> free_writers_;
  std::vector<std::vector<std::byte>> receive_buffers_;  // kReceiveDepth
  std::vector<MPI_Request> receives_;  // posted, in posting order from receive_head_
  int receive_head_ = 0;
  std::vector<uint64_t> expected_sequence_;  // by peer
  std::vector<BlobOp> blob_ops_;
  std::vector<MPI_Request> scratch_;
  std::vector<int> scratch_index_;

  bool failed_ = false;
  bool finalized_ = false;
  std::string error_;
  Stats stats_;
};

}  // namespace shoal::cluster
