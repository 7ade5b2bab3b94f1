// Object spilling: a store of 64 MiB holds a working set many times its size
// (refs kept to all of it), every object reads back exactly, in this process
// and in actors; views keep what they view in memory; processes killed -9
// while spilling or restoring lose nothing and leave nothing behind; the
// spill file goes with the session, and with `shoal clean` after a crash; a
// full spill disk is an ObjectStoreFullError naming the spill directory.
//
// Each test has a spill directory of its own under /tmp, removed at its end.
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <shoal/shoal.hpp>

#include "store/session_marker.hpp"
#include "tests/support/test_support.hpp"

using namespace std::chrono_literals;

namespace shoal::testing {
namespace {

constexpr size_t kStoreBytes = size_t(64) << 20;
constexpr size_t kMiB = size_t(1) << 20;
constexpr const char* kInsideEnv = "SHOAL_TEST_SPILL_INSIDE";

using Blob = std::vector<uint64_t>;

// Object i's contents: every word says which object and which word it is.
Blob make_blob(uint64_t i, size_t bytes) {
  Blob b(bytes / sizeof(uint64_t));
  for (size_t j = 0; j < b.size(); ++j)
    b[j] = (i << 40) ^ j;
  return b;
}

bool blob_is(const uint64_t* data, size_t words, uint64_t i, size_t bytes) {
  if (words != bytes / sizeof(uint64_t)) return false;
  for (size_t j = 0; j < words; ++j) {
    if (data[j] != ((i << 40) ^ j)) return false;
  }
  return true;
}

bool blob_is(const Blob& b, uint64_t i, size_t bytes) {
  return blob_is(b.data(), b.size(), i, bytes);
}

std::string make_spill_dir() {
  char tmpl[] = "/tmp/shoal-spill-test-XXXXXX";
  const char* d = ::mkdtemp(tmpl);
  return d != nullptr ? std::string(d) : std::string();
}

std::vector<std::string> dir_files(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      const std::string n = e->d_name;
      if (n != "." && n != "..") out.push_back(n);
    }
    ::closedir(d);
  }
  return out;
}

// Disk bytes the files of `dir` hold (blocks, not apparent sizes: copies are
// punched out of the spill file as they go).
uint64_t dir_disk_bytes(const std::string& dir) {
  uint64_t n = 0;
  for (const std::string& f : dir_files(dir)) {
    struct stat st;
    if (::stat((dir + "/" + f).c_str(), &st) == 0) n += uint64_t(st.st_blocks) * 512;
  }
  return n;
}

void remove_dir(const std::string& dir) {
  for (const std::string& f : dir_files(dir))
    ::unlink((dir + "/" + f).c_str());
  ::rmdir(dir.c_str());
}

}  // namespace
}  // namespace shoal::testing

// Reads objects in its own process (so restores them there) and writes new
// ones (so spills there).
class Mover {
 public:
  int pid() { return int(::getpid()); }
  bool check(std::vector<uint64_t> blob, uint64_t i, uint64_t bytes) {
    return shoal::testing::blob_is(blob, i, bytes);
  }
  int churn(int n, uint64_t bytes) {
    std::vector<shoal::ObjectRef<std::vector<uint64_t>>> mine;
    for (int k = 0; k < n; ++k)
      mine.push_back(shoal::put(shoal::testing::make_blob(uint64_t(1000 + k), bytes)));
    int good = 0;
    for (int k = 0; k < n; ++k)
      good += shoal::testing::blob_is(shoal::get(mine[size_t(k)]), uint64_t(1000 + k), bytes);
    return good;
  }
};
SHOAL_ACTOR(Mover, &Mover::pid, &Mover::check, &Mover::churn);

