#include "ipc/check.hpp"

#include <unistd.h>

#include <cstdlib>
#include <string>

namespace shoal::detail {

CheckFailure::CheckFailure(const char* file, int line, const char* condition) {
  message_ << "shoal: check failed at " << file << ":" << line << ": " << condition << " ";
}

CheckFailure::~CheckFailure() {
  message_ << "\n";
  const std::string text = message_.str();
  // write(2) directly: stdio may be in any state when an invariant breaks.
  ssize_t ignored = ::write(STDERR_FILENO, text.data(), text.size());
  (void)ignored;
  std::abort();
}

}  // namespace shoal::detail
