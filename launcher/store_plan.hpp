// StorePlan: where a new session's store goes and how large it is, checked
// against the room its directory really has before anything is created.
//
// The directory: the one asked for, else SHOAL_STORE_DIR, else /dev/shm. The
// size: the one asked for, else SHOAL_STORE_BYTES, else the smaller of 30% of
// physical memory (as Ray) and what the directory can hold less a margin. A
// size that does not fit, or a directory where not even the smallest store
// fits, is one error message naming the directory, its free bytes, the size
// asked for and the ways out.
#pragma once

#include <cstdint>
#include <string>

#include "ipc/result.hpp"

namespace shoal::launcher {

inline constexpr const char* kStoreDirEnv = "SHOAL_STORE_DIR";
inline constexpr const char* kStoreBytesEnv = "SHOAL_STORE_BYTES";
inline constexpr const char* kDefaultStoreDir = "/dev/shm";
inline constexpr const char* kSpillDirEnv = "SHOAL_SPILL_DIR";
inline constexpr const char* kSpillEnv = "SHOAL_SPILL";
inline constexpr const char* kDefaultSpillDir = "/tmp";

// Room the store leaves free in its directory: the session's marker and
// timeline file (1 MiB per recording thread) live in /dev/shm beside it, and
// so do other programs' small files (semaphores, NCCL, pthread shm). 8 MiB,
// or 1/32 of the free space on a large file system.
inline constexpr uint64_t kStoreDirMarginBytes = 8ull << 20;
inline constexpr uint64_t kStoreDirMarginDivisor = 32;

struct StorePlan {
  std::string dir;
  uint64_t bytes = 0;     // the store file's size
  std::string spill_dir;  // where objects that do not fit are spilled
};

// `bytes` 0: not asked for (then SHOAL_STORE_BYTES, else the default);
// `bytes_origin` names where a non-zero `bytes` came from, for the message
// ("Config::store_bytes", "--store-size"). `dir` "": SHOAL_STORE_DIR, else
// /dev/shm. `spill_dir` "": SHOAL_SPILL_DIR, else /tmp (created if missing);
// no spilling at all (spill_dir "" in the plan) when `spill` is false or
// SHOAL_SPILL=0.
Result<StorePlan, std::string> plan_store(uint64_t bytes, const char* bytes_origin,
                                          const std::string& dir, const std::string& spill_dir = "",
                                          bool spill = true);

// What the store directory can hold for a store: free bytes less the margin.
uint64_t store_room(uint64_t free_bytes);

}  // namespace shoal::launcher
