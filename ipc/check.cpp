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
  for (size_t done = 0; done < text.size();) {
    const ssize_t n = ::write(STDERR_FILENO, text.data() + done, text.size() - done);
    if (n <= 0) break;  // nothing else to try: we abort anyway
    done += size_t(n);
  }
  std::abort();
}

}  // namespace shoal::detail
