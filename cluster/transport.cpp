#include "cluster/transport.hpp"

#include <algorithm>
#include <climits>
#include <cstring>

namespace shoal::cluster {

namespace {

constexpr int kBatchTag = 1;

std::string mpi_error_text(int rc) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) return "MPI error " + std::to_string(rc);
  return std::string(text, size_t(len));
}

}  // namespace

Result<std::unique_ptr<Transport>, std::string> Transport::init() {
  int provided = 0;
  int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
  if (rc != MPI_SUCCESS) return fail("MPI_Init_thread failed: " + mpi_error_text(rc));
  if (provided < MPI_THREAD_FUNNELED) {
    return fail(
        std::string("this MPI cannot be used from a thread other than main "
                    "(MPI_THREAD_FUNNELED not provided)"));
  }
  std::unique_ptr<Transport> t(new Transport);
  // Errors come back as return codes: a lost peer ends this node cleanly
  // instead of aborting the process from inside MPI.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  if (!t->check(MPI_Comm_rank(MPI_COMM_WORLD, &t->node_), "MPI_Comm_rank") ||
      !t->check(MPI_Comm_size(MPI_COMM_WORLD, &t->num_nodes_), "MPI_Comm_size") ||
      !t->check(MPI_Comm_dup(MPI_COMM_WORLD, &t->batches_), "MPI_Comm_dup") ||
      !t->check(MPI_Comm_dup(MPI_COMM_WORLD, &t->blobs_), "MPI_Comm_dup") ||
      !t->check(MPI_Comm_dup(MPI_COMM_WORLD, &t->raw_), "MPI_Comm_dup")) {
    return fail(t->error_);
  }
  for (MPI_Comm c : {t->batches_, t->blobs_, t->raw_})
    MPI_Comm_set_errhandler(c, MPI_ERRORS_RETURN);
  int* tag_ub = nullptr;
  int flag = 0;
  MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_TAG_UB, &tag_ub, &flag);
  if (flag && tag_ub != nullptr) t->tag_limit_ = *tag_ub;
  if (t->num_nodes_ > 0xffff) return fail(std::string("a job of more than 65535 nodes"));
  std::vector<Outgoing>(size_t(t->num_nodes_))
      .swap(t->out_);  // deque: not copyable, so no resize()
  t->expected_sequence_.assign(size_t(t->num_nodes_), 1);
  t->receive_buffers_.resize(kReceiveDepth);
  t->receives_.assign(kReceiveDepth, MPI_REQUEST_NULL);
  for (int i = 0; i < kReceiveDepth; ++i) {
    t->receive_buffers_[size_t(i)].resize(kBatchBytes);
    t->post_receive(i);
  }
  if (t->failed_) return fail(t->error_);
  return t;
}

Transport::~Transport() = default;

bool Transport::check(int rc, const char* what, int peer) {
  if (rc == MPI_SUCCESS) return true;
  if (!failed_) {
    failed_ = true;
    error_ = std::string(what) + (peer >= 0 ? " (node " + std::to_string(peer) + ")" : "") + ": " +
             mpi_error_text(rc);
  }
  return false;
}

void Transport::post_receive(int index) {
  check(MPI_Irecv(receive_buffers_[size_t(index)].data(), int(kBatchBytes), MPI_BYTE,
                  MPI_ANY_SOURCE, kBatchTag, batches_, &receives_[size_t(index)]),
        "MPI_Irecv of a batch");
}

std::unique_ptr<BatchWriter> Transport::take_writer() {
  if (free_writers_.empty()) return std::make_unique<BatchWriter>();
  std::unique_ptr<BatchWriter> w = std::move(free_writers_.back());
  free_writers_.pop_back();
  w->clear();
  return w;
}

std::byte* Transport::append(int peer, MessageType type, uint32_t body_bytes) {
  SHOAL_CHECK(peer >= 0 && peer < num_nodes_ && peer != node_) << "no peer node " << peer;
  Outgoing& o = out_[size_t(peer)];
  if (o.queue.empty() || !o.queue.back()->fits(body_bytes)) o.queue.push_back(take_writer());
  ++stats_.messages_sent;
  return o.queue.back()->append(type, body_bytes);
}

