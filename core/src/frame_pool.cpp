// The coroutine frame pool: every Task's frame comes from here (task.hpp).
// Frames of one size class are kept per thread, so a call that runs the same
// coroutines as the call before allocates nothing from the heap.
#include <cstddef>
#include <cstdint>
#include <new>

#include <shoal/task.hpp>

namespace shoal::detail {

namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kPoolFrames = false;  // let the sanitizers see every frame's lifetime
#else
constexpr bool kPoolFrames = true;
#endif
constexpr size_t kFrameClasses = 64;  // 64-byte classes up to 4 KiB
constexpr uint16_t kFramesPerClass = 256;

// Free frames, linked through their first word. Plain arrays: nothing to
// destroy at thread exit (a few cached frames of an exiting thread leak).
thread_local void* t_free_frames[kFrameClasses];
thread_local uint16_t t_free_count[kFrameClasses];

}  // namespace

void* frame_alloc(std::size_t bytes) {
  const size_t c = (bytes + 63) / 64;
  if (kPoolFrames && c < kFrameClasses && t_free_frames[c] != nullptr) {
    void* f = t_free_frames[c];
    t_free_frames[c] = *static_cast<void**>(f);
    --t_free_count[c];
    return f;
  }
  return ::operator new(c < kFrameClasses ? c * 64 : bytes);
}

void frame_free(void* frame, std::size_t bytes) noexcept {
  const size_t c = (bytes + 63) / 64;
  if (kPoolFrames && c < kFrameClasses && t_free_count[c] < kFramesPerClass) {
    *static_cast<void**>(frame) = t_free_frames[c];
    t_free_frames[c] = frame;
    ++t_free_count[c];
    return;
  }
  ::operator delete(frame);
}

}  // namespace shoal::detail
