// The store in a small /dev/shm, as in a container with Docker's default
// 64 MiB: the default size fits or init() fails at once with a message that
// says why and what to do; a /dev/shm filled by another program after the
// start is an ObjectStoreFullError, never a SIGBUS; the store's memory is gone
// with its last process, however it died.
//
// Each case runs this binary again inside a private mount namespace with a
// fresh 64 MiB tmpfs on /dev/shm (`unshare -m`), where it runs the matching
// SmallShmInside test; outside such a namespace those skip.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <shoal/shoal.hpp>

#include "store/session_marker.hpp"
#include "tests/support/test_support.hpp"

namespace shoal::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kInsideEnv = "SHOAL_SMALL_SHM_INSIDE";
constexpr uint64_t kShmBytes = 64ull << 20;

bool inside() {
  return std::getenv(kInsideEnv) != nullptr;
}

uint64_t shm_free() {
  struct statvfs v;
  if (::statvfs("/dev/shm", &v) != 0) return 0;
  return uint64_t(v.f_bavail) * uint64_t(v.f_frsize);
}

std::string self_exe() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, size_t(n)) : std::string();
}

bool unshare_permitted() {
  static const bool ok = run_command({"unshare", "-m", "true"}, 10s).exit_code == 0;
  return ok;
}

// Runs SmallShmInside.<name> of this binary in a private mount namespace with
// a 64 MiB tmpfs on /dev/shm.
CommandResult run_inside(const std::string& name) {
  const std::string script = "mount -t tmpfs -o size=64m tmpfs /dev/shm && exec \"" + self_exe() +
                             "\" --gtest_filter=SmallShmInside." + name;
  return run_command({"unshare", "-m", "sh", "-c", script}, 60s,
                     {std::string(kInsideEnv) + "=1", "SHOAL_BIN=" + shoal_bin()});
}

#define SKIP_UNLESS_UNSHARE()                                                              \
  if (!unshare_permitted())                                                                \
  GTEST_SKIP() << "`unshare -m` is not permitted here (needs CAP_SYS_ADMIN, e.g. root or " \
                  "docker --privileged): the small /dev/shm cases cannot run"

#define EXPECT_INSIDE_PASSES(name)                                                     \
  do {                                                                                 \
    SKIP_UNLESS_UNSHARE();                                                             \
    const CommandResult r = run_inside(name);                                          \
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;                                       \
    EXPECT_NE(r.out.find("[  PASSED  ] 1 test"), std::string::npos) << r.out << r.err; \
  } while (0)

// Inside, this process is the subreaper of what it starts: processes whose
// parent dies (a killed launcher's ranks, a driver's daemon) come to it, and
// reap() collects them, so that "gone" is not confused with "zombie".
#define SKIP_UNLESS_INSIDE()                                                                    \
  if (!inside()) GTEST_SKIP() << "runs inside a private mount namespace only (see SmallShm.*)"; \
  ::prctl(PR_SET_CHILD_SUBREAPER, 1)

void reap() {
  while (::waitpid(-1, nullptr, WNOHANG) > 0) {
  }
}

// ---------------------------------------------------------------- outside

TEST(SmallShm, DefaultInitFitsAndMovesAMebibyte) {
  EXPECT_INSIDE_PASSES("DefaultInitFitsAndMovesAMebibyte");
}
TEST(SmallShm, ExplicitSizeTooLargeFailsAtOnceWithTheMessage) {
  EXPECT_INSIDE_PASSES("ExplicitSizeTooLargeFailsAtOnceWithTheMessage");
}
TEST(SmallShm, ShmFilledAfterStartIsObjectStoreFullNotASignal) {
  EXPECT_INSIDE_PASSES("ShmFilledAfterStartIsObjectStoreFullNotASignal");
}
TEST(SmallShm, ShmFilledAfterStartWithPrefaultIsObjectStoreFullNotASignal) {
  EXPECT_INSIDE_PASSES("ShmFilledAfterStartWithPrefaultIsObjectStoreFullNotASignal");
}
TEST(SmallShm, LaunchKilledMinus9FreesTheMemoryAndCleanRemovesTheMarker) {
  EXPECT_INSIDE_PASSES("LaunchKilledMinus9FreesTheMemoryAndCleanRemovesTheMarker");
}
TEST(SmallShm, SigtermToAPlainDriversGroupLeavesNothing) {
  EXPECT_INSIDE_PASSES("SigtermToAPlainDriversGroupLeavesNothing");
}

