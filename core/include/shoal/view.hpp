// View<T>: zero-copy read access to a sealed object in shared memory.
//
// View<std::vector<U>> reads like a std::span<const U>, View<std::string> like
// a std::string_view, View<T> of a trivially copyable T like a const T*. Only
// types stored as raw bytes have views (see detail/codec.hpp).
//
// Lifetimes: the object stays pinned (cannot be freed, nor spilled out of the store) while the
// View, or a copy of it, lives;
// what a View points to must not be read after shutdown(), which unmaps it. A View is read-only:
// any threads may read one at once, as for the ObjectRef it holds.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <shoal/object_ref.hpp>

namespace shoal {

template <class T>
class View {
  static_assert(detail::is_raw_codec_v<T>,
                "shoal::View<T> needs a type stored as raw bytes: a trivially copyable type, "
                "std::string, or std::vector of trivially copyable elements");

 public:
  View() = default;
  View(ObjectRefBase pin, detail::ReadHold hold, const std::byte* data)
      : pin_(std::move(pin)), hold_(std::move(hold)), p_(reinterpret_cast<const T*>(data)) {}
  const T& operator*() const { return *p_; }
  const T* operator->() const { return p_; }
  const T* get() const { return p_; }

 private:
  ObjectRefBase pin_;
  detail::ReadHold hold_;  // after pin_: the read ends before the pin is dropped
  const T* p_ = nullptr;
};

template <class U>
class View<std::vector<U>> {
  static_assert(detail::is_raw_element_v<U>, "View<std::vector<U>> needs a trivially copyable U");

 public:
  using element_type = const U;
  using value_type = U;
  using iterator = const U*;

  View() = default;
  View(ObjectRefBase pin, detail::ReadHold hold, const std::byte* data, size_t bytes)
      : pin_(std::move(pin)),
        hold_(std::move(hold)),
        data_(reinterpret_cast<const U*>(data)),
        size_(bytes / sizeof(U)) {}

  const U* data() const { return data_; }
  size_t size() const { return size_; }
  size_t size_bytes() const { return size_ * sizeof(U); }
  bool empty() const { return size_ == 0; }
  const U& operator[](size_t i) const { return data_[i]; }
  const U& front() const { return data_[0]; }
  const U& back() const { return data_[size_ - 1]; }
  const U* begin() const { return data_; }
  const U* end() const { return data_ + size_; }
  std::span<const U> span() const { return {data_, size_}; }
  operator std::span<const U>() const { return span(); }

 private:
  ObjectRefBase pin_;
  detail::ReadHold hold_;  // after pin_: the read ends before the pin is dropped
  const U* data_ = nullptr;
  size_t size_ = 0;
};

template <>
class View<std::string> {
 public:
  View() = default;
  View(ObjectRefBase pin, detail::ReadHold hold, const std::byte* data, size_t bytes)
      : pin_(std::move(pin)),
        hold_(std::move(hold)),
        view_(reinterpret_cast<const char*>(data), bytes) {}

  const char* data() const { return view_.data(); }
  size_t size() const { return view_.size(); }
  size_t length() const { return view_.size(); }
  bool empty() const { return view_.empty(); }
  char operator[](size_t i) const { return view_[i]; }
  const char* begin() const { return view_.data(); }
  const char* end() const { return view_.data() + view_.size(); }
  std::string_view view() const { return view_; }
  operator std::string_view() const { return view_; }
  friend bool operator==(const View& a, std::string_view b) { return a.view_ == b; }

 private:
  ObjectRefBase pin_;
  detail::ReadHold hold_;  // after pin_: the read ends before the pin is dropped
  std::string_view view_;
};

// Blocks like get() and returns a zero-copy View into shared memory; throws what get() throws,
// and shoal::Error if the object's size does not fit T.
template <class T>
View<T> get_view(const ObjectRef<T>& ref) {
  static_assert(detail::is_raw_codec_v<T>,
                "shoal::get_view<T> needs a type stored as raw bytes: a trivially copyable type, "
                "std::string, or std::vector of trivially copyable elements");
  const detail::RefRecord* rec = detail::RefAccess::record(ref);
  detail::check_live(rec, detail::RefAccess::epoch(ref));
  detail::ObjectBytes b = detail::wait_and_read(rec, std::nullopt);
  if (b.type_fp != detail::fingerprint_of<T>()) {
    detail::throw_type_mismatch(detail::type_name<T>(), b.type_fp, rec);
  }
  if constexpr (std::is_same_v<T, std::string> || detail::is_std_vector<T>::value) {
    return View<T>(ref, std::move(b.hold), b.data, b.size);
  } else {
    if (b.size != sizeof(T))
      detail::throw_decode_failure(detail::type_name<T>(), "size differs from sizeof(T)");
    return View<T>(ref, std::move(b.hold), b.data);
  }
}

}  // namespace shoal
