// ObjectId: the name of an object in the session's store, printable and
// parseable so ids can be passed around (ObjectRef<T>(ObjectId) turns one back
// into a reference).
//
// Lifetimes: an ObjectId is a plain value, not a reference: it does not keep its object alive,
// and names it only in its own session while some ref holds the object.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace shoal {

class ObjectId {
 public:
  ObjectId() = default;
  ObjectId(uint64_t session, uint32_t slot, uint32_t generation)
      : session_(session), slot_(slot), gen_(generation) {}

  // 32 lowercase hex digits: session (16), slot (8), generation (8).
  std::string to_string() const;
  // The inverse of to_string(); throws std::invalid_argument for anything else.
  static ObjectId parse(std::string_view text);

  uint64_t session() const { return session_; }
  uint32_t slot() const { return slot_; }
  uint32_t generation() const { return gen_; }
  bool is_nil() const { return session_ == 0; }

  friend bool operator==(const ObjectId&, const ObjectId&) = default;

 private:
  uint64_t session_ = 0;
  uint32_t slot_ = 0;
  uint32_t gen_ = 0;
};

}  // namespace shoal

template <>
struct std::hash<shoal::ObjectId> {
  size_t operator()(const shoal::ObjectId& id) const noexcept {
    return std::hash<uint64_t>()(id.session() ^ (uint64_t(id.slot()) << 32 | id.generation()));
  }
};