// ---------------------------------------------------------------- inside

TEST(SmallShmInside, DefaultInitFitsAndMovesAMebibyte) {
  SKIP_UNLESS_INSIDE();
  ASSERT_EQ(shm_free(), kShmBytes);
  ::unsetenv("SHOAL_STORE_BYTES");
  const auto t0 = std::chrono::steady_clock::now();
  try {
    shoal::init();
  } catch (const shoal::Error& e) {
    // Allowed by the contract, but it must be quick and say why.
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
    const std::string what = e.what();
    EXPECT_NE(what.find("/dev/shm"), std::string::npos) << what;
    FAIL() << "a 64 MiB /dev/shm holds a store, yet init() failed: " << what;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  EXPECT_LE(kShmBytes - shm_free(), kShmBytes);
  std::vector<uint8_t> mib(1 << 20);
  for (size_t i = 0; i < mib.size(); ++i)
    mib[i] = uint8_t(i * 7 + 3);
  auto ref = shoal::put(mib);
  EXPECT_EQ(shoal::get(ref), mib);
  shoal::shutdown();
}

TEST(SmallShmInside, ExplicitSizeTooLargeFailsAtOnceWithTheMessage) {
  SKIP_UNLESS_INSIDE();
  ::unsetenv("SHOAL_STORE_BYTES");
  shoal::Config config;
  config.store_bytes = 128ull << 20;
  const auto t0 = std::chrono::steady_clock::now();
  try {
    shoal::init(config);
    shoal::shutdown();
    FAIL() << "a 128 MiB store in a 64 MiB /dev/shm was created";
  } catch (const shoal::Error& e) {
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
    const std::string what = e.what();
    for (const char* needle : {"/dev/shm", "67108864 bytes", "134217728 bytes", "free",
                               "--shm-size", "SHOAL_STORE_BYTES", "Config::store_bytes",
                               "--store-size", "SHOAL_STORE_DIR", "--store-dir"}) {
      EXPECT_NE(what.find(needle), std::string::npos) << "no '" << needle << "' in: " << what;
    }
  }
  // Nothing was created.
  EXPECT_EQ(shm_free(), kShmBytes);
  // SHOAL_STORE_BYTES the same.
  ::setenv("SHOAL_STORE_BYTES", "1G", 1);
  try {
    shoal::init();
    shoal::shutdown();
    FAIL() << "a 1 GiB store in a 64 MiB /dev/shm was created";
  } catch (const shoal::Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("SHOAL_STORE_BYTES"), std::string::npos) << what;
    EXPECT_NE(what.find("1073741824 bytes"), std::string::npos) << what;
  }
  ::unsetenv("SHOAL_STORE_BYTES");
}

