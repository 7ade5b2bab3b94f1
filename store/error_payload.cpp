#include "store/error_payload.hpp"

#include <cstring>

#include "store/store.hpp"

namespace shoal::store {

namespace {

void put_u32(std::string& out, uint32_t v) {
  out.append(reinterpret_cast<const char*>(&v), 4);
}

void put_str(std::string& out, const std::string& s) {
  const uint32_t n = s.size() > (1u << 20) ? (1u << 20) : uint32_t(s.size());
  put_u32(out, n);
  out.append(s.data(), n);
}

bool get_u32(const std::byte*& p, const std::byte* end, uint32_t* v) {
  if (end - p < 4) return false;
  std::memcpy(v, p, 4);
  p += 4;
  return true;
}

bool get_str(const std::byte*& p, const std::byte* end, std::string* s) {
  uint32_t n;
  if (!get_u32(p, end, &n) || uint64_t(end - p) < n) return false;
  s->assign(reinterpret_cast<const char*>(p), n);
  p += n;
  return true;
}

}  // namespace

std::string encode_error(const ErrorPayload& e) {
  std::string out;
  put_u32(out, uint32_t(e.kind));
  put_u32(out, uint32_t(e.pid));
  put_str(out, e.exception_type);
  put_str(out, e.message);
  put_str(out, e.actor_class);
  put_str(out, e.method);
  return out;
}

bool decode_error(const std::byte* data, size_t size, ErrorPayload* out) {
  const std::byte* p = data;
  const std::byte* end = data + size;
  uint32_t kind, pid;
  if (!get_u32(p, end, &kind) || !get_u32(p, end, &pid)) return false;
  if (kind < uint32_t(ErrorKind::kTask) || kind > uint32_t(ErrorKind::kObjectLost)) return false;
  out->kind = ErrorKind(kind);
  out->pid = pid_t(pid);
  return get_str(p, end, &out->exception_type) && get_str(p, end, &out->message) &&
         get_str(p, end, &out->actor_class) && get_str(p, end, &out->method);
}

Result<void, StoreError> seal_error(Store& store, uint32_t slot, const ErrorPayload& e) {
  const std::string bytes = encode_error(e);
  return store.objects().seal_as_error(slot, reinterpret_cast<const std::byte*>(bytes.data()),
                                       bytes.size(), store.me());
}

}  // namespace shoal::store
