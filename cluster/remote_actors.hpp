// RemoteActors: the gateway's part in actors that live on another node.
//
// Outbound. An actor created with ActorOptions::node = k is stood for, on the
// creator's node, by an entry of kind launcher::ActorKind::kRemote (the
// proxy) with a request ring of its own, whose consumer is the gateway. Its
// callers use it exactly as a local actor's: they create the result entry
// (writer = the proxy), push the call into the proxy's ring and wait on the
// result. The gateway sends the proxy's creation to node k (kCreateActor),
// then forwards each cell of the ring, in ring order, as kCall; the kResult
// that answers it is written into the caller's result entry and sealed
// there, which wakes the caller as a local actor's seal would.
//
// Inbound. For the other nodes the gateway is a local caller of this node's
// actors: kCreateActor starts an actor here through the node server's fork
// server (the program's own binary, which has its actor classes); kCall
// creates the result entry (writer = the actor), pushes the cell into the
// actor's ring (one producer, in arrival order: per-caller order holds) and
// registers the gateway as the result's loop waiter, so the seal puts it on
// the gateway's ReadyQueue; the sealed payload, a value or an error, goes
// back as the call's one kResult.
//
// Lifetimes. A proxy is an owned or detached actor of its node like any
// other: when its handles are gone (its token unreferenced), its creator
// dies or kill() is called, the proxy dies here and node k is told
// (kReleaseActor: the actor ends once its ring is empty; kKillActor: at
// once). The actor on node k is owned by that node's gateway, so it also ends
// with the job.
//
// Not yet across nodes: ObjectRefs among a call's or a constructor's
// arguments or inside a result, and payloads larger than one batch
// (kMaxBody); each fails its call with an error naming the limit.
//
// Threads: everything runs on the gateway thread.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "cluster/gateway.hpp"
#include "cluster/wire.hpp"
#include "ipc/request_ring.hpp"
#include "launcher/actor_lifecycle.hpp"
#include "store/store.hpp"

namespace shoal::cluster {

class RemoteActors final : public GatewayService {
 public:
  // `store.me()` is the gateway's process slot: the consumer of the proxies'
  // rings, the caller of this node's actors for the others, and the waiter
  // of their results.
  RemoteActors(Gateway& gateway, store::Store& store);
  RemoteActors(const RemoteActors&) = delete;
  RemoteActors& operator=(const RemoteActors&) = delete;

  // Before the gateway starts: joins it as a service, and tells the node's
  // processes that the gateway serves (SegmentHeader::gateway_slot).
  void install();

  // ---- GatewayService (gateway thread) ----
  bool handles(MessageType type) const override;
  void deliver(int from, MessageType type, std::span<const std::byte> body) override;
  bool poll() override;
  // Every call still owed to a caller here fails with ActorDiedError naming
  // `why`; every proxy dies; what this gateway holds is let go.
  void stopping(const std::string& why) override;

 private:
  struct Proxy {
    uint32_t gen = 0;
    uint32_t node = 0;  // where the actor lives
    bool created = false;
    uint32_t remote_index = 0;
    uint32_t remote_gen = 0;
    bool owned = false;
    bool lookup = false;      // made by get_actor(): bound by the first node that has the name
    int answers_pending = 0;  // a lookup's nodes that have not answered yet
    uint32_t cancel_epoch = 0;
    uint32_t in_flight = 0;  // calls forwarded, not answered yet
    ipc::RequestRing ring;
  };
  struct Outbound {
    uint32_t proxy = 0;
    bool cancel_sent = false;
  };
  struct Hosted {
    uint32_t index = 0;  // the actor's entry here
    uint32_t gen = 0;
    int from = 0;  // the node whose entry stands for it
    uint32_t proxy_index = 0;
    uint32_t proxy_gen = 0;
    store::RefRecord* token = nullptr;  // our reference on its token (none: a detached actor)
    int32_t pid_sent = 0;
  };
  struct Inbound {
    store::RefRecord* result = nullptr;  // created and held by us
    int from = 0;
    uint64_t call_id = 0;
  };
  using Cell = std::array<std::byte, ipc::kRingPayloadBytes>;  // a call cell's payload
  struct Waiting {  // a call for an actor whose ring was full, in order
    Inbound in;
    Cell cell;
  };
  struct Attached {
    uint32_t gen = 0;
    ipc::RequestRing ring;
  };

  // ---- outbound ----
  void scan_proxies();
  void send_creation(uint32_t index, Proxy& p);
  bool forward_calls(uint32_t index, Proxy& p);
  void check_proxy(uint32_t index, Proxy& p, bool slow);
  void fail_call_here(uint32_t slot, uint32_t gen, const std::string& message);
  void on_created(int from, std::span<const std::byte> body);
  void on_pid(int from, std::span<const std::byte> body);
  void on_result(int from, std::span<const std::byte> body);
  void on_looked_up(int from, std::span<const std::byte> body);
  void end_proxy(uint32_t index, ipc::ActorState state, launcher::Lookup lookup,
                 const std::string& message);

  // ---- inbound ----
  void on_create(int from, std::span<const std::byte> body);
  void on_call(int from, std::span<const std::byte> body);
  void on_cancel(int from, std::span<const std::byte> body);
  void on_kill(int from, std::span<const std::byte> body, bool kill);
  void on_lookup(int from, std::span<const std::byte> body);
  void unpin_token(Hosted& h);
  void answer_error(int from, uint64_t call_id, uint32_t kind, const std::string& message,
                    const ipc::ActorEntry* actor);
  bool push_waiting();
  bool push_cell(uint32_t index, const Cell& cell);
  ipc::RequestRing* ring_of(uint32_t index, uint32_t gen);
  bool collect_results(bool force);
  void send_result(uint32_t slot);
  void report_pids();

  Gateway& gw_;
  store::Store& s_;
  uint32_t epoch_seen_ = UINT32_MAX;
  uint64_t next_slow_ns_ = 0;
  std::map<uint32_t, Proxy> proxies_;  // by proxy index
  std::unordered_map<uint64_t, Outbound> outbound_;
  // The actors of this node that other nodes' entries stand for, by (node,
  // proxy index, proxy gen): one reference each on the actor's token.
  std::map<std::tuple<int, uint32_t, uint32_t>, Hosted> hosted_;
  std::unordered_map<uint32_t, Inbound> inbound_;  // by result slot
  std::map<std::pair<int, uint64_t>, uint32_t> inbound_by_call_;
  std::map<uint32_t, std::deque<Waiting>> waiting_;  // by actor index
  std::unordered_map<uint32_t, Attached> rings_;     // by actor index
  std::vector<std::byte> scratch_;
};

}  // namespace shoal::cluster
