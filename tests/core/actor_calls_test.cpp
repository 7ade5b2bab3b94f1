// Actors and their calls: registration by SHOAL_ACTOR / SHOAL_REMOTE, methods
// of every kind of signature, the argument rules of DESIGN §1 (a ref resolved
// before the call or passed as itself, refs inside containers, handles as
// arguments, large arguments), methods and functions that were not registered,
// named actors, and calls between separately started processes of the same
// executable: a spawn_peer() peer and the ranks of `shoal launch`.
//
// Each test runs in its own session.
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <numeric>
#include <set>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <shoal/shoal.hpp>

#include "tests/cli/processes.hpp"
#include "tests/support/test_actors.hpp"
#include "tests/support/test_support.hpp"

using namespace std::chrono_literals;
using namespace shoal::testing;

// ---- actors and functions under test ---------------------------------------------

// A msgpack user type, as a parameter and as a result.
struct Point {
  int x = 0;
  std::string label;
  std::vector<int> trail;
  MSGPACK_DEFINE(x, label, trail);
  bool operator==(const Point&) const = default;
};

// Methods of every shape: by value, by const&, void, const, noexcept, no
// arguments, several arguments, standard containers and a user type.
class Kitchen {
 public:
  explicit Kitchen(int base) : base_(base) {}
  int add(int a, int b) { return base_ + a + b; }
  std::string greet(const std::string& who) { return "hello " + who; }
  void store(int v) { stored_ = v; }
  int stored() const { return stored_; }
  int answer() { return 42; }
  int64_t negate(int64_t v) noexcept { return -v; }
  bool flip(bool b) { return !b; }
  std::vector<double> scale(std::vector<double> v, double f) {
    for (double& x : v)
      x *= f;
    return v;
  }
  Point move(const Point& p, int dx) {
    Point q = p;
    q.x += dx;
    q.trail.push_back(dx);
    return q;
  }
  std::map<std::string, int> count(const std::vector<std::string>& words) {
    std::map<std::string, int> m;
    for (const std::string& w : words)
      ++m[w];
    return m;
  }
  std::string join(std::string a, char sep, std::string b, int times) {
    std::string out;
    for (int i = 0; i < times; ++i)
      out += a + sep + b;
    return out;
  }

 private:
  int base_;
  int stored_ = 0;
};
SHOAL_ACTOR(Kitchen, &Kitchen::add, &Kitchen::greet, &Kitchen::store, &Kitchen::stored,
            &Kitchen::answer, &Kitchen::negate, &Kitchen::flip, &Kitchen::scale, &Kitchen::move,
            &Kitchen::count, &Kitchen::join);

class Adder {
 public:
  int add(int a, int b) { return a + b; }
};
SHOAL_ACTOR(Adder, &Adder::add);

// Answers after a delay: its results are refs that are not ready for a while.
class Slow {
 public:
  int value_after(int value, int ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return value;
  }
};
SHOAL_ACTOR(Slow, &Slow::value_after);

// What a method that takes an ObjectRef saw of it.
struct RefReport {
  bool ready_on_entry = false;
  std::string id;
  int value = 0;
  MSGPACK_DEFINE(ready_on_entry, id, value);
};

// Methods that take refs, containers of refs, handles and large arguments.
class RefUser {
 public:
  RefReport inspect(shoal::ObjectRef<int> ref) {
    RefReport r;
    r.ready_on_entry = ref.ready();
    ++inspecting_;
    r.id = ref.id().to_string();
    r.value = shoal::get(ref, 30s);
    return r;
  }
  int pass_on(shoal::ObjectRef<int> ref, shoal::ActorHandle<Adder> adder) {
    return shoal::get(adder.task(&Adder::add).remote(ref, 1), 30s);
  }
  std::vector<std::string> ids_of(std::vector<shoal::ObjectRef<int>> refs) {
    std::vector<std::string> ids;
    for (const auto& r : refs)
      ids.push_back(r.id().to_string());
    return ids;
  }
  int sum_of(std::vector<shoal::ObjectRef<int>> refs) {
    int sum = 0;
    for (const auto& r : refs)
      sum += shoal::get(r, 30s);
    return sum;
  }
  int call_adder(shoal::ActorHandle<Adder> adder, int a, int b) {
    return shoal::get(adder.task(&Adder::add).remote(a, b), 30s);
  }
  int call_all(std::vector<shoal::ActorHandle<Adder>> adders, int x) {
    int sum = 0;
    for (const auto& a : adders)
      sum += shoal::get(a.task(&Adder::add).remote(x, 1), 30s);
    return sum;
  }
  int take_value(int v) { return v * 10; }
  Point take_point(Point p) { return p; }
  uint64_t checksum(const std::vector<uint8_t>& bytes) {
    uint64_t sum = 0;
    for (size_t i = 0; i < bytes.size(); ++i)
      sum = sum * 31 + bytes[i];
    return sum;
  }
  std::vector<uint8_t> reversed(std::vector<uint8_t> bytes) {
    return std::vector<uint8_t>(bytes.rbegin(), bytes.rend());
  }
  std::string echo(std::string s) { return s; }
  int inspecting() { return inspecting_; }

