// Checksums of the fixed-size headers processes validate when they attach to
// shared memory (the store's segment header, a timeline file's header).
// FNV-1a, 64 bits: not a defence against forgery, which the credential and
// ownership checks are, but against a torn, stale or scribbled-on header.
#pragma once

#include <cstddef>
#include <cstdint>

namespace shoal::ipc {

inline uint64_t fnv1a(const void* data, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a 64-bit offset basis
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;  // FNV-1a 64-bit prime
  }
  return h;
}

}  // namespace shoal::ipc
