// Fuzzes ObjectId::parse(), which reads ids that users pass between programs
// as text: anything but 32 hex digits is std::invalid_argument, and whatever
// parses prints back as the same id.
#include <shoal/object_id.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  shoal::ObjectId id;
  try {
    id = shoal::ObjectId::parse(text);
  } catch (const std::invalid_argument&) {
    return 0;
  }
  // Parsed: 32 hex digits, and the id is what they spell.
  if (size != 32) std::abort();
  if (shoal::ObjectId::parse(id.to_string()) != id) std::abort();
  return 0;
}
