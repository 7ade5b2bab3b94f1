// The msgpack-cxx codec: how shoal stores, and passes as call arguments and results, values that
// are not raw bytes (std containers of non-raw types, user types with MSGPACK_DEFINE), and how
// ObjectRefs and ActorHandles inside such values travel (as references, not copies).
//
// Include it in every translation unit that puts, gets or passes such a value, or declares a
// SHOAL_ACTOR / SHOAL_REMOTE method taking or returning one; <shoal/shoal.hpp> includes it, so
// only a translation unit built from the narrower headers needs it by name. A translation unit
// that stores only raw types (trivially copyable types, std::string, std::vector of trivially
// copyable elements) can leave it out and skip <msgpack.hpp>: about 1,500 of the 1,800 headers
// and half the preprocessed lines <shoal/shoal.hpp> reads. Forgetting it where it is needed is a
// compile error that names this header.
//
// Lifetimes: an encoded value lives in the thread's scratch buffer until the next encode on that
// thread; a decoded ObjectRef pins its object like any other ref.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <msgpack.hpp>
#include <type_traits>

#include <shoal/actor.hpp>
#include <shoal/detail/codec.hpp>
#include <shoal/detail/runtime.hpp>
#include <shoal/detail/type_name.hpp>
#include <shoal/object_ref.hpp>

namespace shoal::detail {

// The buffer shoal encodes msgpack into: an sbuffer of its own type, so that the packer shoal
// instantiates for it can carry the float packing below without touching the packers a user's
// code instantiates for msgpack::sbuffer.
struct MsgpackBuffer : msgpack::sbuffer {};

// The thread's scratch buffer for msgpack encoding.
MsgpackBuffer& msgpack_scratch();

// An integral float or double is packed as the integer it equals, as msgpack-cxx does, with two
// differences. Its guard compares with double(UINT64_MAX), which rounds up to 2^64, so 2^64
// itself reached a cast to uint64_t that cannot represent it: undefined behaviour. These bounds
// are exact powers of two, so every value below them converts. And -0.0 stays a float (as an
// integer it would come back as +0.0).
inline constexpr double kTwoTo64 = 18446744073709551616.0;
inline constexpr double kMinusTwoTo63 = -9223372036854775808.0;

template <class Float>
bool packs_as_uint64(Float d) {
  return d >= 0 && !std::signbit(d) && static_cast<double>(d) < kTwoTo64 &&
         d == static_cast<Float>(static_cast<uint64_t>(d));
}
template <class Float>
bool packs_as_int64(Float d) {
  return d < 0 && static_cast<double>(d) >= kMinusTwoTo63 &&
         d == static_cast<Float>(static_cast<int64_t>(d));
}

// A float or double packed by shoal's packer: as the integer it equals if it is integral and in
// range, else as a msgpack float 32 / float 64.
template <class Float>
msgpack::packer<MsgpackBuffer>& pack_floating(msgpack::packer<MsgpackBuffer>& o, Float d) {
  static_assert(sizeof(Float) == 4 || sizeof(Float) == 8);
  if (packs_as_uint64(d)) return o.pack_uint64(static_cast<uint64_t>(d));
  if (packs_as_int64(d)) return o.pack_int64(static_cast<int64_t>(d));
  using Bits = std::conditional_t<sizeof(Float) == 8, uint64_t, uint32_t>;
  Bits bits;
  std::memcpy(&bits, &d, sizeof bits);
  char buf[1 + sizeof bits];
  buf[0] = static_cast<char>(sizeof bits == 8 ? 0xcbu : 0xcau);
  if constexpr (sizeof bits == 8) {
    _msgpack_store64(&buf[1], bits);
  } else {
    _msgpack_store32(&buf[1], bits);
  }
  return o.pack_bin_body(buf, sizeof buf);  // the bytes as they are
}

}  // namespace shoal::detail

namespace msgpack {
MSGPACK_API_VERSION_NAMESPACE(v1) {  // where packer is declared

  template <>
  inline packer<shoal::detail::MsgpackBuffer>& packer<shoal::detail::MsgpackBuffer>::pack_double(
      double d) {
    return shoal::detail::pack_floating(*this, d);
  }

  template <>
  inline packer<shoal::detail::MsgpackBuffer>& packer<shoal::detail::MsgpackBuffer>::pack_float(
      float d) {
    return shoal::detail::pack_floating(*this, d);
  }

}  // MSGPACK_API_VERSION_NAMESPACE(v1)
}  // namespace msgpack

