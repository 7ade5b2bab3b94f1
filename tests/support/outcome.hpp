// How a call ended, for the tests that count deaths and cancellations: its value, the
// actor's death, its cancellation, a get() that timed out, or anything else (printed).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include <shoal/shoal.hpp>

namespace shoal::testing {

enum class Outcome { kDied, kValue, kCancelled, kTimeout, kOther };

// Waits at most `timeout` for `ref` and says how its call ended; `what`, if given, receives the
// message of an ActorDiedError.
template <class T>
Outcome outcome_of(const shoal::ObjectRef<T>& ref,
                   std::chrono::milliseconds timeout = std::chrono::seconds(30),
                   std::string* what = nullptr) {
  try {
    (void)shoal::get(ref, timeout);
    return Outcome::kValue;
  } catch (const shoal::ActorDiedError& e) {
    if (what) *what = e.what();
    return Outcome::kDied;
  } catch (const shoal::TaskCancelledError&) {
    return Outcome::kCancelled;
  } catch (const shoal::GetTimeoutError&) {
    return Outcome::kTimeout;
  } catch (const std::exception& e) {
    std::printf("unexpected error: %s\n", e.what());
    return Outcome::kOther;
  }
}

// The median of a non-empty sample (the upper one of an even count).
inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace shoal::testing
