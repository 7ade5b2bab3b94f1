#include "core/src/call_trace.hpp"

#include <cxxabi.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <typeinfo>
#include <vector>

#include <shoal/errors.hpp>

#include "core/src/actor_process.hpp"
#include "core/src/runtime.hpp"

namespace shoal::detail {

namespace {

inline constexpr uint16_t kStampFlagsOffset = offsetof(CallHeader, flags);

size_t inline_bytes(const CallHeader& h) {
  return (h.flags & kArgsInObject) ? 0 : h.args_len;
}

// Where copy_stamp() keeps the stamp in CallInput::inline_args: where it was in the payload.
size_t stamp_in_args(const CallHeader& h) {
  return stamp_offset(inline_bytes(h)) - sizeof(CallHeader);
}

// The interned names of this process's methods (an actor process serves one class) or task
// functions.
std::vector<uint16_t> intern_method_names(const ActorProcess& a) {
  std::vector<uint16_t> names;
  if (a.worker()) {
    for (uint32_t i = 0;; ++i) {
      const FunctionInfo* f = find_function(i);
      if (f == nullptr) break;
      names.push_back(timeline::intern(f->name));
    }
  } else if (a.cls() != nullptr) {
    for (const MethodInfo& m : a.cls()->methods)
      names.push_back(timeline::intern(m.name));
  }
  return names;
}

// The interned names of the actor's concurrency groups; none (name 0) for an actor with the
// default group alone.
std::vector<uint16_t> intern_group_names(const ActorProcess& a) {
  std::vector<uint16_t> names;
  if (a.group_count() < 2) return names;
  for (uint32_t g = 0; g < a.group_count(); ++g)
    names.push_back(timeline::intern(a.group_name(g)));
  return names;
}

// Both tables are made at the process's first recorded call. A function-local static costs one
// acquire load of its guard once made (std::call_once would set up thread-local state on every
// traced call).
uint16_t method_name(const ActorProcess& a, uint32_t method) {
  static const std::vector<uint16_t> names = intern_method_names(a);
  return method < names.size() ? names[method] : 0;
}

uint16_t group_name(const ActorProcess& a, uint32_t group) {
  static const std::vector<uint16_t> names = intern_group_names(a);
  return group < names.size() ? names[group] : 0;
}

// The outermost call of the coroutine call chain `ctx` belongs to (nullptr for none).
CallContext* root_of(CallContext* ctx) noexcept {
  while (ctx != nullptr && ctx->parent != nullptr)
    ctx = ctx->parent;
  return ctx;
}

// The traced call a pool thread of a threaded actor is running.
thread_local CallTrace* t_thread_trace = nullptr;
// When the last call this thread traced ended (ticks).
thread_local uint64_t t_last_end = 0;

// The traced call running here: the pool thread's, or the root call of the running coroutine.
CallTrace* running_trace() noexcept {
  if (t_thread_trace != nullptr) return t_thread_trace;
  CallContext* root = root_of(current_context());
  return root != nullptr ? root->trace : nullptr;
}

std::string demangle(const char* name) {
  int status = 0;
  char* d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string out = (status == 0 && d) ? d : name;
  std::free(d);
  return out;
}

// The pid of an unstamped call's caller, from its process slot (0 if the slot is not valid).
[[gnu::noinline]] int32_t unstamped_caller_pid(const ActorProcess& actor,
                                               const CallHeader& header) noexcept {
  store::Store& s = actor.store();
  const auto caller = ipc::ProcessSlotId(header.caller);
  if (!s.processes().valid(caller)) return 0;
  // relaxed: a name for the export only.
  return int32_t(ipc::owner_pid(s.processes().slot(caller).owner.load(std::memory_order_relaxed)));
}

// The outcome a call that threw `error` ends with, and the interned type of the error.
[[gnu::noinline]] void classify(const std::exception_ptr& error, timeline::Outcome& outcome,
                                uint16_t& error_type) noexcept {
  try {
    std::rethrow_exception(error);
  } catch (const TaskCancelledError&) {
    outcome = timeline::Outcome::kCancelled;
  } catch (const std::exception& e) {
    outcome = timeline::Outcome::kError;
    error_type = timeline::intern(demangle(typeid(e).name()));
  } catch (...) {
    outcome = timeline::Outcome::kError;
    error_type = timeline::intern("unknown");
  }
}

}  // namespace

void stamp_call(std::byte* payload, size_t inline_bytes) noexcept {
  if (!stamp_fits(inline_bytes)) return;  // no room: no flow arrow
  const CallStamp st{timeline::ticks(), timeline::process_id(), timeline::thread_id()};
  std::memcpy(payload + stamp_offset(inline_bytes), &st, sizeof(st));
  uint16_t flags;
  std::memcpy(&flags, payload + kStampFlagsOffset, sizeof(flags));
  flags |= kCallStamped;
  std::memcpy(payload + kStampFlagsOffset, &flags, sizeof(flags));
}

void copy_stamp(const std::byte* payload, CallInput& in) noexcept {
  const size_t args = inline_bytes(in.header);
  if (!stamp_fits(args)) {
    in.header.flags &= uint16_t(~kCallStamped);
    return;
  }
  std::memcpy(in.inline_args + stamp_in_args(in.header), payload + stamp_offset(args),
              sizeof(CallStamp));
}

void begin_trace(const ActorProcess& actor, const CallInput& in, CallTrace& trace, uint32_t group,
                 bool follows) noexcept {
  trace.actor = &actor;
  trace.recorded = false;
  trace.header = in.header;
  if (in.header.flags & kCallStamped) {
    std::memcpy(&trace.stamp, in.inline_args + stamp_in_args(in.header), sizeof(CallStamp));
  } else {
    trace.stamp = CallStamp{};
  }
  trace.suspended_at = 0;
  trace.method = method_name(actor, in.header.method);
  trace.group = group_name(actor, group);
  const uint64_t previous_end = t_last_end;
  const uint64_t submit = trace.stamp.submit;
  trace.start = follows && submit != 0 && previous_end != 0 ? std::max(submit, previous_end)
                                                            : timeline::ticks();
}

void end_trace(CallTrace& trace, const std::exception_ptr& error) noexcept {
  if (trace.recorded) return;
  trace.recorded = true;
  const uint64_t end = timeline::ticks();
  t_last_end = end;
  const int32_t caller_pid =
      trace.stamp.pid != 0 ? trace.stamp.pid : unstamped_caller_pid(*trace.actor, trace.header);
  timeline::Outcome outcome = timeline::Outcome::kOk;
  uint16_t error_type = 0;
  if (error) [[unlikely]]
    classify(error, outcome, error_type);
  // Built in one piece from values in registers: an event assembled field by field on the
  // stack is read back by wider loads that cannot be forwarded from the narrower stores.
  timeline::record_call(timeline::CallEvent{
      .submit = trace.stamp.submit,
      .start = trace.start,
      .end = end,
      .caller_pid = caller_pid,
      .caller_tid = trace.stamp.tid,
      .result = (uint64_t(trace.header.result_slot) << 32) | trace.header.result_gen,
      .method = trace.method,
      .group = trace.group,
      .error_type = error_type,
      .outcome = outcome,
  });
}

void set_thread_trace(CallTrace* trace) noexcept {
  t_thread_trace = trace;
}

void end_trace_of_result(uint32_t slot, uint32_t gen) noexcept {
  CallTrace* t = running_trace();
  if (t != nullptr && t->header.result_slot == slot && t->header.result_gen == gen) {
    end_trace(*t, nullptr);
  }
}

void end_trace_of_stream() noexcept {
  if (CallTrace* t = running_trace()) end_trace(*t, nullptr);
}

void resume_traced(std::coroutine_handle<> h, CallContext* ctx) {
  CallContext* root = root_of(ctx);
  CallTrace* t = root != nullptr ? root->trace : nullptr;
  if (t == nullptr) {
    h.resume();
    return;
  }
  // A traced root is an intake's call, whose storage outlives this resume
  // (AsyncIntake::give_back() resets it in place, trace included).
  if (t->suspended_at != 0) {
    const uint64_t result = (uint64_t(t->header.result_slot) << 32) | t->header.result_gen;
    timeline::record_suspension(t->method, result, t->suspended_at, timeline::ticks());
    t->suspended_at = 0;
  }
  h.resume();
  if (root->trace == t) t->suspended_at = timeline::ticks();  // not finished: suspended
}

void record_put(uint64_t object, std::string_view type_name, uint64_t bytes,
                uint64_t start) noexcept {
  timeline::record_object(timeline::EventKind::kPut, timeline::intern(type_name), object, bytes,
                          start, timeline::ticks());
}

void record_get(uint64_t object, uint64_t, uint64_t bytes, uint64_t start) noexcept {
  timeline::record_object(timeline::EventKind::kGet, 0, object, bytes, start, timeline::ticks());
}

}  // namespace shoal::detail
