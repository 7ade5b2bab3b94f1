// How values become store payloads and back, and which codec each type takes.
//
// Raw: trivially copyable types, std::string, and std::vector of trivially copyable elements are
// stored as their bytes. This is what makes get_view() zero-copy, and a raw put is one memcpy.
// msgpack-cxx: everything else (std containers of non-raw types, user types with MSGPACK_DEFINE,
// ObjectRefs and ActorHandles inside containers), through MsgpackCodec<T>, which
// <shoal/msgpack_codec.hpp> defines. This header does not include <msgpack.hpp>: a translation
// unit that stores only raw types never parses it.
//
// Lifetimes: an Encoded points into the value it encodes (raw), or into the thread's msgpack
// scratch buffer until the next encode on this thread.
#pragma once

#include <cstddef>
#include <cstring>
#include <new>
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

struct Encoded {
  CodecKind codec;
  const void* data;
  size_t size;
};

// The msgpack codec of a non-raw T: static Encoded encode(const T&) and static T decode(const
// std::byte*, size_t). Defined in <shoal/msgpack_codec.hpp>; only declared here.
template <class T>
struct MsgpackCodec;

template <class T>
concept msgpack_codec_visible = requires {
  sizeof(MsgpackCodec<T>);
};

template <class T>
inline constexpr bool kDependentFalse = false;

// Stands in for MsgpackCodec<T> where <shoal/msgpack_codec.hpp> is not included, so that the
// mistake is one error that says what to do.
template <class T>
struct MsgpackCodecMissing {
  static_assert(kDependentFalse<T>,
                "shoal: this type is stored with msgpack-cxx (it is not trivially copyable, a "
                "std::string or a std::vector of trivially copyable elements): include "
                "<shoal/msgpack_codec.hpp>, or <shoal/shoal.hpp>, which includes it");
  static Encoded encode(const T& value);
  static T decode(const std::byte* data, size_t size);
};

template <class T>
using msgpack_codec_t =
    std::conditional_t<msgpack_codec_visible<T>, MsgpackCodec<T>, MsgpackCodecMissing<T>>;

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
    return msgpack_codec_t<T>::encode(value);
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
    if (size % sizeof(U) != 0)
      throw_decode_failure(type_name<T>(), "size is not a whole number of elements");
    T v(size / sizeof(U));
    if (size != 0) std::memcpy(static_cast<void*>(v.data()), data, size);
    return v;
  } else if constexpr (is_raw_codec_v<T>) {
    if (size != sizeof(T)) throw_decode_failure(type_name<T>(), "size differs from sizeof(T)");
    alignas(T) unsigned char buf[sizeof(T)];
    std::memcpy(buf, data, sizeof(T));
    return *std::launder(reinterpret_cast<T*>(buf));
  } else {
    return msgpack_codec_t<T>::decode(data, size);
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
