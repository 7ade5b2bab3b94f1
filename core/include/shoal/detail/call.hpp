// What a call looks like on the wire: the header at the start of a ring cell's
// payload, the encoding of its arguments, and the target its result goes to.
//
// Arguments are a sequence of [tag u8][length u32][bytes], one per parameter:
//   kRaw / kMsgpack  the parameter's value, in its codec
//   kRefPass         a 16-byte ObjectId: the parameter is an ObjectRef<U>
//   kRefResolve      a 16-byte ObjectId: the caller passed ObjectRef<U> for a
//                    parameter of type U; the callee waits for the object and
//                    passes its value
// Arguments that hold references, or that do not fit the cell, travel as an
// "arguments object" in the store, which the call's result holds (and with it
// every reference inside) until the result itself is released.
//
// Lifetimes: an ArgWriter writes into its thread's scratch buffers, so it lives on one thread
// and only until the next ArgWriter there; a CallInput owns a copy of its cell's inline
// arguments and a pin on its arguments object, so it outlives the ring cell it came from.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include <shoal/detail/codec.hpp>
#include <shoal/detail/runtime.hpp>
#include <shoal/generator.hpp>
#include <shoal/object_ref.hpp>
#include <shoal/object_ref_stream.hpp>
#include <shoal/task.hpp>

namespace shoal::detail {

inline constexpr size_t kCallPayloadBytes = 120;  // ipc::kRingPayloadBytes

struct CallHeader {
  uint32_t method;       // index in the class's method table, or the function table
  uint32_t signature;    // hash of the name and signature; the callee checks it
  uint32_t result_slot;  // the result object, created by the caller (kPending)
  uint32_t result_gen;
  uint32_t args_slot;  // the arguments object when kArgsInObject
  uint32_t args_gen;
  uint16_t caller;  // the caller's process slot
  uint16_t flags;
  uint32_t args_len;  // bytes of inline arguments after the header
};
static_assert(sizeof(CallHeader) == 32);
static_assert(std::is_trivially_copyable_v<CallHeader>);
inline constexpr size_t kInlineArgBytes = kCallPayloadBytes - sizeof(CallHeader);
inline constexpr uint16_t kArgsInObject = 1;
// The caller's timeline stamp is in the cell's last bytes (core/src/call_trace.hpp).
inline constexpr uint16_t kCallStamped = 2;
// Bits 8..15 of the flags: the call's concurrency group, as 1 + its index in the actor's group
// table; 0 (kOwnGroup) for the group of its method, which the callee knows from its class. The
// callee checks the index against its table.
inline constexpr uint16_t kCallGroupShift = 8;
inline constexpr uint16_t kCallGroupMask = 0xff00;
inline constexpr uint32_t kOwnGroup = 0xffffffffu;
// The group index a header names, or kOwnGroup.
inline uint32_t call_group(const CallHeader& h) {
  const uint32_t field = uint32_t(h.flags & kCallGroupMask) >> kCallGroupShift;
  return field == 0 ? kOwnGroup : field - 1;
}

enum class ArgTag : uint8_t { kRaw = 1, kMsgpack = 2, kRefPass = 3, kRefResolve = 4 };

template <class T>
struct is_object_ref : std::false_type {};
template <class T>
struct is_object_ref<ObjectRef<T>> : std::true_type {
  using element_type = T;
};

// ---- encoding (caller side) ----

class ArgWriter {
 public:
  ArgWriter();  // starts empty, on the thread's scratch buffers
  ArgWriter(const ArgWriter&) = delete;
  ArgWriter& operator=(const ArgWriter&) = delete;

  // Encodes `arg` for a parameter declared as P.
  template <class P, class A>
  void add(A&& arg) {
    using Param = std::remove_cvref_t<P>;
    using Arg = std::remove_cvref_t<A>;
    if constexpr (is_object_ref<Arg>::value) {
      using U = typename is_object_ref<Arg>::element_type;
      if constexpr (is_object_ref<Param>::value) {
        static_assert(std::is_same_v<Param, Arg>, "shoal: ObjectRef argument of the wrong type");
        add_ref(ArgTag::kRefPass, arg);
      } else {
        static_assert(std::is_same_v<Param, U>,
                      "shoal: an ObjectRef<U> argument needs a parameter of type U (resolved "
                      "before the call) or ObjectRef<U> (passed as a reference)");
        add_ref(ArgTag::kRefResolve, arg);
      }
    } else {
      static_assert(std::is_convertible_v<A&&, Param>,
                    "shoal: argument does not convert to the parameter type");
      if constexpr (std::is_same_v<Param, Arg>) {
        add_value<Param>(arg);
      } else {
        const Param converted = std::forward<A>(arg);
        add_value<Param>(converted);
      }
    }
  }