namespace shoal::detail {

template <class T>
struct MsgpackCodec {
  static Encoded encode(const T& value) {
    MsgpackBuffer& buf = msgpack_scratch();
    buf.clear();
    msgpack::pack(buf, value);
    return {CodecKind::kMsgpack, buf.data(), buf.size()};
  }
  static T decode(const std::byte* data, size_t size) {
    try {
      // Every element, key, value and level takes at least a byte of the payload: a count
      // beyond that is a lie, refused before msgpack-cxx allocates for it (a 5-byte array
      // header announces 2^32 - 1 elements, 96 GiB of msgpack::object).
      const msgpack::unpack_limit limit(size, size / 2, size, size, size, size);
      msgpack::object_handle oh =
          msgpack::unpack(reinterpret_cast<const char*>(data), size, nullptr, nullptr, limit);
      return oh.get().as<T>();
    } catch (const std::exception& e) {
      throw_decode_failure(type_name<T>(), e.what());
    }
  }
};

// The msgpack ext type of an ObjectRef inside a value: its 16-byte ObjectId.
inline constexpr int8_t kObjectRefExt = 0x53;  // 'S'

}  // namespace shoal::detail

namespace msgpack {
MSGPACK_API_VERSION_NAMESPACE(MSGPACK_DEFAULT_API_NS) {
  namespace adaptor {

  // ObjectRefs inside containers travel as refs: packing one records it as a child of the
  // object being put (detail::ChildCollector), unpacking one pins the object again.
  template <class T>
  struct pack<shoal::ObjectRef<T>> {
    template <class Stream>
    msgpack::packer<Stream>& operator()(msgpack::packer<Stream>& o,
                                        const shoal::ObjectRef<T>& ref) const {
      char bytes[16];
      shoal::detail::pack_object_id(ref, bytes);
      o.pack_ext(16, shoal::detail::kObjectRefExt);
      o.pack_ext_body(bytes, 16);
      return o;
    }
  };

  template <class T>
  struct convert<shoal::ObjectRef<T>> {
    const msgpack::object& operator()(const msgpack::object& o, shoal::ObjectRef<T>& ref) const {
      if (o.type != msgpack::type::EXT || o.via.ext.type() != shoal::detail::kObjectRefExt) {
        throw msgpack::type_error();
      }
      ref = shoal::ObjectRef<T>(shoal::detail::unpack_object_id(o.via.ext.data(), o.via.ext.size));
      return o;
    }
  };

  // ActorHandles inside containers travel as [index, generation], and an owned actor's as
  // [index, generation, token] with the token as an ObjectRef travels: the object holding the
  // handle holds a reference on the token, so it keeps the actor alive while it exists.
  template <class A>
  struct pack<shoal::ActorHandle<A>> {
    template <class Stream>
    msgpack::packer<Stream>& operator()(msgpack::packer<Stream>& o,
                                        const shoal::ActorHandle<A>& h) const {
      const bool owned = h.token().valid();
      o.pack_array(owned ? 3 : 2);
      o.pack(h.id().index);
      o.pack(h.id().gen);
      if (owned) {
        char bytes[16];
        shoal::detail::pack_object_id(h.token(), bytes);
        o.pack_ext(16, shoal::detail::kObjectRefExt);
        o.pack_ext_body(bytes, 16);
      }
      return o;
    }
  };

  template <class A>
  struct convert<shoal::ActorHandle<A>> {
    const msgpack::object& operator()(const msgpack::object& o, shoal::ActorHandle<A>& h) const {
      if (o.type != msgpack::type::ARRAY || (o.via.array.size != 2 && o.via.array.size != 3)) {
        throw msgpack::type_error();
      }
      const shoal::detail::ActorId id{o.via.array.ptr[0].as<uint32_t>(),
                                      o.via.array.ptr[1].as<uint32_t>()};
      shoal::ObjectRefBase token;
      if (o.via.array.size == 3) {
        const msgpack::object& t = o.via.array.ptr[2];
        if (t.type != msgpack::type::EXT || t.via.ext.type() != shoal::detail::kObjectRefExt) {
          throw msgpack::type_error();
        }
        token = shoal::ObjectRef<char>(
            shoal::detail::unpack_object_id(t.via.ext.data(), t.via.ext.size));
      }
      h = shoal::ActorHandle<A>(id, std::move(token));
      return o;
    }
  };

  }  // namespace adaptor
}  // MSGPACK_API_VERSION_NAMESPACE
}  // namespace msgpack
