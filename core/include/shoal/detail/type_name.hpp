// type_name<T>() and type_fingerprint<T>(): compile-time names of C++ types,
// used to check get<T> against what was put and to name both on a mismatch.
//
// Lifetimes: the names are views of string literals, valid for the whole program.
#pragma once

#include <cstdint>
#include <string_view>

namespace shoal::detail {

template <class T>
constexpr std::string_view compute_type_name() {
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

// Variable templates force evaluation at compile time: the hot paths (put,
// get, every call) only ever load a constant.
template <class T>
inline constexpr std::string_view kTypeName = compute_type_name<T>();

template <class T>
inline constexpr uint64_t kTypeFingerprint = fnv1a(kTypeName<T>) == 0 ? 1 : fnv1a(kTypeName<T>);

template <class T>
constexpr std::string_view type_name() {
  return kTypeName<T>;
}

template <class T>
constexpr uint64_t type_fingerprint() {
  return kTypeFingerprint<T>;
}

}  // namespace shoal::detail
