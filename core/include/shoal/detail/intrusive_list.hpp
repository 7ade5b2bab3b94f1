// IntrusiveList: the one doubly linked list of shoal's runtime. Its nodes are
// objects that already exist (an awaiter's wait node, a call in progress) and
// link themselves through a ListHook member, so joining or leaving a list
// allocates nothing and removing a node is O(1).
//
// Lifetimes: the list owns nothing. A node must leave its list (remove(), or
// clear() of the list) before it is destroyed, and a list must be empty or
// cleared before it is. Not thread-safe: a list belongs to one thread (the
// event loop's), like the coroutines that use it.
#pragma once

#include <cstddef>
#include <iterator>

namespace shoal::detail {

// The links of a node of type T in one list. A T in several lists at once
// holds one hook per list.
template <class T>
struct ListHook {
  T* prev = nullptr;
  T* next = nullptr;
  bool linked = false;  // in a list right now
};

// A list of T linked through the hook `T::*Hook`.
template <class T, ListHook<T> T::*Hook>
class IntrusiveList {
 public:
  IntrusiveList() noexcept = default;
  IntrusiveList(const IntrusiveList&) = delete;
  IntrusiveList& operator=(const IntrusiveList&) = delete;

  bool empty() const noexcept { return head_ == nullptr; }
  T* front() const noexcept { return head_; }
  // The node after n in its list, or null. Read it before removing n to go
  // on walking the list.
  static T* next(const T* n) noexcept { return (n->*Hook).next; }
  static bool linked(const T* n) noexcept { return (n->*Hook).linked; }

  void push_back(T* n) noexcept {
    ListHook<T>& h = n->*Hook;
    h.prev = tail_;
    h.next = nullptr;
    h.linked = true;
    if (tail_ != nullptr) {
      (tail_->*Hook).next = n;
    } else {
      head_ = n;
    }
    tail_ = n;
  }

  void push_front(T* n) noexcept {
    ListHook<T>& h = n->*Hook;
    h.prev = nullptr;
    h.next = head_;
    h.linked = true;
    if (head_ != nullptr) {
      (head_->*Hook).prev = n;
    } else {
      tail_ = n;
    }
    head_ = n;
  }

  // Takes n out of this list; n must be linked in it.
  void remove(T* n) noexcept {
    ListHook<T>& h = n->*Hook;
    if (h.prev != nullptr) {
      (h.prev->*Hook).next = h.next;
    } else {
      head_ = h.next;
    }
    if (h.next != nullptr) {
      (h.next->*Hook).prev = h.prev;
    } else {
      tail_ = h.prev;
    }
    h.prev = h.next = nullptr;
    h.linked = false;
  }

  // Removes and returns the first node (the list must not be empty).
  T* pop_front() noexcept {
    T* n = head_;
    remove(n);
    return n;
  }

  // Unlinks every node.
  void clear() noexcept {
    for (T* n = head_; n != nullptr;) {
      ListHook<T>& h = n->*Hook;
      T* after = h.next;
      h.prev = h.next = nullptr;
      h.linked = false;
      n = after;
    }
    head_ = tail_ = nullptr;
  }

  // Front to back. The loop body must not remove the node it stands on (walk
  // with front() and next() for that).
  class iterator {
   public:
    using value_type = T*;
    using difference_type = std::ptrdiff_t;
    iterator() noexcept = default;
    explicit iterator(T* n) noexcept : n_(n) {}
    T* operator*() const noexcept { return n_; }
    iterator& operator++() noexcept {
      n_ = (n_->*Hook).next;
      return *this;
    }
    iterator operator++(int) noexcept {
      iterator before = *this;
      ++*this;
      return before;
    }
    friend bool operator==(const iterator& a, const iterator& b) noexcept { return a.n_ == b.n_; }

   private:
    T* n_ = nullptr;
  };
  iterator begin() const noexcept { return iterator(head_); }
  iterator end() const noexcept { return iterator(); }

 private:
  T* head_ = nullptr;
  T* tail_ = nullptr;
};

}  // namespace shoal::detail