void Transport::send(int peer, MessageType type, const void* body, uint32_t body_bytes) {
  std::byte* dst = append(peer, type, body_bytes);
  if (body_bytes != 0) std::memcpy(dst, body, body_bytes);
}

void Transport::flush() {
  if (failed_) return;
  for (int peer = 0; peer < num_nodes_; ++peer) {
    Outgoing& o = out_[size_t(peer)];
    while (!o.queue.empty() && !o.queue.front()->empty() && o.in_flight < kMaxBatchesInFlight) {
      std::unique_ptr<BatchWriter> b = std::move(o.queue.front());
      o.queue.pop_front();
      b->seal(uint16_t(node_), ++o.sequence);
      InFlight f{MPI_REQUEST_NULL, peer, std::move(b)};
      if (!check(MPI_Isend(f.batch->data(), int(f.batch->size()), MPI_BYTE, peer, kBatchTag,
                           batches_, &f.request),
                 "MPI_Isend of a batch", peer)) {
        return;
      }
      ++o.in_flight;
      ++stats_.batches_sent;
      in_flight_.push_back(std::move(f));
    }
  }
}

bool Transport::start_blob(int peer, int tag, std::byte* data, uint64_t bytes, BlobDone done,
                           bool receive) {
  SHOAL_CHECK(peer >= 0 && peer < num_nodes_ && peer != node_) << "no peer node " << peer;
  SHOAL_CHECK(tag >= 0 && tag <= tag_limit_) << "blob tag " << tag << " out of range";
  BlobOp op{{}, std::move(done), receive, bytes};
  // A blob of n bytes is ceil(n / chunk) messages of the same tag; MPI keeps
  // messages of one sender, tag and communicator in order.
  uint64_t at = 0;
  do {
    const uint64_t n = std::min(bytes - at, kBlobChunkBytes);
    MPI_Request r = MPI_REQUEST_NULL;
    const int rc = receive ? MPI_Irecv(data + at, int(n), MPI_BYTE, peer, tag, blobs_, &r)
                           : MPI_Isend(data + at, int(n), MPI_BYTE, peer, tag, blobs_, &r);
    if (!check(rc, receive ? "MPI_Irecv of a blob" : "MPI_Isend of a blob", peer)) {
      for (MPI_Request& q : op.requests)
        MPI_Cancel(&q);
      return false;
    }
    op.requests.push_back(r);
    at += n;
  } while (at < bytes);
  blob_ops_.push_back(std::move(op));
  return true;
}

void Transport::send_blob(int peer, int tag, const std::byte* data, uint64_t bytes, BlobDone done) {
  // MPI_Isend does not write through its buffer; the C binding is not const.
  if (!start_blob(peer, tag, const_cast<std::byte*>(data), bytes, done, false) && done) {
    done(false);
  }
}

void Transport::receive_blob(int peer, int tag, std::byte* data, uint64_t bytes, BlobDone done) {
  if (!start_blob(peer, tag, data, bytes, done, true) && done) done(false);
}