 private:
  std::atomic<int> inspecting_{0};
};
SHOAL_ACTOR(RefUser, &RefUser::inspect, &RefUser::pass_on, &RefUser::ids_of, &RefUser::sum_of,
            &RefUser::call_adder, &RefUser::call_all, &RefUser::take_value, &RefUser::take_point,
            &RefUser::checksum, &RefUser::reversed, &RefUser::echo, &RefUser::inspecting);

// Lists one of its two methods of the same signature.
class Partial {
 public:
  int listed(int x) { return x; }
  int unlisted(int x) { return -x; }
};
SHOAL_ACTOR(Partial, &Partial::listed);

// A notice board shared between processes.
class Board {
 public:
  void post(std::string key, std::string value) { posts_[key] = value; }
  std::string fetch(std::string key) {
    auto it = posts_.find(key);
    return it == posts_.end() ? std::string() : it->second;
  }
  int pid() { return int(::getpid()); }

 private:
  std::map<std::string, std::string> posts_;
};
SHOAL_ACTOR(Board, &Board::post, &Board::fetch, &Board::pid);

int square(int x) {
  return x * x;
}
std::string shout(const std::string& s) {
  return s + "!";
}
void nothing(int) {}
std::vector<int> iota_task(int n) {
  std::vector<int> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}
int never_registered(int x) {
  return x;
}
SHOAL_REMOTE(square, shout, nothing, iota_task);

namespace {

class ActorCalls : public ::testing::Test {
 protected:
  void SetUp() override { shoal::init(shoal::Config{.prefault = false}); }
  void TearDown() override { shoal::shutdown(); }
};

template <class T>
T get_in_time(const shoal::ObjectRef<T>& ref) {
  return shoal::get(ref, 30s);
}

}  // namespace

// ---- registration and calls ----------------------------------------------------------

TEST_F(ActorCalls, MethodsOfEverySignatureReturnTheirResults) {
  auto k = shoal::actor<Kitchen>().remote(100);
  EXPECT_EQ(get_in_time(k.task(&Kitchen::add).remote(1, 2)), 103);
  EXPECT_EQ(get_in_time(k.task(&Kitchen::greet).remote(std::string("shoal"))), "hello shoal");
  EXPECT_EQ(get_in_time(k.task(&Kitchen::greet).remote("literal")), "hello literal");
  EXPECT_EQ(get_in_time(k.task(&Kitchen::answer).remote()), 42);
  EXPECT_EQ(get_in_time(k.task(&Kitchen::negate).remote(int64_t(1) << 40)), -(int64_t(1) << 40));
  EXPECT_EQ(get_in_time(k.task(&Kitchen::flip).remote(false)), true);
  EXPECT_EQ(get_in_time(k.task(&Kitchen::scale).remote(std::vector<double>{1.5, -2, 0}, 2.0)),
            (std::vector<double>{3, -4, 0}));
  const Point p{7, "p", {1, 2}};
  EXPECT_EQ(get_in_time(k.task(&Kitchen::move).remote(p, 3)), (Point{10, "p", {1, 2, 3}}));
  EXPECT_EQ(get_in_time(
                k.task(&Kitchen::count).remote(std::vector<std::string>{"a", "b", "a", "c", "a"})),
            (std::map<std::string, int>{{"a", 3}, {"b", 1}, {"c", 1}}));
  EXPECT_EQ(get_in_time(k.task(&Kitchen::join).remote(std::string("x"), '-', std::string("y"), 3)),
            "x-yx-yx-y");
}

