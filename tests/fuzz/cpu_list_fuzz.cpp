// Fuzzes launcher::parse_cpu_list(), which reads `shoal launch --cpus`: a
// comma-separated list of cores and ranges ("0-3,6,8-9"), each core one this
// machine has. A list is accepted with every core in it, in order, or refused
// with a message; never a crash, a hang or a core that does not exist.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "launcher/launch.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::string error;
  const std::optional<std::vector<int>> cores = shoal::launcher::parse_cpu_list(text, &error);
  if (!cores) {
    if (error.empty()) std::abort();  // refused without saying why
    return 0;
  }
  if (!error.empty() || cores->empty()) std::abort();
  const long have = ::sysconf(_SC_NPROCESSORS_CONF);
  for (int c : *cores) {
    if (c < 0 || c >= have) std::abort();
  }
  // Accepted text is made of digits, '-' and ',' only.
  for (char c : text) {
    if (!(c >= '0' && c <= '9') && c != '-' && c != ',') std::abort();
  }
  return 0;
}
