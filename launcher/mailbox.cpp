#include "launcher/mailbox.hpp"

#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace shoal::launcher {

namespace {

// While the receiver's queue is full, send_message retries every millisecond
// for about 100 ms. A receiver polls its mailbox and drains the whole queue
// when it wakes, so a full queue means it is busy for a moment (forking
// actors, repairing a death); 100 ms covers that and is still a wait every
// sender can afford (see mailbox.hpp).
constexpr int kSendAttempts = 100;
constexpr useconds_t kSendPauseUs = 1000;

socklen_t make_address(const std::string& name, sockaddr_un* addr) {
  std::memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  // Abstract namespace: a leading NUL, no file in the file system.
  const size_t n =
      name.size() < sizeof(addr->sun_path) - 1 ? name.size() : sizeof(addr->sun_path) - 1;
  std::memcpy(addr->sun_path + 1, name.data(), n);
  return socklen_t(offsetof(sockaddr_un, sun_path) + 1 + n);
}

}  // namespace

bool acts_on_session(MessageType type) {
  switch (type) {
    case MessageType::kJoined:
    case MessageType::kShutdown:
    case MessageType::kSpawn:
    case MessageType::kActorGone:
    case MessageType::kOwnerLeaving:
    case MessageType::kHoldArgs:
    case MessageType::kForked:
    case MessageType::kSpawnFailed:
      return true;
  }
  return false;  // a request that only reads: the user's check is enough
}

Mailbox& Mailbox::operator=(Mailbox&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = o.fd_;
    is_member_ = o.is_member_;
    member_ctx_ = o.member_ctx_;
    dropped_ = o.dropped_;
    o.fd_ = -1;
  }
  return *this;
}

Mailbox::~Mailbox() {
  close();
}

void Mailbox::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

std::optional<Mailbox> Mailbox::bind(const std::string& name) {
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return std::nullopt;
  sockaddr_un addr;
  const socklen_t len = make_address(name, &addr);
  // Every datagram then carries its sender's credentials, checked by the kernel.
  const int on = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) != 0 ||
      ::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  Mailbox m;
  m.fd_ = fd;
  return m;
}

std::optional<Message> Mailbox::receive(pid_t* sender) {
  for (;;) {
    Message m;
    iovec iov{&m, sizeof(m)};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
    msghdr h{};
    h.msg_iov = &iov;
    h.msg_iovlen = 1;
    h.msg_control = control;
    h.msg_controllen = sizeof(control);
    const ssize_t n = ::recvmsg(fd_, &h, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0) return std::nullopt;  // nothing waiting (or the socket failed)
    const ucred* cred = nullptr;
    for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(&h, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
          c->cmsg_len == CMSG_LEN(sizeof(ucred))) {
        cred = reinterpret_cast<const ucred*>(CMSG_DATA(c));
      }
    }
    const bool obeyed =
        n == ssize_t(sizeof(m)) && (h.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) == 0 &&
        cred != nullptr && cred->uid == ::geteuid() &&
        (!acts_on_session(m.type) || is_member_ == nullptr || is_member_(member_ctx_, cred->pid));
    if (obeyed) {
      if (sender != nullptr) *sender = cred->pid;
      return m;
    }
    ++dropped_;
  }
}

bool send_message(const std::string& name, const Message& m) {
  return send_message(name, m, kSendAttempts * int(kSendPauseUs) / 1000);
}

bool send_message(const std::string& name, const Message& m, int patience_ms) {
  const int attempts = patience_ms * 1000 / int(kSendPauseUs);
  // A socket of its own for every message: messages are rare (a process
  // joining, an actor spawned or killed, the end of a session), and one
  // socket cached per process would need a lock shared by every thread, and a
  // new socket after each fork (a fork server closes every descriptor in the
  // children it forks, so the cached number may name another file there).
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr;
  const socklen_t len = make_address(name, &addr);
  bool sent = false;
  for (int attempt = 0; attempt < attempts;) {
    const ssize_t n = ::sendto(fd, &m, sizeof(m), MSG_DONTWAIT | MSG_NOSIGNAL,
                               reinterpret_cast<sockaddr*>(&addr), len);
    if (n == ssize_t(sizeof(m))) {
      sent = true;
      break;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n >= 0 || (errno != EAGAIN && errno != ENOBUFS)) break;
    ::usleep(kSendPauseUs);  // the receiver's queue is full: it drains within milliseconds
    ++attempt;
  }
  ::close(fd);
  return sent;
}

std::string supervisor_mailbox(uint64_t tag) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "shoal.%016llx.sup", static_cast<unsigned long long>(tag));
  return buf;
}

std::string fork_server_mailbox(uint64_t tag, ipc::ProcessSlotId owner) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "shoal.%016llx.fs.%u", static_cast<unsigned long long>(tag),
                unsigned(owner));
  return buf;
}

}  // namespace shoal::launcher
