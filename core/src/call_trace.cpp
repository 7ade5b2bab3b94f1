#include "core/src/call_trace.hpp"

#include <cxxabi.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
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

// Runs `make` once in this process. Once it has run, a call is one acquire load (std::call_once
// sets up thread-local state on every call, also once done: too much for every traced call).
std::mutex g_once_mu;
template <class Make>
void once(std::atomic<bool>& done, Make&& make) {
  // acquire: pairs with the release store below: what make() wrote is visible.
  if (done.load(std::memory_order_acquire)) [[likely]]
    return;
  std::lock_guard<std::mutex> lock(g_once_mu);
  if (done.load(std::memory_order_relaxed)) return;  // relaxed: the mutex orders it
  make();
  done.store(true, std::memory_order_release);  // pairs with the acquire load above
}

// The interned names of this process's methods (an actor process serves
// one class) or task functions, made at its first recorded call.
std::atomic<bool> g_names_made{false};
std::vector<uint16_t> g_names;

uint16_t method_name(const ActorProcess& a, uint32_t method) {
  once(g_names_made, [&] {
    if (a.worker()) {
      for (uint32_t i = 0;; ++i) {
        const FunctionInfo* f = find_function(i);
        if (f == nullptr) break;
        g_names.push_back(timeline::intern(f->name));
      }
    } else if (a.cls() != nullptr) {
      for (const MethodInfo& m : a.cls()->methods)
        g_names.push_back(timeline::intern(m.name));
    }
  });
  return method < g_names.size() ? g_names[method] : 0;
}

// The interned names of the actor's concurrency groups, made at its first recorded call; 0 (no
// name) for an actor with the default group alone.
std::atomic<bool> g_groups_made{false};
std::vector<uint16_t> g_groups;

uint16_t group_name(const ActorProcess& a, uint32_t group) {
  once(g_groups_made, [&] {
    if (a.group_count() < 2) return;
    for (uint32_t g = 0; g < a.group_count(); ++g)
      g_groups.push_back(timeline::intern(a.group_name(g)));
  });
  return group < g_groups.size() ? g_groups[group] : 0;
}

// The traced call a pool thread of a threaded actor is running.
thread_local CallTrace* t_thread_trace = nullptr;
// When the last call this thread traced ended (ticks).
thread_local uint64_t t_last_end = 0;

// The traced call running here: the pool thread's, or the root call of the running coroutine.
CallTrace* running_trace() noexcept {
  if (t_thread_trace != nullptr) return t_thread_trace;
  CallContext* root = current_context();
  while (root != nullptr && root->parent != nullptr)
    root = root->parent;
  return root != nullptr ? root->trace : nullptr;
}

std::string demangle(const char* name) {
  int status = 0;
  char* d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string out = (status == 0 && d) ? d : name;
  std::free(d);
  return out;
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
  trace.start = follows && trace.stamp.submit != 0 && trace.stamp.submit <= previous_end
                    ? previous_end
                    : timeline::ticks();
}

void end_trace(CallTrace& trace, const std::exception_ptr& error) noexcept {
  if (trace.recorded) return;
  trace.recorded = true;
  const ActorProcess& actor = *trace.actor;
  timeline::CallEvent c;
  c.end = timeline::ticks();
  t_last_end = c.end;
  c.start = trace.start;
  c.submit = trace.stamp.submit;
  c.caller_pid = trace.stamp.pid;
  c.caller_tid = trace.stamp.tid;
  if (c.caller_pid == 0) {
    // An unstamped call: its caller's pid from its process slot, without a time.
    store::Store& s = actor.store();
    const auto caller = ipc::ProcessSlotId(trace.header.caller);
    if (s.processes().valid(caller)) {
      // relaxed: a name for the export only.
      c.caller_pid =
          int32_t(ipc::owner_pid(s.processes().slot(caller).owner.load(std::memory_order_relaxed)));
    }
  }
  c.result = (uint64_t(trace.header.result_slot) << 32) | trace.header.result_gen;
  c.method = trace.method;
  c.group = trace.group;
  if (error) {
    try {
      std::rethrow_exception(error);
    } catch (const TaskCancelledError&) {
      c.outcome = timeline::Outcome::kCancelled;
    } catch (const std::exception& e) {
      c.outcome = timeline::Outcome::kError;
      c.error_type = timeline::intern(demangle(typeid(e).name()));
    } catch (...) {
      c.outcome = timeline::Outcome::kError;
      c.error_type = timeline::intern("unknown");
    }
  }
  timeline::record_call(c);
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
  CallContext* root = ctx;
  while (root != nullptr && root->parent != nullptr)
    root = root->parent;
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