TEST_F(ActorCalls, VoidMethodsGiveObjectRefVoidAndConstMethodsSeeTheirEffect) {
  auto k = shoal::actor<Kitchen>().remote(0);
  auto done = k.task(&Kitchen::store).remote(17);
  static_assert(std::is_same_v<decltype(done), shoal::ObjectRef<void>>);
  shoal::get(done, 30s);  // returns nothing, throws nothing
  EXPECT_TRUE(done.ready());
  auto seen = k.task(&Kitchen::stored).remote();
  static_assert(std::is_same_v<decltype(seen), shoal::ObjectRef<int>>);
  EXPECT_EQ(get_in_time(seen), 17);
}

TEST_F(ActorCalls, ConstructorArgumentsReachTheActor) {
  auto a = shoal::actor<Kitchen>().remote(-5);
  auto b = shoal::actor<Kitchen>().remote(1000);
  EXPECT_EQ(get_in_time(a.task(&Kitchen::add).remote(0, 0)), -5);
  EXPECT_EQ(get_in_time(b.task(&Kitchen::add).remote(0, 0)), 1000);
}

TEST_F(ActorCalls, RemoteFunctionsRunAsStatelessTasks) {
  EXPECT_EQ(get_in_time(shoal::task(square).remote(12)), 144);
  EXPECT_EQ(get_in_time(shoal::task(shout).remote(std::string("hey"))), "hey!");
  auto v = shoal::task(nothing).remote(3);
  static_assert(std::is_same_v<decltype(v), shoal::ObjectRef<void>>);
  shoal::get(v, 30s);
  EXPECT_EQ(get_in_time(shoal::task(iota_task).remote(5)), (std::vector<int>{0, 1, 2, 3, 4}));
  std::vector<shoal::ObjectRef<int>> refs;
  for (int i = 0; i < 100; ++i)
    refs.push_back(shoal::task(square).remote(i));
  const std::vector<int> got = shoal::get(refs, 30s);
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(got[size_t(i)], i * i);
}

// ---- argument rules -----------------------------------------------------------------------

TEST_F(ActorCalls, RefForAValueParameterIsResolvedBeforeTheCall) {
  auto latch = shoal::actor<Latch>().options({.max_concurrency = 2}).remote();
  auto adder = shoal::actor<Adder>().remote();
  shoal::ObjectRef<int> late = latch.task(&Latch::value_when_open).remote(20);
  shoal::ObjectRef<int> sum = adder.task(&Adder::add).remote(late, 1);
  // Nothing can be summed while the latch holds the value back.
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(sum.ready());
  EXPECT_FALSE(late.ready());
  shoal::get(latch.task(&Latch::open).remote(), 30s);
  EXPECT_EQ(get_in_time(sum), 21);
  EXPECT_TRUE(late.ready());
  // A put object and a user type resolve the same way.
  auto user = shoal::actor<RefUser>().remote();
  EXPECT_EQ(get_in_time(user.task(&RefUser::take_value).remote(shoal::put(4))), 40);
  const Point p{1, "one", {1}};
  EXPECT_EQ(get_in_time(user.task(&RefUser::take_point).remote(shoal::put(p))), p);
}

