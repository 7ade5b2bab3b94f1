// Actor lifetimes (Lifetime::kOwned, the default, and Lifetime::kDetached):
// an owned actor ends once no process of the session holds a handle to it —
// copies, handles passed as arguments, stored inside objects and found with
// get_actor() all count, in every process — after the calls submitted before
// the last handle went; a detached one lives on until kill().
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <shoal/shoal.hpp>

#include "tests/support/test_support.hpp"

using namespace std::chrono_literals;
using namespace shoal::testing;

class Owned {
 public:
  int pid() { return int(::getpid()); }
  int slow_echo(int x) {
    std::this_thread::sleep_for(20ms);
    return x;
  }
};
SHOAL_ACTOR(Owned, &Owned::pid, &Owned::slow_echo);

class AsyncOwned {
 public:
  shoal::Task<int> pid() { co_return int(::getpid()); }
  shoal::Task<int> slow_echo(int x) {
    co_await shoal::sleep_for(20ms);
    co_return x;
  }
};
SHOAL_ACTOR(AsyncOwned, &AsyncOwned::pid, &AsyncOwned::slow_echo);

// Holds a handle to an Owned actor it was given, calls through it, lets go.
class Keeper {
 public:
  int hold(shoal::ActorHandle<Owned> h) {
    held_ = std::move(h);
    return 1;
  }
  int call_held(int x) { return shoal::get(held_.task(&Owned::slow_echo).remote(x), 30s); }
  int drop() {
    held_ = shoal::ActorHandle<Owned>();
    return 1;
  }
  // Creates an owned and a detached actor of its own; returns their pids.
  std::vector<int> create_two() {
    own_ = shoal::actor<Owned>().remote();
    detached_ = shoal::actor<Owned>()
                    .options({.name = "left-behind", .lifetime = shoal::Lifetime::kDetached})
                    .remote();
    return {shoal::get(own_.task(&Owned::pid).remote(), 30s),
            shoal::get(detached_.task(&Owned::pid).remote(), 30s)};
  }

 private:
  shoal::ActorHandle<Owned> held_, own_, detached_;
};
SHOAL_ACTOR(Keeper, &Keeper::hold, &Keeper::call_held, &Keeper::drop, &Keeper::create_two);

// Crashes on request, to be restarted.
class Phoenix {
 public:
  int pid() { return int(::getpid()); }
  int crash() { std::abort(); }
};
SHOAL_ACTOR(Phoenix, &Phoenix::pid, &Phoenix::crash);

