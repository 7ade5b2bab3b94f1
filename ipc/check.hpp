// SHOAL_CHECK: invariants whose failure means a bug in shoal itself. A failed
// check prints file, line, the condition and any streamed context to stderr and
// aborts the process. Bad input never reaches a SHOAL_CHECK: it gets an error.
#pragma once

#include <sstream>

namespace shoal::detail {

class CheckFailure {
 public:
  CheckFailure(const char* file, int line, const char* condition);
  [[noreturn]] ~CheckFailure();
  std::ostream& stream() { return message_; }

 private:
  std::ostringstream message_;
};

}  // namespace shoal::detail

#define SHOAL_CHECK(cond) \
  if (cond) {             \
  } else                  \
    ::shoal::detail::CheckFailure(__FILE__, __LINE__, #cond).stream()