// Errors of an argument's producer reach the caller through the call's own
// result; the actor that was to run the call keeps serving.
TEST_F(ActorCalls, RefArgumentThatFailedFailsTheCallWithItsCause) {
  auto adder = shoal::actor<Adder>().remote();
  auto slow = shoal::actor<Slow>().remote();
  (void)get_in_time(slow.task(&Slow::value_after).remote(0, 0));
  // The producer is killed while the call waits for its value.
  shoal::ObjectRef<int> never = slow.task(&Slow::value_after).remote(1, 20'000);
  shoal::ObjectRef<int> sum = adder.task(&Adder::add).remote(never, 1);
  std::this_thread::sleep_for(50ms);
  shoal::kill(slow);
  try {
    (void)shoal::get(sum, 30s);
    FAIL() << "a call on a value that never came got a value";
  } catch (const shoal::Error& e) {
    EXPECT_NE(std::string(e.what()).find("kill"), std::string::npos) << e.what();
  }
  EXPECT_EQ(get_in_time(adder.task(&Adder::add).remote(2, 3)), 5);
}

TEST_F(ActorCalls, RefParameterReceivesTheRefItselfWithoutWaiting) {
  auto latch = shoal::actor<Latch>().options({.max_concurrency = 2}).remote();
  auto user = shoal::actor<RefUser>().options({.max_concurrency = 2}).remote();
  shoal::ObjectRef<int> late = latch.task(&Latch::value_when_open).remote(5);
  auto report = user.task(&RefUser::inspect).remote(late);
  // The method runs while the value does not exist yet, and waits for it itself.
  ASSERT_TRUE(
      eventually([&] { return get_in_time(user.task(&RefUser::inspecting).remote()) == 1; }));
  shoal::get(latch.task(&Latch::open).remote(), 30s);
  const RefReport r = get_in_time(report);
  EXPECT_FALSE(r.ready_on_entry) << "the method ran before the ref it takes was ready";
  EXPECT_EQ(r.id, late.id().to_string());
  EXPECT_EQ(r.value, 5);
  // A ready ref arrives ready.
  auto ready = shoal::put(9);
  const RefReport r2 = get_in_time(user.task(&RefUser::inspect).remote(ready));
  EXPECT_TRUE(r2.ready_on_entry);
  EXPECT_EQ(r2.id, ready.id().to_string());
  EXPECT_EQ(r2.value, 9);
}

TEST_F(ActorCalls, ReceivedRefCanBePassedOnToAnotherActor) {
  auto slow = shoal::actor<Slow>().remote();
  auto user = shoal::actor<RefUser>().remote();
  auto adder = shoal::actor<Adder>().remote();
  shoal::ObjectRef<int> late = slow.task(&Slow::value_after).remote(30, 200);
  EXPECT_EQ(get_in_time(user.task(&RefUser::pass_on).remote(late, adder)), 31);
}

TEST_F(ActorCalls, RefsInsideContainersTravelAsRefs) {
  auto slow = shoal::actor<Slow>().remote();
  auto user = shoal::actor<RefUser>().remote();
  std::vector<shoal::ObjectRef<int>> refs{shoal::put(1), shoal::put(2),
                                          slow.task(&Slow::value_after).remote(3, 300)};
  const std::vector<std::string> ids = get_in_time(user.task(&RefUser::ids_of).remote(refs));
  ASSERT_EQ(ids.size(), 3u);
  for (size_t i = 0; i < refs.size(); ++i)
    EXPECT_EQ(ids[i], refs[i].id().to_string());
  EXPECT_EQ(get_in_time(user.task(&RefUser::sum_of).remote(refs)), 6);
}

TEST_F(ActorCalls, HandlePassedAsArgumentCanBeCalledByTheReceivingActor) {
  auto adder = shoal::actor<Adder>().remote();
  auto user = shoal::actor<RefUser>().remote();
  EXPECT_EQ(get_in_time(user.task(&RefUser::call_adder).remote(adder, 40, 2)), 42);
  // Handles inside a container travel too.
  auto other = shoal::actor<Adder>().remote();
  EXPECT_EQ(
      get_in_time(user.task(&RefUser::call_all)
                      .remote(std::vector<shoal::ActorHandle<Adder>>{adder, other, adder}, 10)),
      33);
}

TEST_F(ActorCalls, ArgumentsLargerThanACellTravelAsObjects) {
  auto user = shoal::actor<RefUser>().remote();
  // Just past the inline room of a cell (88 bytes), and far past it.
  const std::string text(100, 'q');
  EXPECT_EQ(get_in_time(user.task(&RefUser::echo).remote(text)), text);
  const std::string edge(83, 'e');  // 5 bytes of tag and length: exactly 88
  EXPECT_EQ(get_in_time(user.task(&RefUser::echo).remote(edge)), edge);
  std::vector<uint8_t> mib(1 << 20);
  for (size_t i = 0; i < mib.size(); ++i)
    mib[i] = uint8_t(i * 7 + (i >> 11));
  uint64_t want = 0;
  for (uint8_t b : mib)
    want = want * 31 + b;
  EXPECT_EQ(get_in_time(user.task(&RefUser::checksum).remote(mib)), want);
  const std::vector<uint8_t> back = get_in_time(user.task(&RefUser::reversed).remote(mib));
  ASSERT_EQ(back.size(), mib.size());
  EXPECT_TRUE(std::equal(back.begin(), back.end(), mib.rbegin()));
  // Several large calls in flight at once.
  std::vector<shoal::ObjectRef<uint64_t>> sums;
  for (int i = 0; i < 8; ++i)
    sums.push_back(user.task(&RefUser::checksum).remote(mib));
  for (auto& s : sums)
    EXPECT_EQ(get_in_time(s), want);
}

// ---- what was not registered ----------------------------------------------------------------

TEST_F(ActorCalls, UnlistedMethodWithAListedSignatureThrowsUsageErrorNamingClassAndSignature) {
  auto p = shoal::actor<Partial>().remote();
  EXPECT_EQ(get_in_time(p.task(&Partial::listed).remote(3)), 3);
  try {
    (void)p.task(&Partial::unlisted);
    FAIL() << "task(&Partial::unlisted) did not throw";
  } catch (const shoal::UsageError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("Partial"), std::string::npos) << what;
    EXPECT_NE(what.find("int(int)"), std::string::npos) << what;
    EXPECT_NE(what.find("SHOAL_ACTOR"), std::string::npos) << what;
  }
  // The actor is unaffected.
  EXPECT_EQ(get_in_time(p.task(&Partial::listed).remote(4)), 4);
}

