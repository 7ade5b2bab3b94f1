// The store's errors, and the error objects of failed calls, as the public
// API's exceptions.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include <shoal/errors.hpp>

#include "core/src/runtime.hpp"
#include "store/error_payload.hpp"

namespace shoal::detail {

namespace {

std::string format_bytes(uint64_t b) {
  char buf[48];
  if (b >= (1ull << 30)) {
    std::snprintf(buf, sizeof(buf), "%.2f GiB", double(b) / double(1ull << 30));
  } else if (b >= (1ull << 20)) {
    std::snprintf(buf, sizeof(buf), "%.2f MiB", double(b) / double(1ull << 20));
  } else {
    std::snprintf(buf, sizeof(buf), "%llu bytes", static_cast<unsigned long long>(b));
  }
  return buf;
}

}  // namespace

void throw_store_error(store::StoreError error, const char* what, uint64_t requested) {
  using store::StoreError;
  const std::string where = what;
  switch (error) {
    case StoreError::kHeapFull:
    case StoreError::kTableFull: {
      Runtime& rt = runtime();
      const uint64_t cap = rt.store->heap().capacity();
      const uint64_t used = rt.store->heap().used();
      const uint64_t free = cap > used ? cap - used : 0;
      std::string msg = where + ": object store full: ";
      if (error == StoreError::kTableFull) {
        msg += "every one of its " + std::to_string(rt.store->objects().size()) +
               " object table entries is in use";
      } else {
        msg += "needs " + format_bytes(requested) + " in one piece, " + format_bytes(free) +
               " free of " + format_bytes(cap);
      }
      throw ObjectStoreFullError(msg, requested, free);
    }
    case StoreError::kNoBacking: {
      Runtime& rt = runtime();
      const uint64_t cap = rt.store->heap().capacity();
      const uint64_t used = rt.store->heap().used();
      const uint64_t free = cap > used ? cap - used : 0;
      throw ObjectStoreFullError(
          where + ": object store full: its directory " + rt.store->segment().dir() +
              " has no room left for the store's memory (another program filled it; " +
              format_bytes(free) + " of the store are free but have no memory behind them)",
          requested, 0);
    }
    case StoreError::kTooLarge:
    case StoreError::kNothingToSpill:
    case StoreError::kSpillDiskFull:
    case StoreError::kSpillFailed: {
      const int saved_errno = errno;
      Runtime& rt = runtime();
      const uint64_t cap = rt.store->heap().capacity();
      const uint64_t used = rt.store->heap().used();
      const uint64_t free = cap > used ? cap - used : 0;
      const std::string& spill = rt.store->spill_file().path();
      const std::string spill_dir = spill.substr(0, spill.rfind('/'));
      std::string msg = where + ": object store full: ";
      if (error == StoreError::kTooLarge) {
        msg += "needs " + format_bytes(requested) + " in one piece, " + format_bytes(free) +
               " free of " + format_bytes(cap) +
               ": the object is larger than the whole store, so no spilling can make room; give "
               "the store more memory (SHOAL_STORE_BYTES, Config::store_bytes, shoal launch "
               "--store-size)";
      } else if (error == StoreError::kNothingToSpill) {
        msg += "needs " + format_bytes(requested) + ", " + format_bytes(free) + " free of " +
               format_bytes(cap) +
               ", and every object in it is pinned by a View, being read or being written, so "
               "nothing can be spilled to make room";
      } else if (error == StoreError::kSpillDiskFull) {
        msg += "needs " + format_bytes(requested) +
               ", and the spill disk is full: the spill directory " + spill_dir +
               " has no room left for the objects that would be spilled (set SHOAL_SPILL_DIR or "
               "Config::spill_dir to a directory with more space)";
      } else {
        msg += "needs " + format_bytes(requested) + ", and the spill file " + spill +
               " cannot be written or read (" + std::strerror(saved_errno) + ")";
      }
      throw ObjectStoreFullError(msg, requested, free);
    }
    case StoreError::kNotFound:
      throw ObjectNotFoundError(where + ": no such object (never created, or already freed)");
    case StoreError::kBadId:
      throw ObjectNotFoundError(where + ": the object id does not belong to this session");
    case StoreError::kCorrupt:
      throw StoreCorruptError(where +
                              ": the shared-memory store failed validation (corrupt segment)");
    case StoreError::kTooManyRefs:
      throw Error(where + ": this process holds too many object references (2^20)");
    default:
      throw Error(where + ": " + store::to_string(error));
  }
}

void throw_error_object(const std::byte* data, size_t size) {
  store::ErrorPayload e;
  if (!store::decode_error(data, size, &e)) {
    throw Error("shoal: the call failed, and its error could not be stored (object store full?)");
  }
  const std::string where =
      e.actor_class.empty() ? e.method : e.actor_class + (e.method.empty() ? "" : "." + e.method);
  switch (e.kind) {
    case store::ErrorKind::kTask:
      throw TaskError(where + " (pid=" + std::to_string(e.pid) + ") raised " + e.exception_type +
                          ": " + e.message,
                      e.exception_type, e.message, e.actor_class, e.method, e.pid);
    case store::ErrorKind::kActorDied:
      throw ActorDiedError(e.message, e.actor_class, e.pid);
    case store::ErrorKind::kCancelled:
      throw TaskCancelledError(e.message.empty() ? where + " was cancelled" : e.message);
    case store::ErrorKind::kWorkerCrashed:
      throw WorkerCrashedError(e.message);
    case store::ErrorKind::kStoreFull:
      throw ObjectStoreFullError(e.message, 0, 0);
    case store::ErrorKind::kObjectLost:
      throw ObjectNotFoundError(e.message);
  }
  throw Error(e.message);
}

}  // namespace shoal::detail
