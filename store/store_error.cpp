#include "store/store_error.hpp"

namespace shoal::store {

const char* to_string(StoreError error) {
  switch (error) {
    case StoreError::kHeapFull:
      return "object store heap is full";
    case StoreError::kTableFull:
      return "object table is full";
    case StoreError::kNotFound:
      return "no such object (never created, or already freed)";
    case StoreError::kBadId:
      return "object id does not belong to this session";
    case StoreError::kCorrupt:
      return "shared memory segment is corrupt";
    case StoreError::kTooManyRefs:
      return "this process holds too many object references";
    case StoreError::kTooManyProcesses:
      return "too many processes attached to the session";
    case StoreError::kSegmentMissing:
      return "session segment does not exist";
    case StoreError::kSegmentExists:
      return "session segment already exists";
    case StoreError::kSystem:
      return "system call failed";
    case StoreError::kNoBacking:
      return "the store's file system is full (no memory behind the pages needed)";
    case StoreError::kTooLarge:
      return "the object is larger than the whole object store";
    case StoreError::kNothingToSpill:
      return "the object store is full and every object in it is viewed, read or written";
    case StoreError::kSpillDiskFull:
      return "the object store is full and its spill directory has no room left";
    case StoreError::kSpillFailed:
      return "the object store is full and its spill file cannot be written or read";
  }
  return "unknown store error";
}

}  // namespace shoal::store
