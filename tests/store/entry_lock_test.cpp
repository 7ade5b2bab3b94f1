// The entry lock every table operation goes through (ObjectTable's
// cas_unlocked and wait_unlocked): an operation waits out a lock whose holder
// died until the supervisor has repaired the entry, and goes on from there;
// a lock that can only be a corrupt word (it names nobody, it stays on a
// process slot nobody holds, or it outlives any repair) is an error, never a
// hang. The holders here are forged: a process slot claimed for a pid that
// runs nothing, and a lock tag written into an entry as its CAS would.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <thread>

#include "tests/store/store_fixture.hpp"
#include "tests/support/test_support.hpp"

namespace shoal::testing {
namespace {

using store::ClaimResult;
using store::LockTag;
using store::WriterId;

pid_t unused_pid() {
  for (pid_t p = 4'000'000;; --p) {
    if (!process_alive(p)) return p;
  }
}

// A process slot taken for a pid that runs nothing: a holder that can "die".
struct Holder {
  explicit Holder(Store& s) : s_(s), pid_(unused_pid()) {
    auto slot = s.processes().claim(pid_, ipc::ProcessKind::kActor, s.me(), "holder");
    if (!slot) std::abort();
    slot_ = *slot;
  }
  ~Holder() {
    if (!released_) s_.processes().release(slot_);
  }
  void dies() { ASSERT_TRUE(s_.processes().mark_dead(slot_, pid_)); }
  void slot_released() {
    s_.processes().release(slot_);
    released_ = true;
  }
  ipc::ProcessSlotId slot() const { return slot_; }

 private:
  Store& s_;
  pid_t pid_;
  ipc::ProcessSlotId slot_ = ipc::kNoProcess;
  bool released_ = false;
};

// Locks `slot`'s entry as an operation of the holder would, leaving its word
// otherwise as it was; returns the unlocked word.
uint64_t lock_as(Store& s, uint32_t slot, uint32_t tag) {
  ObjectEntry& e = s.objects().entry(slot);
  const uint64_t c = e.ctrl.load();
  e.ctrl.store(Ctrl::with_lock(c, tag));
  return c;
}

// What the supervisor's repair of the holder's operation ends with here.
void unlock(Store& s, uint32_t slot, uint64_t word) {
  s.objects().entry(slot).ctrl.store(word);
}

// Runs `op` on a thread of its own; done() once it returned.
template <class T>
class Async {
 public:
  template <class F>
  explicit Async(F op)
      : thread_([this, op] {
          result_ = op();
          done_.store(true);
        }) {}
  ~Async() {
    if (thread_.joinable()) thread_.join();
  }
  bool done() const { return done_.load(); }
  const T& result() {
    if (thread_.joinable()) thread_.join();
    return *result_;
  }