namespace shoal::testing {
namespace {

class Spill : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::getenv(kInsideEnv) != nullptr) GTEST_SKIP() << "runs outside only";
    dir_ = make_spill_dir();
    ASSERT_FALSE(dir_.empty());
  }
  void TearDown() override {
    if (dir_.empty()) return;
    first_.reset();
    shoal::shutdown();
    EXPECT_TRUE(dir_files(dir_).empty()) << "the spill file outlived its session";
    remove_dir(dir_);
  }
  void start() { shoal::init(shoal::Config{.store_bytes = kStoreBytes, .spill_dir = dir_}); }
  // start() with every spill and restore pausing `pause_us` microseconds
  // inside (SHOAL_TEST_SPILL_PAUSE_US), this process's reference records and
  // a first actor set up: what every later actor shares is in place, so the
  // store's figures measured next are the baseline.
  void start_paused(const char* pause_us) {
    ::setenv("SHOAL_TEST_SPILL_PAUSE_US", pause_us, 1);
    start();
    ::unsetenv("SHOAL_TEST_SPILL_PAUSE_US");
    (void)shoal::put(1);
    first_.emplace(shoal::actor<Mover>().remote());
    ASSERT_GT(shoal::get(first_->task(&Mover::pid).remote(), 30s), 0);
  }
  // Once every ref is gone (and killed actors' rings are back, past their
  // grace): the store and the spill file exactly where they started.
  void expect_baseline(uint64_t used, uint64_t objects) {
    EXPECT_TRUE(eventually([&] { return store_live_objects() == objects; }, 30s))
        << store_live_objects() << " objects alive, " << objects << " at the start";
    EXPECT_TRUE(eventually([&] { return store_used_bytes() == used; }, 30s))
        << store_used_bytes() << " heap bytes in use, " << used << " at the start";
    EXPECT_EQ(store_spilled_objects(), 0u);
    EXPECT_TRUE(eventually([&] { return dir_disk_bytes(dir_) == 0; }, 30s))
        << dir_disk_bytes(dir_) << " bytes of the spill file still allocated";
  }

  std::string dir_;
  std::optional<shoal::ActorHandle<Mover>> first_;
};

TEST_F(Spill, TenTimesTheStoreReadsBackExactlyHereAndInAnActor) {
  start();
  (void)shoal::put(1);  // this process's reference records, kept while it runs
  const uint64_t objects = store_live_objects();
  ASSERT_EQ(store_spill_file(), dir_ + "/" + session_name() + ".spill");
  std::vector<shoal::ObjectRef<Blob>> refs;
  for (uint64_t i = 0; i < 640; ++i)
    refs.push_back(shoal::put(make_blob(i, kMiB)));
  EXPECT_GE(store_spilled_objects(), 560u);
  EXPECT_GE(dir_disk_bytes(dir_), uint64_t(560) * kMiB);
  // Back in order (each restore spills others), then every 7th from an actor.
  for (uint64_t i = 0; i < refs.size(); ++i)
    ASSERT_TRUE(blob_is(shoal::get(refs[i], 60s), i, kMiB)) << "object " << i;
  {
    auto mover = shoal::actor<Mover>().remote();
    for (uint64_t i = 0; i < refs.size(); i += 7) {
      ASSERT_TRUE(shoal::get(mover.task(&Mover::check).remote(refs[i], i, uint64_t(kMiB)), 60s))
          << "object " << i << " in the actor";
    }
    shoal::kill(mover);
  }
  // A view of a spilled object reads it from the store again.
  EXPECT_GT(store_spilled_objects(), 0u);
  {
    const auto view = shoal::get_view(refs[0]);
    EXPECT_TRUE(blob_is(view.data(), view.size(), 0, kMiB));
  }
  refs.clear();
  // (The heap's own return to its baseline is StoreAndDiskBackToBaseline's.)
  EXPECT_TRUE(eventually([&] { return store_live_objects() == objects; }, 30s));
  EXPECT_EQ(store_spilled_objects(), 0u);
  EXPECT_TRUE(eventually([&] { return dir_disk_bytes(dir_) == 0; }, 30s))
      << dir_disk_bytes(dir_) << " bytes still on disk";
}

