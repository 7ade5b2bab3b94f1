// Result<T, E>: the return type of store/ and ipc/ operations that can fail for
// reasons outside shoal's control (bad input, a full store, a corrupt segment).
// Exceptions are thrown only at the public API.
#pragma once

#include <utility>
#include <variant>

#include "ipc/check.hpp"

namespace shoal {

template <class E>
struct Failure {
  E error;
};

template <class E>
Failure<E> fail(E error) {
  return Failure<E>{error};
}

template <class T, class E>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}
  Result(Failure<E> failure) : state_(std::in_place_index<1>, failure.error) {}

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    SHOAL_CHECK(ok()) << "value() of a failed Result";
    return std::get<0>(state_);
  }
  const T& value() const& {
    SHOAL_CHECK(ok()) << "value() of a failed Result";
    return std::get<0>(state_);
  }
  T&& value() && {
    SHOAL_CHECK(ok()) << "value() of a failed Result";
    return std::get<0>(std::move(state_));
  }
  T& operator*() & { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  E error() const {
    SHOAL_CHECK(!ok()) << "error() of a successful Result";
    return std::get<1>(state_);
  }

 private:
  std::variant<T, E> state_;
};

// Result<void, E>: success carries nothing.
template <class E>
class [[nodiscard]] Result<void, E> {
 public:
  Result() = default;
  Result(Failure<E> failure) : failed_(true), error_(failure.error) {}

  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  E error() const {
    SHOAL_CHECK(failed_) << "error() of a successful Result";
    return error_;
  }

 private:
  bool failed_ = false;
  E error_{};
};

}  // namespace shoal