bool Transport::progress(const Deliver& deliver) {
  if (failed_) return false;
  bool worked = false;
  // Batches, in the order their receives were posted (= matched).
  for (int n = 0; n < kReceiveDepth; ++n) {
    MPI_Request& head = receives_[size_t(receive_head_)];
    int done = 0;
    MPI_Status status;
    if (!check(MPI_Test(&head, &done, &status), "MPI_Test of a batch receive")) return worked;
    if (!done) break;
    worked = true;
    int count = 0;
    MPI_Get_count(&status, MPI_BYTE, &count);
    const int from = status.MPI_SOURCE;
    const std::vector<std::byte>& buf = receive_buffers_[size_t(receive_head_)];
    if (from < 0 || from >= num_nodes_ || from == node_) {
      failed_ = true;
      error_ = "a batch from MPI rank " + std::to_string(from) + ", which is no peer";
      return worked;
    }
    auto reader = BatchReader::open(buf.data(), size_t(count), uint16_t(from),
                                    expected_sequence_[size_t(from)]);
    if (!reader) {
      failed_ = true;
      error_ = std::string("from node ") + std::to_string(from) + ": " + to_string(reader.error());
      return worked;
    }
    ++expected_sequence_[size_t(from)];
    ++stats_.batches_received;
    stats_.messages_received += reader->count();
    Message m;
    while (reader->next(&m))
      deliver(from, m);
    post_receive(receive_head_);
    receive_head_ = (receive_head_ + 1) % kReceiveDepth;
    if (failed_) return worked;
  }
  // Batches sent: their buffers come back.
  if (!in_flight_.empty()) {
    scratch_.clear();
    for (const InFlight& f : in_flight_)
      scratch_.push_back(f.request);
    scratch_index_.resize(scratch_.size());
    int completed = 0;
    if (!check(MPI_Testsome(int(scratch_.size()), scratch_.data(), &completed,
                            scratch_index_.data(), MPI_STATUSES_IGNORE),
               "MPI_Testsome of batch sends")) {
      return worked;
    }
    if (completed > 0 && completed != MPI_UNDEFINED) {
      worked = true;
      for (int i = 0; i < completed; ++i) {
        InFlight& f = in_flight_[size_t(scratch_index_[size_t(i)])];
        --out_[size_t(f.peer)].in_flight;
        free_writers_.push_back(std::move(f.batch));
      }
      std::erase_if(in_flight_, [](const InFlight& f) { return f.batch == nullptr; });
    }
  }
  // Blobs: a blob is done when every chunk is.
  for (size_t i = 0; i < blob_ops_.size();) {
    BlobOp& op = blob_ops_[i];
    int done = 0;
    if (!check(MPI_Testall(int(op.requests.size()), op.requests.data(), &done, MPI_STATUSES_IGNORE),
               op.receive ? "MPI_Testall of a blob receive" : "MPI_Testall of a blob send")) {
      return worked;
    }
    if (!done) {
      ++i;
      continue;
    }
    worked = true;
    ++(op.receive ? stats_.blobs_received : stats_.blobs_sent);
    stats_.blob_bytes += op.bytes;
    BlobDone cb = std::move(op.done);
    blob_ops_.erase(blob_ops_.begin() + ptrdiff_t(i));
    if (cb) cb(true);  // may start more blobs: blob_ops_ is not touched past this point
  }
  if (worked) flush();
  return worked;
}

bool Transport::sends_pending() const {
  if (!in_flight_.empty() || !blob_ops_.empty()) return true;
  for (const Outgoing& o : out_) {
    for (const auto& b : o.queue) {
      if (!b->empty()) return true;
    }
  }
  return false;
}

bool Transport::raw_send(int peer, int tag, const void* data, uint64_t bytes) {
  if (bytes > uint64_t(INT_MAX)) return false;
  return check(MPI_Send(data, int(bytes), MPI_BYTE, peer, tag, raw_), "MPI_Send", peer);
}

std::optional<int> Transport::raw_receive(int peer, void* data, uint64_t bytes) {
  if (bytes > uint64_t(INT_MAX)) return std::nullopt;
  MPI_Status status;
  if (!check(MPI_Recv(data, int(bytes), MPI_BYTE, peer, MPI_ANY_TAG, raw_, &status), "MPI_Recv",
             peer)) {
    return std::nullopt;
  }
  return status.MPI_TAG;
}

void Transport::finalize() {
  if (finalized_) return;
  finalized_ = true;
  for (MPI_Request& r : receives_) {
    if (r == MPI_REQUEST_NULL) continue;
    MPI_Cancel(&r);
    MPI_Wait(&r, MPI_STATUS_IGNORE);
  }
  for (MPI_Comm* c : {&batches_, &blobs_, &raw_}) {
    if (*c != MPI_COMM_NULL) MPI_Comm_free(c);
  }
  MPI_Finalize();
}

}  // namespace shoal::cluster