TEST_F(Spill, StoreAndDiskBackToBaselineOnceRefsAreGone) {
  start();
  (void)shoal::put(1);
  const uint64_t used = store_used_bytes();
  const uint64_t objects = store_live_objects();
  {
    std::vector<shoal::ObjectRef<Blob>> refs;
    for (uint64_t i = 0; i < 96; ++i)
      refs.push_back(shoal::put(make_blob(i, 2 * kMiB)));
    EXPECT_GT(store_spilled_objects(), 0u);
    for (uint64_t i = 0; i < refs.size(); i += 5)
      ASSERT_TRUE(blob_is(shoal::get(refs[i], 60s), i, 2 * kMiB)) << "object " << i;
  }
  EXPECT_TRUE(eventually([&] { return store_live_objects() == objects; }, 30s));
  EXPECT_EQ(store_used_bytes(), used);
  EXPECT_EQ(store_spilled_objects(), 0u);
  EXPECT_EQ(dir_disk_bytes(dir_), 0u);
}

TEST_F(Spill, AViewPinsWhatItViews) {
  start();
  auto viewed = shoal::put(make_blob(7, 4 * kMiB));
  auto view = std::make_unique<shoal::View<Blob>>(shoal::get_view(viewed));
  const uint64_t* where = view->data();
  shoal::View<Blob> copy = *view;
  // 40 objects of 4 MiB through a 64 MiB store, read back: had the viewed
  // object been spilled, its block would hold other objects' bytes now.
  std::vector<shoal::ObjectRef<Blob>> refs;
  for (uint64_t i = 0; i < 40; ++i)
    refs.push_back(shoal::put(make_blob(100 + i, 4 * kMiB)));
  for (uint64_t i = 0; i < refs.size(); ++i)
    ASSERT_TRUE(blob_is(shoal::get(refs[i], 60s), 100 + i, 4 * kMiB)) << "object " << i;
  EXPECT_EQ(view->data(), where);
  EXPECT_TRUE(blob_is(view->data(), view->size(), 7, 4 * kMiB));
  // The copy holds it on its own.
  view.reset();
  for (uint64_t i = 0; i < refs.size(); ++i)
    ASSERT_TRUE(blob_is(shoal::get(refs[i], 60s), 100 + i, 4 * kMiB)) << "object " << i;
  EXPECT_EQ(copy.data(), where);
  EXPECT_TRUE(blob_is(copy.data(), copy.size(), 7, 4 * kMiB));
  // Once no view holds it, it may go, and still reads back exactly.
  copy = shoal::View<Blob>();
  for (uint64_t i = 0; i < refs.size(); ++i)
    ASSERT_TRUE(blob_is(shoal::get(refs[i], 60s), 100 + i, 4 * kMiB)) << "object " << i;
  EXPECT_TRUE(blob_is(shoal::get(viewed, 60s), 7, 4 * kMiB));
}

TEST_F(Spill, EverythingPinnedByViewsIsStoreFullSayingSo) {
  start();
  std::vector<shoal::ObjectRef<Blob>> refs;
  std::vector<shoal::View<Blob>> views;
  const uint64_t heap = store_heap_bytes();
  while (store_used_bytes() + 12 * kMiB < heap) {
    refs.push_back(shoal::put(make_blob(refs.size(), 4 * kMiB)));
    views.push_back(shoal::get_view(refs.back()));
  }
  ASSERT_GE(views.size(), 10u);
  try {
    shoal::put(make_blob(99, 16 * kMiB));
    FAIL() << "a 16 MiB put succeeded with every object viewed";
  } catch (const shoal::ObjectStoreFullError& e) {
    EXPECT_EQ(e.requested_bytes(), 16 * kMiB);
    EXPECT_NE(std::string(e.what()).find("pinned by a View"), std::string::npos) << e.what();
  }
  for (size_t i = 0; i < views.size(); ++i)
    ASSERT_TRUE(blob_is(views[i].data(), views[i].size(), i, 4 * kMiB)) << "object " << i;
  // Without the views the same put spills and fits.
  views.clear();
  auto big = shoal::put(make_blob(99, 16 * kMiB));
  EXPECT_TRUE(blob_is(shoal::get(big, 60s), 99, 16 * kMiB));
  for (size_t i = 0; i < refs.size(); ++i)
    ASSERT_TRUE(blob_is(shoal::get(refs[i], 60s), i, 4 * kMiB)) << "object " << i;
}

