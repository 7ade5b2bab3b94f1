// Sessions: init() and shutdown(), the runtime they install and remove, and
// the runtime of a freshly forked actor process.
#include <pthread.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <mutex>

#include <shoal/errors.hpp>
#include <shoal/session.hpp>

#include "core/src/node_identity.hpp"
#include "core/src/runtime.hpp"
#include "core/src/session_gate.hpp"
#include "core/src/watcher.hpp"
#include "launcher/actor_lifecycle.hpp"
#include "launcher/fork_server.hpp"
#include "launcher/session_timeline.hpp"
#include "launcher/store_plan.hpp"

namespace shoal {

namespace detail {

std::atomic<uint32_t> g_epoch{1};

std::atomic<Runtime*> g_runtime{nullptr};

// The runtime a user's fork() child abandoned (see
// forget_session_in_forked_child()). External, so the store to it stays.
Runtime* g_forgotten_runtime = nullptr;

namespace {

// Serialises init() and shutdown() (also when they race on two threads).
// Constant-initialised and trivially destructible: usable at exit.
std::mutex g_session_mu;

int online_cores() {
  const long cores = ::sysconf(_SC_NPROCESSORS_ONLN);
  return cores > 0 ? int(cores) : 1;
}

// Makes `rt` the runtime: refs made from now on belong to a new epoch, and
// refs may touch the store.
void install(Runtime* rt) {
  // release: pairs with the acquire load in runtime_or_null() (runtime.hpp).
  g_runtime.store(rt, std::memory_order_release);
  // relaxed: SessionGate::open() publishes it to refs on other threads; any
  // other use of the session comes after init() returns.
  g_epoch.fetch_add(1, std::memory_order_relaxed);
  SessionGate::open();
}

// The child of a fork() by user code while a session runs is no member of
// it: it has no process slot, so its refs must not touch the store (they
// would corrupt the parent's reference records), and its exit must not end
// the parent's session. shoal's own forks (the session daemon, fork servers,
// actor processes) all happen where no runtime is installed: init() forks
// before it installs one, fork servers never have one. So a fork with a
// runtime installed is a user's, and its child forgets the session: refs
// become inert, is_initialized() is false, shutdown() does nothing. The
// runtime is left as it is (its threads do not exist in the child, and its
// destructors would touch the parent's session).
void forget_session_in_forked_child() {
  Runtime* rt = g_runtime.load(std::memory_order_relaxed);
  if (rt == nullptr) return;  // one of shoal's forks
  SessionGate::close_in_forked_child();
  // Kept reachable, so that a leak checker at the child's exit counts it as
  // held, not lost.
  g_forgotten_runtime = rt;
  // relaxed: the child has one thread, this one.
  g_epoch.fetch_add(1, std::memory_order_relaxed);
  g_runtime.store(nullptr, std::memory_order_relaxed);
}

}  // namespace

void throw_no_runtime() {
  throw UsageError("shoal::init() has not been called (or shutdown() has)");
}

void install_actor_runtime(store::Store& store, uint32_t index) {
  auto* rt = new Runtime;  // the fork server had none: it was forked inside init()
  rt->store = &store;
  const ipc::ActorEntry& e = store.actor(index);
  rt->role = e.kind == uint32_t(launcher::ActorKind::kWorker) ? Role::kWorker : Role::kActor;
  rt->actor_index = index;
  rt->spawner = e.spawner;
  rt->session.world_size = store.header().world_size > 0 ? store.header().world_size : 1;
  settle_node_identity(false);
  rt->num_workers = online_cores();
  install(rt);
}

// The node server's life (launcher::kNodeServerEnv): it offers its fork
// server for the actors other nodes create here, then waits, never returning
// to the program, until the launcher ends it with the job.
[[noreturn]] void serve_as_node_server() {
  store::Store& s = *runtime().store;
  // release: pairs with the gateway's acquire load before it starts an
  // actor here; our fork server was bound and forked before.
  s.header().node_spawner.store(uint32_t(s.me()) + 1, std::memory_order_release);
  std::fflush(nullptr);
  for (;;)
    ::pause();
}

}  // namespace detail

void init(const Config& config) {
  std::lock_guard<std::mutex> lock(detail::g_session_mu);
  if (detail::runtime_or_null() != nullptr) return;
  // The fork server forked below runs actors through this.
  launcher::set_actor_main(&detail::actor_main);
  auto rt = std::make_unique<detail::Runtime>();
  if (std::getenv(launcher::kSessionEnv) != nullptr) {
    auto session = launcher::join_launch_session(config.prefault);
    if (!session) throw Error("shoal::init: " + session.error());
    rt->session = std::move(*session);
    rt->role = detail::Role::kRank;
  } else {
    detail::check_plain_session_environment();
    auto plan = launcher::plan_store(config.store_bytes, "Config::store_bytes", config.store_dir,
                                     config.spill_dir, config.spill);
    if (!plan) throw Error("shoal::init: " + plan.error());
    auto session = launcher::create_session(*plan, config.prefault,
                                            launcher::timeline_wanted(config.timeline));
    if (!session) throw Error("shoal::init: " + session.error());
    rt->session = std::move(*session);
    rt->role = detail::Role::kDriver;
  }
  rt->store = rt->session.store.get();
  rt->spawner = rt->store->me();
  detail::settle_node_identity(rt->role == detail::Role::kRank);
  rt->num_workers = config.num_workers > 0 ? config.num_workers : detail::online_cores();
  detail::install(rt.release());
  static std::once_flag at_exit;
  std::call_once(at_exit, [] {
    std::atexit([] { shutdown(); });
    ::pthread_atfork(nullptr, nullptr, &detail::forget_session_in_forked_child);
  });
  if (std::getenv(launcher::kNodeServerEnv) != nullptr &&
      detail::runtime_or_null()->role == detail::Role::kRank) {
    detail::serve_as_node_server();
  }
}

void shutdown() {
  std::lock_guard<std::mutex> lock(detail::g_session_mu);
  detail::Runtime* rt = detail::runtime_or_null();
  if (rt == nullptr) return;
  if (rt->role == detail::Role::kActor || rt->role == detail::Role::kWorker) return;
  {
    std::lock_guard<std::mutex> watcher_lock(rt->watcher_mu);
    rt->watcher.reset();
  }
  {
    std::lock_guard<std::mutex> created_lock(rt->created_mu);
    rt->ctor_args.clear();
  }
  // From here on ObjectRefs of this session are inert: once the gate is
  // closed no copy or release touches the store, and those in flight on
  // other threads have ended.
  detail::SessionGate::close();
  // relaxed: no pass reads the epoch until the gate opens again (which
  // publishes it); this thread sees it in program order.
  detail::g_epoch.fetch_add(1, std::memory_order_relaxed);
  // release: pairs with the acquire load in runtime_or_null() (runtime.hpp).
  detail::g_runtime.store(nullptr, std::memory_order_release);
  launcher::end_session(rt->session);
  delete rt;
}

int rank() {
  detail::Runtime* rt = detail::runtime_or_null();
  return rt ? rt->session.rank : 0;
}

int world_size() {
  detail::Runtime* rt = detail::runtime_or_null();
  return rt ? rt->session.world_size : 1;
}

bool is_initialized() {
  return detail::runtime_or_null() != nullptr;
}

}  // namespace shoal
