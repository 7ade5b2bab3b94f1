// init/shutdown, references, put and get: the public API's way into the store.
#include "core/src/runtime.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <thread>

#include <shoal/errors.hpp>
#include <shoal/session.hpp>

#include "core/src/node_identity.hpp"
#include "core/src/sealed_awaiter.hpp"
#include "ipc/spin.hpp"
#include "launcher/actor_lifecycle.hpp"
#include "launcher/fork_server.hpp"
#include "store/error_payload.hpp"

namespace shoal {

namespace detail {

std::atomic<uint32_t> g_epoch{1};

namespace {

Runtime* g_runtime = nullptr;

const bool g_actor_main_installed = (launcher::set_actor_main(&actor_main), true);

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

std::string id_text(const RefRecord* rec) {
  return id_of(rec).to_string();
}

}  // namespace

Runtime* runtime_or_null() noexcept { return g_runtime; }

Runtime& runtime() {
  if (g_runtime == nullptr) throw UsageError("shoal::init() has not been called (or shutdown() has)");
  return *g_runtime;
}

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
    case StoreError::kNotFound:
      throw ObjectNotFoundError(where + ": no such object (never created, or already freed)");
    case StoreError::kBadId:
      throw ObjectNotFoundError(where + ": the object id does not belong to this session");
    case StoreError::kCorrupt:
      throw StoreCorruptError(where + ": the shared-memory store failed validation (corrupt segment)");
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

// ---- references ----

void release_ref(RefRecord* rec) noexcept {
  Runtime* rt = g_runtime;
  if (rt == nullptr || rt->store == nullptr) return;
  rt->store->unpin(rec);
}

RefRecord* pin_id(const ObjectId& id) {
  Runtime& rt = runtime();
  if (id.session() != rt.store->session_tag()) {
    throw ObjectNotFoundError("ObjectRef(" + id.to_string() +
                              "): the id belongs to another session (or is not an id)");
  }
  auto rec = rt.store->pin(id.slot(), id.generation());
  if (!rec) throw_store_error(rec.error(), ("ObjectRef(" + id.to_string() + ")").c_str());
  return *rec;
}

ObjectId id_of(const RefRecord* rec) {
  Runtime* rt = g_runtime;
  return ObjectId(rt ? rt->store->session_tag() : 0, rec->slot, rec->gen);
}

bool is_sealed(const RefRecord* rec) noexcept {
  Runtime* rt = g_runtime;
  return rt != nullptr && rt->store->objects().valid_slot(rec->slot) &&
         rt->store->objects().sealed(rec->slot);
}

void check_live(const RefRecord* rec, uint32_t ref_epoch) {
  if (rec == nullptr) throw UsageError("shoal: use of an empty ObjectRef");
  if (g_runtime == nullptr || ref_epoch != epoch()) {
    throw UsageError("shoal: use of an ObjectRef from a session that has ended");
  }
}

void note_type(uint64_t fp, std::string_view name) {
  if (Runtime* rt = g_runtime) rt->store->types().add(fp, name);
}

// ---- children of containers ----

namespace {
thread_local ChildCollector* t_collector = nullptr;
}

ChildCollector::ChildCollector() : outer_(t_collector) { t_collector = this; }
ChildCollector::~ChildCollector() { t_collector = outer_; }
void ChildCollector::add(uint64_t packed) {
  if (t_collector != nullptr) t_collector->children_.push_back(packed);
}

msgpack::sbuffer& msgpack_scratch() {
  static thread_local msgpack::sbuffer buf;
  return buf;
}

void pack_object_id(const ObjectRefBase& ref, char out[16]) {
  check_live(RefAccess::record(ref), RefAccess::epoch(ref));
  const ObjectId id = ref.id();
  const uint64_t session = id.session();
  const uint32_t slot = id.slot(), gen = id.generation();
  std::memcpy(out, &session, 8);
  std::memcpy(out + 8, &slot, 4);
  std::memcpy(out + 12, &gen, 4);
  ChildCollector::add((uint64_t(slot) << 32) | gen);
}

ObjectId unpack_object_id(const char* data, uint32_t size) {
  if (size != 16) throw_decode_failure("ObjectRef", "an object id is 16 bytes");
  uint64_t session;
  uint32_t slot, gen;
  std::memcpy(&session, data, 8);
  std::memcpy(&slot, data + 8, 4);
  std::memcpy(&gen, data + 12, 4);
  return ObjectId(session, slot, gen);
}

// ---- put ----

RefRecord* put_object(const PutArgs& a) {
  Runtime& rt = runtime();
  store::Store& s = *rt.store;
  auto created = s.create_object(store::ObjectState::kWriting,
                                 store::WriterId::process(s.me()), 0);
  if (!created) throw_store_error(created.error(), "shoal::put", a.size);
  RefRecord* rec = *created;
  const uint32_t slot = rec->slot;
  auto abandon = [&](store::StoreError error, const char* what) {
    // Keep the size: it is what frees a payload block already reserved.
    s.objects().describe(slot, store::Codec::kNone, 0, s.objects().entry(slot).size);
    s.objects().seal(slot, s.me());
    s.unpin(rec);  // the last pin of a sealed object: freed
    throw_store_error(error, what, a.size);
  };
  auto dst = s.objects().reserve_payload(slot, a.size, s.me(), a.align <= 16);
  if (!dst) abandon(dst.error(), "shoal::put");
  if (a.size != 0) std::memcpy(*dst, a.data, a.size);
  s.objects().describe(slot, store::Codec(a.codec), a.type_fp, a.size);
  if (a.child_count != 0) {
    auto r = s.objects().set_children(slot, a.children, a.child_count, s.me());
    if (!r) abandon(r.error(), "shoal::put (an ObjectRef inside the value)");
  }
  s.objects().seal(slot, s.me());
  return rec;
}

// ---- get ----

void check_blocking_allowed(const char* operation) {
  EventLoop* loop = EventLoop::current();
  if (loop != nullptr && loop->forbid_blocking()) {
    throw EventLoopBlockedError(std::string(operation) +
                                " would block the event loop of an async actor; "
                                "use co_await on the ObjectRef instead");
  }
}

ObjectBytes read_sealed(const RefRecord* rec) {
  Runtime& rt = runtime();
  auto v = rt.store->objects().read(rec->slot);
  if (!v) throw_store_error(v.error(), ("reading object " + id_text(rec)).c_str());
  if (v->codec == store::Codec::kError) throw_error_object(v->data, v->size);
  return ObjectBytes{CodecKind(v->codec), v->type_fp, v->data, v->size};
}

ObjectBytes wait_and_read(const RefRecord* rec, std::optional<std::chrono::nanoseconds> timeout) {
  Runtime& rt = runtime();
  check_blocking_allowed("shoal::get");
  store::Store& s = *rt.store;
  if (!s.objects().sealed(rec->slot)) {
    uint64_t deadline = 0;
    if (timeout) {
      const int64_t t = timeout->count() > 0 ? timeout->count() : 0;
      deadline = ipc::now_ns() + uint64_t(t);
      if (deadline == 0) deadline = 1;
    }
    switch (s.wait_sealed(rec->slot, rec->gen, deadline, ipc::SpinPolicy::kWaitSpinNs)) {
      case store::Store::Wait::kSealed:
        break;
      case store::Store::Wait::kTimedOut: {
        char buf[64];
        std::snprintf(buf, sizeof(buf), "%.3f ms", double(timeout->count()) / 1e6);
        throw GetTimeoutError("shoal::get: object " + id_text(rec) + " was not ready within " + buf);
      }
      case store::Store::Wait::kCorrupt:
        throw StoreCorruptError("shoal::get: object " + id_text(rec) +
                                " changed under a reference (corrupt segment)");
    }
  }
  return read_sealed(rec);
}

void throw_type_mismatch(uint64_t expected_fp, std::string_view expected_name, uint64_t actual_fp,
                         const RefRecord* rec) {
  (void)expected_fp;
  Runtime& rt = runtime();
  const std::string actual = rt.store->types().lookup(actual_fp);
  throw TypeMismatchError("shoal::get: object " + id_text(rec) + " holds a " + actual +
                              ", not a " + std::string(expected_name),
                          std::string(expected_name), actual);
}

void throw_decode_failure(std::string_view type_name, const char* why) {
  throw Error("shoal: cannot decode a " + std::string(type_name) + ": " + why);
}

uint64_t pins_made() noexcept {
  Runtime* rt = g_runtime;
  return rt != nullptr && rt->store != nullptr ? rt->store->pins_made() : 0;
}

WaitListMemo& wait_list_memo() {
  thread_local WaitListMemo memo;
  return memo;
}

void check_distinct_slots(std::vector<uint32_t> slots) {
  // Refs made one after another usually have slots in rising or falling
  // order: then they are distinct without sorting.
  bool rising = true, falling = true;
  for (size_t i = 1; i < slots.size(); ++i) {
    rising = rising && slots[i] > slots[i - 1];
    falling = falling && slots[i] < slots[i - 1];
  }
  if (rising || falling) return;
  std::sort(slots.begin(), slots.end());
  if (std::adjacent_find(slots.begin(), slots.end()) != slots.end()) {
    throw std::invalid_argument("shoal::wait: the same ObjectRef is listed twice");
  }
}

size_t wait_refs(const std::vector<const RefRecord*>& recs, size_t num_returns,
                 std::optional<std::chrono::nanoseconds> timeout, std::vector<char>& ready) {
  Runtime& rt = runtime();
  check_blocking_allowed("shoal::wait");
  store::Store& s = *rt.store;
  std::vector<uint64_t> packed;
  packed.reserve(recs.size());
  for (const RefRecord* r : recs) packed.push_back((uint64_t(r->slot) << 32) | r->gen);
  uint64_t deadline = 0;
  if (timeout) {
    const int64_t t = timeout->count() > 0 ? timeout->count() : 0;
    deadline = ipc::now_ns() + uint64_t(t);
    if (deadline == 0) deadline = 1;
  }
  if (s.wait_some(packed, num_returns, deadline, ipc::SpinPolicy::kWaitSpinNs) == store::Store::Wait::kCorrupt) {
    throw StoreCorruptError("shoal::wait: an object changed under a reference (corrupt segment)");
  }
  ready.assign(recs.size(), 0);
  size_t n = 0;
  for (size_t i = 0; i < recs.size(); ++i) {
    if (s.objects().sealed(recs[i]->slot)) {
      ready[i] = 1;
      ++n;
    }
  }
  return n;
}

// ---- futures: a watcher thread with its own event loop ----

class Watcher {
 public:
  Watcher() {
    thread_ = std::thread([this] {
      EventLoop loop;
      {
        std::lock_guard<std::mutex> lock(mu_);
        loop_ = &loop;
      }
      cv_.notify_all();
      loop.run_until([this] { return stop_.load(std::memory_order_acquire); });
      // The loop may see stop_ while ~Watcher is still inside post(): it
      // lives until post() is done with it.
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return released_; });
    });
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return loop_ != nullptr; });
  }
  ~Watcher() {
    stop_.store(true, std::memory_order_release);
    loop_->post([] {});
    {
      std::lock_guard<std::mutex> lock(mu_);
      released_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void watch(ObjectRefBase ref, std::function<void()> fn) {
    EventLoop* loop = loop_;
    loop->post([loop, ref = std::move(ref), fn = std::move(fn)]() mutable {
      loop->spawn(watch_one(std::move(ref), std::move(fn)), nullptr);
    });
  }

 private:
  static Task<void> watch_one(ObjectRefBase ref, std::function<void()> fn) {
    co_await SealedAwaiter(ref);
    fn();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  EventLoop* loop_ = nullptr;
  std::atomic<bool> stop_{false};
  bool released_ = false;  // mu_: ~Watcher no longer touches the loop
  std::thread thread_;
};

void when_sealed(const ObjectRefBase& ref, std::function<void()> fn) {
  Runtime& rt = runtime();
  std::lock_guard<std::mutex> lock(rt.watcher_mu);
  if (!rt.watcher) rt.watcher = std::make_unique<Watcher>();
  rt.watcher->watch(ref, std::move(fn));
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
  const long cores = ::sysconf(_SC_NPROCESSORS_ONLN);
  rt->num_workers = cores > 0 ? int(cores) : 1;
  g_runtime = rt;
  g_epoch.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace detail

// ---- sessions ----

void init(const Config& config) {
  using detail::g_runtime;
  if (g_runtime != nullptr) return;
  auto rt = std::make_unique<detail::Runtime>();
  if (std::getenv(launcher::kSessionEnv) != nullptr) {
    auto session = launcher::join_launch_session(config.prefault);
    if (!session) throw Error("shoal::init: " + session.error());
    rt->session = std::move(*session);
    rt->role = detail::Role::kRank;
  } else {
    detail::check_plain_session_environment();
    const uint64_t bytes =
        config.store_bytes != 0 ? config.store_bytes : launcher::default_store_bytes();
    auto session = launcher::create_session(bytes, config.prefault);
    if (!session) throw Error("shoal::init: " + session.error());
    rt->session = std::move(*session);
    rt->role = detail::Role::kDriver;
  }
  rt->store = rt->session.store.get();
  rt->spawner = rt->store->me();
  detail::settle_node_identity(rt->role == detail::Role::kRank);
  const long cores = ::sysconf(_SC_NPROCESSORS_ONLN);
  rt->num_workers = config.num_workers > 0 ? config.num_workers : (cores > 0 ? int(cores) : 1);
  g_runtime = rt.release();
  detail::g_epoch.fetch_add(1, std::memory_order_relaxed);
  static const bool at_exit = (std::atexit([] { shutdown(); }), true);
  (void)at_exit;
  (void)detail::g_actor_main_installed;
}

void shutdown() {
  using detail::g_runtime;
  detail::Runtime* rt = g_runtime;
  if (rt == nullptr) return;
  if (rt->role == detail::Role::kActor || rt->role == detail::Role::kWorker) return;
  {
    std::lock_guard<std::mutex> lock(rt->watcher_mu);
    rt->watcher.reset();
  }
  rt->ctor_args.clear();
  // From here on ObjectRefs of this session are inert.
  detail::g_epoch.fetch_add(1, std::memory_order_relaxed);
  launcher::end_session(rt->session);
  g_runtime = nullptr;
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

bool is_initialized() { return detail::runtime_or_null() != nullptr; }

}  // namespace shoal