TEST_F(Spill, AnObjectLargerThanTheStoreIsStoreFullSayingSo) {
  start();
  try {
    shoal::put(make_blob(1, 80 * kMiB));
    FAIL() << "an 80 MiB put into a 64 MiB store succeeded";
  } catch (const shoal::ObjectStoreFullError& e) {
    EXPECT_EQ(e.requested_bytes(), 80 * kMiB);
    EXPECT_NE(std::string(e.what()).find("larger than the whole store"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(dir_disk_bytes(dir_), 0u);
}

TEST_F(Spill, ProcessesKilledWhileSpillingOrRestoringLoseNothing) {
  // Every spill and restore pauses 2 ms inside, where a kill lands often.
  ASSERT_NO_FATAL_FAILURE(start_paused("2000"));
  const uint64_t used = store_used_bytes();
  const uint64_t objects = store_live_objects();
  constexpr size_t kObj = 4 * kMiB;
  std::vector<shoal::ObjectRef<Blob>> refs;
  for (uint64_t i = 0; i < 40; ++i)
    refs.push_back(shoal::put(make_blob(i, kObj)));
  std::mt19937 rng(12345);
  int killed_busy = 0;
  for (int round = 0; round < 60; ++round) {
    auto mover = shoal::actor<Mover>().remote();
    const int pid = shoal::get(mover.task(&Mover::pid).remote(), 30s);
    std::vector<shoal::ObjectRef<bool>> checks;
    for (int k = 0; k < 3; ++k) {
      const uint64_t i = rng() % refs.size();
      checks.push_back(mover.task(&Mover::check).remote(refs[i], i, uint64_t(kObj)));
    }
    auto churned = mover.task(&Mover::churn).remote(4, uint64_t(kObj));
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 20000));
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    for (auto& c : checks) {
      try {
        EXPECT_TRUE(shoal::get(c, 30s));
      } catch (const shoal::ActorDiedError&) {
        ++killed_busy;
      }
    }
    try {
      EXPECT_EQ(shoal::get(churned, 30s), 4);
    } catch (const shoal::ActorDiedError&) {
      ++killed_busy;
    }
    // The driver restores (and spills) between the kills too.
    const uint64_t i = rng() % refs.size();
    ASSERT_TRUE(blob_is(shoal::get(refs[i], 60s), i, kObj)) << "round " << round << " object " << i;
  }
  EXPECT_GT(killed_busy, 0) << "no kill landed inside a call";
  for (uint64_t i = 0; i < refs.size(); ++i)
    ASSERT_TRUE(blob_is(shoal::get(refs[i], 60s), i, kObj)) << "object " << i;
  refs.clear();
  expect_baseline(used, objects);
}

TEST_F(Spill, ObjectsFreedWhileTheyMoveAreFreedOnceAndLeaveNothing) {
  // Every spill pauses 300 ms between its write and its last step: the
  // refs dropped as soon as a copy is on disk go inside a spill.
  ASSERT_NO_FATAL_FAILURE(start_paused("300000"));
  const uint64_t used = store_used_bytes();
  const uint64_t objects = store_live_objects();
  constexpr size_t kObj = 4 * kMiB;
  for (int round = 0; round < 6; ++round) {
    // Odd rounds: an actor spills too (its puts need room), and is killed -9
    // right after the refs went, inside its own spill's pause.
    std::optional<shoal::ActorHandle<Mover>> mover;
    std::optional<shoal::ObjectRef<int>> churned;
    int pid = 0;
    if (round % 2 == 1) {
      mover = shoal::actor<Mover>().remote();
      pid = shoal::get(mover->task(&Mover::pid).remote(), 30s);
      churned = mover->task(&Mover::churn).remote(6, uint64_t(kObj));
    }
    std::vector<shoal::ObjectRef<Blob>> refs;
    while (dir_disk_bytes(dir_) == 0 && refs.size() < 64)
      refs.push_back(shoal::put(make_blob(refs.size(), kObj)));
    ASSERT_GT(dir_disk_bytes(dir_), 0u) << "round " << round << ": nothing spilled";
    refs.clear();
    if (mover) {
      ASSERT_EQ(::kill(pid, SIGKILL), 0);
      try {
        EXPECT_EQ(shoal::get(*churned, 30s), 6);
      } catch (const shoal::ActorDiedError&) {
      }
      churned.reset();
      mover.reset();
    }
    EXPECT_TRUE(eventually([&] { return store_live_objects() == objects; }, 30s))
        << "round " << round << ": " << store_live_objects() << " objects, " << objects
        << " before";
    EXPECT_TRUE(eventually([&] { return dir_disk_bytes(dir_) == 0; }, 30s))
        << "round " << round << ": " << dir_disk_bytes(dir_) << " bytes still on disk";
  }
  expect_baseline(used, objects);
}

// ------------------------------------------- a crashed session, a full disk

std::string self_exe() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf));
  return n > 0 ? std::string(buf, size_t(n)) : std::string();
}

