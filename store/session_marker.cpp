#include "store/session_marker.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>

namespace shoal::store {

std::string SessionMarker::path(const std::string& name) {
  return std::string(kMarkerDir) + "/" + name;
}

Result<void, StoreError> SessionMarker::write(const std::string& name,
                                              const SessionMarker& marker) {
  if (name.empty() || name.find('/') != std::string::npos) return fail(StoreError::kSystem);
  const int fd =
      ::open(path(name).c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return fail(errno == EEXIST ? StoreError::kSegmentExists : StoreError::kSystem);
  ::fchmod(fd, 0600);  // whatever the umask
  const ssize_t n = ::pwrite(fd, &marker, sizeof(marker), 0);
  const int saved = errno;
  ::close(fd);
  if (n != ssize_t(sizeof(marker))) {
    ::unlink(path(name).c_str());
    errno = n < 0 ? saved : ENOSPC;
    return fail(errno == ENOSPC ? StoreError::kNoBacking : StoreError::kSystem);
  }
  return {};
}

Result<SessionMarker, StoreError> SessionMarker::read(const std::string& name) {
  if (name.empty() || name.find('/') != std::string::npos) return fail(StoreError::kSegmentMissing);
  const int fd = ::open(path(name).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return fail(errno == ENOENT ? StoreError::kSegmentMissing : StoreError::kSystem);
  SessionMarker m{};
  const ssize_t n = ::pread(fd, &m, sizeof(m), 0);
  ::close(fd);
  if (n != ssize_t(sizeof(m)) || m.magic != kMarkerMagic || m.version != kMarkerVersion ||
      m.store_fd < 0) {
    return fail(StoreError::kCorrupt);
  }
  m.store_dir[sizeof(m.store_dir) - 1] = '\0';
  m.spill_dir[sizeof(m.spill_dir) - 1] = '\0';
  return m;
}

bool SessionMarker::set_holder(const std::string& name, int index, pid_t pid) {
  if (index < 0 || index >= kMarkerHolders) return false;
  const int fd = ::open(path(name).c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return false;
  const int32_t v = pid;
  const off_t at = off_t(offsetof(SessionMarker, holders) + sizeof(int32_t) * size_t(index));
  const bool ok = ::pwrite(fd, &v, sizeof(v), at) == ssize_t(sizeof(v));
  ::close(fd);
  return ok;
}

bool SessionMarker::remove(const std::string& name) {
  if (name.empty() || name.find('/') != std::string::npos) return false;
  return ::unlink(path(name).c_str()) == 0;
}

}  // namespace shoal::store
