// type_name<T>() and type_fingerprint<T>(): compile-time names of C++ types,
// used to check get<T> against what was put and to name both on a mismatch.
#pragma once

#include <cstdint>
#include <string_view>

namespace shoal::detail {

template <class T>
constexpr std::string_view type_name() {
  std::string_view p = __PRETTY_FUNCTION__;
  // "... type_name() [with T = int; std::string_view = ...]"
  const auto start = p.find("T = ") + 4;
  auto end = p.find(';', start);
  if (end == std::string_view::npos) end = p.rfind(']');
  return p.substr(start, end - start);
}

constexpr uint64_t fnv1a(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

template <class T>
constexpr uint64_t type_fingerprint() {
  const uint64_t h = fnv1a(type_name<T>());
  return h == 0 ? 1 : h;
}

}  // namespace shoal::detail