TEST_F(ActorCalls, TaskOfAnUnregisteredFunctionThrowsUsageError) {
  try {
    (void)shoal::task(never_registered);
    FAIL() << "shoal::task(never_registered) did not throw";
  } catch (const shoal::UsageError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("SHOAL_REMOTE"), std::string::npos) << what;
    EXPECT_NE(what.find("int (*)(int)"), std::string::npos) << what;
  }
}

// A method no SHOAL_ACTOR lists, of a signature none lists either, is a
// compile error: compile such a snippet (and a control that is accepted).
TEST(ActorCompile, MethodOfAnUnlistedSignatureDoesNotCompile) {
  const std::string here = __FILE__;
  const std::string root = here.substr(0, here.rfind("/tests/core/"));
  if (root == here || ::access("/usr/bin/c++", X_OK) != 0)
    GTEST_SKIP() << "no compiler or source tree";
  const std::string dir = ::testing::TempDir();
  auto compile = [&](const std::string& name, const std::string& call) {
    const std::string path = dir + "/shoal_" + name + "_" + std::to_string(::getpid()) + ".cpp";
    std::ofstream(path) << "#include <shoal/shoal.hpp>\n"
                           "struct Half { int listed(int x) { return x; }\n"
                           "              double other(double x) { return x; } };\n"
                           "SHOAL_ACTOR(Half, &Half::listed);\n"
                           "void f(shoal::ActorHandle<Half> h) { (void)h." +
                               call + "; }\n";
    CommandResult r =
        run_command({"/usr/bin/c++", "-std=c++20", "-fsyntax-only", "-I" + root,
                     "-I" + root + "/core/include", "-I" + root + "/store/include", path},
                    120s);
    std::remove(path.c_str());
    return r;
  };
  const CommandResult bad = compile("unlisted", "task(&Half::other)");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("not listed in SHOAL_ACTOR"), std::string::npos) << bad.err;
  const CommandResult good = compile("listed", "task(&Half::listed).remote(1)");
  EXPECT_EQ(good.exit_code, 0) << good.err;
}

// ---- named actors ------------------------------------------------------------------------------

TEST_F(ActorCalls, NamedActorIsFoundByNameInTheSameProcess) {
  auto board = shoal::actor<Board>().options({.name = "board"}).remote();
  shoal::get(board.task(&Board::post).remote(std::string("k"), std::string("v")), 30s);
  auto found = shoal::get_actor<Board>("board");
  EXPECT_TRUE(found == board);
  EXPECT_EQ(get_in_time(found.task(&Board::fetch).remote(std::string("k"))), "v");
}