  const std::byte* data() const { return buf_.data(); }
  size_t size() const { return buf_.size(); }
  const std::vector<uint64_t>& refs() const { return refs_; }

 private:
  template <class Param>
  void add_value(const Param& value) {
    ChildCollector collect;
    const Encoded enc = encode(value);
    append(enc.codec == CodecKind::kRaw ? ArgTag::kRaw : ArgTag::kMsgpack, enc.data, enc.size);
    for (uint64_t c : collect.children())
      refs_.push_back(c);
  }
  void add_ref(ArgTag tag, const ObjectRefBase& ref);
  void append(ArgTag tag, const void* data, size_t len);

  std::vector<std::byte>& buf_;
  std::vector<uint64_t>& refs_;
};

// ---- decoding (callee side) ----

class ArgReader {
 public:
  struct Item {
    ArgTag tag;
    const std::byte* data;
    uint32_t len;
  };
  ArgReader(const std::byte* data, size_t size) : p_(data), end_(data + size) {}
  Item next();  // throws (via throw_decode_failure) on a truncated or bad item
  bool done() const { return p_ == end_; }

 private:
  const std::byte* p_;
  const std::byte* end_;
};

// The ObjectIds of every kRefResolve argument, in order.
std::vector<ObjectId> refs_to_resolve(std::span<const std::byte> args);

// Returns the value itself: for a `const T&` parameter a T, which the caller
// stores (returning P would hand back a reference to a destroyed temporary).
template <class P>
std::remove_cvref_t<P> decode_arg(const ArgReader::Item& item,
                                  const std::vector<ObjectRefBase>& resolved,
                                  size_t* next_resolved) {
  using Param = std::remove_cvref_t<P>;
  if constexpr (is_object_ref<Param>::value) {
    if (item.tag != ArgTag::kRefPass)
      throw_decode_failure(type_name<Param>(), "expected an ObjectRef argument");
    return Param(unpack_object_id(reinterpret_cast<const char*>(item.data), item.len));
  } else {
    if (item.tag == ArgTag::kRefResolve) {
      if (*next_resolved >= resolved.size())
        throw_decode_failure(type_name<Param>(), "unresolved reference argument");
      const RefRecord* rec = RefAccess::record(resolved[(*next_resolved)++]);
      return decode_object<Param>(read_sealed(rec), rec);
    }
    const ArgTag want = codec_of<Param>() == CodecKind::kRaw ? ArgTag::kRaw : ArgTag::kMsgpack;
    if (item.tag != want)
      throw_decode_failure(type_name<Param>(), "argument encoded in another codec");
    return decode<Param>(item.data, item.len);
  }
}

template <class... Params>
std::tuple<std::remove_cvref_t<Params>...> decode_args(std::span<const std::byte> args,
                                                       const std::vector<ObjectRefBase>& resolved) {
  ArgReader reader(args.data(), args.size());
  size_t next_resolved = 0;
  // Braced init: evaluated left to right.
  std::tuple<std::remove_cvref_t<Params>...> out{
      decode_arg<Params>(reader.next(), resolved, &next_resolved)...};
  if (!reader.done()) throw_decode_failure("arguments", "more arguments than parameters");
  return out;
}

// Hands a decoded argument to a parameter: lvalue-reference parameters get
// the stored value itself, everything else takes it by move.
template <class Param, class Stored>
decltype(auto) pass_arg(Stored& stored) {
  if constexpr (std::is_lvalue_reference_v<Param>) {
    return static_cast<Stored&>(stored);
  } else {
    return static_cast<Stored&&>(stored);
  }
}

// A call's input, copied out of its ring cell so the cell can be reused at once.
struct CallInput {
  CallHeader header{};
  std::byte inline_args[kInlineArgBytes];
  ObjectRefBase args_object;  // pinned when header.flags & kArgsInObject
  std::span<const std::byte> args() const;
};

// The callee's decoding of one ring cell (its payload, kCallPayloadBytes): copies the call's
// header into `in.header` and, unless they travel in an arguments object, its inline arguments
// into `in.inline_args` (`in.args_object` is left alone). Checks what serving the call relies on:
// no unknown flag, inline arguments that fit the cell, a result slot below `object_slots`, a
// caller below `process_slots`. Returns what is wrong with the cell, as a static string, or
// nullptr for a call to serve. The actor's loop decodes every call with it: no allocation, no
// store access; the argument bytes themselves are checked as they are read (ArgReader).
const char* decode_call_cell(std::span<const std::byte, kCallPayloadBytes> payload,
                             uint32_t object_slots, uint32_t process_slots, CallInput& in) noexcept;

// Where a call's result goes.
struct CallTarget {
  uint32_t slot = 0;
  uint32_t gen = 0;
};

// Seals the call's result object with `payload`.
void complete_call(const CallTarget& target, const PutArgs& payload);

template <class R>
void write_result(const CallTarget& target, const R& value) {
  note_type_once<R>();
  ChildCollector collect;
  const Encoded enc = encode(value);
  PutArgs a;
  a.codec = enc.codec;
  a.type_fp = fingerprint_of<R>();
  a.type_name = type_name<R>();
  a.data = enc.data;
  a.size = enc.size;
  a.children = collect.children().data();
  a.child_count = uint32_t(collect.children().size());
  a.align = alignof(R);
  complete_call(target, a);
}

inline void write_void_result(const CallTarget& target) {
  PutArgs a;
  a.codec = CodecKind::kNone;
  a.type_fp = fingerprint_of<void>();
  a.type_name = type_name<void>();
  complete_call(target, a);
}

// Waits (suspending) for every kRefResolve argument; the result holds them
// pinned and sealed, in order.
Task<std::vector<ObjectRefBase>> resolve_args(std::span<const std::byte> args);
// The same, blocking the thread.
std::vector<ObjectRefBase> resolve_args_blocking(std::span<const std::byte> args);

// ---- signatures of callables ----

template <class M>
struct CallableTraits;
template <class M>
struct CallableTraits<const M> : CallableTraits<M> {};

template <class R, class C, class... Args>
struct CallableTraits<R (C::*)(Args...)> {
  using result = R;
  using params = std::tuple<Args...>;
  static constexpr size_t arity = sizeof...(Args);
};
template <class R, class C, class... Args>
struct CallableTraits<R (C::*)(Args...) const> : CallableTraits<R (C::*)(Args...)> {};
template <class R, class C, class... Args>
struct CallableTraits<R (C::*)(Args...) noexcept> : CallableTraits<R (C::*)(Args...)> {};
template <class R, class C, class... Args>
struct CallableTraits<R (C::*)(Args...) const noexcept> : CallableTraits<R (C::*)(Args...)> {};
template <class R, class... Args>
struct CallableTraits<R (*)(Args...)> {
  using result = R;
  using params = std::tuple<Args...>;
  static constexpr size_t arity = sizeof...(Args);
};
template <class R, class... Args>
struct CallableTraits<R (*)(Args...) noexcept> : CallableTraits<R (*)(Args...)> {};

template <class M>
using call_result_t = typename task_value<typename CallableTraits<M>::result>::type;
// A Task or a Generator: runs on an event loop, and makes its class an async actor.
template <class M>
inline constexpr bool is_coroutine_v = is_task_v<typename CallableTraits<M>::result> ||
                                       is_generator_v<typename CallableTraits<M>::result>;
template <class M>
inline constexpr bool is_streaming_v = is_generator_v<typename CallableTraits<M>::result>;

// What .remote() of M returns: ObjectRefStream<T> for a Generator<T>, else ObjectRef<R>.
template <class M, bool = is_streaming_v<M>>
struct RemoteReturn {
  using type = ObjectRef<call_result_t<M>>;
  static type adopt(RefRecord* rec) noexcept { return RefAccess::adopt<call_result_t<M>>(rec); }
};
template <class M>
struct RemoteReturn<M, true> {
  using type =
      ObjectRefStream<typename is_generator<typename CallableTraits<M>::result>::value_type>;
  static type adopt(RefRecord* head) noexcept {
    return StreamAccess::adopt<typename type::value_type::value_type>(head);
  }
};

// Encodes args... against the parameter list of M.
template <class M, class... A>
void encode_call_args(ArgWriter& w, A&&... args) {
  using Params = typename CallableTraits<M>::params;
  static_assert(std::tuple_size_v<Params> == sizeof...(A),
                "shoal: wrong number of arguments for this method or function");
  [&]<size_t... I>(std::index_sequence<I...>) {
    (w.template add<std::tuple_element_t<I, Params>>(std::forward<A>(args)), ...);
  }
  (std::index_sequence_for<A...>{});
}

// Submits a call to actor (index, gen), in concurrency group `group` (an index of the actor's
// table, below 255, or kOwnGroup); returns the result's record. `stream_bound`: for a streaming
// call, the back-pressure bound its caller asked for (0: none).
RefRecord* submit_call(uint32_t actor_index, uint32_t actor_gen, uint32_t method,
                       uint32_t signature, const ArgWriter& args, uint32_t stream_bound = 0,
                       uint32_t group = kOwnGroup);

}  // namespace shoal::detail
