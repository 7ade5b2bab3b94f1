// The baselines the figures of shoal are judged against, measured in the same
// run: memcpy into warm shared memory, raw round trips between two processes
// over two shared cache lines, by spinning and through futexes, and pipelined
// calls through a bare request ring with a result slot per call.
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "ipc/request_ring.hpp"
#include "ipc/spin.hpp"
#include "tools/bench/bench.hpp"
#include "tools/bench/measure.hpp"

namespace shoal::bench {
namespace {

constexpr size_t kGiB = size_t(1) << 30;

struct alignas(64) Line {
  std::atomic<uint32_t> value{0};
};

// Two cache lines in memory the parent and a forked child share.
struct PingPong {
  Line ping;  // written by the parent
  Line pong;  // written by the child
};

void futex_wait(std::atomic<uint32_t>* word, uint32_t expected) {
  // Not FUTEX_PRIVATE_FLAG: the word is shared between processes.
  ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT, expected, nullptr, nullptr,
            0);
}

void futex_wake(std::atomic<uint32_t>* word) {
  ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE, 1, nullptr, nullptr, 0);
}

constexpr uint32_t kStop = 0xffffffffu;

// The child's side: answer every new ping with the same value on pong.
[[noreturn]] void echo(PingPong* pp, bool futex) {
  uint32_t last = 0;
  for (;;) {
    uint32_t v;
    // acquire pairs with the parent's release store of ping.
    while ((v = pp->ping.value.load(std::memory_order_acquire)) == last) {
      if (futex) {
        futex_wait(&pp->ping.value, last);
      } else {
        ipc::cpu_relax();
      }
    }
    if (v == kStop) ::_exit(0);
    last = v;
    pp->pong.value.store(v, std::memory_order_release);  // pairs with the parent's acquire
    if (futex) futex_wake(&pp->pong.value);
  }
}

// Round trips per second between this process and a forked echo child, each
// pinned to a core of its own: the baseline is what two cores can do, not
// where a busy machine's scheduler happens to put the two.
double pingpong_rate(bool futex, uint32_t rounds_per_batch) {
  const auto [mine, its] = two_cores();
  PinThread pin(mine);
  void* mem =
      ::mmap(nullptr, sizeof(PingPong), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) throw std::runtime_error("mmap of the ping-pong lines failed");
  auto* pp = new (mem) PingPong;
  // The child touches nothing but the two lines: forking a process with
  // threads is safe for that.
  const pid_t child = ::fork();
  if (child < 0) throw std::runtime_error("fork failed");
  if (child == 0) {
    PinThread child_pin(its);
    echo(pp, futex);
  }
  uint32_t seq = 0;
  auto batch = [&] {
    for (uint32_t i = 0; i < rounds_per_batch; ++i) {
      ++seq;
      pp->ping.value.store(seq, std::memory_order_release);  // pairs with echo()'s acquire of ping
      if (futex) futex_wake(&pp->ping.value);
      uint32_t v;
      // acquire: pairs with echo()'s release store of pong.
      while ((v = pp->pong.value.load(std::memory_order_acquire)) != seq) {
        if (futex) {
          futex_wait(&pp->pong.value, v);
        } else {
          ipc::cpu_relax();
        }
      }
    }
  };
  const double rate = median_rate(batch, rounds_per_batch);
  pp->ping.value.store(kStop, std::memory_order_release);  // pairs with echo()'s acquire of ping
  futex_wake(&pp->ping.value);
  ::waitpid(child, nullptr, 0);
  ::munmap(mem, sizeof(PingPong));
  return rate;
}

// ---- pipelined calls through a bare ring ----

constexpr uint32_t kPipelinedInFlight = 1000;
constexpr uint32_t kPipelinedRingCells = 1024;  // >= kPipelinedInFlight: never full

// Where the echo child writes a call's answer: one cache line per call, as a
// call's result object is its own entry.
struct alignas(64) ResultSlot {
  std::atomic<uint64_t> call{0};  // the number of the call answered last
  uint64_t value = 0;
};

struct PipelinedShared {
  ResultSlot results[kPipelinedInFlight];
  std::atomic<uint32_t> stop{0};
};

// What a call cell carries here: its number and its result slot.
struct PipelinedCall {
  uint64_t call;
  uint32_t slot;
};