TEST_F(ActorCalls, DuplicateNameThrowsUsageError) {
  auto board = shoal::actor<Board>().options({.name = "only-one"}).remote();
  EXPECT_THROW(shoal::actor<Board>().options({.name = "only-one"}).remote(), shoal::UsageError);
  EXPECT_THROW(shoal::actor<Adder>().options({.name = "only-one"}).remote(), shoal::UsageError);
  // The first keeps its name and serves.
  EXPECT_TRUE(shoal::get_actor<Board>("only-one") == board);
  EXPECT_GT(get_in_time(board.task(&Board::pid).remote()), 0);
}

TEST_F(ActorCalls, GetActorOfAMissingNameThrowsActorNotFoundError) {
  EXPECT_THROW(shoal::get_actor<Board>("nobody"), shoal::ActorNotFoundError);
  auto board = shoal::actor<Board>().options({.name = "gone-soon"}).remote();
  (void)get_in_time(board.task(&Board::pid).remote());
  shoal::kill(board);
  EXPECT_TRUE(eventually([] {
    try {
      (void)shoal::get_actor<Board>("gone-soon");
      return false;
    } catch (const shoal::ActorNotFoundError&) {
      return true;
    }
  }));
}

TEST_F(ActorCalls, GetActorWithTheWrongClassThrowsTypeMismatchError) {
  auto board = shoal::actor<Board>().options({.name = "a-board"}).remote();
  try {
    (void)shoal::get_actor<Adder>("a-board");
    FAIL() << "get_actor<Adder> of a Board did not throw";
  } catch (const shoal::TypeMismatchError& e) {
    EXPECT_EQ(e.expected_type(), "Adder");
    EXPECT_EQ(e.actual_type(), "Board");
  }
  EXPECT_TRUE(shoal::get_actor<Board>("a-board") == board);
}

// ---- other processes of the session ----------------------------------------------------------

// A peer: finds the Board named args[0], posts to it, reads it back, and
// checks its pid is args[1].
SHOAL_TEST_PEER(call_named_board) {
  try {
    auto board = shoal::get_actor<Board>(args.at(0));
    shoal::get(board.task(&Board::post).remote(std::string("peer"), std::to_string(::getpid())),
               30s);
    if (shoal::get(board.task(&Board::fetch).remote(std::string("driver")), 30s) != "was here") {
      return 3;
    }
    if (std::to_string(shoal::get(board.task(&Board::pid).remote(), 30s)) != args.at(1)) return 4;
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "peer: %s\n", e.what());
    return 2;
  }
}

// A peer: creates a Board named args[0] and posts its pid to it, says "ready"
// on fd args[1], and keeps the actor alive until a line arrives on fd args[2].
SHOAL_TEST_PEER(own_named_board) {
  auto board = shoal::actor<Board>().options({.name = args.at(0)}).remote();
  shoal::get(board.task(&Board::post).remote(std::string("owner"), std::to_string(::getpid())),
             30s);
  write_all(std::atoi(args.at(1).c_str()), "ready\n");
  return read_line(std::atoi(args.at(2).c_str()), 60s) == "done" ? 0 : 3;
}

TEST_F(ActorCalls, PeerProcessCallsANamedActorOfTheDriver) {
  auto board = shoal::actor<Board>().options({.name = "shared-board"}).remote();
  shoal::get(board.task(&Board::post).remote(std::string("driver"), std::string("was here")), 30s);
  const int actor_pid = get_in_time(board.task(&Board::pid).remote());
  const pid_t peer = spawn_peer("call_named_board", {"shared-board", std::to_string(actor_pid)});
  ASSERT_GT(peer, 0);
  EXPECT_EQ(wait_child(peer, 60s), 0);
  EXPECT_EQ(get_in_time(board.task(&Board::fetch).remote(std::string("peer"))),
            std::to_string(peer));
}

