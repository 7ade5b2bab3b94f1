// The session: init() before anything else, shutdown() at the end (also run at
// normal exit). A session is one shared-memory store, a supervisor process and
// the actor and worker processes forked for it.
//
// Lifetimes: everything made in a session (objects, refs, views, actors, handles) belongs to it
// and is meant to be used while it lasts; what is left when it ends is inert (refs) or must not be
// used (views, handles), as each header says.
#pragma once

#include <cstddef>
#include <string>

namespace shoal {

struct Config {
  // Store capacity in bytes. 0: SHOAL_STORE_BYTES if set (K/M/G suffixes),
  // else 30% of physical memory as Ray does, or less if the store directory
  // cannot hold that much.
  std::size_t store_bytes = 0;
  // Fault store pages in ahead of use on a background thread, so puts run at
  // warm-memory speed. init() returns in milliseconds either way.
  bool prefault = true;
  // Worker processes for stateless tasks, started at the first task call.
  // 0: one per core.
  int num_workers = 0;
  // Record every call, large put and get, and actor lifecycle of the session
  // into its timeline file, /dev/shm/<session>.timeline, which `shoal
  // timeline` turns into a trace for Perfetto (kept after the session until
  // `shoal clean`). SHOAL_TIMELINE=1 or 0 overrides. Inside `shoal launch`
  // the launcher decides (`--timeline`).
  bool timeline = false;
  // The directory the store's file goes in (a tmpfs, a hugetlbfs mount, a
  // disk directory). "": SHOAL_STORE_DIR if set, else /dev/shm. init() checks
  // the room it has: the default size shrinks to fit, an explicit one that
  // does not fit is an Error naming the directory, its free bytes and the fixes.
  std::string store_dir;
  // Where objects that do not fit in the store are spilled (Ray's object
  // spilling): the oldest ones nobody is reading go to a file in this
  // directory when a put or a call result needs room (from 80% use on, a
  // background thread starts early), and come back at their next get.
  // "": SHOAL_SPILL_DIR if set, else /tmp. The file is removed with the session.
  std::string spill_dir;
  // false (or SHOAL_SPILL=0): nothing is spilled; a put or result that does
  // not fit is an ObjectStoreFullError at once.
  bool spill = true;
};

// Starts a session, or inside `shoal launch` joins the launcher's. Call it
// first in main(), before any thread starts: it forks the session's helper
// process, and is not thread-safe. Does nothing while a session is running.
// Throws shoal::Error if the store cannot be created.
void init(const Config& config = {});

// Ends the session: kills its actors and workers and removes the store. Every
// ObjectRef still alive becomes inert: copying, destroying, comparing it and
// ready() are safe on any thread while shutdown() runs and after, and do
// nothing (ready() is false, id() throws UsageError); every other use of the
// session (get, put, calls) must have ended before. Idempotent; also runs at
// normal exit.
void shutdown();

// This process's rank in `shoal launch -n N` (0..N-1); 0 outside it. In a job
// of K nodes (`mpirun -n K shoal launch -n N`) it is global: node() * N +
// local_rank(). rank(), world_size(), node(), num_nodes(), local_rank() and
// is_initialized() never throw, with or without a session.
int rank();
// N in `shoal launch -n N` (K * N in a job of K nodes); 1 outside it.
int world_size();

// This process's node in a multi-node job, 0..num_nodes()-1: each MPI process
// of `mpirun -n K shoal launch ...` is one node, with its own session and
// store. 0 outside such a job. Actors and workers are on their creator's node.
int node();
// K in `mpirun -n K shoal launch ...`; 1 outside a multi-node job.
int num_nodes();
// This rank's place among its node's ranks (0..N-1 in `shoal launch -n N`);
// 0 outside `shoal launch` and in actors and workers.
int local_rank();

// True between init() and shutdown().
bool is_initialized();

}  // namespace shoal