// The child's side: take every call out of the ring, answer it in its slot.
[[noreturn]] void serve_ring(ipc::RequestRing ring, PipelinedShared* shared) {
  for (;;) {
    ipc::RingCell* cell = nullptr;
    const auto p = ring.try_peek(&cell);
    if (p != ipc::RequestRing::Peek::kReady) {
      // acquire: pairs with the parent's release store of stop.
      if (shared->stop.load(std::memory_order_acquire) != 0) ::_exit(0);
      ipc::cpu_relax();
      continue;
    }
    PipelinedCall c;
    std::memcpy(&c, cell->payload, sizeof(c));
    ring.release_head();
    ResultSlot& r = shared->results[c.slot % kPipelinedInFlight];
    r.value = c.call + 1;
    r.call.store(c.call, std::memory_order_release);  // pairs with the parent's acquire of call
  }
}

// Calls per second through a RequestRing between this process and a forked
// child on another core: kPipelinedInFlight calls submitted, then every
// answer awaited in order (the shape of 1_1_actor_calls_async, without
// anything of shoal but the ring).
double ring_pipelined_rate() {
  const auto [mine, its] = two_cores();
  PinThread pin(mine);
  const size_t ring_bytes = ipc::RequestRing::bytes_for(kPipelinedRingCells);
  const size_t bytes = ring_bytes + sizeof(PipelinedShared);
  void* mem = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) throw std::runtime_error("mmap of the pipelined ring failed");
  ipc::RequestRing ring = ipc::RequestRing::format(mem, kPipelinedRingCells);
  auto* shared = new (static_cast<char*>(mem) + ring_bytes) PipelinedShared;
  const pid_t child = ::fork();
  if (child < 0) throw std::runtime_error("fork failed");
  if (child == 0) {
    PinThread child_pin(its);
    serve_ring(ring, shared);
  }
  const ipc::ProcessSlotId me = 1;
  uint64_t next_call = 0;
  uint64_t sum = 0;
  auto batch = [&] {
    const uint64_t first = next_call;
    for (uint32_t i = 0; i < kPipelinedInFlight; ++i) {
      auto claim = ring.try_claim(me);
      while (!claim) {
        ipc::cpu_relax();
        claim = ring.try_claim(me);
      }
      const PipelinedCall c{++next_call, i};
      std::memcpy(claim->cell->payload, &c, sizeof(c));
      ring.publish(*claim, me);
    }
    for (uint32_t i = 0; i < kPipelinedInFlight; ++i) {
      ResultSlot& r = shared->results[i];
      // acquire: pairs with serve_ring()'s release store of call.
      while (r.call.load(std::memory_order_acquire) != first + i + 1)
        ipc::cpu_relax();
      sum += r.value;
    }
  };
  const double rate = median_rate(batch, kPipelinedInFlight);
  keep(sum);
  shared->stop.store(1, std::memory_order_release);  // pairs with serve_ring()'s acquire of stop
  ::waitpid(child, nullptr, 0);
  ::munmap(mem, bytes);
  return rate;
}

void memcpy_baseline(Reporter& rep) {
  std::vector<char> src(kGiB);
  std::memset(src.data(), 0x5a, src.size());
  void* dst = ::mmap(nullptr, kGiB, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (dst == MAP_FAILED) throw std::runtime_error("mmap of 1 GiB of shared memory failed");
  std::memset(dst, 0, kGiB);  // warm: every page faulted in
  const double us = median_us([&] { std::memcpy(dst, src.data(), kGiB); });
  ::munmap(dst, kGiB);
  rep.report("baseline_memcpy_gigabytes", double(kGiB) / 1e9 / (us / 1e6),
             Unit::kGigabytesPerSecond);
}

void spin_baseline(Reporter& rep) {
  rep.report("baseline_spin_pingpong", pingpong_rate(false, 1000), Unit::kPerSecond);
}

void futex_baseline(Reporter& rep) {
  rep.report("baseline_futex_pingpong", pingpong_rate(true, 100), Unit::kPerSecond);
}

void ring_pipelined_baseline(Reporter& rep) {
  rep.report("baseline_ring_pipelined", ring_pipelined_rate(), Unit::kPerSecond);
}

const Register kMemcpy("baseline_memcpy", {"baseline_memcpy_gigabytes"}, memcpy_baseline);
const Register kSpin("baseline_spin_pingpong", {"baseline_spin_pingpong"}, spin_baseline);
const Register kFutex("baseline_futex_pingpong", {"baseline_futex_pingpong"}, futex_baseline);
const Register kRingPipelined("baseline_ring_pipelined", {"baseline_ring_pipelined"},
                              ring_pipelined_baseline);

}  // namespace
}  // namespace shoal::bench
