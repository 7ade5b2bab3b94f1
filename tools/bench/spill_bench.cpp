// Object spilling: a working set four times the store, put (the store spills
// to make room) and then read back with get_view (each view restores its
// object), in a session of its own with a 64 MiB store. Beside them, the
// disk's own speed in the same directory and run: plain sequential writes of
// the same bytes, in pieces of the same size.
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include <shoal/shoal.hpp>

#include "launcher/store_plan.hpp"
#include "tools/bench/bench.hpp"
#include "tools/bench/measure.hpp"

namespace shoal::bench {
namespace {

constexpr size_t kStoreBytes = size_t(64) << 20;
constexpr size_t kObjectBytes = size_t(8) << 20;
constexpr size_t kObjects = 4 * kStoreBytes / kObjectBytes;
constexpr int kRounds = 3;

double gigabytes_per_second(uint64_t bytes, uint64_t ns) {
  return double(bytes) / double(ns);
}

// Sequential writes of `total` bytes into a new file of `dir`, `piece` bytes
// at a time (no fsync: spilling does none either); the file is removed.
double disk_write_gigabytes(const std::string& dir, const std::vector<char>& piece, size_t total) {
  const std::string path = dir + "/shoal-bench-baseline-" + std::to_string(::getpid());
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return 0;
  const uint64_t t0 = now_ns();
  bool ok = true;
  for (size_t done = 0; ok && done < total; done += piece.size())
    ok = ::pwrite(fd, piece.data(), piece.size(), off_t(done)) == ssize_t(piece.size());
  const uint64_t ns = now_ns() - t0;
  ::close(fd);
  ::unlink(path.c_str());
  return ok ? gigabytes_per_second(total, ns) : 0;
}

void spilling(Reporter& rep) {
  if (num_nodes() > 1) {
    note("spill_gigabytes: not measured in a multi-node run");
    return;
  }
  Config config = session_config();
  config.store_bytes = kStoreBytes;
  config.spill = true;
  auto plan = launcher::plan_store(kStoreBytes, "bench", config.store_dir, config.spill_dir, true);
  if (!plan) {
    note("spill_gigabytes: %s", plan.error().c_str());
    return;
  }
  shutdown();
  init(config);
  std::vector<char> bytes(kObjectBytes);
  for (size_t i = 0; i < bytes.size(); ++i)
    bytes[i] = char(i * 131);
  std::vector<double> spill, restore, disk;
  for (int round = 0; round < kRounds; ++round) {
    std::vector<ObjectRef<std::vector<char>>> refs;
    refs.reserve(kObjects);
    uint64_t t0 = now_ns();
    for (size_t i = 0; i < kObjects; ++i)
      refs.push_back(put(bytes));
    spill.push_back(gigabytes_per_second(kObjects * kObjectBytes, now_ns() - t0));
    t0 = now_ns();
    for (size_t i = 0; i < kObjects; ++i) {
      const View<std::vector<char>> v = get_view(refs[i]);
      keep(v[v.size() - 1]);
    }
    restore.push_back(gigabytes_per_second(kObjects * kObjectBytes, now_ns() - t0));
    refs.clear();
    disk.push_back(disk_write_gigabytes(plan->spill_dir, bytes, kObjects * kObjectBytes));
  }
  shutdown();
  init(session_config());
  const double s = median(spill), r = median(restore), d = median(disk);
  rep.report("spill_gigabytes", s, Unit::kGigabytesPerSecond);
  rep.report("restore_gigabytes", r, Unit::kGigabytesPerSecond);
  rep.report("baseline_disk_write_gigabytes", d, Unit::kGigabytesPerSecond);
  note(
      "spill_gigabytes: %zu objects of %zu MiB through a %zu MiB store into %s, %d rounds "
      "(medians): spill %.3f GB/s, restore %.3f GB/s, disk writes %.3f GB/s, spill/disk %.2f",
      kObjects, kObjectBytes >> 20, kStoreBytes >> 20, plan->spill_dir.c_str(), kRounds, s, r, d,
      d > 0 ? s / d : 0.0);
}

const Register kSpill("spill_gigabytes", {"spill_gigabytes", "restore_gigabytes"}, spilling,
                      {"baseline_disk_write_gigabytes"});

}  // namespace
}  // namespace shoal::bench
