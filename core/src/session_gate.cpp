// SessionGate (session_gate.hpp).
//
// A pass and close() meet as in Dekker's algorithm: a pass announces itself,
// then looks at the gate; close() shuts the gate, then looks for passes.
// Either close() sees the pass and waits for it, or the pass sees the gate
// shut and touches nothing.
//
// Each thread announces its passes in a slot of its own (ThreadSlot: its
// passes in flight, a count only it writes). Both sides need a full barrier
// between their store and their load, and a pass is far more frequent than a
// close (several per call against one per session). So when the kernel
// offers membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), close() issues it,
// which runs a full barrier on every thread of the process, and a pass pays
// only a compiler barrier: two plain stores and a load where a shared counter
// took two locked read-modify-writes (~10 ns each, and each one drains the
// store buffer). Without membarrier (or under ThreadSanitizer, which does not
// model it) a pass announces itself with a seq_cst exchange instead.
//
// A thread beyond the last slot, or one whose slot was given back at its
// exit (refs dropped by its later thread_local destructors, or by static
// destructors), counts its passes on one of the shared stripes instead: one
// word per stripe, each on its own pair of cache lines, encoded as
//   bit 31      kOpen: the gate is open
//   bits 0..30  passes in flight on this stripe (and, briefly, passes that
//               found the gate closed and are backing out)
// where a pass and close() meet on one word: either the pass's increment
// comes first in that word's modification order, and close() sees it counted
// and waits for it, or close()'s clearing of kOpen comes first, and the pass
// sees the gate closed.
#include "core/src/session_gate.hpp"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <thread>

#include "ipc/spin.hpp"

namespace shoal::detail {

namespace {

#if defined(__SANITIZE_THREAD__)
constexpr bool kMayUseMembarrier = false;
#else
constexpr bool kMayUseMembarrier = true;
#endif

// ---- per-thread slots

constexpr uint32_t kThreadSlots = 256;

struct alignas(64) ThreadSlot {
  std::atomic<uint32_t> owned{0};  // 1 while a thread owns the slot
  std::atomic<uint32_t> depth{0};  // its passes in flight; written by its owner only
};
static_assert(sizeof(ThreadSlot) == 64);
static_assert(std::atomic<uint32_t>::is_always_lock_free);

ThreadSlot g_slots[kThreadSlots];
// relaxed everywhere: set by open() before it opens the gate, read by passes
// after they found it open (through the acquire of g_open) or by close().
std::atomic<bool> g_membarrier{false};
std::atomic<bool> g_open{false};

// A thread's slot: nullptr until it has one, kNoSlot once it has none (all
// taken, or given back at its exit). Trivially destructible, so that refs
// dropped in destructors that run after the owner below read it safely.
ThreadSlot* const kNoSlot = reinterpret_cast<ThreadSlot*>(uintptr_t(1));
thread_local ThreadSlot* t_slot = nullptr;

// Gives the thread's slot back when the thread exits.
struct SlotOwner {
  ThreadSlot* slot = nullptr;
  ~SlotOwner() {
    if (slot == nullptr) return;
    t_slot = kNoSlot;
    // release: pairs with the acquire CAS of the slot's next owner, which
    // then sees depth 0 (the last pass's release store came before).
    slot->owned.store(0, std::memory_order_release);
  }
};
thread_local SlotOwner t_slot_owner;

ThreadSlot* claim_slot() noexcept {
  for (ThreadSlot& s : g_slots) {
    uint32_t free = 0;
    // relaxed pre-check; acquire CAS pairs with the release store of the
    // previous owner in ~SlotOwner().
    if (s.owned.load(std::memory_order_relaxed) == 0 &&
        s.owned.compare_exchange_strong(free, 1, std::memory_order_acquire)) {
      t_slot_owner.slot = &s;
      return &s;
    }
  }
  return kNoSlot;
}

ThreadSlot* my_slot() noexcept {
  ThreadSlot* s = t_slot;
  if (s == nullptr) [[unlikely]]
    s = t_slot = claim_slot();
  return s == kNoSlot ? nullptr : s;
}

bool membarrier(int cmd) noexcept {
  return ::syscall(SYS_membarrier, cmd, 0, 0) == 0;
}

// ---- shared stripes

// Enough stripes that the threads of a busy process rarely share one; 4 KiB.
constexpr uint32_t kStripes = 32;
constexpr uint32_t kOpen = 1u << 31;
constexpr uint32_t kNoStripe = UINT32_MAX;

struct alignas(128) Stripe {
  std::atomic<uint32_t> word{0};
};
static_assert(sizeof(Stripe) == 128);

Stripe g_stripes[kStripes];
std::atomic<uint32_t> g_next_stripe{0};
thread_local uint32_t t_stripe = kNoStripe;

std::atomic<uint32_t>& my_stripe() noexcept {
  if (t_stripe == kNoStripe) {
    t_stripe = g_next_stripe.fetch_add(1, std::memory_order_relaxed) % kStripes;
  }
  return g_stripes[t_stripe].word;
}

}  // namespace

SessionGate::Pass::Pass() noexcept {
  if (ThreadSlot* s = my_slot()) [[likely]] {
    slot_ = &s->depth;
    // relaxed: only this thread writes its depth.
    const uint32_t d = s->depth.load(std::memory_order_relaxed);
    if (g_membarrier.load(std::memory_order_relaxed)) {
      // relaxed, then a compiler barrier: close()'s membarrier() orders this
      // store before our load of the gate below, on this thread's core.
      s->depth.store(d + 1, std::memory_order_relaxed);
      std::atomic_signal_fence(std::memory_order_seq_cst);
      // acquire: pairs with the release store in open() (a pass that finds
      // the gate open sees the runtime and epoch installed before it opened).
      open_ = g_open.load(std::memory_order_acquire);
    } else {
      // seq_cst: pairs with close()'s seq_cst store of the gate and loads
      // of the depths (Dekker: one of the two sees the other).
      (void)s->depth.exchange(d + 1, std::memory_order_seq_cst);
      open_ = g_open.load(std::memory_order_seq_cst);
    }
    if (!open_) {
      // relaxed: this pass touched nothing, so there is nothing to publish.
      s->depth.store(d, std::memory_order_relaxed);
    }
    return;
  }
  stripe_ = &my_stripe();
  // acquire: pairs with the release fetch_or in open() and with the release
  // fetch_and in close().
  const uint32_t w = stripe_->fetch_add(1, std::memory_order_acquire);
  open_ = (w & kOpen) != 0;
  if (!open_) {
    // relaxed: this pass touched nothing, so there is nothing to publish.
    stripe_->fetch_sub(1, std::memory_order_relaxed);
  }
}

SessionGate::Pass::~Pass() {
  if (!open_) return;
  if (slot_ != nullptr) {
    // release: pairs with the acquire loads of the depth in close(): what
    // this pass did to the store happens before shutdown() unmaps it.
    slot_->store(slot_->load(std::memory_order_relaxed) - 1, std::memory_order_release);
    return;
  }
  // release: pairs with the acquire loads in close().
  stripe_->fetch_sub(1, std::memory_order_release);
}

void SessionGate::open() noexcept {
  // Registration is per process (a forked child registers again in its own
  // open()); it fails on kernels before 4.14 and where seccomp forbids it.
  // relaxed: published to passes by the release store of g_open below.
  g_membarrier.store(kMayUseMembarrier && membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED),
                     std::memory_order_relaxed);
  // release: pairs with the acquire load of Pass() (see there).
  g_open.store(true, std::memory_order_release);
  for (Stripe& s : g_stripes) {
    // release: pairs with the acquire fetch_add of Pass() on a stripe.
    s.word.fetch_or(kOpen, std::memory_order_release);
  }
}

