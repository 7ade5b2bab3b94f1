// SessionGate: how an ObjectRef on any thread touches the store while another
// thread may be ending the session (core/src only).
//
// An ObjectRef's copy, release, ready(), id() and == read or write the
// session's shared memory (its record, the object table). Each does so inside
// a Pass. shutdown() closes the gate, waits for the passes in flight to end,
// and only then unmaps the store; a pass that finds the gate closed touches
// nothing, so a ref used after (or while) shutdown() runs is a no-op, never a
// use-after-free. init() opens the gate once the runtime is installed.
//
// Passes are short (a few plain stores and loads, at most one unpin) and never
// block on anything that waits for shutdown().
#pragma once

#include <atomic>
#include <cstdint>

namespace shoal::detail {

class SessionGate {
 public:
  // One thread's passage. While a Pass that is open lives, the store stays
  // mapped and the session's runtime and epoch stay as they were when it
  // opened.
  class Pass {
   public:
    Pass() noexcept;
    ~Pass();
    Pass(const Pass&) = delete;
    Pass& operator=(const Pass&) = delete;
    // False: the gate is closed (no session, or it is ending): touch nothing.
    explicit operator bool() const noexcept { return open_; }

   private:
    std::atomic<uint32_t>* slot_ = nullptr;    // this thread's depth, or
    std::atomic<uint32_t>* stripe_ = nullptr;  // the shared stripe it counts on
    bool open_ = false;
  };

  // The runtime is installed: passes may touch the store from now on.
  static void open() noexcept;
  // Passes touch the store no more. Returns once every pass that found the
  // gate open has ended.
  static void close() noexcept;
  // In the child of a fork() by user code: closes the gate without waiting
  // (the passes of the parent's other threads never end in the child).
  static void close_in_forked_child() noexcept;
};

}  // namespace shoal::detail
