#include "launcher/store_plan.hpp"

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "launcher/session.hpp"
#include "store/segment.hpp"
#include "store/store_backing.hpp"

namespace shoal::launcher {

namespace {

std::string bytes_text(uint64_t b) {
  char buf[64];
  if (b >= (1ull << 30)) {
    std::snprintf(buf, sizeof(buf), "%.2f GiB", double(b) / double(1ull << 30));
  } else {
    std::snprintf(buf, sizeof(buf), "%.1f MiB", double(b) / double(1ull << 20));
  }
  return std::string(buf) + " (" + std::to_string(b) + " bytes)";
}

// The size a store of `bytes` really takes (Segment::create rounds it).
uint64_t file_bytes(uint64_t bytes) {
  if (bytes < store::kMinSegmentBytes) bytes = store::kMinSegmentBytes;
  if (bytes > store::kMaxSegmentBytes) bytes = store::kMaxSegmentBytes;
  return (bytes + store::kBackingChunk - 1) / store::kBackingChunk * store::kBackingChunk;
}

std::string too_large(const std::string& dir, uint64_t free_bytes, uint64_t asked,
                      const std::string& origin) {
  return "the object store does not fit in " + dir + ": it has " + bytes_text(free_bytes) +
         " free, and the store needs " + bytes_text(asked) + " (" + origin + ", plus " +
         bytes_text(free_bytes - store_room(free_bytes)) +
         " left free for other files). Give it more room (docker run --shm-size=..., or a "
         "larger tmpfs), ask for a smaller store (SHOAL_STORE_BYTES or Config::store_bytes; "
         "shoal launch --store-size), or put it in another directory (SHOAL_STORE_DIR or "
         "Config::store_dir; shoal launch --store-dir)";
}

// The spill directory ("" for no spilling), created if it does not exist.
Result<std::string, std::string> plan_spill_dir(const std::string& asked, bool spill) {
  if (const char* env = std::getenv(kSpillEnv); env != nullptr && std::string(env) == "0") {
    spill = false;
  }
  if (!spill) return std::string();
  std::string dir = asked;
  if (dir.empty()) {
    const char* env = std::getenv(kSpillDirEnv);
    dir = env != nullptr && *env != '\0' ? env : kDefaultSpillDir;
  }
  while (dir.size() > 1 && dir.back() == '/')
    dir.pop_back();
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT || ::mkdir(dir.c_str(), 0700) != 0 || ::stat(dir.c_str(), &st) != 0) {
      return fail("cannot use the spill directory " + dir + ": " + std::strerror(errno) +
                  " (set by SHOAL_SPILL_DIR or Config::spill_dir)");
    }
  }
  if (!S_ISDIR(st.st_mode)) {
    return fail("the spill directory " + dir +
                " is not a directory (set by SHOAL_SPILL_DIR or Config::spill_dir)");
  }
  return dir;
}

}  // namespace

uint64_t store_room(uint64_t free_bytes) {
  uint64_t margin = free_bytes / kStoreDirMarginDivisor;
  if (margin < kStoreDirMarginBytes) margin = kStoreDirMarginBytes;
  return free_bytes > margin ? free_bytes - margin : 0;
}

Result<StorePlan, std::string> plan_store(uint64_t bytes, const char* bytes_origin,
                                          const std::string& dir, const std::string& spill_dir,
                                          bool spill) {
  StorePlan plan;
  auto spill_plan = plan_spill_dir(spill_dir, spill);
  if (!spill_plan) return fail(spill_plan.error());
  plan.spill_dir = *spill_plan;
  std::string origin = bytes_origin != nullptr ? bytes_origin : "asked for";
  plan.dir = dir;
  if (plan.dir.empty()) {
    const char* env = std::getenv(kStoreDirEnv);
    plan.dir = env != nullptr && *env != '\0' ? env : kDefaultStoreDir;
  }
  while (plan.dir.size() > 1 && plan.dir.back() == '/')
    plan.dir.pop_back();
  struct stat st;
  errno = 0;
  if (::stat(plan.dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return fail("the store directory " + plan.dir + " is not a directory" +
                (errno != 0 ? std::string(" (") + std::strerror(errno) + ")" : std::string()) +
                " (set by SHOAL_STORE_DIR, Config::store_dir or shoal launch --store-dir)");
  }
  struct statvfs vfs;
  if (::statvfs(plan.dir.c_str(), &vfs) != 0) {
    return fail("cannot read the free space of the store directory " + plan.dir + ": " +
                std::strerror(errno));
  }
  const uint64_t free_bytes = uint64_t(vfs.f_bavail) * uint64_t(vfs.f_frsize);
  const uint64_t room = store_room(free_bytes);
  if (bytes == 0) {
    if (const char* env = std::getenv(kStoreBytesEnv); env != nullptr && *env != '\0') {
      auto v = parse_size(env);
      if (!v) {
        return fail(std::string(kStoreBytesEnv) + "='" + env +
                    "' is not a size (e.g. 512M, 2G, 1073741824)");
      }
      bytes = *v;
      origin = kStoreBytesEnv;
    }
  }
  if (bytes != 0) {
    plan.bytes = file_bytes(bytes);
    if (plan.bytes > room) return fail(too_large(plan.dir, free_bytes, plan.bytes, origin));
    return plan;
  }
  uint64_t want = default_store_bytes();
  origin = "the default, 30% of physical memory";
  if (want > room) {
    want = room / store::kBackingChunk * store::kBackingChunk;
    origin = "the default, what " + plan.dir + " can hold";
  }
  if (want < store::kMinSegmentBytes) {
    return fail(
        too_large(plan.dir, free_bytes, store::kMinSegmentBytes, "the smallest store shoal makes"));
  }
  plan.bytes = file_bytes(want);
  return plan;
}

}  // namespace shoal::launcher