void SessionGate::close_in_forked_child() noexcept {
  // relaxed (all of these): the child has one thread, this one, and it is in
  // no pass. The slots of the parent's other threads would never empty.
  g_open.store(false, std::memory_order_relaxed);
  g_membarrier.store(false, std::memory_order_relaxed);  // registered by the parent, not here
  ThreadSlot* mine = t_slot;
  for (ThreadSlot& s : g_slots) {
    if (&s == mine) continue;
    s.depth.store(0, std::memory_order_relaxed);
    s.owned.store(0, std::memory_order_relaxed);
  }
  for (Stripe& s : g_stripes) {
    s.word.store(0, std::memory_order_relaxed);
  }
}

void SessionGate::close() noexcept {
  // seq_cst: pairs with the seq_cst exchange and load of a pass without
  // membarrier; with it, the barrier below does the pairing.
  g_open.store(false, std::memory_order_seq_cst);
  if (g_membarrier.load(std::memory_order_relaxed)) {
    // Every thread of the process passes a full barrier: a pass whose store
    // of its depth came before it is seen below, one whose load of the gate
    // came after it sees the gate shut. Registered at open(); a failure here
    // (which the kernel documents for no registered process) falls back to
    // the global barrier, and if that fails too no pass can be trusted.
    if (!membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) && !membarrier(MEMBARRIER_CMD_GLOBAL)) {
      std::fprintf(stderr, "shoal: membarrier() failed while ending the session\n");
      std::abort();
    }
  }
  for (Stripe& s : g_stripes) {
    // acq_rel. acquire: pairs with the release fetch_sub of passes that ended
    // before we closed (this RMW reads their word). release: pairs with the
    // acquire fetch_add of Pass(): a pass that finds the gate closed sees
    // what came before shutdown().
    s.word.fetch_and(~kOpen, std::memory_order_acq_rel);
  }
  for (ThreadSlot& s : g_slots) {
    ipc::Backoff spin;
    // seq_cst: see the store of g_open above. Also acquire: pairs with the
    // release store in ~Pass(): once a slot reads zero, what its passes did
    // happens before what the caller does next (unmapping the store).
    while (s.depth.load(std::memory_order_seq_cst) != 0) {
      if (!spin.step()) std::this_thread::yield();
    }
  }
  for (Stripe& s : g_stripes) {
    ipc::Backoff spin;
    // acquire: pairs with the release fetch_sub in ~Pass().
    while ((s.word.load(std::memory_order_acquire) & ~kOpen) != 0) {
      if (!spin.step()) std::this_thread::yield();
    }
  }
}

}  // namespace shoal::detail