TEST(SpillCrash, CleanRemovesTheSegmentAndSpillFileOfAKilledSession) {
  if (std::getenv(kInsideEnv) != nullptr) GTEST_SKIP() << "runs outside only";
  const std::string dir = make_spill_dir();
  ASSERT_FALSE(dir.empty());
  const std::string name_file = dir + "/name";
  // Orphans (the killed driver's daemon) come to us, so we can reap them.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  const pid_t driver = ::fork();
  if (driver == 0) {
    ::setenv(kInsideEnv, "crash", 1);
    ::setenv("SHOAL_TEST_SPILL_DIR", dir.c_str(), 1);
    ::setenv("SHOAL_TEST_SPILL_NAME_FILE", name_file.c_str(), 1);
    const std::string exe = self_exe();
    ::execl(exe.c_str(), exe.c_str(), "--gtest_filter=SpillInside.SpillThenSleep", nullptr);
    ::_exit(127);
  }
  ASSERT_GT(driver, 0);
  std::string name;
  EXPECT_TRUE(eventually(
      [&] {
        std::ifstream in(name_file);
        return bool(std::getline(in, name)) && !name.empty();
      },
      60s));
  ASSERT_FALSE(name.empty());
  auto marker = store::SessionMarker::read(name);
  ASSERT_TRUE(marker.ok());
  const std::string spill = dir + "/" + name + ".spill";
  EXPECT_GT(dir_disk_bytes(dir), 0u);
  // The whole session dies at once: its daemon, then the driver.
  const pid_t daemon = marker->holders[1];
  ASSERT_GT(daemon, 0);
  ::kill(daemon, SIGKILL);
  ::kill(driver, SIGKILL);
  int status = 0;
  EXPECT_EQ(::waitpid(driver, &status, 0), driver);
  EXPECT_TRUE(eventually([&] { return ::waitpid(daemon, nullptr, WNOHANG) == daemon; }, 10s));
  struct stat st;
  ASSERT_EQ(::stat(spill.c_str(), &st), 0) << "nothing should have removed " << spill << " yet";
  const CommandResult clean = run_command({shoal_bin(), "clean"}, 60s);
  EXPECT_EQ(clean.exit_code, 0) << clean.err;
  EXPECT_NE(clean.out.find(name), std::string::npos) << clean.out;
  EXPECT_NE(::stat(spill.c_str(), &st), 0) << spill << " is still there";
  EXPECT_NE(::stat(store::SessionMarker::path(name).c_str(), &st), 0);
  ::prctl(PR_SET_CHILD_SUBREAPER, 0);
  remove_dir(dir);
}

bool unshare_permitted() {
  static const bool ok = run_command({"unshare", "-m", "true"}, 10s).exit_code == 0;
  return ok;
}