namespace {

// How long an owned actor may take to go once its last handle is gone: it
// notices within its 100 ms idle wake-up; sanitizer builds start and end
// processes far more slowly.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr auto kGoneWithin = 10s;
#else
constexpr auto kGoneWithin = 1s;
#endif

bool gone_within(pid_t pid, std::chrono::milliseconds limit) {
  return eventually([&] { return !process_alive(pid); }, limit);
}

// Still there after a while in which an unreferenced actor would have gone.
bool stays(pid_t pid) {
  std::this_thread::sleep_for(600ms);
  return process_alive(pid);
}

class ActorOwnership : public ::testing::Test {
 protected:
  void SetUp() override { shoal::init(shoal::Config{.prefault = false}); }
  void TearDown() override { shoal::shutdown(); }
};

TEST_F(ActorOwnership, LastHandleDroppedEndsTheActorWithinASecond) {
  const uint64_t objects = store_live_objects();
  auto a = shoal::actor<Owned>().remote();
  const pid_t pid = shoal::get(a.task(&Owned::pid).remote(), 30s);
  auto copy = a;  // copies count as one more holder in this process, not more
  a = shoal::ActorHandle<Owned>();
  EXPECT_TRUE(stays(pid)) << "the actor went while a copy of its handle was held";
  copy = shoal::ActorHandle<Owned>();
  EXPECT_TRUE(gone_within(pid, kGoneWithin)) << "pid " << pid;
  // Its token, arguments and results are gone with it.
  EXPECT_TRUE(eventually([&] { return store_live_objects() == objects; }, 10s))
      << store_live_objects() << " objects, " << objects << " before";
}

TEST_F(ActorOwnership, CallsSubmittedBeforeTheLastHandleWentAllComplete) {
  for (bool async : {false, true}) {
    std::vector<shoal::ObjectRef<int>> refs;
    pid_t pid = 0;
    if (async) {
      auto a = shoal::actor<AsyncOwned>().options({.max_concurrency = 1}).remote();
      pid = shoal::get(a.task(&AsyncOwned::pid).remote(), 30s);
      for (int i = 0; i < 20; ++i)
        refs.push_back(a.task(&AsyncOwned::slow_echo).remote(i));
    } else {
      auto a = shoal::actor<Owned>().options({.max_concurrency = 4}).remote();
      pid = shoal::get(a.task(&Owned::pid).remote(), 30s);
      for (int i = 0; i < 20; ++i)
        refs.push_back(a.task(&Owned::slow_echo).remote(i));
    }
    // The handle is gone; every call made through it still runs.
    for (int i = 0; i < 20; ++i)
      EXPECT_EQ(shoal::get(refs[size_t(i)], 30s), i) << (async ? "async" : "threaded");
    EXPECT_TRUE(gone_within(pid, kGoneWithin)) << (async ? "async" : "threaded");
  }
}

TEST_F(ActorOwnership, ACallMadeAfterTheActorEndedFailsWithActorDiedErrorSayingWhy) {
  auto a = shoal::actor<Owned>().remote();
  const pid_t pid = shoal::get(a.task(&Owned::pid).remote(), 30s);
  auto caller = a.task(&Owned::slow_echo);  // a MethodCaller does not keep the actor
  a = shoal::ActorHandle<Owned>();
  ASSERT_TRUE(gone_within(pid, kGoneWithin));
  try {
    (void)shoal::get(caller.remote(1), 30s);
    FAIL() << "a call to an ended actor returned";
  } catch (const shoal::ActorDiedError& e) {
    EXPECT_NE(std::string(e.what()).find("no handle referred to it"), std::string::npos)
        << e.what();
  }
}

TEST_F(ActorOwnership, AHandlePassedAsAnArgumentKeepsTheActorUntilItsHolderDropsIt) {
  auto keeper = shoal::actor<Keeper>().remote();
  auto a = shoal::actor<Owned>().remote();
  const pid_t pid = shoal::get(a.task(&Owned::pid).remote(), 30s);
  ASSERT_EQ(shoal::get(keeper.task(&Keeper::hold).remote(a), 30s), 1);
  a = shoal::ActorHandle<Owned>();
  EXPECT_TRUE(stays(pid)) << "the keeper's handle did not keep the actor";
  EXPECT_EQ(shoal::get(keeper.task(&Keeper::call_held).remote(7), 30s), 7);
  ASSERT_EQ(shoal::get(keeper.task(&Keeper::drop).remote(), 30s), 1);
  EXPECT_TRUE(gone_within(pid, kGoneWithin));
}

TEST_F(ActorOwnership, AHandleInsideAStoredObjectKeepsTheActorWhileTheObjectLives) {
  auto a = shoal::actor<Owned>().remote();
  const pid_t pid = shoal::get(a.task(&Owned::pid).remote(), 30s);
  auto boxed = shoal::put(std::vector<shoal::ActorHandle<Owned>>{a});
  a = shoal::ActorHandle<Owned>();
  EXPECT_TRUE(stays(pid)) << "the object's handle did not keep the actor";
  {
    auto handles = shoal::get(boxed);
    ASSERT_EQ(handles.size(), 1u);
    EXPECT_EQ(shoal::get(handles[0].task(&Owned::slow_echo).remote(3), 30s), 3);
  }
  EXPECT_TRUE(stays(pid)) << "the object still holds the handle";
  boxed = shoal::ObjectRef<std::vector<shoal::ActorHandle<Owned>>>();
  EXPECT_TRUE(gone_within(pid, kGoneWithin));
}

TEST_F(ActorOwnership, GetActorHandlesCountAndAnEndedOwnedActorIsNotFound) {
  auto a = shoal::actor<Owned>().options({.name = "counted"}).remote();
  const pid_t pid = shoal::get(a.task(&Owned::pid).remote(), 30s);
  auto found = shoal::get_actor<Owned>("counted");
  a = shoal::ActorHandle<Owned>();
  EXPECT_TRUE(stays(pid)) << "the handle from get_actor did not keep the actor";
  EXPECT_EQ(shoal::get(found.task(&Owned::slow_echo).remote(5), 30s), 5);
  found = shoal::ActorHandle<Owned>();
  EXPECT_TRUE(gone_within(pid, kGoneWithin));
  EXPECT_THROW((void)shoal::get_actor<Owned>("counted"), shoal::ActorNotFoundError);
  // The name is free again.
  auto again = shoal::actor<Owned>().options({.name = "counted"}).remote();
  EXPECT_GT(shoal::get(again.task(&Owned::pid).remote(), 30s), 0);
}

// ---- across processes ----

SHOAL_TEST_PEER(hold_then_drop) {
  // args: actor name, file whose existence says "drop now", file to write when dropped.
  shoal::init();
  {
    auto h = shoal::get_actor<Owned>(args[0]);
    if (shoal::get(h.task(&Owned::slow_echo).remote(1), 30s) != 1) return 2;
    std::ofstream(args[2] + ".held") << "held\n";
    if (!eventually([&] { return std::ifstream(args[1]).good(); }, 60s)) return 3;
  }  // the peer's last handle goes here; the peer lives on a while
  std::ofstream(args[2]) << "dropped\n";
  std::this_thread::sleep_for(5s);
  shoal::shutdown();
  return 0;
}

TEST_F(ActorOwnership, TheLastHandleDroppedInAnotherProcessEndsTheActor) {
  const std::string dir = "/tmp/shoal-ownership-" + std::to_string(::getpid());
  const std::string go = dir + ".go", dropped = dir + ".dropped";
  std::remove(go.c_str());
  std::remove(dropped.c_str());
  std::remove((dropped + ".held").c_str());
  auto a = shoal::actor<Owned>().options({.name = "shared"}).remote();
  const pid_t pid = shoal::get(a.task(&Owned::pid).remote(), 30s);
  const pid_t peer = spawn_peer("hold_then_drop", {"shared", go, dropped});
  ASSERT_TRUE(eventually([&] { return std::ifstream(dropped + ".held").good(); }, 60s));
  a = shoal::ActorHandle<Owned>();  // only the peer holds it now
  EXPECT_TRUE(stays(pid)) << "the peer's handle did not keep the actor";
  std::ofstream(go) << "go\n";
  ASSERT_TRUE(eventually([&] { return std::ifstream(dropped).good(); }, 30s));
  EXPECT_TRUE(gone_within(pid, kGoneWithin)) << "the actor outlived its last handle";
  EXPECT_TRUE(process_alive(peer)) << "the peer was to outlive its handle";
  EXPECT_EQ(wait_child(peer, 60s), 0);
  std::remove(go.c_str());
  std::remove(dropped.c_str());
  std::remove((dropped + ".held").c_str());
}

SHOAL_TEST_PEER(hold_and_get_killed) {
  shoal::init();
  auto h = shoal::get_actor<Owned>(args[0]);
  if (shoal::get(h.task(&Owned::slow_echo).remote(1), 30s) != 1) return 2;
  std::ofstream(args[1]) << "held\n";
  std::this_thread::sleep_for(60s);  // killed -9 meanwhile
  return 4;
}

TEST_F(ActorOwnership, AHolderKilledMinus9LetsGoOfItsHandles) {
  const std::string held = "/tmp/shoal-ownership-held-" + std::to_string(::getpid());
  std::remove(held.c_str());
  auto a = shoal::actor<Owned>().options({.name = "victim-held"}).remote();
  const pid_t pid = shoal::get(a.task(&Owned::pid).remote(), 30s);
  const pid_t peer = spawn_peer("hold_and_get_killed", {"victim-held", held});
  ASSERT_TRUE(eventually([&] { return std::ifstream(held).good(); }, 60s));
  a = shoal::ActorHandle<Owned>();
  EXPECT_TRUE(stays(pid));
  ::kill(peer, SIGKILL);
  EXPECT_EQ(wait_child(peer, 30s), 128 + SIGKILL);
  EXPECT_TRUE(gone_within(pid, kGoneWithin + 2s)) << "the dead holder's handle still counted";
  std::remove(held.c_str());
}

// ---- detached ----

TEST_F(ActorOwnership, ADetachedActorOutlivesItsHandlesUntilKilled) {
  const uint64_t objects = store_live_objects();
  pid_t pid = 0;
  {
    auto d = shoal::actor<Owned>()
                 .options({.name = "detached", .lifetime = shoal::Lifetime::kDetached})
                 .remote();
    pid = shoal::get(d.task(&Owned::pid).remote(), 30s);
  }
  EXPECT_TRUE(stays(pid)) << "a detached actor ended with its handles";
  auto found = shoal::get_actor<Owned>("detached");
  EXPECT_EQ(shoal::get(found.task(&Owned::slow_echo).remote(9), 30s), 9);
  shoal::kill(found);
  EXPECT_TRUE(gone_within(pid, 10s));
  found = shoal::ActorHandle<Owned>();
  EXPECT_TRUE(eventually([&] { return store_live_objects() == objects; }, 10s))
      << store_live_objects() << " objects, " << objects << " before";
}

TEST_F(ActorOwnership, WhenItsCreatorEndsAnOwnedActorGoesAndADetachedOneStays) {
  pid_t owned = 0, detached = 0, keeper_pid = 0;
  {
    auto keeper = shoal::actor<Keeper>().remote();
    keeper_pid = keeper.pid();
    const std::vector<int> pids = shoal::get(keeper.task(&Keeper::create_two).remote(), 30s);
    ASSERT_EQ(pids.size(), 2u);
    owned = pids[0];
    detached = pids[1];
  }  // the keeper's last handle: it ends, and so does the actor it owns
  EXPECT_TRUE(gone_within(keeper_pid, kGoneWithin));
  EXPECT_TRUE(gone_within(owned, 10s)) << "an owned actor outlived its creator";
  EXPECT_TRUE(stays(detached)) << "a detached actor ended with its creator";
  auto d = shoal::get_actor<Owned>("left-behind");
  EXPECT_EQ(shoal::get(d.task(&Owned::slow_echo).remote(4), 30s), 4);
  shoal::kill(d);
}

TEST_F(ActorOwnership, ARestartedOwnedActorStillEndsWithItsLastHandle) {
  auto p = shoal::actor<Phoenix>().options({.max_restarts = 1}).remote();
  const pid_t first = shoal::get(p.task(&Phoenix::pid).remote(), 30s);
  (void)p.task(&Phoenix::crash).remote();
  ASSERT_TRUE(eventually(
      [&] {
        const pid_t now = p.pid();
        return now > 0 && now != first;
      },
      30s));
  const pid_t second = shoal::get(p.task(&Phoenix::pid).remote(), 30s);
  EXPECT_NE(second, first);
  p = shoal::ActorHandle<Phoenix>();
  EXPECT_TRUE(gone_within(second, kGoneWithin));
}

TEST_F(ActorOwnership, AKilledOwnedActorsTokenIsFreedWithItsLastHandle) {
  const uint64_t objects = store_live_objects();
  auto a = shoal::actor<Owned>().remote();
  const pid_t pid = shoal::get(a.task(&Owned::pid).remote(), 30s);
  shoal::kill(a);
  ASSERT_TRUE(gone_within(pid, 10s));
  EXPECT_THROW((void)shoal::get(a.task(&Owned::pid).remote(), 30s), shoal::ActorDiedError);
  a = shoal::ActorHandle<Owned>();
  EXPECT_TRUE(eventually([&] { return store_live_objects() == objects; }, 10s))
      << store_live_objects() << " objects, " << objects << " before";
}

}  // namespace
