// cluster_probe: a program of one node's gateway, for the transport tests.
// mpirun starts one per node; each makes a store of its own, starts a Gateway
// on it and does what argv[1] says, printing "node K: ..." lines that the
// tests check, then ends the job with every other node (exit status 0 when
// everything checked out).
//
//   cluster_probe batches COUNT         every node sends COUNT small messages
//                                       of varied sizes to every other node
//   cluster_probe objects STORE_BYTES   node 0 sends node 1 objects of many
//                                       sizes; node 1's store has STORE_BYTES
//   cluster_probe idle SECONDS          the gateways idle; each prints the CPU
//                                       time it used meanwhile
//   cluster_probe lose                  node 1 exits at once without a word;
//                                       node 0 says how it learnt of it
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "cluster/gateway.hpp"
#include "cluster/object_transfer.hpp"
#include "cluster/segment_reaper.hpp"
#include "cluster/transport.hpp"
#include "store/store.hpp"

using namespace shoal;
using namespace std::chrono_literals;

namespace {

constexpr auto kSmall = cluster::MessageType(uint16_t(cluster::MessageType::kFirstExtension) + 1);

int g_node = -1;

template <class... Args>
void say(const char* format, Args... args) {
  std::printf("node %d: ", g_node);
  std::printf(format, args...);
  std::printf("\n");
  std::fflush(stdout);
}

double cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// ---- batches ----

// Message i: its index, then a pattern; 8 to 307 bytes.
uint32_t body_size(uint64_t i) {
  return 8 + uint32_t(i * 37 % 300);
}
std::byte pattern(uint64_t i, uint32_t k, int from) {
  return std::byte((i + k + uint64_t(from)) & 0xff);
}

int run_batches(cluster::Gateway& g, uint64_t count) {
  std::vector<uint64_t> next(256, 0);  // by sender; gateway thread only
  std::atomic<uint64_t> bad{0};
  std::promise<void> all_in;
  std::atomic<int> peers_complete{0};
  g.set_handler(kSmall, [&](int from, std::span<const std::byte> body) {
    uint64_t i = ~0ull;
    if (body.size() >= 8) std::memcpy(&i, body.data(), 8);
    bool ok = i == next[size_t(from)] && body.size() == body_size(i);
    for (uint32_t k = 8; ok && k < body.size(); ++k)
      ok = body[k] == pattern(i, k, from);
    if (!ok) bad.fetch_add(1, std::memory_order_relaxed);
    if (++next[size_t(from)] == count && ++peers_complete == g.num_nodes() - 1) all_in.set_value();
  });
  g.start();
  if (auto r = g.wait_ready(); !r) {
    say("not ready: %s", r.error().c_str());
    return 1;
  }
  const int nodes = g.num_nodes();
  if (nodes == 1) all_in.set_value();
  // Posted in slices: the gateway flushes between them, as under a real load.
  constexpr uint64_t kSlice = 500;
  for (uint64_t start = 0; start < count; start += kSlice) {
    g.post([&g, start, count, nodes] {
      for (uint64_t i = start; i < std::min(count, start + kSlice); ++i) {
        for (int p = 0; p < nodes; ++p) {
          if (p == g.node()) continue;
          std::byte* b = g.transport().append(p, kSmall, body_size(i));
          std::memcpy(b, &i, 8);
          for (uint32_t k = 8; k < body_size(i); ++k)
            b[k] = pattern(i, k, g.node());
        }
      }
    });
  }
  if (all_in.get_future().wait_for(60s) != std::future_status::ready) {
    say("timed out waiting for messages");
    return 1;
  }
  // Counted once MPI has sent everything.
  cluster::Transport::Stats stats;
  for (bool pending = true; pending;) {
    g.call([&] {
      pending = g.transport().sends_pending();
      stats = g.transport().stats();
    });
    if (pending) std::this_thread::sleep_for(1ms);
  }
  for (int p = 0; p < nodes; ++p) {
    if (p != g.node()) say("received %llu from node %d", (unsigned long long)next[size_t(p)], p);
  }
  say("bad %llu", (unsigned long long)bad.load());
  say("sent %llu messages in %llu batches", (unsigned long long)stats.messages_sent,
      (unsigned long long)stats.batches_sent);
  return bad.load() == 0 ? 0 : 1;
}

// ---- objects ----

std::byte object_byte(uint64_t size, uint64_t k) {
  return std::byte((k * 7 + size) & 0xff);
}

// A sealed object of `size` bytes in `s`, held by the returned record.
Result<store::RefRecord*, std::string> make_object(store::Store& s, uint64_t size) {
  auto rec = s.create_object(store::ObjectState::kWriting, store::WriterId::process(s.me()), 0);
  if (!rec) return fail(std::string(store::to_string(rec.error())));
  auto dst = s.objects().reserve_payload((*rec)->slot, size, s.me(), true);
  if (!dst) return fail(std::string(store::to_string(dst.error())));
  for (uint64_t k = 0; k < size; ++k)
    (*dst)[k] = object_byte(size, k);
  s.objects().describe((*rec)->slot, size == 0 ? store::Codec::kNone : store::Codec::kRaw,
                       size ^ 0x1234, size);
  s.objects().seal((*rec)->slot, s.me());
  return *rec;
}

int run_objects(cluster::Gateway& g, store::Store& s) {
  // The first object of a process also gives it its first chunk of reference
  // records, which stays: the baseline is taken after one.
  if (auto first = make_object(s, 1000)) s.unpin(*first);
  const uint64_t baseline = s.heap().used();
  const uint64_t MiB = 1 << 20;
  const std::vector<uint64_t> sizes{0,     1,   160,          161,      4096, 32768,
                                    32769, MiB, 16 * MiB + 3, 48 * MiB, MiB,  64 * MiB - 4096};
  std::atomic<int> failures{0};
  std::atomic<int> received{0};
  std::promise<void> all;
  if (g_node == 1) {
    g.set_object_handler([&](int, uint64_t, Result<store::RefRecord*, std::string> r) {
      if (!r) {
        say("refused: %s", r.error().c_str());
      } else {
        auto v = s.objects().read((*r)->slot);
        bool ok = v.ok() && v->type_fp == (v->size ^ 0x1234) &&
                  v->codec == (v->size == 0 ? store::Codec::kNone : store::Codec::kRaw);
        for (uint64_t k = 0; ok && k < v->size; ++k)
          ok = v->data[k] == object_byte(v->size, k);
        say("received %llu bytes %s", (unsigned long long)(v ? v->size : 0),
            ok ? "intact" : "CORRUPT");
        if (!ok) ++failures;
        s.unpin(*r);
      }
      if (++received == int(sizes.size())) all.set_value();
    });
  }
  g.start();
  if (auto r = g.wait_ready(); !r) {
    say("not ready: %s", r.error().c_str());
    return 1;
  }
  if (g.node() == 1) {
    if (all.get_future().wait_for(60s) != std::future_status::ready) {
      say("timed out waiting for objects");
      return 1;
    }
  } else if (g.node() == 0) {
    for (uint64_t size : sizes) {
      auto rec = make_object(s, size);
      if (!rec) {
        say("cannot make an object of %llu bytes: %s", (unsigned long long)size,
            rec.error().c_str());
        return 1;
      }
      std::promise<std::string> sent;
      g.call([&] {
        g.objects().offer(1, (*rec)->slot, (*rec)->gen, [&](Result<void, std::string> r) {
          sent.set_value(r ? std::string("ok") : r.error());
        });
      });
      auto f = sent.get_future();
      if (f.wait_for(60s) != std::future_status::ready) {
        say("timed out sending %llu bytes", (unsigned long long)size);
        return 1;
      }
      say("sent %llu bytes: %s", (unsigned long long)size, f.get().c_str());
      s.unpin(*rec);
    }
  }
  say("store back to baseline: %s", s.heap().used() == baseline ? "yes" : "no");
  return failures == 0 && s.heap().used() == baseline ? 0 : 1;
}

// ---- idle ----

int run_idle(cluster::Gateway& g, double seconds) {
  g.start();
  if (auto r = g.wait_ready(); !r) return 1;
  const double cpu0 = cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  say("idle cpu %.2f%% of a core", 100.0 * (cpu_seconds() - cpu0) / wall);
  return 0;
}

// ---- lose ----

int run_lose(cluster::Gateway& g) {
  g.start();
  if (auto r = g.wait_ready(); !r) return 1;
  if (g.node() == 1) {
    say("leaving without a word");
    std::fflush(nullptr);
    ::_exit(9);
  }
  const auto t0 = std::chrono::steady_clock::now();
  while (!g.abort_status() && std::chrono::steady_clock::now() - t0 < 30s) {
    std::this_thread::sleep_for(1ms);
  }
  say("abort status %d after %.3f s", g.abort_status().value_or(-1),
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: cluster_probe batches|objects|idle|lose ARG\n");
    return 2;
  }
  const std::string mode = argv[1];
  const char* rank = std::getenv("OMPI_COMM_WORLD_RANK");
  g_node = rank ? std::atoi(rank) : 0;
  uint64_t store_bytes = 64ull << 20;
  if (mode == "objects")
    store_bytes = g_node == 1 ? std::strtoull(argv[2], nullptr, 10) : 256ull << 20;
  auto created = store::Store::create(store_bytes);
  if (!created) {
    say("cannot create a store: %s", store::to_string(created.error()));
    return 1;
  }
  store::Store& s = **created;
  auto reaper = cluster::SegmentReaper::start(s.segment().name());
  if (!s.join(ipc::ProcessKind::kDriver, ipc::kNoProcess, "probe") || !reaper) {
    say("cannot join the store");
    return 1;
  }
  int status = 1;
  {
    cluster::Gateway g(cluster::Gateway::Options{&s, g_node, 0});
    if (mode == "batches") status = run_batches(g, std::strtoull(argv[2], nullptr, 10));
    if (mode == "objects") status = run_objects(g, s);
    if (mode == "idle") status = run_idle(g, std::atof(argv[2]));
    if (mode == "lose") status = run_lose(g);
    g.finish_local(status);
    const auto t0 = std::chrono::steady_clock::now();
    while (!g.job_status() && std::chrono::steady_clock::now() - t0 < 60s) {
      std::this_thread::sleep_for(1ms);
    }
    if (!g.join(10s)) {
      say("the gateway did not finish");
      std::fflush(nullptr);
      ::_exit(1);
    }
    say("job status %d, MPI finalised: %s", g.job_status().value_or(-1),
        g.finalized() ? "yes" : "no");
    status = g.job_status().value_or(1);
  }
  s.leave();
  store::Segment::remove(s.segment().name());
  return status;
}
