// SessionGate (session_gate.hpp).
//
// State: one word per stripe, each on its own pair of cache lines; a thread
// always uses the same stripe, so threads on different stripes never share a
// line. Encoding of a stripe's word:
//   bit 31      kOpen: the gate is open
//   bits 0..30  passes in flight on this stripe (and, briefly, passes that
//               found the gate closed and are backing out)
// A pass and close() meet on one word: either the pass's increment comes
// first in that word's modification order, and close() sees it counted and
// waits for it, or close()'s clearing of kOpen comes first, and the pass sees
// the gate closed.
#include "core/src/session_gate.hpp"

#include <thread>

#include "ipc/spin.hpp"

namespace shoal::detail {

namespace {

// Enough stripes that the threads of a busy process rarely share one; 4 KiB.
constexpr uint32_t kStripes = 32;
constexpr uint32_t kOpen = 1u << 31;
constexpr uint32_t kNoStripe = UINT32_MAX;

struct alignas(128) Stripe {
  std::atomic<uint32_t> word{0};
};
static_assert(sizeof(Stripe) == 128);
static_assert(std::atomic<uint32_t>::is_always_lock_free);

Stripe g_stripes[kStripes];
std::atomic<uint32_t> g_next_stripe{0};
// Trivially destructible: usable by refs dropped in static destructors.
thread_local uint32_t t_stripe = kNoStripe;

std::atomic<uint32_t>& my_word() noexcept {
  if (t_stripe == kNoStripe) {
    t_stripe = g_next_stripe.fetch_add(1, std::memory_order_relaxed) % kStripes;
  }
  return g_stripes[t_stripe].word;
}

}  // namespace

SessionGate::Pass::Pass() noexcept : word_(&my_word()) {
  // acquire: pairs with the release fetch_or in open() (a pass that finds the
  // gate open sees the runtime and epoch installed before it opened) and
  // with the release fetch_and in close().
  const uint32_t w = word_->fetch_add(1, std::memory_order_acquire);
  open_ = (w & kOpen) != 0;
  if (!open_) {
    // relaxed: this pass touched nothing, so there is nothing to publish.
    word_->fetch_sub(1, std::memory_order_relaxed);
  }
}

SessionGate::Pass::~Pass() {
  if (!open_) return;
  // release: pairs with the acquire loads in close(): what this pass did to
  // the store happens before shutdown() unmaps it.
  word_->fetch_sub(1, std::memory_order_release);
}

void SessionGate::open() noexcept {
  for (Stripe& s : g_stripes) {
    // release: pairs with the acquire fetch_add of Pass(): see there.
    s.word.fetch_or(kOpen, std::memory_order_release);
  }
}

void SessionGate::close_in_forked_child() noexcept {
  for (Stripe& s : g_stripes) {
    // relaxed: the child has one thread, this one.
    s.word.fetch_and(~kOpen, std::memory_order_relaxed);
  }
}

void SessionGate::close() noexcept {
  for (Stripe& s : g_stripes) {
    // acq_rel. acquire: pairs with the release fetch_sub of passes that ended
    // before we closed (this RMW reads their word). release: pairs with the
    // acquire fetch_add of Pass(): a pass that finds the gate closed sees
    // what came before shutdown().
    s.word.fetch_and(~kOpen, std::memory_order_acq_rel);
  }
  for (Stripe& s : g_stripes) {
    ipc::Backoff spin;
    // acquire: pairs with the release fetch_sub in ~Pass(): once a stripe
    // reads zero, what its passes did happens before what the caller does
    // next (unmapping the store).
    while ((s.word.load(std::memory_order_acquire) & ~kOpen) != 0) {
      if (!spin.step()) std::this_thread::yield();
    }
  }
}

}  // namespace shoal::detail