TEST(SpillDisk, AFullSpillDiskIsStoreFullNamingTheDirectory) {
  if (std::getenv(kInsideEnv) != nullptr) GTEST_SKIP() << "runs outside only";
  if (!unshare_permitted()) {
    GTEST_SKIP() << "`unshare -m` is not permitted here (needs CAP_SYS_ADMIN, e.g. root or "
                    "docker --privileged): the full spill disk case cannot run";
  }
  const std::string dir = make_spill_dir();
  ASSERT_FALSE(dir.empty());
  const std::string script = "mount -t tmpfs -o size=16m tmpfs " + dir + " && exec \"" +
                             self_exe() + "\" --gtest_filter=SpillInside.FullDisk";
  const CommandResult r =
      run_command({"unshare", "-m", "sh", "-c", script}, 120s,
                  {std::string(kInsideEnv) + "=disk", "SHOAL_TEST_SPILL_DIR=" + dir});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("[  PASSED  ] 1 test"), std::string::npos) << r.out << r.err;
  remove_dir(dir);
}

// ------------------------------------------------------------------ inside

bool inside(const char* which) {
  const char* v = std::getenv(kInsideEnv);
  return v != nullptr && std::string(v) == which;
}

TEST(SpillInside, SpillThenSleep) {
  if (!inside("crash")) GTEST_SKIP() << "the driver of SpillCrash.* only";
  shoal::init(
      shoal::Config{.store_bytes = kStoreBytes, .spill_dir = std::getenv("SHOAL_TEST_SPILL_DIR")});
  std::vector<shoal::ObjectRef<Blob>> refs;
  for (uint64_t i = 0; i < 40; ++i)
    refs.push_back(shoal::put(make_blob(i, 4 * kMiB)));
  ASSERT_GT(store_spilled_objects(), 0u);
  {
    std::ofstream out(std::getenv("SHOAL_TEST_SPILL_NAME_FILE"));
    out << session_name() << "\n";
  }
  std::this_thread::sleep_for(120s);  // until killed
}

TEST(SpillInside, FullDisk) {
  if (!inside("disk")) GTEST_SKIP() << "inside SpillDisk.* only";
  const std::string dir = std::getenv("SHOAL_TEST_SPILL_DIR");
  shoal::init(shoal::Config{.store_bytes = kStoreBytes, .spill_dir = dir});
  std::vector<shoal::ObjectRef<Blob>> refs;
  bool full = false;
  for (uint64_t i = 0; i < 64 && !full; ++i) {
    try {
      refs.push_back(shoal::put(make_blob(i, 4 * kMiB)));
    } catch (const shoal::ObjectStoreFullError& e) {
      full = true;
      const std::string what = e.what();
      EXPECT_NE(what.find("the spill disk is full"), std::string::npos) << what;
      EXPECT_NE(what.find("spill directory " + dir + " has no room"), std::string::npos) << what;
    }
  }
  ASSERT_TRUE(full) << "64 puts of 4 MiB fit a 64 MiB store with a 16 MiB spill disk";
  // The oldest went to the disk, the store holds the others. (Whether a
  // spilled one can come back now depends on what room the failed put and
  // the background spiller left, so it is not asserted.) They read back
  // exactly once the others are gone.
  // Copies the background spiller had under way when the put failed (they held the room the put
  // lacked) may still land, so the count is read once the disk and the store agree.
  // Whole copies only: a copy the disk could not take stays in memory, and
  // what it had written of it is punched out again.
  size_t spilled = 0;
  EXPECT_TRUE(eventually(
      [&] {
        spilled = store_spilled_objects();
        return dir_disk_bytes(dir) == spilled * 4 * kMiB;
      },
      30s))
      << dir_disk_bytes(dir) << " bytes on disk for " << spilled << " spilled objects of 4 MiB";
  ASSERT_GE(spilled, 2u);
  EXPECT_EQ(store_spilled_objects(), spilled);
  refs.resize(spilled);
  for (uint64_t i = 0; i < refs.size(); ++i)
    ASSERT_TRUE(blob_is(shoal::get(refs[i], 60s), i, 4 * kMiB)) << "object " << i;
  refs.clear();
  EXPECT_TRUE(eventually([&] { return dir_disk_bytes(dir) == 0; }, 30s));
  auto again = shoal::put(make_blob(5, 4 * kMiB));
  EXPECT_TRUE(blob_is(shoal::get(again, 60s), 5, 4 * kMiB));
  shoal::shutdown();
  EXPECT_TRUE(dir_files(dir).empty());
}

}  // namespace
}  // namespace shoal::testing
