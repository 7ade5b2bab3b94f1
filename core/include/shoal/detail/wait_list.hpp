// The definition of shoal::wait(), declared in <shoal/object_ref.hpp> (detail/object_ref_impl.hpp
// includes this at its end): the live and duplicate checks of its list, with the memo that spares
// the duplicate check on a list it has already checked, and the one pass that splits the list
// into ready and not_ready.
//
// Lifetimes: the memo is per thread and holds record addresses only, never counts; it is void
// once the session ends (epoch) or this process pins anything (pins_made).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <shoal/detail/object_ref_impl.hpp>
#include <shoal/detail/runtime.hpp>
#include <shoal/object_ref.hpp>

namespace shoal {

namespace detail {

// wait()'s full check of a list given in two parts: throws UsageError for an empty ref or one of
// an ended session, std::invalid_argument for two refs to one object.
template <class R>
void check_wait_list(const R* a, size_t na, const R* b, size_t nb, uint32_t now) {
  std::vector<uint32_t> slots;  // a live ref pins its object: its slot names it
  slots.reserve(na + nb);
  auto add = [&](const R* p, size_t count) {
    for (size_t i = 0; i < count; ++i) {
      const RefRecord* rec = RefAccess::record(p[i]);
      if (rec == nullptr || RefAccess::epoch(p[i]) != now) check_live(rec, RefAccess::epoch(p[i]));
      slots.push_back(rec->slot);
    }
  };
  add(a, na);
  add(b, nb);
  check_distinct_slots(std::move(slots));
}

// Slides the `count` refs at `src` down to `dst` (dst < src), where every place from dst up to
// src holds an empty ref; the places left behind end up empty. No reference count changes hands.
// Writes their records to `records` (which may be `expected` shifted down) and returns whether
// they were exactly `expected` (null: nothing expected) and all of session `epoch`.
template <class R>
bool slide_down(R* dst, R* src, size_t count, const RefRecord** records,
                const RefRecord* const* expected, uint32_t epoch) noexcept {
  uintptr_t differ = expected == nullptr;
  uint32_t stale = 0;
  for (size_t k = 0; k < count; ++k) {
    const ObjectRefBase& s = src[k];
    RefRecord* const rec = RefAccess::record(s);
    const uint32_t e = RefAccess::epoch(s);
    if (expected != nullptr) {
      differ |= reinterpret_cast<uintptr_t>(rec) ^ reinterpret_cast<uintptr_t>(expected[k]);
    }
    stale |= e ^ epoch;
    RefAccess::overwrite(dst[k], rec, e);
    records[k] = rec;
  }
  for (R* p = std::max(src, dst + count); p < src + count; ++p)
    RefAccess::forget(*p);
  return differ == 0 && stale == 0;
}

}  // namespace detail

template <class T>
WaitResult<T> wait(std::vector<ObjectRef<T>> refs, WaitOptions options) {
  using detail::RefAccess;
  const size_t n = refs.size();
  const size_t want = options.num_returns;
  if (want == 0 || want > n) {
    throw std::invalid_argument(
        "shoal::wait: num_returns must be between 1 and the number of refs (" + std::to_string(n) +
        "), got " + std::to_string(want));
  }
  // Every ref must be live, and name an object no other ref of the list names. A list made of
  // exactly the records of a list this thread already checked (the not_ready of its last wait,
  // passed back) needs no second look, as long as this process has pinned nothing since: only a
  // pin gives it a second record for an object it holds, every other record is made with a new
  // object.
  detail::WaitListMemo& memo = detail::wait_list_memo();
  const uint32_t now = detail::epoch();
  const uint64_t pins = detail::pins_made();
  const bool memo_fits = memo.epoch == now && memo.pins == pins && memo.records.size() == n;
  detail::check_blocking_allowed("shoal::wait");
  // Look for `want` sealed refs from the front, checking each ref passed.
  size_t sealed = 0;
  for (size_t i = 0; i < n && sealed < want; ++i) {
    const detail::RefRecord* rec = RefAccess::record(refs[i]);
    if (rec == nullptr || RefAccess::epoch(refs[i]) != now) {
      detail::check_live(rec, RefAccess::epoch(refs[i]));
    }
    sealed += detail::is_sealed(rec);
  }
  bool checked = false;
  if (sealed < want) {
    // About to block: the whole list is checked first.
    detail::check_wait_list(refs.data(), n, refs.data(), 0, now);
    checked = true;
    std::vector<const detail::RefRecord*> recs;
    recs.reserve(n);
    for (const auto& r : refs)
      recs.push_back(RefAccess::record(r));
    std::vector<char> ready;
    detail::wait_refs(recs, want, options.timeout, ready);
  }
  // The first `want` sealed refs (in input order) move to `ready`; the rest close up behind them
  // and become `not_ready`, remembered as checked once they are. Each record is compared with the
  // memo as it is rewritten.
  memo.epoch = 0;  // no session has epoch 0: the memo is void until rewritten
  memo.records.resize(n);
  const detail::RefRecord** remembered = memo.records.data();
  bool same = memo_fits;
  WaitResult<T> out;
  out.ready.reserve(want);
  size_t kept = 0, i = 0;
  for (; i < n && out.ready.size() < want; ++i) {
    const detail::RefRecord* rec = RefAccess::record(refs[i]);
    same = same && remembered[i] == rec;  // read before any write at or below i
    if (detail::is_sealed(rec)) {
      out.ready.push_back(std::move(refs[i]));
    } else {
      remembered[kept] = rec;
      if (kept != i) refs[kept].swap(refs[i]);
      ++kept;
    }
  }
  if (i < n) {
    same = detail::slide_down(refs.data() + kept, refs.data() + i, n - i, remembered + kept,
                              same ? remembered + i : nullptr, now);
    kept += n - i;
  }
  if (!checked && !same) {
    detail::check_wait_list(out.ready.data(), out.ready.size(), refs.data(), kept, now);
  }
  memo.records.resize(kept);
  memo.epoch = now;
  memo.pins = pins;
  refs.resize(kept);
  out.not_ready = std::move(refs);
  return out;
}

}  // namespace shoal
