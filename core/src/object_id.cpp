#include <shoal/object_id.hpp>

#include <cstdio>
#include <stdexcept>

namespace shoal {

std::string ObjectId::to_string() const {
  char buf[33];
  std::snprintf(buf, sizeof(buf), "%016llx%08x%08x", static_cast<unsigned long long>(session_),
                slot_, gen_);
  return buf;
}

ObjectId ObjectId::parse(std::string_view text) {
  if (text.size() != 32) {
    throw std::invalid_argument("ObjectId::parse: expected 32 hex digits, got \"" +
                                std::string(text) + "\"");
  }
  uint64_t v[3] = {0, 0, 0};
  const size_t widths[3] = {16, 8, 8};
  size_t at = 0;
  for (int part = 0; part < 3; ++part) {
    for (size_t i = 0; i < widths[part]; ++i, ++at) {
      const char c = text[at];
      int d;
      if (c >= '0' && c <= '9') {
        d = c - '0';
      } else if (c >= 'a' && c <= 'f') {
        d = c - 'a' + 10;
      } else if (c >= 'A' && c <= 'F') {
        d = c - 'A' + 10;
      } else {
        throw std::invalid_argument("ObjectId::parse: \"" + std::string(text) +
                                    "\" is not hexadecimal");
      }
      v[part] = v[part] * 16 + uint64_t(d);
    }
  }
  return ObjectId(v[0], uint32_t(v[1]), uint32_t(v[2]));
}

}  // namespace shoal
