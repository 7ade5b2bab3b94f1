// ErrorPayload: the body of an error object (Codec::kError), the result of a
// call that failed. Written by actors, workers and the supervisor; read by
// get()/co_await, which rethrow it as the matching shoal exception.
//
// Encoding: [u32 kind][i32 pid] then four strings, each [u32 length][bytes]:
// exception type, message, actor class, method.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "ipc/process_table.hpp"
#include "ipc/result.hpp"
#include "store/store_error.hpp"

namespace shoal::store {

class Store;

enum class ErrorKind : uint32_t {
  kTask = 1,           // the method or function threw
  kActorDied = 2,      // the actor's process died / was killed / exited
  kCancelled = 3,      // cancel()
  kWorkerCrashed = 4,  // the worker running a task died
  kStoreFull = 5,      // the result did not fit in the store
  kObjectLost = 6,     // the object's writer vanished before sealing it
};

struct ErrorPayload {
  ErrorKind kind = ErrorKind::kTask;
  pid_t pid = 0;
  std::string exception_type;
  std::string message;
  std::string actor_class;
  std::string method;
};

std::string encode_error(const ErrorPayload& e);
bool decode_error(const std::byte* data, size_t size, ErrorPayload* out);

// Writes `e` into entry `slot` (claimed, kWriting) and seals it.
Result<void, StoreError> seal_error(Store& store, uint32_t slot, const ErrorPayload& e);

}  // namespace shoal::store
