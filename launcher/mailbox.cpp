#include "launcher/mailbox.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <mutex>

namespace shoal::launcher {

namespace {

socklen_t make_address(const std::string& name, sockaddr_un* addr) {
  std::memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  // Abstract namespace: a leading NUL, no file in the file system.
  const size_t n = name.size() < sizeof(addr->sun_path) - 1 ? name.size() : sizeof(addr->sun_path) - 1;
  std::memcpy(addr->sun_path + 1, name.data(), n);
  return socklen_t(offsetof(sockaddr_un, sun_path) + 1 + n);
}

}  // namespace

Mailbox& Mailbox::operator=(Mailbox&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

Mailbox::~Mailbox() { close(); }

void Mailbox::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

std::optional<Mailbox> Mailbox::bind(const std::string& name) {
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return std::nullopt;
  sockaddr_un addr;
  const socklen_t len = make_address(name, &addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  Mailbox m;
  m.fd_ = fd;
  return m;
}

std::optional<Message> Mailbox::receive() {
  Message m;
  const ssize_t n = ::recv(fd_, &m, sizeof(m), MSG_DONTWAIT);
  if (n != ssize_t(sizeof(m))) return std::nullopt;
  return m;
}

bool send_message(const std::string& name, const Message& m) {
  // One unbound sender socket per process (recreated after a fork).
  static std::mutex mu;
  static int fd = -1;
  static pid_t owner = 0;
  std::lock_guard<std::mutex> lock(mu);
  if (fd < 0 || owner != ::getpid()) {
    if (fd >= 0 && owner == ::getpid()) ::close(fd);
    fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    owner = ::getpid();
    if (fd < 0) return false;
  }
  sockaddr_un addr;
  const socklen_t len = make_address(name, &addr);
  for (int attempt = 0; attempt < 100; ++attempt) {
    const ssize_t n = ::sendto(fd, &m, sizeof(m), MSG_DONTWAIT | MSG_NOSIGNAL,
                               reinterpret_cast<sockaddr*>(&addr), len);
    if (n == ssize_t(sizeof(m))) return true;
    if (errno != EAGAIN && errno != ENOBUFS) return false;
    ::usleep(1000);  // the receiver's queue is full: it drains within milliseconds
  }
  return false;
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
