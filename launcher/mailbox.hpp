// Mailbox: a bound datagram socket in the abstract unix namespace, through
// which the processes of a session tell the supervisor and the fork servers
// what happened (a process joined, spawn an actor, shut down). Datagrams are
// small fixed-size Messages.
//
// What blocks: Mailbox::bind and Mailbox::receive never do. send_message may
// sleep while the receiver's queue is full (net.unix.max_dgram_qlen datagrams,
// 10 on a stock kernel): it retries every millisecond for up to about 100 ms,
// then gives up. It holds no lock meanwhile, so other threads' sends go on.
// Every sender accepts that wait, because for each of them a message lost is
// worse than a late one:
//   - join announcements (kJoined): a process that has just claimed its slot,
//     before it does anything else. One lost all the same is found by the
//     supervisor's periodic scan of the process table (Supervisor::tick).
//   - spawn requests (kSpawn): the thread creating an actor, and the
//     supervisor restarting one (its loop waits meanwhile). A request not
//     delivered leaves the actor dead. In a plain session's daemon the fork
//     server shares the supervisor's loop, so a restart request to a full
//     queue fails without the wait helping.
//   - kActorGone: shoal::kill() of an actor that has no process yet; nothing
//     else would fail its pending calls.
//   - shutdown (kShutdown): end_session(), which waits for the helper process
//     to exit afterwards anyway (and kills it if it does not); the launcher,
//     ending a job, to the fork servers that outlived their ranks.
//   - kOwnerLeaving: a rank's end_session(), which waits (briefly) for the
//     supervisor to end the actors it created, and then exits.
//   - kHoldArgs: the thread creating a detached actor, which waits (briefly)
//     for the supervisor to hold the actor's constructor arguments.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "ipc/process_table.hpp"

namespace shoal::launcher {

enum class MessageType : uint32_t {
  kJoined = 1,     // a = process slot, pid: a process claimed a slot (to the supervisor)
  kShutdown = 2,   // end the session (to the supervisor)
  kSpawn = 3,      // a = actor index, b = incarnation (to a fork server)
  kActorGone = 4,  // a = actor index: killed before it had a process (to the supervisor)
  // A rank is ending while actors its fork server forked are to outlive it
  // (detached ones, and those whose creators live on). To the supervisor
  // (a = the rank's process slot): end the actors the rank created, as at a
  // death. Then to the rank's fork server: serve the others until none is
  // left or the session ends.
  kOwnerLeaving = 5,
  // a = actor index, b = its entry's gen: hold the detached actor's
  // constructor arguments for as long as it may restart (to the supervisor,
  // which sets the entry's args_held once it does).
  kHoldArgs = 6,
  // a = actor index, b = incarnation, pid = the child: a fork server forked it
  // (to the supervisor, which watches the child from then on).
  kForked = 10,
  // a = actor index, b = incarnation, pid = errno: a fork server could not
  // fork it (to the supervisor).
  kSpawnFailed = 11,
};

struct Message {
  MessageType type;
  uint32_t a = 0;
  uint32_t b = 0;
  int32_t pid = 0;
};

// Who may send what. Every datagram carries its sender's kernel-verified
// credentials (SO_PASSCRED / SCM_CREDENTIALS): only the session's user is
// obeyed, and for the messages that act on the session (joined, shutdown,
// spawn, actor gone, forked, spawn failed) only the session's own processes,
// as `is_member` says. The name of a mailbox is no access control: anyone can
// compute it. The rest is dropped and counted.
bool acts_on_session(MessageType type);

class Mailbox {
 public:
  Mailbox() = default;
  Mailbox(Mailbox&& o) noexcept
      : fd_(o.fd_), is_member_(o.is_member_), member_ctx_(o.member_ctx_), dropped_(o.dropped_) {
    o.fd_ = -1;
  }
  Mailbox& operator=(Mailbox&& o) noexcept;
  ~Mailbox();

  // Binds `name`; nullopt (errno set) if it is taken or sockets fail.
  static std::optional<Mailbox> bind(const std::string& name);
  int fd() const { return fd_; }
  // The next message obeyed, if one is waiting; never blocks. Messages from
  // another user, of an unknown size, or acting on the session from a process
  // outside it are dropped on the way (dropped() counts them).
  // `sender`, if given, receives the sender's pid as the kernel vouches for it.
  std::optional<Message> receive(pid_t* sender = nullptr);
  // Whether `pid` is a process of the session (the table, or its creator);
  // until set, only the user is checked.
  void admit(bool (*is_member)(void* ctx, pid_t pid), void* ctx) {
    is_member_ = is_member;
    member_ctx_ = ctx;
  }
  uint64_t dropped() const { return dropped_; }
  void close();

 private:
  int fd_ = -1;
  bool (*is_member_)(void* ctx, pid_t pid) = nullptr;
  void* member_ctx_ = nullptr;
  uint64_t dropped_ = 0;
};

// Sends `m` to the mailbox `name`, waiting up to about 100 ms while its queue
// is full (see above); false if nobody is bound there, the queue stayed full,
// or no socket could be opened. Safe from any thread, and in a forked child.
bool send_message(const std::string& name, const Message& m);
// As above, waiting up to `patience_ms` while the queue is full: for a sender
// that may wait longer than 100 ms and must not lose the message (a thread
// creating an actor, while the fork server forks a burst of others).
bool send_message(const std::string& name, const Message& m, int patience_ms);

std::string supervisor_mailbox(uint64_t session_tag);
std::string fork_server_mailbox(uint64_t session_tag, ipc::ProcessSlotId owner);

}  // namespace shoal::launcher
