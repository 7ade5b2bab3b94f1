// Supervisor: watches every process of a session and repairs what a dying one
// leaves behind.
//
// Each process announces itself after claiming its slot; the supervisor opens a
// pidfd for it and learns of its death the moment it happens, however it died.
// An actor's process is watched from its fork on: its fork server reports the
// child's pid (on_forked) before the child has a slot, so a child that dies
// before it joins (killed early, join refused) is a death of its actor like
// any other; a fork that fails (on_spawn_failed) is one too.
// Then, in order: the slot is marked dead (so lock waiters stop waiting for it);
// if it was an actor, the actor is marked restarting or dead; the store repairs
// everything the process held (Store::recover_process), which fails each call
// its actor will never answer with ActorDiedError; ring cells it was writing are
// skipped; actors it owned are killed; finally the slot is freed and, if the
// actor may restart, its fork server is asked for a new incarnation.
#pragma once

#include <poll.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "ipc/process_table.hpp"
#include "launcher/actor_lifecycle.hpp"
#include "launcher/mailbox.hpp"
#include "store/store.hpp"

namespace shoal::launcher {

class Supervisor {
 public:
  struct Options {
    // The driver whose death ends the session (plain sessions); 0 for `shoal launch`.
    pid_t driver_pid = 0;
    ipc::ProcessSlotId driver_slot = ipc::kNoProcess;
    // The fork server living in the supervisor's own process (a plain
    // session's daemon): restarts of the actors it forks are handed to it
    // directly, never through its mailbox (whose queue nobody drains while
    // the supervisor's loop waits on it).
    ipc::ProcessSlotId local_spawner = ipc::kNoProcess;
    void (*local_spawn)(void* ctx, uint32_t actor, uint32_t incarnation) = nullptr;
    void* local_spawn_ctx = nullptr;
  };

  Supervisor(store::Store& store, Mailbox mailbox, Options options);
  ~Supervisor();

  void add_fds(std::vector<pollfd>& fds) const;
  void handle(const std::vector<pollfd>& fds);
  // Periodic work: picks up processes whose announcement was lost.
  void tick();
  // True once the driver died or asked for shutdown.
  bool session_over() const { return over_; }
  // Kills every process of the session but ours and `spare`, then removes the
  // segment.
  void shutdown_session(pid_t spare = 0);
  // A process that left or died; called by the launcher for ranks too.
  void on_death(ipc::ProcessSlotId slot, pid_t pid);
  // A fork server forked incarnation `incarnation` of `actor` as `pid`.
  void on_forked(uint32_t actor, uint32_t incarnation, pid_t pid);
  // A fork server could not fork that incarnation (`error`: an errno value).
  void on_spawn_failed(uint32_t actor, uint32_t incarnation, int error);

 private:
  struct Watched {
    ipc::ProcessSlotId slot;
    pid_t pid;
  };
  // A forked actor process that has not joined yet.
  struct Child {
    uint32_t actor;
    uint32_t incarnation;
    pid_t pid;
  };

  void watch(ipc::ProcessSlotId slot);
  void on_child_death(int fd, Child child);
  // Restart-or-death of the incarnation of `actor` that just ended; returns
  // the incarnation to start, or 0 for none (the actor is dead for good).
  // Whether the fork server that forks actor e's incarnations still runs.
  bool spawner_alive(const ipc::ActorEntry& e) const;
  uint32_t settle_incarnation(uint32_t actor, pid_t pid);
  void restart(uint32_t actor, uint32_t incarnation);
  void declare_dead(uint32_t actor, DeathCause cause, const std::string& message);
  void forget_child(int fd);
  void fail_actor_calls(uint32_t actor);
  bool writer_dead(uint32_t writer) const;
  void fail_result(uint32_t slot);
  void kill_owned_actors(ipc::ProcessSlotId owner);
  // Holds the constructor arguments of detached actor `actor` (entry gen
  // `gen`) for the session, so that a restart after its creator is gone can
  // run the constructor again; released once the actor is gone for good.
  void hold_args(uint32_t actor, uint32_t gen);
  void release_args_of_gone_actors();
  // Gives the request rings of actors dead for good (ipc::dead_entry_settled())
  // back to the heap, so that killed actors leave no store memory behind.
  void release_rings_of_gone_actors();
  void skip_ring_claims(ipc::ProcessSlotId dead);

  store::Store& store_;
  Mailbox mailbox_;
  Options options_;
  std::unordered_map<int, Watched> by_fd_;   // pidfd -> process
  std::vector<int> fd_of_slot_;              // slot -> pidfd, -1 if not watched
  std::unordered_map<int, Child> children_;  // pidfd -> forked, not yet joined
  std::unordered_map<pid_t, int> child_fd_;  // pid -> its pidfd in children_
  struct HeldArgs {
    uint32_t gen;
    store::RefRecord* args;
  };
  std::unordered_map<uint32_t, HeldArgs> held_args_;  // detached actor -> its arguments
  uint64_t last_scan_ns_ = 0;
  int64_t recovering_actor_ = -1;  // the restarting actor whose death is being repaired
  bool over_ = false;
};

// Opens a pidfd for `pid`; -1 if the process is already gone.
int open_pidfd(pid_t pid);

// Whether `pid` is a process of the session of `store` (a store::Store*): a
// live slot of its process table, or the session's creator. What the
// session's mailboxes admit messages acting on the session from.
bool is_session_process(void* store, pid_t pid);

// Fails every call still pending on `actor`, which is dead or restarting
// (stored seq_cst before): each result gets ActorDiedError (WorkerCrashed for
// a worker) with the actor's death notice.
void fail_calls_of(store::Store& store, uint32_t actor);

}  // namespace shoal::launcher
