#include "store/heap_allocator.hpp"

#include <bit>
#include <cstring>

namespace shoal::store {

namespace {

constexpr uint64_t kGranulesPerWord = 64;

// Positions p such that bits p .. p+n-1 of `free_bits` are all set, as a mask.
// Runs that would cross bit 63 are excluded (the shifts bring in zeros).
uint64_t zero_runs(uint64_t free_bits, uint64_t n) {
  uint64_t m = free_bits;
  uint64_t len = 1;
  while (len < n && m != 0) {
    const uint64_t step = len < n - len ? len : n - len;
    m &= m >> step;
    len += step;
  }
  return m;
}

uint64_t run_mask(uint64_t first_bit, uint64_t count) {
  return count >= 64 ? ~0ull : ((1ull << count) - 1) << first_bit;
}

}  // namespace

uint64_t HeapAllocator::granules_for(uint64_t bytes) {
  if (bytes == 0) bytes = 1;
  if (bytes <= kPage) return (bytes + kGranule - 1) / kGranule;
  return ((bytes + kPage - 1) / kPage) * kGranulesPerWord;
}

void HeapAllocator::format() {
  // The bitmaps start zeroed (fresh pages): mark the granules past the end of
  // the heap as permanently allocated, and the summary bits of those words.
  const uint64_t granules = heap_bytes_ / kGranule;
  for (uint64_t g = granules; g < bitmap_words_ * kGranulesPerWord; ++g) {
    bitmap_[g / 64] |= 1ull << (g % 64);
  }
  for (uint64_t w = granules / 64; w < summary_words_ * 64; ++w) {
    if (w >= bitmap_words_ || bitmap_[w] != 0) summary_[w / 64] |= 1ull << (w % 64);
  }
  state_->journal.op.store(AllocJournal::kNone, std::memory_order_relaxed);
  state_->used.store(0, std::memory_order_relaxed);
  state_->high_water.store(0, std::memory_order_relaxed);
  state_->hint_small = 0;
}

void HeapAllocator::lock(ipc::ProcessSlotId me) {
  if (state_->lock.lock(me, *processes_) == ipc::RobustLock::Acquired::kRecovered) replay();
}

void HeapAllocator::apply(uint64_t first, uint64_t count, bool set) {
  uint64_t g = first;
  const uint64_t end = first + count;
  while (g < end) {
    const uint64_t w = g / 64;
    const uint64_t bit = g % 64;
    const uint64_t n = (end - g) < (64 - bit) ? (end - g) : (64 - bit);
    const uint64_t mask = run_mask(bit, n);
    bitmap_[w] = set ? (bitmap_[w] | mask) : (bitmap_[w] & ~mask);
    const uint64_t sbit = 1ull << (w % 64);
    summary_[w / 64] = bitmap_[w] != 0 ? (summary_[w / 64] | sbit) : (summary_[w / 64] & ~sbit);
    g += n;
  }
}

void HeapAllocator::write_link(uint64_t link_off, uint64_t value) {
  if (link_off == 0 || !link_ok(link_off)) return;
  std::memcpy(base_ + link_off, &value, sizeof(value));
}

void HeapAllocator::replay() {
  AllocJournal& j = state_->journal;
  // acquire: pairs with the commit point's release store (allocate(), free()),
  // the journal's fields before its op.
  const uint32_t op = j.op.load(std::memory_order_acquire);
  if (op == AllocJournal::kNone) return;
  const uint64_t total = bitmap_words_ * kGranulesPerWord;
  if ((op == AllocJournal::kAlloc || op == AllocJournal::kFree) && j.count > 0 && j.first < total &&
      j.count <= total - j.first) {
    apply(j.first, j.count, op == AllocJournal::kAlloc);
    write_link(j.link_off, op == AllocJournal::kAlloc ? heap_off_ + j.first * kGranule : 0);
    state_->used.store(j.used_after, std::memory_order_relaxed);
    if (op == AllocJournal::kFree && j.first / 64 < state_->hint_small) {
      state_->hint_small = j.first / 64;
    }
  }
  // release: the journal is applied; pairs with the acquire load above of the
  // next replay (a take-over from a holder that died right after this).
  j.op.store(AllocJournal::kNone, std::memory_order_release);
}

bool HeapAllocator::find_small(uint64_t count, uint64_t* first) {
  for (uint64_t w = state_->hint_small; w < bitmap_words_; ++w) {
    const uint64_t word = bitmap_[w];
    if (word == ~0ull) {
      if (w == state_->hint_small) state_->hint_small = w + 1;
      continue;
    }
    const uint64_t runs = zero_runs(~word, count);
    if (runs != 0) {
      *first = w * 64 + uint64_t(std::countr_zero(runs));
      return true;
    }
  }
  return false;
}

bool HeapAllocator::find_large(uint64_t words, uint64_t* first_word) {
  // A run of `words` clear bits in the summary: whole free 4 KiB pages.
  uint64_t run_start = 0;
  uint64_t run_len = 0;
  for (uint64_t sw = 0; sw < summary_words_; ++sw) {
    const uint64_t s = summary_[sw];
    if (s == 0) {
      if (run_len == 0) run_start = sw * 64;
      run_len += 64;
      if (run_len >= words) break;
      continue;
    }
    if (s == ~0ull) {
      run_len = 0;
      continue;
    }
    for (uint64_t b = 0; b < 64; ++b) {
      if (s & (1ull << b)) {
        run_len = 0;
        continue;
      }
      if (run_len == 0) run_start = sw * 64 + b;
      if (++run_len >= words) break;
    }
    if (run_len >= words) break;
  }
  if (run_len < words || run_start + words > bitmap_words_) return false;
  *first_word = run_start;
  return true;
}

Result<uint64_t, StoreError> HeapAllocator::allocate(uint64_t bytes, uint64_t link_off,
                                                     ipc::ProcessSlotId me) {
  if (bytes > heap_bytes_) return fail(StoreError::kHeapFull);
  if (link_off != 0 && !link_ok(link_off)) return fail(StoreError::kCorrupt);
  const uint64_t count = granules_for(bytes);
  lock(me);
  uint64_t first = 0;
  bool found;
  if (count <= kGranulesPerWord && bytes <= kPage) {
    found = find_small(count, &first);
  } else {
    uint64_t word = 0;
    found = find_large(count / kGranulesPerWord, &word);
    first = word * 64;
  }
  if (!found) {
    state_->lock.unlock();
    return fail(StoreError::kHeapFull);
  }
  // Storage for the block's pages before anything is committed: one load
  // unless the block ends past the backed watermark.
  if (backing_ != nullptr) {
    if (auto backed = backing_->ensure(heap_off_ + (first + count) * kGranule); !backed) {
      state_->lock.unlock();
      return fail(backed.error());
    }
  }
  AllocJournal& j = state_->journal;
  j.first = first;
  j.count = count;
  j.link_off = link_off;
  j.used_after = state_->used.load(std::memory_order_relaxed) + count * kGranule;
  // The commit point. release: pairs with replay()'s acquire load.
  j.op.store(AllocJournal::kAlloc, std::memory_order_release);
  replay();
  const uint64_t end = (first + count) * kGranule;
  if (end > state_->high_water.load(std::memory_order_relaxed)) {
    state_->high_water.store(end, std::memory_order_relaxed);
  }
  state_->lock.unlock();
  return heap_off_ + first * kGranule;
}

Result<void, StoreError> HeapAllocator::free(uint64_t off, uint64_t bytes, uint64_t link_off,
                                             ipc::ProcessSlotId me) {
  const uint64_t count = granules_for(bytes);
  if (off < heap_off_ || (off - heap_off_) % kGranule != 0 || !contains(off, count * kGranule) ||
      (link_off != 0 && !link_ok(link_off))) {
    return fail(StoreError::kCorrupt);
  }
  const uint64_t first = (off - heap_off_) / kGranule;
  lock(me);
  // Every granule must be allocated: anything else is a corrupt offset or size.
  for (uint64_t g = first; g < first + count;) {
    const uint64_t bit = g % 64;
    const uint64_t n = (first + count - g) < (64 - bit) ? (first + count - g) : (64 - bit);
    const uint64_t mask = run_mask(bit, n);
    if ((bitmap_[g / 64] & mask) != mask) {
      state_->lock.unlock();
      return fail(StoreError::kCorrupt);
    }
    g += n;
  }
  AllocJournal& j = state_->journal;
  j.first = first;
  j.count = count;
  j.link_off = link_off;
  j.used_after = state_->used.load(std::memory_order_relaxed) - count * kGranule;
  // The commit point. release: pairs with replay()'s acquire load.
  j.op.store(AllocJournal::kFree, std::memory_order_release);
  replay();
  state_->lock.unlock();
  return {};
}

void HeapAllocator::recover_from(ipc::ProcessSlotId dead, ipc::ProcessSlotId me) {
  if (state_->lock.take_over(dead, me)) {
    replay();
    state_->lock.unlock();
  }
}

}  // namespace shoal::store
