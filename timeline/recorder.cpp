#include "timeline/recorder.hpp"

#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace shoal::timeline {

namespace {

// One attach() of this process: the mapping and what the process claimed in
// it. Never freed: a thread inside a hook may still hold a ThreadRing of an
// attachment that detach() has retired.
struct Attachment {
  TimelineFile file;
  uint32_t process = 0;                         // our ProcessEntry
  std::unique_ptr<detail::ThreadRing[]> rings;  // by ring index: the rings our threads claimed
  std::unordered_map<std::string, uint16_t> strings;  // what intern() has resolved
};

// Guards g_current, the attachments and every claim below: taken by attach,
// detach, intern and a thread's first event, never on the hot path. Held
// across fork() (see the atfork handlers), so a child never inherits it locked.
std::mutex g_mu;
Attachment* g_current = nullptr;
std::vector<std::unique_ptr<Attachment>>& attachments() {
  static auto* all = new std::vector<std::unique_ptr<Attachment>>;  // never destroyed (see above)
  return *all;
}

thread_local TimelineEvent t_scratch;
thread_local detail::ThreadRing t_discard;
thread_local char t_label[sizeof(RingHeader::label)];

void copy_label(char* dst, size_t cap, std::string_view text) {
  const size_t n = std::min(text.size(), cap - 1);
  std::memcpy(dst, text.data(), n);
  dst[n] = '\0';
}

// Where a thread without a ring writes: its own scratch event, read by nobody.
detail::ThreadRing* discard_ring(uint32_t epoch) {
  t_discard.events = &t_scratch;
  t_discard.mask = 0;
  t_discard.epoch = epoch;
  detail::t_ring = &t_discard;
  return &t_discard;
}

void before_fork() {
  g_mu.lock();
}
void after_fork_in_parent() {
  g_mu.unlock();
}
void after_fork_in_child() {
  // The child records nothing until attach_forked(): it is another process,
  // and the rings of the parent's threads are the parent's.
  detail::g_recording.store(false, std::memory_order_relaxed);
  detail::g_epoch.fetch_add(1, std::memory_order_relaxed);
  detail::g_pid.store(0, std::memory_order_relaxed);
  detail::t_ring = nullptr;
  detail::t_tid = 0;
  g_mu.unlock();
}

[[maybe_unused]] const int g_atfork_registered =
    ::pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child);

void detach_locked() {
  detail::g_recording.store(false, std::memory_order_relaxed);
  // relaxed: rings claimed under the old epoch are left at their next
  // event; claim_ring() reads g_current under g_mu.
  detail::g_epoch.fetch_add(1, std::memory_order_relaxed);
  g_current = nullptr;
}

Result<void, TimelineError> attach_locked(TimelineFile file, ipc::ProcessKind kind,
                                          std::string_view label) {
  TimelineHeader& h = file.header();
  // relaxed: a claim only has to be unique; the entry is published by its
  // state store below.
  const uint32_t i = h.processes_claimed.fetch_add(1, std::memory_order_relaxed);
  if (i >= file.layout().process_count) {
    h.processes_refused.fetch_add(1, std::memory_order_relaxed);  // a count only
    return fail(TimelineError::kFull);
  }
  const int32_t pid = int32_t(::getpid());
  ProcessEntry& p = file.process(i);
  p.pid = pid;
  p.kind = uint32_t(kind);
  p.attached_ticks = ticks();
  copy_label(p.label, sizeof(p.label), label);
  // release: publishes the fields above. Pairs with the acquire load of the
  // state in read_timeline().
  p.state.store(kPublished, std::memory_order_release);

  auto a = std::make_unique<Attachment>();
  a->rings = std::make_unique<detail::ThreadRing[]>(file.layout().ring_count);
  a->file = std::move(file);
  a->process = i;
  g_current = a.get();
  attachments().push_back(std::move(a));
  detail::g_pid.store(pid, std::memory_order_relaxed);
  detail::g_epoch.fetch_add(1, std::memory_order_relaxed);  // relaxed: see detach_locked()
  detail::g_recording.store(true, std::memory_order_relaxed);
  return {};
}

}  // namespace

