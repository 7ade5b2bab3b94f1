// Mailbox: a bound datagram socket in the abstract unix namespace, through
// which the processes of a session tell the supervisor and the fork servers
// what happened (a process joined, spawn an actor, shut down). Datagrams are
// small fixed-size Messages; nothing here blocks.
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
};

struct Message {
  MessageType type;
  uint32_t a = 0;
  uint32_t b = 0;
  int32_t pid = 0;
};

class Mailbox {
 public:
  Mailbox() = default;
  Mailbox(Mailbox&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Mailbox& operator=(Mailbox&& o) noexcept;
  ~Mailbox();

  // Binds `name`; nullopt (errno set) if it is taken or sockets fail.
  static std::optional<Mailbox> bind(const std::string& name);
  int fd() const { return fd_; }
  // The next message, if one is waiting.
  std::optional<Message> receive();
  void close();

 private:
  int fd_ = -1;
};

// Sends `m` to the mailbox `name`; false if nobody is bound there.
bool send_message(const std::string& name, const Message& m);

std::string supervisor_mailbox(uint64_t session_tag);
std::string fork_server_mailbox(uint64_t session_tag, ipc::ProcessSlotId owner);

}  // namespace shoal::launcher