TEST_F(ActorCalls, DriverCallsANamedActorCreatedByAPeerProcess) {
  Pipe ready, done;
  const pid_t peer = spawn_peer("own_named_board",
                                {"peer-board", std::to_string(ready.wr), std::to_string(done.rd)});
  ASSERT_GT(peer, 0);
  ASSERT_EQ(read_line(ready.rd, 60s), "ready");
  auto board = shoal::get_actor<Board>("peer-board");
  EXPECT_EQ(get_in_time(board.task(&Board::fetch).remote(std::string("owner"))),
            std::to_string(peer));
  shoal::get(board.task(&Board::post).remote(std::string("driver"), std::string("hi")), 30s);
  EXPECT_EQ(get_in_time(board.task(&Board::fetch).remote(std::string("driver"))), "hi");
  write_all(done.wr, "done\n");
  EXPECT_EQ(wait_child(peer, 60s), 0);
  // An actor dies with the process that created it.
  EXPECT_TRUE(eventually([&] {
    try {
      (void)shoal::get(board.task(&Board::pid).remote(), 10s);
      return false;
    } catch (const shoal::ActorDiedError&) {
      return true;
    }
  }));
}

// Ranks of `shoal launch -n 2`: rank 0 creates a named Board and waits until
// rank 1 has posted to it; rank 1 finds it, reads rank 0's post, and posts.
SHOAL_TEST_PEER(launch_board) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + 60s;
  try {
    if (shoal::rank() == 0) {
      auto board = shoal::actor<Board>().options({.name = "launch-board"}).remote();
      shoal::get(board.task(&Board::post).remote(std::string("rank0"), std::string("from zero")),
                 30s);
      std::string seen;
      while (seen.empty() && Clock::now() < deadline) {
        seen = shoal::get(board.task(&Board::fetch).remote(std::string("rank1")), 30s);
        if (seen.empty()) std::this_thread::sleep_for(5ms);
      }
      std::printf("rank0 saw [%s] actor_pid=%d\n", seen.c_str(),
                  shoal::get(board.task(&Board::pid).remote(), 30s));
      return seen == "from one" ? 0 : 3;
    }
    for (;;) {
      try {
        auto board = shoal::get_actor<Board>("launch-board");
        // The name is visible as soon as the actor exists, maybe before rank 0's post.
        std::string read;
        while (read.empty() && Clock::now() < deadline) {
          read = shoal::get(board.task(&Board::fetch).remote(std::string("rank0")), 30s);
          if (read.empty()) std::this_thread::sleep_for(2ms);
        }
        const int pid = shoal::get(board.task(&Board::pid).remote(), 30s);
        // The last call: once rank 0 sees it, it may exit, and its actor with it.
        shoal::get(board.task(&Board::post).remote(std::string("rank1"), std::string("from one")),
                   30s);
        std::printf("rank1 read [%s] actor_pid=%d\n", read.c_str(), pid);
        return 0;
      } catch (const shoal::ActorNotFoundError&) {
        if (Clock::now() > deadline) return 4;
        std::this_thread::sleep_for(5ms);
      }
    }
  } catch (const std::exception& e) {
    std::printf("rank %d failed: %s\n", shoal::rank(), e.what());
    return 2;
  }
}

TEST(ActorLaunch, RankCallsANamedActorCreatedByAnotherRank) {
  Child launcher({shoal_bin(), "launch", "-n", "2", "--", self_exe()},
                 {"SHOAL_TEST_PEER=launch_board"});
  const int code = launcher.wait(120s);
  ASSERT_EQ(code, 0) << launcher.out() << launcher.err();
  std::string pid0, pid1;
  int rank0_lines = 0, rank1_lines = 0;
  for (const std::string& line : split_lines(launcher.out())) {
    char text[256] = {0};
    int rank = -1, pid = 0;
    if (std::sscanf(line.c_str(), "(rank %d pid=%d) %255[^\n]", &rank, &pid, text) != 3) continue;
    const std::string t = text;
    if (rank == 0 && t.rfind("rank0 saw [from one] actor_pid=", 0) == 0) {
      ++rank0_lines;
      pid0 = t.substr(t.find('=') + 1);
    }
    if (rank == 1 && t.rfind("rank1 read [from zero] actor_pid=", 0) == 0) {
      ++rank1_lines;
      pid1 = t.substr(t.find('=') + 1);
    }
  }
  EXPECT_EQ(rank0_lines, 1) << launcher.out();
  EXPECT_EQ(rank1_lines, 1) << launcher.out();
  EXPECT_EQ(pid0, pid1) << "the ranks talked to different actors";
}
