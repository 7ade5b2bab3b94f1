// Reading an ObjectRefStream in a test with every wait bounded: a stream that stops short fails
// the test with a timeout instead of hanging it.
#pragma once

#include <chrono>
#include <optional>
#include <vector>

#include <shoal/shoal.hpp>

namespace shoal::testing {

// The values of the rest of `s`, in yield order; each get() waits at most 30 s.
template <class T>
std::vector<T> values_of(shoal::ObjectRefStream<T>& s) {
  std::vector<T> out;
  for (const shoal::ObjectRef<T>& r : s)
    out.push_back(shoal::get(r, std::chrono::seconds(30)));
  return out;
}

// The next ref of `s` (nullopt at its end), waiting at most `limit` (TimeoutError instead of a
// hang).
template <class T>
std::optional<shoal::ObjectRef<T>> next_within(
    shoal::ObjectRefStream<T>& s, std::chrono::seconds limit = std::chrono::seconds(30)) {
  return shoal::run(shoal::wait_for(s.next(), limit));
}

}  // namespace shoal::testing
