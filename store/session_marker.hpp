// SessionMarker: the small file that names a live session, where tools and
// peers find it: /dev/shm/shoal-<uid>-<pid>-<tag>, mode 0600.
//
// The store itself has no name while the session runs (its memory is gone
// the moment the last process holding it is gone, however they died). The
// marker holds no store memory, only how to reach the store: which processes
// hold its descriptor and at which number (a process of the same user opens
// it again through /proc/<pid>/fd/<n>, which the kernel allows only to whoever
// may inspect that process), the store file's identity (so a reused pid
// cannot hand out some other file), and where the session keeps its files.
// It is removed at the session's end; after a crash it stays, one page, until
// `shoal clean`.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <type_traits>

#include "ipc/result.hpp"
#include "store/store_error.hpp"

namespace shoal::store {

// Markers (and timeline files) live here whatever the store directory is.
inline constexpr const char* kMarkerDir = "/dev/shm";

inline constexpr uint64_t kMarkerMagic = 0x4b524d'4c414f4853ull;  // "SHOALMRK"
inline constexpr uint32_t kMarkerVersion = 1;
inline constexpr int kMarkerHolders = 2;

struct SessionMarker {
  uint64_t magic;
  uint32_t version;
  int32_t store_fd;                 // the descriptor number every holder has the store at
  int32_t holders[kMarkerHolders];  // the creator, then the supervisor (0: none yet)
  uint64_t store_dev;               // st_dev and st_ino of the store file
  uint64_t store_ino;
  uint64_t store_bytes;
  uint64_t created_unix_ns;
  char store_dir[256];  // where the store file is (unnamed)
  char spill_dir[256];  // where the session spills objects ("" for none)

  // The path of the marker of session `name`.
  static std::string path(const std::string& name);
  // Creates the marker of `name` exclusively (mode 0600).
  static Result<void, StoreError> write(const std::string& name, const SessionMarker& marker);
  // Reads and checks it: kSegmentMissing if there is none, kCorrupt if it is
  // not a marker of this version.
  static Result<SessionMarker, StoreError> read(const std::string& name);
  // Records `pid` as holder `index` (the supervisor, once it runs).
  static bool set_holder(const std::string& name, int index, pid_t pid);
  static bool remove(const std::string& name);
};
static_assert(std::is_trivially_copyable_v<SessionMarker>);
static_assert(sizeof(SessionMarker) == 568);

}  // namespace shoal::store
