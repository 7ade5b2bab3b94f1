// Session: starting, joining and ending a session's processes.
//
// A plain driver creates the segment and forks one helper process, the session
// daemon, which is both the supervisor and the driver's fork server. Inside
// `shoal launch` the launcher is the supervisor, and each rank forks its own
// fork server. Either way the fork happens in init(), while the program is
// single-threaded.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "ipc/process_table.hpp"
#include "ipc/result.hpp"
#include "launcher/helper_watch.hpp"
#include "launcher/prefaulter.hpp"
#include "launcher/spill_thread.hpp"
#include "launcher/store_plan.hpp"
#include "store/store.hpp"

namespace shoal::launcher {

struct Session {
  std::unique_ptr<store::Store> store;
  int rank = 0;
  int world_size = 1;
  bool owner = false;    // created the segment (a plain driver)
  pid_t helper_pid = 0;  // the session daemon, or this rank's fork server
  std::unique_ptr<Prefaulter> prefaulter;
  std::unique_ptr<SpillThread> spiller;       // in the session's first process only
  std::unique_ptr<HelperWatch> helper_watch;  // a plain driver's watch on its daemon
};

// Environment of a `shoal launch` rank.
inline constexpr const char* kSessionEnv = "SHOAL_SESSION";
inline constexpr const char* kRankEnv = "SHOAL_RANK";
inline constexpr const char* kWorldEnv = "SHOAL_WORLD_SIZE";
// The store's descriptor, inherited across the rank's exec (the store file
// has no name). Read once by init(), then unset.
inline constexpr const char* kStoreFdEnv = "SHOAL_STORE_FD";
// The rank's fork server writes its actors' prefixed stdout lines to this fd
// and their stderr lines to the other: pipes to the launcher, which folds the
// lines several actors of the job print (LogDeduplicator) and writes them on.
inline constexpr const char* kLogFdEnv = "SHOAL_LOG_FD";
inline constexpr const char* kLogErrFdEnv = "SHOAL_LOG_ERR_FD";
// A rank of a multi-node job (`mpirun -n K shoal launch -n N`): SHOAL_RANK is
// global (node * N + local rank), SHOAL_WORLD_SIZE is K * N, and these say
// where it is. Set by the node's launcher; absent on one machine.
inline constexpr const char* kNodeEnv = "SHOAL_NODE";
inline constexpr const char* kNumNodesEnv = "SHOAL_NUM_NODES";
inline constexpr const char* kLocalRankEnv = "SHOAL_LOCAL_RANK";
// Set for a node's node server: one more copy of the job's program that each
// node's launcher starts beside the ranks. Its init() never returns: its fork
// server forks the actors other nodes create on this node (they need the
// program's actor classes), and it waits for the job's end.
inline constexpr const char* kNodeServerEnv = "SHOAL_NODE_SERVER";

// Creates a session with the store `plan` and forks its daemon; with
// `timeline`, its processes record into the session's timeline file. Errors
// are messages.
Result<Session, std::string> create_session(const StorePlan& plan, bool prefault,
                                            bool timeline = false);
// The message for a store that could not be created in `dir`.
std::string store_creation_error(store::StoreError error, const std::string& dir);
// Joins the session of the `shoal launch` that started us.
Result<Session, std::string> join_launch_session(bool prefault);
// Ends our part: a driver ends the whole session; a rank stops its fork server
// and leaves.
void end_session(Session& session);

// The daemon of a plain session (runs in the forked child; never returns).
[[noreturn]] void run_daemon(store::Store& store, ipc::ProcessSlotId driver_slot, pid_t driver_pid,
                             class Mailbox supervisor_box, class Mailbox fork_box);

// "2G", "512M", "64k", "1048576" -> bytes (a unit K, M, G or T, any case, may be
// followed by B or iB: "2GiB"); nullopt if malformed or beyond 2^64 - 1.
std::optional<uint64_t> parse_size(const std::string& text);
// 30% of physical memory, the store's size unless the session asks for one
// or its directory cannot hold that much (launcher/store_plan.hpp).
uint64_t default_store_bytes();

}  // namespace shoal::launcher