// Fills /dev/shm from another program, then puts 1 MiB objects until one
// fails: it must be ObjectStoreFullError naming /dev/shm, and the session
// goes on (a put that fits afterwards works).
void fill_then_put(bool prefault) {
  ::unsetenv("SHOAL_STORE_BYTES");
  shoal::Config config;
  config.store_bytes = 40ull << 20;
  config.prefault = prefault;
  shoal::init(config);
  // What the prefaulter backs ahead is its business; give it a moment.
  std::this_thread::sleep_for(100ms);
  // A backing call the prefaulter has in flight when the file system fills
  // fails and gives its chunk back; the filler takes that too.
  for (int i = 0; i < 8 && (i == 0 || shm_free() >= (64u << 10)); ++i) {
    const std::string file = "/dev/shm/filler" + std::to_string(i);
    const CommandResult fill =
        run_command({"sh", "-c", "dd if=/dev/zero of=" + file + " bs=64k 2>/dev/null; true"}, 30s);
    ASSERT_EQ(fill.exit_code, 0) << fill.err;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_LT(shm_free(), 64u << 10) << "the filler left room";
  std::vector<shoal::ObjectRef<std::vector<uint8_t>>> held;
  std::vector<uint8_t> mib(1 << 20, 0x5a);
  bool full = false;
  for (int i = 0; i < 64 && !full; ++i) {
    try {
      held.push_back(shoal::put(mib));
    } catch (const shoal::ObjectStoreFullError& e) {
      full = true;
      const std::string what = e.what();
      if (!prefault) {
        EXPECT_NE(what.find("/dev/shm"), std::string::npos) << what;
      }
    }
  }
  EXPECT_TRUE(full) << "64 MiB went into a 40 MiB store";
  for (auto& r : held)
    EXPECT_EQ(shoal::get(r), mib);
  // Room again: the session goes on.
  for (int i = 0; i < 8; ++i)
    ::unlink(("/dev/shm/filler" + std::to_string(i)).c_str());
  held.clear();
  auto again = shoal::put(mib);
  EXPECT_EQ(shoal::get(again), mib);
  shoal::shutdown();
}

TEST(SmallShmInside, ShmFilledAfterStartIsObjectStoreFullNotASignal) {
  SKIP_UNLESS_INSIDE();
  fill_then_put(false);
}

TEST(SmallShmInside, ShmFilledAfterStartWithPrefaultIsObjectStoreFullNotASignal) {
  SKIP_UNLESS_INSIDE();
  fill_then_put(true);
}

std::vector<std::string> markers() {
  return shm_segments();
}

TEST(SmallShmInside, LaunchKilledMinus9FreesTheMemoryAndCleanRemovesTheMarker) {
  SKIP_UNLESS_INSIDE();
  ::unsetenv("SHOAL_STORE_BYTES");
  const uint64_t free0 = shm_free();
  const pid_t launcher = ::fork();
  ASSERT_GE(launcher, 0);
  if (launcher == 0) {
    const std::string bin = shoal_bin();
    ::execl(bin.c_str(), bin.c_str(), "launch", "-n", "2", "--store-size", "32M", "--", "sleep",
            "30", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // The launcher's prefaulter backs the heap of the 32 MiB store.
  ASSERT_TRUE(
      eventually([&] { return markers().size() == 1 && free0 - shm_free() > (20u << 20); }, 10s))
      << "markers " << markers().size() << ", used " << free0 - shm_free();
  const std::string marker = markers()[0];
  ::kill(launcher, SIGKILL);
  int status = 0;
  ::waitpid(launcher, &status, 0);
  // Its ranks die with it (PR_SET_PDEATHSIG) and with the last of them the
  // store's memory: the marker's page is all that is left.
  EXPECT_TRUE(eventually(
      [&] {
        reap();
        return free0 - shm_free() <= (64u << 10);
      },
      2s))
      << "still used: " << free0 - shm_free();
  ASSERT_EQ(markers(), std::vector<std::string>{marker});
  const CommandResult clean = run_command({shoal_bin(), "clean"}, 30s);
  EXPECT_EQ(clean.exit_code, 0) << clean.err;
  EXPECT_NE(clean.out.find(marker), std::string::npos) << clean.out;
  EXPECT_TRUE(markers().empty());
  EXPECT_EQ(shm_free(), free0);
}

TEST(SmallShmInside, SigtermToAPlainDriversGroupLeavesNothing) {
  SKIP_UNLESS_INSIDE();
  ::unsetenv("SHOAL_STORE_BYTES");
  const uint64_t free0 = shm_free();
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t driver = ::fork();
  ASSERT_GE(driver, 0);
  if (driver == 0) {
    ::setpgid(0, 0);
    ::close(ready[0]);
    shoal::Config config;
    config.store_bytes = 32ull << 20;
    shoal::init(config);
    auto ref = shoal::put(std::vector<uint8_t>(1 << 20, 1));
    (void)::write(ready[1], "r", 1);
    for (;;)
      ::pause();
  }
  ::close(ready[1]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]);
  ASSERT_EQ(markers().size(), 1u);
  ASSERT_EQ(::kill(-driver, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(driver, &status, 0), driver);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
  // The daemon ignores SIGTERM, sees the driver die and cleans up; then the
  // whole group is gone, and the store's memory with it.
  EXPECT_TRUE(eventually(
      [&] {
        reap();
        return ::kill(-driver, 0) != 0 && errno == ESRCH;
      },
      5s))
      << "a process of the driver's group is still alive";
  EXPECT_TRUE(eventually([&] { return markers().empty(); }, 5s));
  EXPECT_TRUE(eventually([&] { return shm_free() == free0; }, 2s))
      << "still used: " << free0 - shm_free();
}

}  // namespace
}  // namespace shoal::testing
