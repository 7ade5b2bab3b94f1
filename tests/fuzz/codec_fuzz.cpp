// Fuzzes both codecs as get() and a call's callee run them on payloads from
// the store: detail::decode<T>() for raw types (trivially copyable values,
// strings, vectors of them) and msgpack-cxx types (containers, user types with
// MSGPACK_DEFINE, ObjectRefs and ActorHandles inside values). Every payload
// must decode, or fail as a shoal::Error naming the type: never crash, read
// out of bounds or leak a pin. What decodes must survive encode -> decode
// unchanged.
//
// The fuzzer runs inside a live session (refs inside values pin their objects
// there): three objects are put at start-up. A payload names a ref as a
// msgpack ext (type 0x53, 16 bytes: session tag, slot, generation); every
// "SHOALTAG" in the input is replaced with this session's tag, and a slot
// 0, 1 or 2 right after it with the slot and generation of that live object,
// so that seeds can name live objects.
//
// Input: one byte picking the type, then the payload.
#include <shoal/shoal.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace {

// No padding: the round trip compares encodings, and padding bytes are not kept by a copy.
struct Pod {
  int32_t a;
  int32_t c;
  double b;
};
static_assert(sizeof(Pod) == 16);

struct Record {
  int id = 0;
  std::string label;
  std::vector<double> values;
  MSGPACK_DEFINE(id, label, values);
};

struct Counter {
  int add(int n) { return total += n; }
  int total = 0;
};

using RefList = std::vector<shoal::ObjectRef<int>>;
using RefMap = std::map<std::string, shoal::ObjectRef<std::string>>;
using Handles = std::vector<shoal::ActorHandle<Counter>>;

}  // namespace

SHOAL_ACTOR(Counter, &Counter::add);

namespace {

std::vector<shoal::ObjectRefBase>* g_live;  // the objects seeds may name, for the whole run

template <class T>
std::vector<std::byte> encoded(const T& value) {
  shoal::detail::ChildCollector children;  // as put() encodes: refs become children
  const shoal::detail::Encoded enc = shoal::detail::encode(value);
  if (enc.codec != shoal::detail::codec_of<T>()) std::abort();
  // A msgpack encoding lives in the thread's scratch buffer: copy it out.
  const auto* p = static_cast<const std::byte*>(enc.data);
  return std::vector<std::byte>(p, p + enc.size);
}

template <class T>
void check(const std::byte* data, size_t size) {
  T value;
  try {
    value = shoal::detail::decode<T>(data, size);
  } catch (const shoal::Error&) {
    return;
  }
  // What decoded encodes to bytes that decode to the same value: compared as
  // encodings, which also holds for NaNs and padding.
  const std::vector<std::byte> once = encoded(value);
  const T again = shoal::detail::decode<T>(once.data(), once.size());
  if (encoded(again) != once) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  shoal::init(shoal::Config{.store_bytes = 16ull << 20, .prefault = false, .num_workers = 1});
  g_live = new std::vector<shoal::ObjectRefBase>{shoal::put(7), shoal::put(std::string("seven")),
                                                 shoal::put(std::vector<int>{1, 2, 3})};
  for (const shoal::ObjectRefBase& r : *g_live)
    std::fprintf(stderr, "codec_fuzz: live object %s\n", r.id().to_string().c_str());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::vector<std::byte> payload(reinterpret_cast<const std::byte*>(data) + 1,
                                 reinterpret_cast<const std::byte*>(data) + size);
  const uint64_t tag = (*g_live)[0].id().session();
  static const char kMarker[] = "SHOALTAG";
  for (size_t i = 0; i + 8 <= payload.size(); ++i) {
    if (std::memcmp(payload.data() + i, kMarker, 8) != 0) continue;
    std::memcpy(payload.data() + i, &tag, 8);
    // Slot k < 3 after the tag: the k-th live object, its slot and generation.
    uint32_t k;
    if (i + 16 > payload.size()) continue;
    std::memcpy(&k, payload.data() + i + 8, 4);
    if (k >= g_live->size()) continue;
    const shoal::ObjectId id = (*g_live)[k].id();
    const uint32_t slot = id.slot(), gen = id.generation();
    std::memcpy(payload.data() + i + 8, &slot, 4);
    std::memcpy(payload.data() + i + 12, &gen, 4);
  }
  const std::byte* p = payload.data();
  const size_t n = payload.size();
  switch (data[0] % 16) {
    // raw
    case 0:
      check<int32_t>(p, n);
      break;
    case 1:
      check<double>(p, n);
      break;
    case 2:
      check<Pod>(p, n);
      break;
    case 3:
      check<std::string>(p, n);
      break;
    case 4:
      check<std::vector<int32_t>>(p, n);
      break;
    case 5:
      check<std::vector<Pod>>(p, n);
      break;
    // msgpack
    case 6:
      check<std::vector<std::string>>(p, n);
      break;
    case 7:
      check<std::map<std::string, std::vector<int>>>(p, n);
      break;
    case 8:
      check<std::tuple<int, std::string, double>>(p, n);
      break;
    case 9:
      check<Record>(p, n);
      break;
    case 10:
      check<std::vector<std::vector<double>>>(p, n);
      break;
    case 11:
      check<std::optional<std::string>>(p, n);
      break;
    case 12:
      check<std::vector<bool>>(p, n);
      break;
    // references inside values
    case 13:
      check<RefList>(p, n);
      break;
    case 14:
      check<RefMap>(p, n);
      break;
    case 15:
      check<Handles>(p, n);
      break;
  }
  return 0;
}
