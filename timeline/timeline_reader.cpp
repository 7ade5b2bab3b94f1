#include "timeline/timeline_reader.hpp"

#include <algorithm>
#include <cstring>

namespace shoal::timeline {

namespace {

std::string bounded(const char* text, size_t cap) {
  return std::string(text, strnlen(text, cap));
}

}  // namespace

bool read_event(const TimelineEvent& slot, EventBody* body, uint64_t* pos) {
  // acquire: pairs with the writer's release store of the even seq
  // (write_event): the body words of that event are visible below.
  const uint64_t before = slot.seq.load(std::memory_order_acquire);
  if (before == 0 || (before & 1) != 0) return false;
  uint64_t words[kEventWords];
  for (size_t i = 0; i < kEventWords; ++i) {
    words[i] = std::atomic_ref<uint64_t>(const_cast<uint64_t&>(slot.words[i]))
                   .load(std::memory_order_relaxed);
  }
  // acquire fence: pairs with the writer's release fence after its odd seq.
  // If a writer overwrote any word copied above, the load below sees its odd
  // seq or a later value.
  std::atomic_thread_fence(std::memory_order_acquire);
  const uint64_t after = slot.seq.load(std::memory_order_relaxed);
  if (after != before) return false;
  std::memcpy(body, words, sizeof(words));
  *pos = (before >> 1) - 1;
  return true;
}

uint64_t TimelineSnapshot::dropped() const {
  uint64_t n = 0;
  for (const RecordedThread& t : threads)
    n += t.dropped;
  return n;
}

const std::string& TimelineSnapshot::string(uint16_t index) const {
  static const std::string none;
  return index < strings.size() ? strings[index] : none;
}

TimelineSnapshot read_timeline(const TimelineFile& file) {
  TimelineSnapshot s;
  const TimelineHeader& h = file.header();
  const TimelineLayout& l = file.layout();  // validated at open
  s.session_name = bounded(h.session_name, sizeof(h.session_name));
  s.session_tag = h.session_tag;
  s.creator_pid = h.creator_pid;
  s.created_unix_ns = h.created_unix_ns;
  s.clock0 = ClockPair{h.clock_ticks0, h.clock_ns0};
  s.ring_events = l.ring_events;
  // relaxed: counts only; what they count is checked through each entry's
  // own state below.
  s.processes_refused = h.processes_refused.load(std::memory_order_relaxed);
  s.threads_refused = h.threads_refused.load(std::memory_order_relaxed);
  s.strings_refused = h.strings_refused.load(std::memory_order_relaxed);

  const uint32_t strings =
      std::min(h.strings_claimed.load(std::memory_order_relaxed), l.string_count);
  s.strings.assign(std::max<uint32_t>(strings, 1), std::string());
  for (uint32_t i = 1; i < strings; ++i) {
    const StringEntry& e = file.string(i);
    // acquire: pairs with the release store of the state in intern().
    if (e.state.load(std::memory_order_acquire) != kPublished) continue;
    s.strings[i] = std::string(e.text, std::min<size_t>(e.len, kMaxStringBytes));
  }

  // Process entries by their index in the file; unpublished ones are left out.
  const uint32_t processes =
      std::min(h.processes_claimed.load(std::memory_order_relaxed), l.process_count);
  std::vector<uint32_t> process_at(processes, kUnknownProcess);
  for (uint32_t i = 0; i < processes; ++i) {
    const ProcessEntry& e = file.process(i);
    // acquire: pairs with the release store of the state in attach().
    if (e.state.load(std::memory_order_acquire) != kPublished) continue;
    process_at[i] = uint32_t(s.processes.size());
    s.processes.push_back(RecordedProcess{e.pid, e.kind, bounded(e.label, sizeof(e.label))});
  }

  const uint32_t rings = std::min(h.rings_claimed.load(std::memory_order_relaxed), l.ring_count);
  std::vector<std::pair<uint64_t, EventBody>> events;
  for (uint32_t i = 0; i < rings; ++i) {
    const RingHeader& r = file.ring(i);
    // acquire: pairs with the release store of the state in claim_ring().
    if (r.state.load(std::memory_order_acquire) != kPublished) continue;
    RecordedThread t;
    t.process = r.process < processes ? process_at[r.process] : kUnknownProcess;
    t.pid = r.pid;
    t.tid = r.tid;
    t.label = bounded(r.label, sizeof(r.label));
    events.clear();
    const TimelineEvent* slots = file.ring_events(i);
    uint64_t newest = 0;
    bool any = false;
    for (uint32_t k = 0; k < l.ring_events; ++k) {
      EventBody b;
      uint64_t pos;
      if (!read_event(slots[k], &b, &pos)) continue;
      // A slot holds positions k, k + ring_events, ...: anything else is damage.
      if ((pos & (l.ring_events - 1)) != k) continue;
      events.emplace_back(pos, b);
      newest = any ? std::max(newest, pos) : pos;
      any = true;
    }
    if (any) {
      // The writer went on while we read: keep one lap ending at the newest.
      const uint64_t oldest = newest + 1 >= l.ring_events ? newest + 1 - l.ring_events : 0;
      std::erase_if(events, [&](const auto& e) { return e.first < oldest; });
      std::sort(events.begin(), events.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
      t.written = newest + 1;
      t.dropped = t.written - events.size();
      t.events.reserve(events.size());
      for (const auto& e : events)
        t.events.push_back(e.second);
    }
    s.threads.push_back(std::move(t));
  }
  return s;
}

}  // namespace shoal::timeline
