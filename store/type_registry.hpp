// TypeRegistry: fingerprint -> C++ type name, shared by the session, so that a
// get<T> of the wrong T can name both types. Insert-only open addressing; a
// record is claimed with one CAS and published with one store, so a writer that
// dies mid-insert leaves a claimed record that readers and inserters skip.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace shoal::store {

struct alignas(64) TypeRecord {
  // 0: empty; kClaimed: being written; otherwise the fingerprint, published
  // with release after `name` (pairs with the acquire in lookup()).
  std::atomic<uint64_t> fp;
  char name[248];
};
static_assert(sizeof(TypeRecord) == 256);
static_assert(std::is_standard_layout_v<TypeRecord>);
static_assert(std::atomic<uint64_t>::is_always_lock_free,
              "fingerprints are shared between processes");

class TypeRegistry {
 public:
  static constexpr uint64_t kClaimed = ~0ull;

  TypeRegistry() = default;
  TypeRegistry(TypeRecord* records, uint32_t count) : records_(records), count_(count) {}

  // Records `name` for `fp` unless already known. Best effort: a full registry
  // only means mismatch messages show the fingerprint instead of the name.
  void add(uint64_t fp, std::string_view name);
  // The name for `fp`, or "type#<hex fingerprint>" when unknown.
  std::string lookup(uint64_t fp) const;

 private:
  TypeRecord* records_ = nullptr;
  uint32_t count_ = 0;
};

}  // namespace shoal::store
