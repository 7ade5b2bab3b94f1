// Fuzzes launcher::parse_size(), which reads `shoal launch --store-size` and
// SHOAL_STORE_BYTES: a number of bytes, optionally with a unit K, M, G or T
// (any case), which may be followed by B or iB ("512M", "2GiB", "64kb").
// Everything else, and anything beyond 2^64 - 1 bytes, is refused. The
// harness checks every answer against that grammar, computed apart.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>

#include "launcher/session.hpp"

namespace {

// The grammar above, written apart from the parser: the value, or nullopt.
std::optional<uint64_t> expected(const std::string& s) {
  size_t i = 0;
  unsigned __int128 v = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    v = v * 10 + unsigned(s[i] - '0');
    if (v > UINT64_MAX) return std::nullopt;
    ++i;
  }
  if (i == 0) return std::nullopt;
  int shift = 0;
  if (i < s.size()) {
    switch (s[i] | 0x20) {
      case 'k':
        shift = 10;
        break;
      case 'm':
        shift = 20;
        break;
      case 'g':
        shift = 30;
        break;
      case 't':
        shift = 40;
        break;
      default:
        return std::nullopt;
    }
    const std::string rest = s.substr(i + 1);
    if (!(rest.empty() || rest == "B" || rest == "b" || rest == "iB" || rest == "ib"))
      return std::nullopt;
  }
  v <<= shift;
  if (v > UINT64_MAX) return std::nullopt;
  return uint64_t(v);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (shoal::launcher::parse_size(text) != expected(text)) std::abort();
  return 0;
}