 private:
  std::optional<T> result_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

TEST(EntryLock, APinWaitsOutADeadHoldersLockAndGoesOnOnceTheEntryIsRepaired) {
  TestStore s;
  auto a = put_object(*s, 64, 1);
  ASSERT_TRUE(a.ok());
  Holder h(*s);
  const uint64_t word = lock_as(*s, a->slot, LockTag::process(h.slot()));
  h.dies();

  {
    Async<bool> pin([&] {
      auto r = s->pin(a->slot, a->gen);
      if (r) s->unpin(*r);
      return r.ok();
    });
    // Still waiting a while later: the lock is there until the repair.
    EXPECT_FALSE(eventually([&] { return pin.done(); }, std::chrono::milliseconds(200)));
    unlock(*s, a->slot, word);
    EXPECT_TRUE(eventually([&] { return pin.done(); }, std::chrono::seconds(30)));
    EXPECT_TRUE(pin.result()) << "the pin landed on the repaired entry";
  }
  h.slot_released();
  EXPECT_EQ(pins_of(*s, a->slot), 1u);
  EXPECT_EQ(Ctrl::lock(s->objects().entry(a->slot).ctrl.load()), 0u);
  s->unpin(a->rec);
  EXPECT_EQ(census(*s).in_use, 0u);
}

TEST(EntryLock, AClaimWaitsOutADeadHoldersLockToo) {
  TestStore s;
  auto created = s->create_object(ObjectState::kPending, WriterId::actor(4));
  ASSERT_TRUE(created.ok());
  RefRecord* rec = *created;
  Holder h(*s);
  const uint64_t word = lock_as(*s, rec->slot, LockTag::record(h.slot(), 7));
  h.dies();
  {
    Async<ClaimResult> claim([&] { return s->objects().claim(rec->slot, rec->gen, s->me()); });
    EXPECT_FALSE(eventually([&] { return claim.done(); }, std::chrono::milliseconds(200)));
    unlock(*s, rec->slot, word);
    EXPECT_TRUE(eventually([&] { return claim.done(); }, std::chrono::seconds(30)));
    EXPECT_EQ(claim.result(), ClaimResult::kClaimed);
  }
  h.slot_released();
  EXPECT_EQ(state_of(*s, rec->slot), ObjectState::kWriting);
  s->objects().seal(rec->slot, s->me());
  s->unpin(rec);
  EXPECT_EQ(census(*s).in_use, 0u);
}

TEST(EntryLock, ALockLeftOnAFreedProcessSlotIsCorruptBeforeTheDeadline) {
  TestStore s;
  auto a = put_object(*s, 64, 2);
  ASSERT_TRUE(a.ok());
  Holder h(*s);
  const uint64_t word = lock_as(*s, a->slot, LockTag::process(h.slot()));
  // The slot is given back without the repair: a lock nobody will ever lift.
  h.dies();
  h.slot_released();

  const auto start = std::chrono::steady_clock::now();
  auto pinned = s->pin(a->slot, a->gen);
  const auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(pinned.ok());
  EXPECT_EQ(pinned.error(), StoreError::kCorrupt);
  EXPECT_LT(waited, std::chrono::seconds(4))
      << "found orphaned after a few looks, not after the 5 s deadline";
  EXPECT_EQ(Ctrl::pins(s->objects().entry(a->slot).ctrl.load()), 1u) << "nothing was changed";

  unlock(*s, a->slot, word);
  s->unpin(a->rec);
  EXPECT_EQ(census(*s).in_use, 0u);
}

TEST(EntryLock, ALockTagNamingNobodyIsCorruptAtOnce) {
  TestStore s;
  auto a = put_object(*s, 64, 3);
  ASSERT_TRUE(a.ok());
  const uint32_t nobody[] = {
      0x1234u,                                                   // kind 0
      LockTag::entry(s->objects().size()),                       // an entry beyond the table
      LockTag::process(ipc::ProcessSlotId(ipc::kMaxProcesses)),  // a slot beyond the table
  };
  for (const uint32_t tag : nobody) {
    const uint64_t word = lock_as(*s, a->slot, tag);
    auto pinned = s->pin(a->slot, a->gen);
    ASSERT_FALSE(pinned.ok()) << std::hex << tag;
    EXPECT_EQ(pinned.error(), StoreError::kCorrupt) << std::hex << tag;
    EXPECT_FALSE(s->objects().request_cancel(a->slot, a->gen));
    unlock(*s, a->slot, word);
  }
  s->unpin(a->rec);
  EXPECT_EQ(census(*s).in_use, 0u);
}

TEST(EntryLock, ALockALiveHolderNeverLiftsIsCorruptAfterTheDeadline) {
  TestStore s;
  auto created = s->create_object(ObjectState::kPending, WriterId::actor(1));
  ASSERT_TRUE(created.ok());
  RefRecord* rec = *created;
  Holder h(*s);  // alive all along
  const uint64_t word = lock_as(*s, rec->slot, LockTag::process(h.slot()));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(s->objects().claim(rec->slot, rec->gen, s->me()), ClaimResult::kGone);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::seconds(4))
      << "a live holder is waited for until the deadline";
  EXPECT_EQ(state_of(*s, rec->slot), ObjectState::kPending);
  unlock(*s, rec->slot, word);
  ASSERT_EQ(s->objects().claim(rec->slot, rec->gen, s->me()), ClaimResult::kClaimed);
  s->objects().seal(rec->slot, s->me());
  s->unpin(rec);
  EXPECT_EQ(census(*s).in_use, 0u);
}

}  // namespace
}  // namespace shoal::testing
