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
  }
  return "unknown store error";
}

}  // namespace shoal::store
