// Fuzzes what an actor reads out of a request-ring cell, which any process of
// the session (or a corrupt segment) can fill with anything: the cell decoder
// the serving loop runs, decode_call_cell(), then the inline arguments the way
// the callee reads them (refs_to_resolve() and decode_args<...>() for a few
// method signatures). Every input must be accepted, or refused with a reason,
// or fail as a shoal::Error: never crash or read outside the cell.
//
// Input: the cell's payload (kCallPayloadBytes, zero-padded), then one byte
// that picks the signature the arguments are decoded against.
#include <shoal/shoal.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "ipc/process_table.hpp"

namespace {

using shoal::detail::CallInput;
using shoal::detail::kCallPayloadBytes;

// The tables of a default session: 16,384 object slots, kMaxProcesses slots.
constexpr uint32_t kObjectSlots = 16384;
constexpr uint32_t kProcessSlots = shoal::ipc::kMaxProcesses;

template <class... Params>
void decode_as(std::span<const std::byte> args) {
  try {
    (void)shoal::detail::decode_args<Params...>(args, {});
  } catch (const shoal::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::array<std::byte, kCallPayloadBytes> payload{};
  std::memcpy(payload.data(), data, size < payload.size() ? size : payload.size());
  const uint8_t signature = size > payload.size() ? data[payload.size()] : 0;

  CallInput in;
  const char* problem = shoal::detail::decode_call_cell(payload, kObjectSlots, kProcessSlots, in);
  if (problem != nullptr) return 0;
  const shoal::detail::CallHeader& h = in.header;
  if (h.args_len > shoal::detail::kInlineArgBytes || h.result_slot >= kObjectSlots ||
      h.caller >= kProcessSlots) {
    std::abort();  // accepted what serving the call cannot rely on
  }
  if (h.flags & shoal::detail::kArgsInObject) return 0;  // the arguments are in the store

  const std::span<const std::byte> args = in.args();
  try {
    (void)shoal::detail::refs_to_resolve(args);
  } catch (const shoal::Error&) {
  }
  switch (signature % 6) {
    case 0:
      decode_as<int>(args);
      break;
    case 1:
      decode_as<int, std::string>(args);
      break;
    case 2:
      decode_as<std::vector<double>, uint64_t>(args);
      break;
    case 3:
      decode_as<std::vector<std::string>>(args);
      break;
    case 4:
      decode_as<std::map<std::string, int>, int>(args);
      break;
    case 5:
      decode_as<shoal::ObjectRef<int>, int>(args);  // a ref needs a session: a clear error
      break;
  }
  return 0;
}
