// How values become store payloads and back.
//
// Raw: trivially copyable types, std::string, and std::vector of trivially
// copyable elements are stored as their bytes. This is what makes get_view()
// zero-copy, and a raw put is one memcpy.
// msgpack-cxx: everything else (std containers of non-trivial types, user types
// with MSGPACK_DEFINE, ObjectRefs inside containers).
#pragma once

#include <cstddef>
#include <cstring>
#include <msgpack.hpp>
#include <string>
#include <type_traits>
#include <vector>

#include <shoal/detail/runtime.hpp>
#include <shoal/detail/type_name.hpp>

namespace shoal::detail {

template <class T>
struct is_std_vector : std::false_type {};
template <class U, class A>
struct is_std_vector<std::vector<U, A>> : std::true_type {};

template <class T>
inline constexpr bool is_raw_element_v =
    std::is_trivially_copyable_v<T> && !std::is_same_v<T, bool> && !std::is_pointer_v<T> &&
    !std::is_member_pointer_v<T>;

// True for the types stored as raw bytes.
template <class T>
constexpr bool is_raw_codec() {
  if constexpr (std::is_same_v<T, std::string>) {
    return true;
  } else if constexpr (is_std_vector<T>::value) {
    return is_raw_element_v<typename T::value_type> &&
           std::is_same_v<T, std::vector<typename T::value_type>>;
  } else {
    return is_raw_element_v<T>;
  }
}
template <class T>
inline constexpr bool is_raw_codec_v = is_raw_codec<T>();

// The thread's scratch buffer for msgpack encoding.
msgpack::sbuffer& msgpack_scratch();

struct Encoded {
  CodecKind codec;
  const void* data;
  size_t size;
};

// Encodes `value`. Raw codecs point into `value`; msgpack output lives in the
// thread's scratch buffer until the next encode on this thread.
template <class T>
Encoded encode(const T& value) {
  static_assert(!std::is_pointer_v<T>, "shoal: a pointer means nothing in another process");
  if constexpr (std::is_same_v<T, std::string>) {
    return {CodecKind::kRaw, value.data(), value.size()};
  } else if constexpr (is_raw_codec_v<T> && is_std_vector<T>::value) {
    return {CodecKind::kRaw, value.data(), value.size() * sizeof(typename T::value_type)};
  } else if constexpr (is_raw_codec_v<T>) {
    return {CodecKind::kRaw, &value, sizeof(T)};
  } else {
    msgpack::sbuffer& buf = msgpack_scratch();
    buf.clear();
    msgpack::pack(buf, value);
    return {CodecKind::kMsgpack, buf.data(), buf.size()};
  }
}

// Decodes a payload of the codec encode<T> produces; a payload that does not
// fit T throws (through throw_decode_failure), never reads out of bounds.
template <class T>
T decode(const std::byte* data, size_t size) {
  if constexpr (std::is_same_v<T, std::string>) {
    return std::string(reinterpret_cast<const char*>(data), size);
  } else if constexpr (is_raw_codec_v<T> && is_std_vector<T>::value) {
    using U = typename T::value_type;
    if (size % sizeof(U) != 0) throw_decode_failure(type_name<T>(), "size is not a whole number of elements");
    T v(size / sizeof(U));
    if (size != 0) std::memcpy(static_cast<void*>(v.data()), data, size);
    return v;
  } else if constexpr (is_raw_codec_v<T>) {
    if (size != sizeof(T)) throw_decode_failure(type_name<T>(), "size differs from sizeof(T)");
    alignas(T) unsigned char buf[sizeof(T)];
    std::memcpy(buf, data, sizeof(T));
    return *std::launder(reinterpret_cast<T*>(buf));
  } else {
    try {
      msgpack::object_handle oh = msgpack::unpack(reinterpret_cast<const char*>(data), size);
      return oh.get().as<T>();
    } catch (const std::exception& e) {
      throw_decode_failure(type_name<T>(), e.what());
    }
  }
}

template <class T>
constexpr CodecKind codec_of() {
  if constexpr (std::is_void_v<T>) {
    return CodecKind::kNone;
  } else if constexpr (is_raw_codec_v<T>) {
    return CodecKind::kRaw;
  } else {
    return CodecKind::kMsgpack;
  }
}

// Fingerprint stored with every object; void results use the fingerprint of void.
template <class T>
constexpr uint64_t fingerprint_of() {
  return type_fingerprint<T>();
}

// Records T's name in the session once per thread and session.
template <class T>
void note_type_once() {
  static thread_local uint32_t noted = 0;
  const uint32_t e = epoch();
  if (noted != e) {
    note_type(type_fingerprint<T>(), type_name<T>());
    noted = e;
  }
}

}  // namespace shoal::detail