namespace detail {

int32_t fetch_tid() noexcept {
  t_tid = int32_t(::gettid());
  return t_tid;
}

ThreadRing* claim_ring() noexcept {
  std::lock_guard<std::mutex> lock(g_mu);
  const uint32_t epoch = g_epoch.load(std::memory_order_relaxed);
  Attachment* a = g_current;
  if (a == nullptr) return discard_ring(epoch);
  const TimelineFile& f = a->file;
  TimelineHeader& h = f.header();
  // relaxed: a claim only has to be unique; the ring is published by its
  // state store below.
  const uint32_t i = h.rings_claimed.fetch_add(1, std::memory_order_relaxed);
  if (i >= f.layout().ring_count) {
    h.threads_refused.fetch_add(1, std::memory_order_relaxed);  // a count only
    return discard_ring(epoch);
  }
  RingHeader& ring = f.ring(i);
  // Fault the ring in now rather than at its first events; if the file
  // system is full this refuses the ring instead of a SIGBUS in a hook.
  // (EINVAL: a kernel without MADV_POPULATE_WRITE; the pages fault lazily.)
  if (::madvise(&ring, f.layout().ring_stride, MADV_POPULATE_WRITE) != 0 && errno != EINVAL) {
    h.threads_refused.fetch_add(1, std::memory_order_relaxed);
    return discard_ring(epoch);
  }
  ring.process = a->process;
  ring.pid = g_pid.load(std::memory_order_relaxed);
  ring.tid = thread_id();
  copy_label(ring.label, sizeof(ring.label), t_label);
  // release: publishes the fields above. Pairs with the acquire load of the
  // state in read_timeline().
  ring.state.store(kPublished, std::memory_order_release);
  ThreadRing& r = a->rings[i];
  r.events = f.ring_events(i);
  r.mask = f.layout().ring_events - 1;
  r.next = 0;
  r.epoch = epoch;
  t_ring = &r;
  return &r;
}

}  // namespace detail

uint16_t intern(std::string_view text) noexcept {
  try {
    std::lock_guard<std::mutex> lock(g_mu);
    Attachment* a = g_current;
    // (A forked child still has its parent's attachment until attach_forked.)
    if (a == nullptr || !recording()) return 0;
    text = text.substr(0, std::min(text.size(), kMaxStringBytes));
    const std::string key(text);
    if (auto it = a->strings.find(key); it != a->strings.end()) return it->second;
    const TimelineFile& f = a->file;
    TimelineHeader& h = f.header();
    const uint32_t count = f.layout().string_count;
    // Another process may have added it: reuse its entry.
    // relaxed: entries beyond what we see are checked through their state.
    const uint32_t claimed = std::min(h.strings_claimed.load(std::memory_order_relaxed), count);
    for (uint32_t i = 1; i < claimed; ++i) {
      StringEntry& s = f.string(i);
      // acquire: pairs with the release store of the state below (by
      // whichever process added the entry): len and text are complete.
      if (s.state.load(std::memory_order_acquire) == kPublished && s.len == key.size() &&
          std::memcmp(s.text, key.data(), key.size()) == 0) {
        a->strings.emplace(key, uint16_t(i));
        return uint16_t(i);
      }
    }
    // relaxed: a claim only has to be unique; the entry is published by its
    // state store.
    const uint32_t i = h.strings_claimed.fetch_add(1, std::memory_order_relaxed);
    if (i >= count) {
      h.strings_refused.fetch_add(1, std::memory_order_relaxed);  // a count only
      return 0;
    }
    StringEntry& s = f.string(i);
    s.len = uint32_t(key.size());
    std::memcpy(s.text, key.data(), key.size());
    s.text[key.size()] = '\0';
    // release: publishes len and text. Pairs with the acquire loads of the
    // state above and in read_timeline().
    s.state.store(kPublished, std::memory_order_release);
    a->strings.emplace(key, uint16_t(i));
    return uint16_t(i);
  } catch (...) {
    return 0;  // out of memory for the cache: the name is left out
  }
}

void set_thread_label(std::string_view label) noexcept {
  copy_label(t_label, sizeof(t_label), label);
}

Result<void, TimelineError> attach(const std::string& path, ipc::ProcessKind kind,
                                   std::string_view label) {
  auto file = TimelineFile::open(path, /*writable=*/true);
  if (!file) return fail(file.error());
  std::lock_guard<std::mutex> lock(g_mu);
  detach_locked();
  return attach_locked(std::move(*file), kind, label);
}

Result<void, TimelineError> attach_forked(ipc::ProcessKind kind, std::string_view label) {
  std::lock_guard<std::mutex> lock(g_mu);
  Attachment* inherited = g_current;
  detach_locked();
  if (inherited == nullptr || !inherited->file.valid()) return fail(TimelineError::kMissing);
  // The parent's attachment (a copy in our memory) keeps its ThreadRings;
  // the mapping moves to ours.
  return attach_locked(std::move(inherited->file), kind, label);
}

void detach() noexcept {
  std::lock_guard<std::mutex> lock(g_mu);
  detach_locked();
}

void set_paused(bool paused) noexcept {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_current == nullptr) return;
  // relaxed: see detach_locked(); a hook that reads a stale value writes
  // one event more or less.
  detail::g_recording.store(!paused, std::memory_order_relaxed);
}

const TimelineFile* attached_file() noexcept {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_current != nullptr ? &g_current->file : nullptr;
}

}  // namespace shoal::timeline
