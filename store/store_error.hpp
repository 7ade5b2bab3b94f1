// StoreError: every way an operation of store/ can fail. The public API turns
// these into exceptions (ObjectStoreFullError, ...); nothing here throws.
#pragma once

namespace shoal::store {

enum class StoreError {
  kHeapFull,          // no contiguous run of free heap memory of the requested size
  kTableFull,         // every object table entry is in use
  kNotFound,          // the id names no live object: never created, or already freed
  kBadId,             // the id cannot belong to this session (slot out of range, wrong tag)
  kCorrupt,           // a value read from shared memory fails validation
  kTooManyRefs,       // this process holds the maximum number of distinct references
  kTooManyProcesses,  // every process slot of the session is taken
  kSegmentMissing,    // no segment by that name
  kSegmentExists,     // a segment by that name already exists
  kSystem,            // a system call failed; errno says why
  kNoBacking,         // the store's file system has no room for the pages the operation needs
  kTooLarge,          // a single object larger than the whole heap
  kNothingToSpill,    // full, and every object in it is viewed, being read or being written
  kSpillDiskFull,     // full, and the spill directory has no room for what would be spilled
  kSpillFailed,       // full, and the spill file cannot be written or read; errno says why
};

const char* to_string(StoreError error);

}  // namespace shoal::store
