#include "store/type_registry.hpp"

#include <cstdio>
#include <cstring>

namespace shoal::store {

void TypeRegistry::add(uint64_t fp, std::string_view name) {
  if (fp == 0 || fp == kClaimed || count_ == 0) return;
  for (uint32_t i = 0; i < count_; ++i) {
    TypeRecord& r = records_[(fp + i) % count_];
    // acquire: pairs with the release store of the fingerprint below.
    uint64_t cur = r.fp.load(std::memory_order_acquire);
    if (cur == fp) return;
    if (cur != 0) continue;
    // acquire: when it fails, pairs with the release store below as the load.
    if (!r.fp.compare_exchange_strong(cur, kClaimed, std::memory_order_acquire)) {
      if (cur == fp) return;
      continue;
    }
    const size_t n = name.size() < sizeof(r.name) - 1 ? name.size() : sizeof(r.name) - 1;
    std::memcpy(r.name, name.data(), n);
    r.name[n] = '\0';
    r.fp.store(fp, std::memory_order_release);  // pairs with the acquire in lookup()
    return;
  }
}

std::string TypeRegistry::lookup(uint64_t fp) const {
  for (uint32_t i = 0; i < count_ && fp != 0 && fp != kClaimed; ++i) {
    const TypeRecord& r = records_[(fp + i) % count_];
    // acquire: pairs with add()'s release store of the fingerprint: the name is whole.
    const uint64_t cur = r.fp.load(std::memory_order_acquire);
    if (cur == 0) break;
    if (cur == fp) return std::string(r.name, strnlen(r.name, sizeof(r.name)));
  }
  char buf[40];
  std::snprintf(buf, sizeof(buf), "type#%016llx", static_cast<unsigned long long>(fp));
  return buf;
}

}  // namespace shoal::store
