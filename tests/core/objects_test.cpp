// The public objects API across processes: put/get of every codec, timeouts,
// zero-copy views, wrong types and bad ids, references held by other
// processes and inside containers, wait(), as_completed() and futures.
//
// One session serves the whole file; peers (spawn_peer) are separate processes
// that join it. Each test compares store_live_objects() with its own baseline.
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <future>
#include <limits>
#include <map>
#include <numeric>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <shoal/shoal.hpp>

#include "tests/cli/processes.hpp"
#include "tests/support/test_actors.hpp"
#include "tests/support/test_support.hpp"

using namespace std::chrono_literals;
using namespace std::string_literals;
using shoal::testing::eventually;
using shoal::testing::live_objects_once_actors_ended;
using shoal::testing::Pipe;
using shoal::testing::read_line;
using shoal::testing::spawn_peer;
using shoal::testing::store_live_objects;
using shoal::testing::wait_child;
using shoal::testing::write_all;

// ---- the values every test round-trips ----------------------------------

struct Point {
  int32_t x;
  double y;
  char tag[8];
  friend bool operator==(const Point& a, const Point& b) {
    return a.x == b.x && a.y == b.y && std::memcmp(a.tag, b.tag, sizeof(a.tag)) == 0;
  }
};
static_assert(std::is_trivially_copyable_v<Point>);

struct Person {
  std::string name;
  int age = 0;
  std::vector<std::string> tags;
  std::map<std::string, double> scores;
  MSGPACK_DEFINE(name, age, tags, scores);
  friend bool operator==(const Person&, const Person&) = default;
};

namespace {

Point sample_point() {
  return Point{-7, 2.5, {'s', 'h', 'o', 'a', 'l', 0, 0, 0}};
}
std::string sample_string() {
  return "a string with \0 a NUL inside"s + std::string(300, 'x');
}
std::vector<double> sample_doubles() {
  return {0.0, -1.5, 3.25, 1e300, -0.0, 42.0};
}
std::vector<std::string> sample_strings() {
  return {"", "one", std::string(1000, 'z'), "three"};
}
std::map<std::string, int> sample_map() {
  return {{"a", 1}, {"bb", -2}, {"", 0}, {"long key", 1 << 30}};
}
Person sample_person() {
  return Person{"Ada", 36, {"math", "engines"}, {{"analysis", 9.5}, {"poetry", 7.25}}};
}
// A payload whose every byte depends on its position, so a shifted or
// truncated copy is caught.
std::vector<uint8_t> pattern(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = uint8_t((i * 31 + 7) ^ (i >> 12));
  return v;
}
constexpr size_t kOneMiB = size_t(1) << 20;
constexpr size_t kBig = size_t(64) << 20;

}  // namespace

// ---- actors the tests use (registered at global scope) ----------------------

class Sleeper {
 public:
  int sleep_then(int ms, int value) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return value;
  }
};
SHOAL_ACTOR(Sleeper, &Sleeper::sleep_then);

namespace {

shoal::ActorHandle<Gate> make_gate() {
  return shoal::actor<Gate>().options(shoal::ActorOptions{.max_concurrency = 16}).remote();
}

// ---- talking to peers -------------------------------------------------------

int fd_arg(const std::vector<std::string>& args, size_t i) {
  return std::atoi(args.at(i).c_str());
}

// Splits "name id" lines into a map.
std::map<std::string, std::string> read_ids(int fd, size_t count) {
  std::map<std::string, std::string> ids;
  for (size_t i = 0; i < count; ++i) {
    const std::string line = read_line(fd);
    const size_t sp = line.find(' ');
    if (sp == std::string::npos) break;
    ids[line.substr(0, sp)] = line.substr(sp + 1);
  }
  return ids;
}

template <class T>
shoal::ObjectRef<T> ref_of(const std::string& id) {
  return shoal::ObjectRef<T>(shoal::ObjectId::parse(id));
}

// True if p lies in a mapping of this session's segment (/proc/self/maps).
bool in_segment(const void* p) {
  const std::string needle = "/dev/shm/" + shoal::testing::session_name();
  std::ifstream maps("/proc/self/maps");
  std::string line;
  const auto addr = reinterpret_cast<uintptr_t>(p);
  while (std::getline(maps, line)) {
    if (line.find(needle) == std::string::npos) continue;
    uintptr_t lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx", &lo, &hi) == 2 && addr >= lo && addr < hi) return true;
  }
  return false;
}

class SessionEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { shoal::init(); }
  void TearDown() override { shoal::shutdown(); }
};
[[maybe_unused]] ::testing::Environment* const g_env =
    ::testing::AddGlobalTestEnvironment(new SessionEnvironment);

}  // namespace

// ---- peers ------------------------------------------------------------------

// Puts one value of every kind, reports "name id" lines on args[0], then keeps
// its refs until the test writes a line on args[1].
SHOAL_TEST_PEER(put_all_kinds) {
  const int out = fd_arg(args, 0), in = fd_arg(args, 1);
  auto i = shoal::put(int64_t(-1234567890123));
  auto p = shoal::put(sample_point());
  auto s = shoal::put(sample_string());
  auto d = shoal::put(sample_doubles());
  auto vs = shoal::put(sample_strings());
  auto m = shoal::put(sample_map());
  auto u = shoal::put(sample_person());
  auto ev = shoal::put(std::vector<double>{});
  auto es = shoal::put(std::string());
  auto mb = shoal::put(pattern(kOneMiB));
  auto big = shoal::put(pattern(kBig));
  std::ostringstream o;
  o << "int " << i.id().to_string() << "\npoint " << p.id().to_string() << "\nstring "
    << s.id().to_string() << "\ndoubles " << d.id().to_string() << "\nstrings "
    << vs.id().to_string() << "\nmap " << m.id().to_string() << "\nperson " << u.id().to_string()
    << "\nempty_vec " << ev.id().to_string() << "\nempty_str " << es.id().to_string() << "\nmib "
    << mb.id().to_string() << "\nbig " << big.id().to_string() << "\n";
  write_all(out, o.str());
  return read_line(in, 120s) == "done" ? 0 : 3;
}

// Gets one value of every kind by the ids in args (same order as above) and
// exits 0 if each equals what the test put.
SHOAL_TEST_PEER(get_all_kinds) {
  int bad = 0;
  auto check = [&](bool ok, const char* what) {
    if (!ok) {
      std::fprintf(stderr, "peer: %s differs\n", what);
      ++bad;
    }
  };
  try {
    check(shoal::get(ref_of<int64_t>(args.at(0))) == -1234567890123, "int");
    check(shoal::get(ref_of<Point>(args.at(1))) == sample_point(), "point");
    check(shoal::get(ref_of<std::string>(args.at(2))) == sample_string(), "string");
    check(shoal::get(ref_of<std::vector<double>>(args.at(3))) == sample_doubles(), "doubles");
    check(shoal::get(ref_of<std::vector<std::string>>(args.at(4))) == sample_strings(), "strings");
    check(shoal::get(ref_of<std::map<std::string, int>>(args.at(5))) == sample_map(), "map");
    check(shoal::get(ref_of<Person>(args.at(6))) == sample_person(), "person");
    check(shoal::get(ref_of<std::vector<double>>(args.at(7))).empty(), "empty vector");
    check(shoal::get(ref_of<std::string>(args.at(8))).empty(), "empty string");
    check(shoal::get(ref_of<std::vector<uint8_t>>(args.at(9))) == pattern(kOneMiB), "1 MiB");
    const auto view = shoal::get_view(ref_of<std::vector<uint8_t>>(args.at(10)));
    const auto want = pattern(kBig);
    check(view.size() == want.size() && std::equal(view.begin(), view.end(), want.begin()),
          "64 MiB");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "peer: %s\n", e.what());
    return 2;
  }
  return bad;
}

// Gets the int whose id is args[0] and exits with 0 if it equals args[1].
SHOAL_TEST_PEER(get_int_by_id) {
  try {
    const int v = shoal::get(ref_of<int>(args.at(0)), 60s);
    return v == std::atoi(args.at(1).c_str()) ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "peer: %s\n", e.what());
    return 2;
  }
}

// Puts an int (args[2]), reports its id on args[0], and exits without waiting:
// only the test's reference keeps the object alive afterwards.
SHOAL_TEST_PEER(put_int_and_exit) {
  auto r = shoal::put(std::atoi(args.at(2).c_str()));
  write_all(fd_arg(args, 0), r.id().to_string() + "\n");
  // Exit only once the test has pinned the object (else it could be freed first).
  return read_line(fd_arg(args, 1), 60s) == "pinned" ? 0 : 3;
}

// Puts an int, reports its id, then waits to be killed while holding it.
SHOAL_TEST_PEER(put_int_and_hang) {
  auto r = shoal::put(99);
  write_all(fd_arg(args, 0), r.id().to_string() + "\n");
  std::this_thread::sleep_for(120s);
  return 4;
}

// Pins the object whose id is args[2], says "pinned", drops it when told
// "drop" (then says "dropped"), and exits when told "exit".
SHOAL_TEST_PEER(hold_id_until_told) {
  const int out = fd_arg(args, 0), in = fd_arg(args, 1);
  std::optional<shoal::ObjectRef<int>> ref = ref_of<int>(args.at(2));
  write_all(out, "pinned\n");
  if (read_line(in, 120s) != "drop") return 3;
  ref.reset();
  write_all(out, "dropped\n");
  return read_line(in, 120s) == "exit" ? 0 : 4;
}

// Puts 10, 20, 30 and a container of refs to them, drops its own refs to the
// three, reports the container's id on args[0] and exits once told "pinned".
SHOAL_TEST_PEER(put_container_and_exit) {
  std::optional<shoal::ObjectRef<std::vector<shoal::ObjectRef<int>>>> outer;
  {
    std::vector<shoal::ObjectRef<int>> inner{shoal::put(10), shoal::put(20), shoal::put(30)};
    outer = shoal::put(inner);
  }
  write_all(fd_arg(args, 0), outer->id().to_string() + "\n");
  return read_line(fd_arg(args, 1), 60s) == "pinned" ? 0 : 3;
}

// Puts a 1 MiB pattern, reports its id on args[0] and exits once told "pinned".
SHOAL_TEST_PEER(put_mib_and_exit) {
  auto r = shoal::put(pattern(kOneMiB));
  write_all(fd_arg(args, 0), r.id().to_string() + "\n");
  return read_line(fd_arg(args, 1), 60s) == "pinned" ? 0 : 3;
}

// Gets the std::vector<ObjectRef<int>> whose id is args[0] and exits with 0 if
// the inner values are 10, 20, 30.
SHOAL_TEST_PEER(get_nested_refs) {
  try {
    const auto inner = shoal::get(ref_of<std::vector<shoal::ObjectRef<int>>>(args.at(0)));
    const std::vector<int> values = shoal::get(inner);
    return values == std::vector<int>{10, 20, 30} ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "peer: %s\n", e.what());
    return 2;
  }
}

// ---- put / get of every kind -----------------------------------------------

template <class T>
void expect_round_trip(const T& value) {
  auto ref = shoal::put(value);
  EXPECT_EQ(shoal::get(ref), value);
  EXPECT_EQ(shoal::get(ref, 10s), value);
}

TEST(PutGet, IntRoundTrips) {
  expect_round_trip(42);
  expect_round_trip(int64_t(-1) << 62);
  expect_round_trip(uint8_t(255));
}

TEST(PutGet, TriviallyCopyableStructRoundTrips) {
  expect_round_trip(sample_point());
}

TEST(PutGet, StringRoundTripsIncludingEmbeddedNul) {
  expect_round_trip(sample_string());
}

TEST(PutGet, VectorOfDoublesRoundTrips) {
  expect_round_trip(sample_doubles());
}

TEST(PutGet, MsgpackDoublesAndFloatsAtTheIntegerEdgesRoundTripExactly) {
  // Integral values travel as msgpack integers; these sit on and beside the edges of uint64 and
  // int64, where that conversion must not overflow, and -0.0 must keep its sign.
  const std::vector<std::vector<double>> doubles = {
      {18446744073709551616.0, 18446744073709549568.0, 9223372036854775808.0,
       -9223372036854775808.0, -9223372036854777856.0, 1e300, -1e300, 0.5, 3.0, -3.0, 0.0},
      {std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()}};
  const auto got = shoal::get(shoal::put(doubles));
  EXPECT_EQ(got, doubles);
  const double neg_zero = shoal::get(shoal::put(std::vector<std::vector<double>>{{-0.0}}))[0][0];
  EXPECT_EQ(neg_zero, 0.0);
  EXPECT_TRUE(std::signbit(neg_zero));
  const std::vector<std::vector<float>> floats = {
      {18446744073709551616.0f, 9223372036854775808.0f, -9223372036854775808.0f, 1e38f, 7.0f}};
  EXPECT_EQ(shoal::get(shoal::put(floats)), floats);
}

TEST(PutGet, VectorOfStringsRoundTrips) {
  expect_round_trip(sample_strings());
}

TEST(PutGet, MapRoundTrips) {
  expect_round_trip(sample_map());
}

TEST(PutGet, UserTypeWithMsgpackDefineRoundTrips) {
  expect_round_trip(sample_person());
}

TEST(PutGet, EmptyVectorAndEmptyStringRoundTrip) {
  expect_round_trip(std::vector<double>{});
  expect_round_trip(std::string());
  expect_round_trip(std::vector<std::string>{});
}

TEST(PutGet, OneMebibyteObjectRoundTrips) {
  expect_round_trip(pattern(kOneMiB));
}

TEST(PutGet, SixtyFourMebibyteObjectRoundTrips) {
  const auto value = pattern(kBig);
  auto ref = shoal::put(value);
  EXPECT_TRUE(shoal::get(ref) == value);
}

TEST(PutGet, ValuesPutHereAreReadByAnotherProcess) {
  auto i = shoal::put(int64_t(-1234567890123));
  auto p = shoal::put(sample_point());
  auto s = shoal::put(sample_string());
  auto d = shoal::put(sample_doubles());
  auto vs = shoal::put(sample_strings());
  auto m = shoal::put(sample_map());
  auto u = shoal::put(sample_person());
  auto ev = shoal::put(std::vector<double>{});
  auto es = shoal::put(std::string());
  auto mb = shoal::put(pattern(kOneMiB));
  auto big = shoal::put(pattern(kBig));
  const pid_t peer =
      spawn_peer("get_all_kinds",
                 {i.id().to_string(), p.id().to_string(), s.id().to_string(), d.id().to_string(),
                  vs.id().to_string(), m.id().to_string(), u.id().to_string(), ev.id().to_string(),
                  es.id().to_string(), mb.id().to_string(), big.id().to_string()});
  EXPECT_EQ(wait_child(peer, 120s), 0);
}

TEST(PutGet, ValuesPutByAnotherProcessAreReadHereAfterItExits) {
  const uint64_t baseline = live_objects_once_actors_ended();
  Pipe to_test, to_peer;
  const pid_t peer =
      spawn_peer("put_all_kinds", {std::to_string(to_test.wr), std::to_string(to_peer.rd)});
  to_test.close_wr();
  to_peer.close_rd();
  const auto ids = read_ids(to_test.rd, 11);
  ASSERT_EQ(ids.size(), 11u);
  auto i = ref_of<int64_t>(ids.at("int"));
  auto p = ref_of<Point>(ids.at("point"));
  auto s = ref_of<std::string>(ids.at("string"));
  auto d = ref_of<std::vector<double>>(ids.at("doubles"));
  auto vs = ref_of<std::vector<std::string>>(ids.at("strings"));
  auto m = ref_of<std::map<std::string, int>>(ids.at("map"));
  auto u = ref_of<Person>(ids.at("person"));
  auto ev = ref_of<std::vector<double>>(ids.at("empty_vec"));
  auto es = ref_of<std::string>(ids.at("empty_str"));
  auto mb = ref_of<std::vector<uint8_t>>(ids.at("mib"));
  auto big = ref_of<std::vector<uint8_t>>(ids.at("big"));
  write_all(to_peer.wr, "done\n");
  ASSERT_EQ(wait_child(peer, 60s), 0);

  EXPECT_EQ(shoal::get(i), -1234567890123);
  EXPECT_EQ(shoal::get(p), sample_point());
  EXPECT_EQ(shoal::get(s), sample_string());
  EXPECT_EQ(shoal::get(d), sample_doubles());
  EXPECT_EQ(shoal::get(vs), sample_strings());
  EXPECT_EQ(shoal::get(m), sample_map());
  EXPECT_EQ(shoal::get(u), sample_person());
  EXPECT_TRUE(shoal::get(ev).empty());
  EXPECT_TRUE(shoal::get(es).empty());
  EXPECT_TRUE(shoal::get(mb) == pattern(kOneMiB));
  EXPECT_TRUE(shoal::get(big) == pattern(kBig));
  EXPECT_EQ(store_live_objects(), baseline + 11);
}

TEST(PutGet, GetOfVectorOfRefsReturnsValuesInOrder) {
  std::vector<shoal::ObjectRef<std::string>> refs;
  for (int i = 0; i < 50; ++i)
    refs.push_back(shoal::put("value " + std::to_string(i)));
  const std::vector<std::string> values = shoal::get(refs);
  ASSERT_EQ(values.size(), 50u);
  for (int i = 0; i < 50; ++i)
    EXPECT_EQ(values[size_t(i)], "value " + std::to_string(i));
  EXPECT_EQ(shoal::get(refs, 10s), values);
  EXPECT_TRUE(shoal::get(std::vector<shoal::ObjectRef<std::string>>{}).empty());
}

// ---- timeouts ---------------------------------------------------------------

TEST(GetTimeout, ObjectThatNeverArrivesThrowsGetTimeoutErrorAfterTheTimeout) {
  auto gate = make_gate();
  auto ref = gate.task(&Gate::wait_open).remote(1);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(shoal::get(ref, 200ms), shoal::GetTimeoutError);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 200ms);  // never early
  // The ref is still good: the same object arrives later.
  shoal::get(gate.task(&Gate::open).remote(1));
  EXPECT_EQ(shoal::get(ref, 60s), 1);
}

TEST(GetTimeout, GetOfVectorWithTimeoutThrowsWhenOneNeverArrives) {
  auto gate = make_gate();
  std::vector<shoal::ObjectRef<int>> refs{shoal::put(1), gate.task(&Gate::wait_open).remote(1),
                                          shoal::put(3)};
  EXPECT_THROW(shoal::get(refs, 100ms), shoal::GetTimeoutError);
  shoal::get(gate.task(&Gate::open).remote(1));
  EXPECT_EQ(shoal::get(refs, 60s), (std::vector<int>{1, 1, 3}));
}

TEST(GetTimeout, SlowResultArrivesWithinAGenerousTimeout) {
  auto sleeper = shoal::actor<Sleeper>().remote();
  auto ref = sleeper.task(&Sleeper::sleep_then).remote(50, 7);
  EXPECT_EQ(shoal::get(ref, 60s), 7);
}

TEST(GetTimeout, ZeroTimeoutOnASealedObjectSucceeds) {
  auto ref = shoal::put(5);
  EXPECT_EQ(shoal::get(ref, 0ns), 5);
}

// ---- zero-copy views --------------------------------------------------------

TEST(GetView, VectorViewPointsIntoTheSegment) {
  std::vector<int64_t> value(100000);
  for (size_t i = 0; i < value.size(); ++i)
    value[i] = int64_t(i * i) - 5;
  auto ref = shoal::put(value);
  const shoal::View<std::vector<int64_t>> view = shoal::get_view(ref);
  EXPECT_TRUE(in_segment(view.data()));
  ASSERT_EQ(view.size(), value.size());
  EXPECT_EQ(view.size_bytes(), value.size() * sizeof(int64_t));
  EXPECT_EQ(view[12345], value[12345]);
  EXPECT_EQ(view.front(), value.front());
  EXPECT_EQ(view.back(), value.back());
  EXPECT_TRUE(std::equal(view.begin(), view.end(), value.begin()));
  const std::span<const int64_t> span = view;
  EXPECT_EQ(span.data(), view.data());
  // Two views of one object share its bytes.
  EXPECT_EQ(shoal::get_view(ref).data(), view.data());
}

TEST(GetView, StringViewPointsIntoTheSegment) {
  const std::string value = sample_string();
  auto ref = shoal::put(value);
  const auto view = shoal::get_view(ref);
  EXPECT_TRUE(in_segment(view.data()));
  EXPECT_EQ(view.view(), value);
  EXPECT_TRUE(view == std::string_view(value));
  EXPECT_EQ(view.size(), value.size());
}

TEST(GetView, TriviallyCopyableStructViewPointsIntoTheSegment) {
  auto ref = shoal::put(sample_point());
  const auto view = shoal::get_view(ref);
  EXPECT_TRUE(in_segment(view.get()));
  EXPECT_EQ(*view, sample_point());
  EXPECT_EQ(view->x, -7);
}

TEST(GetView, EmptyVectorViewIsEmpty) {
  auto ref = shoal::put(std::vector<float>{});
  const auto view = shoal::get_view(ref);
  EXPECT_TRUE(view.empty());
  EXPECT_EQ(view.begin(), view.end());
}

TEST(GetView, ViewOutlivingEveryRefKeepsTheObjectPinnedAndReadable) {
  const uint64_t baseline = live_objects_once_actors_ended();
  const auto value = pattern(kOneMiB);
  std::optional<shoal::View<std::vector<uint8_t>>> view;
  {
    auto ref = shoal::put(value);
    view = shoal::get_view(ref);
    EXPECT_EQ(store_live_objects(), baseline + 1);
  }  // the last ObjectRef is gone
  // Churn the store so freed memory would be reused if the view did not pin it.
  for (int i = 0; i < 20; ++i) {
    auto other = shoal::put(std::vector<uint8_t>(kOneMiB, uint8_t(0xEE)));
    (void)other;
  }
  EXPECT_EQ(store_live_objects(), baseline + 1);
  EXPECT_TRUE(in_segment(view->data()));
  EXPECT_TRUE(std::equal(view->begin(), view->end(), value.begin(), value.end()));
  view.reset();
  EXPECT_TRUE(eventually([&] { return store_live_objects() == baseline; }));
}

TEST(GetView, StringViewOutlivingItsRefStaysValid) {
  const uint64_t baseline = live_objects_once_actors_ended();
  std::optional<shoal::View<std::string>> view;
  {
    auto ref = shoal::put(std::string(5000, 'q'));
    view = shoal::get_view(ref);
  }
  EXPECT_EQ(store_live_objects(), baseline + 1);
  EXPECT_EQ(view->view(), std::string(5000, 'q'));
  view.reset();
  EXPECT_TRUE(eventually([&] { return store_live_objects() == baseline; }));
}

// ---- wrong types and bad ids ------------------------------------------------

TEST(WrongType, GetOfDoubleOnAnIntObjectThrowsTypeMismatchNamingBothTypes) {
  auto ref = shoal::put(17);
  const shoal::ObjectRef<double> wrong(ref.id());
  try {
    shoal::get(wrong);
    FAIL() << "get<double> of an int returned";
  } catch (const shoal::TypeMismatchError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("int"), std::string::npos) << what;
    EXPECT_NE(what.find("double"), std::string::npos) << what;
    EXPECT_EQ(e.expected_type(), "double");
    EXPECT_EQ(e.actual_type(), "int");
  }
  // The object itself is untouched.
  EXPECT_EQ(shoal::get(ref), 17);
}

TEST(WrongType, GetViewAndTimedGetOfTheWrongTypeThrowTypeMismatch) {
  auto ref = shoal::put(std::vector<int32_t>{1, 2, 3});
  const shoal::ObjectRef<std::vector<float>> wrong(ref.id());
  EXPECT_THROW(shoal::get_view(wrong), shoal::TypeMismatchError);
  EXPECT_THROW(shoal::get(wrong, 1s), shoal::TypeMismatchError);
  const shoal::ObjectRef<std::string> wrong_string(ref.id());
  EXPECT_THROW(shoal::get(wrong_string), shoal::TypeMismatchError);
}

TEST(WrongType, MsgpackTypeReadAsAnotherMsgpackTypeThrowsTypeMismatch) {
  auto ref = shoal::put(sample_person());
  const shoal::ObjectRef<std::map<std::string, int>> wrong(ref.id());
  try {
    shoal::get(wrong);
    FAIL() << "get of the wrong msgpack type returned";
  } catch (const shoal::TypeMismatchError& e) {
    EXPECT_NE(std::string(e.what()).find("Person"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("map"), std::string::npos) << e.what();
  }
}

TEST(WrongType, TypeMismatchOnAnObjectPutByAnotherProcessNamesItsType) {
  Pipe to_test, to_peer;
  const pid_t peer =
      spawn_peer("put_int_and_exit", {std::to_string(to_test.wr), std::to_string(to_peer.rd), "5"});
  to_test.close_wr();
  to_peer.close_rd();
  const std::string id = read_line(to_test.rd);
  ASSERT_EQ(id.size(), 32u);
  auto ref = ref_of<int>(id);
  write_all(to_peer.wr, "pinned\n");
  ASSERT_EQ(wait_child(peer), 0);
  try {
    shoal::get(shoal::ObjectRef<std::string>(ref.id()));
    FAIL() << "get<std::string> of an int returned";
  } catch (const shoal::TypeMismatchError& e) {
    EXPECT_EQ(e.actual_type(), "int") << e.what();
  }
}

TEST(ObjectIds, ToStringAndParseRoundTrip) {
  auto ref = shoal::put(3);
  const shoal::ObjectId id = ref.id();
  const std::string text = id.to_string();
  EXPECT_EQ(text.size(), 32u);
  EXPECT_EQ(text.find_first_not_of("0123456789abcdef"), std::string::npos) << text;
  EXPECT_EQ(shoal::ObjectId::parse(text), id);
  std::string upper = text;
  for (char& c : upper)
    c = char(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(shoal::ObjectId::parse(upper), id);
  EXPECT_FALSE(id.is_nil());
  EXPECT_TRUE(shoal::ObjectId().is_nil());
  EXPECT_EQ(shoal::get(shoal::ObjectRef<int>(shoal::ObjectId::parse(text))), 3);
}

TEST(ObjectIds, ParseOfGarbageThrowsInvalidArgument) {
  for (const char* garbage :
       {"", "nonsense", "0123456789abcdef0123456789abcde", "0123456789abcdef0123456789abcdef0",
        "0123456789abcdef0123456789abcdeg", "                                ",
        "-123456789abcdef0123456789abcdef"}) {
    EXPECT_THROW(shoal::ObjectRef<int>(shoal::ObjectId::parse(garbage)), std::invalid_argument)
        << garbage;
  }
}

TEST(ObjectIds, RandomHexIdThrowsObjectNotFound) {
  EXPECT_THROW(ref_of<int>("0123456789abcdef0123456789abcdef"), shoal::ObjectNotFoundError);
  EXPECT_THROW(ref_of<int>("ffffffffffffffffffffffffffffffff"), shoal::ObjectNotFoundError);
  // This session's tag with slots and generations that name nothing live,
  // including a slot far beyond the table.
  const uint64_t session = shoal::put(1).id().session();
  for (auto [slot, gen] : std::vector<std::pair<uint32_t, uint32_t>>{
           {0xffffffffu, 1}, {0x7fffffffu, 0}, {12345, 0xdeadbeefu}, {0, 0}, {1, 0xffffffffu}}) {
    EXPECT_THROW(shoal::ObjectRef<int>(shoal::ObjectId(session, slot, gen)),
                 shoal::ObjectNotFoundError)
        << slot << " " << gen;
  }
}

TEST(ObjectIds, IdOfAFreedObjectThrowsObjectNotFound) {
  const uint64_t baseline = live_objects_once_actors_ended();
  shoal::ObjectId id;
  {
    auto ref = shoal::put(std::string("soon gone"));
    id = ref.id();
  }
  ASSERT_TRUE(eventually([&] { return store_live_objects() == baseline; }));
  EXPECT_THROW(shoal::ObjectRef<std::string>{id}, shoal::ObjectNotFoundError);
  // Its slot may be reused; the old id still names nothing.
  std::vector<shoal::ObjectRef<std::string>> fresh;
  for (int i = 0; i < 100; ++i)
    fresh.push_back(shoal::put(std::string("new")));
  EXPECT_THROW(shoal::ObjectRef<std::string>{id}, shoal::ObjectNotFoundError);
}

TEST(ObjectIds, IdPassedAsTextToAnotherProcessGivesItTheValue) {
  auto ref = shoal::put(4242);
  const pid_t peer = spawn_peer("get_int_by_id", {ref.id().to_string(), "4242"});
  EXPECT_EQ(wait_child(peer), 0);
}

TEST(ObjectIds, IdOfAPendingResultInAnotherProcessWaitsForItsSeal) {
  auto gate = make_gate();
  auto ref = gate.task(&Gate::wait_open).remote(1);
  const pid_t peer = spawn_peer("get_int_by_id", {ref.id().to_string(), "1"});
  std::this_thread::sleep_for(100ms);  // let the peer start waiting (not required)
  shoal::get(gate.task(&Gate::open).remote(1));
  EXPECT_EQ(wait_child(peer), 0);
}

TEST(ObjectIds, EmptyRefThrowsInsteadOfHanging) {
  const shoal::ObjectRef<int> empty;
  EXPECT_FALSE(empty.valid());
  EXPECT_TRUE(empty.id().is_nil());
  EXPECT_THROW(shoal::get(empty), shoal::Error);
  EXPECT_THROW(shoal::get(empty, 1s), shoal::Error);
}

// ---- references across processes --------------------------------------------

TEST(References, ObjectOfAnExitedPeerLivesWhileTheTestHoldsARef) {
  const uint64_t baseline = live_objects_once_actors_ended();
  Pipe to_test, to_peer;
  const pid_t peer = spawn_peer("put_int_and_exit",
                                {std::to_string(to_test.wr), std::to_string(to_peer.rd), "77"});
  to_test.close_wr();
  to_peer.close_rd();
  const std::string id = read_line(to_test.rd);
  ASSERT_EQ(id.size(), 32u);
  {
    auto ref = ref_of<int>(id);
    write_all(to_peer.wr, "pinned\n");
    ASSERT_EQ(wait_child(peer), 0);
    // The peer is gone; our reference alone holds the object.
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(store_live_objects(), baseline + 1);
    EXPECT_EQ(shoal::get(ref), 77);
    auto copy = ref;
    EXPECT_EQ(shoal::get(copy), 77);
  }
  EXPECT_TRUE(eventually([&] { return store_live_objects() == baseline; }));
  EXPECT_THROW(ref_of<int>(id), shoal::ObjectNotFoundError);
}

TEST(References, ViewOfAnExitedPeersObjectStaysValidAfterTheLastRefIsDropped) {
  const uint64_t baseline = live_objects_once_actors_ended();
  Pipe to_test, to_peer;
  const pid_t peer =
      spawn_peer("put_mib_and_exit", {std::to_string(to_test.wr), std::to_string(to_peer.rd)});
  to_test.close_wr();
  to_peer.close_rd();
  const std::string id = read_line(to_test.rd);
  ASSERT_EQ(id.size(), 32u);
  std::optional<shoal::View<std::vector<uint8_t>>> view;
  {
    auto ref = ref_of<std::vector<uint8_t>>(id);
    view = shoal::get_view(ref);
    write_all(to_peer.wr, "pinned\n");
    ASSERT_EQ(wait_child(peer), 0);
  }  // the putter and every ObjectRef are gone: only the View pins the object
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(store_live_objects(), baseline + 1);
  EXPECT_TRUE(in_segment(view->data()));
  const auto want = pattern(kOneMiB);
  EXPECT_TRUE(std::equal(view->begin(), view->end(), want.begin(), want.end()));
  view.reset();
  EXPECT_TRUE(eventually([&] { return store_live_objects() == baseline; }));
}

TEST(References, ContainerPutByAnExitedPeerKeepsItsInnerObjectsAlive) {
  const uint64_t baseline = live_objects_once_actors_ended();
  Pipe to_test, to_peer;
  const pid_t peer = spawn_peer("put_container_and_exit",
                                {std::to_string(to_test.wr), std::to_string(to_peer.rd)});
  to_test.close_wr();
  to_peer.close_rd();
  const std::string id = read_line(to_test.rd);
  ASSERT_EQ(id.size(), 32u);
  {
    auto outer = ref_of<std::vector<shoal::ObjectRef<int>>>(id);
    write_all(to_peer.wr, "pinned\n");
    ASSERT_EQ(wait_child(peer), 0);
    std::this_thread::sleep_for(200ms);
    // The container and the three objects inside it.
    EXPECT_EQ(store_live_objects(), baseline + 4);
    EXPECT_EQ(shoal::get(shoal::get(outer)), (std::vector<int>{10, 20, 30}));
  }
  EXPECT_TRUE(eventually([&] { return store_live_objects() == baseline; }));
}

TEST(References, RefsOfAPeerKilledWithSigkillAreReleased) {
  const uint64_t baseline = live_objects_once_actors_ended();
  Pipe to_test;
  const pid_t peer = spawn_peer("put_int_and_hang", {std::to_string(to_test.wr), "-1"});
  to_test.close_wr();
  const std::string id = read_line(to_test.rd);
  ASSERT_EQ(id.size(), 32u);
  EXPECT_EQ(store_live_objects(), baseline + 1);
  ::kill(peer, SIGKILL);
  EXPECT_EQ(wait_child(peer), 128 + SIGKILL);
  EXPECT_TRUE(eventually([&] { return store_live_objects() == baseline; }));
}

TEST(References, ObjectIsFreedOnlyWhenTheLastRefInAnyProcessIsDropped) {
  const uint64_t baseline = live_objects_once_actors_ended();
  Pipe to_test, to_peer;
  pid_t peer = -1;
  {
    auto ref = shoal::put(std::vector<double>(1000, 1.0));
    std::vector<shoal::ObjectRef<std::vector<double>>> copies(10, ref);
    peer = spawn_peer("hold_id_until_told", {std::to_string(to_test.wr), std::to_string(to_peer.rd),
                                             ref.id().to_string()});
    to_test.close_wr();
    to_peer.close_rd();
    ASSERT_EQ(read_line(to_test.rd), "pinned");
    copies.clear();
    EXPECT_EQ(store_live_objects(), baseline + 1);
  }  // every ref of this process is gone; the peer's keeps the object
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(store_live_objects(), baseline + 1);
  write_all(to_peer.wr, "drop\n");
  ASSERT_EQ(read_line(to_test.rd), "dropped");
  EXPECT_TRUE(eventually([&] { return store_live_objects() == baseline; }));
  write_all(to_peer.wr, "exit\n");
  EXPECT_EQ(wait_child(peer), 0);
}

TEST(References, RefsInsideAContainerKeepTheInnerObjectsAlive) {
  const uint64_t baseline = live_objects_once_actors_ended();
  std::optional<shoal::ObjectRef<std::vector<shoal::ObjectRef<int>>>> outer;
  {
    std::vector<shoal::ObjectRef<int>> inner{shoal::put(10), shoal::put(20), shoal::put(30)};
    outer = shoal::put(inner);
  }  // only the container holds the inner objects now
  EXPECT_EQ(store_live_objects(), baseline + 4);
  const auto inner = shoal::get(*outer);
  ASSERT_EQ(inner.size(), 3u);
  EXPECT_EQ(shoal::get(inner), (std::vector<int>{10, 20, 30}));
  // Another process reads through the container too.
  const pid_t peer = spawn_peer("get_nested_refs", {outer->id().to_string()});
  EXPECT_EQ(wait_child(peer), 0);
  outer.reset();
  EXPECT_TRUE(eventually([&] {
    return store_live_objects() == baseline + 3;
  }));  // `inner` (a decoded copy) still holds them
  const std::vector<int> again = shoal::get(inner);
  EXPECT_EQ(again, (std::vector<int>{10, 20, 30}));
}

TEST(References, DroppingTheContainerFreesInnerObjectsWithNoOtherRef) {
  const uint64_t baseline = live_objects_once_actors_ended();
  {
    std::vector<shoal::ObjectRef<int>> inner{shoal::put(1), shoal::put(2)};
    auto outer = shoal::put(inner);
    inner.clear();
    EXPECT_EQ(store_live_objects(), baseline + 3);
    EXPECT_EQ(shoal::get(shoal::get(outer)[1]), 2);
  }
  EXPECT_TRUE(eventually([&] { return store_live_objects() == baseline; }));
}

// ---- wait -------------------------------------------------------------------

TEST(Wait, ReturnsNumReturnsReadyRefsInInputOrder) {
  auto gate = make_gate();
  auto a = gate.task(&Gate::wait_open).remote(1);
  auto x = shoal::put(1);
  auto b = gate.task(&Gate::wait_open).remote(2);
  auto y = shoal::put(2);
  auto z = shoal::put(3);
  const std::vector<shoal::ObjectRef<int>> refs{a, x, b, y, z};
  auto r = shoal::wait(refs, {.num_returns = 2});
  EXPECT_EQ(r.ready, (std::vector<shoal::ObjectRef<int>>{x, y}));
  EXPECT_EQ(r.not_ready, (std::vector<shoal::ObjectRef<int>>{a, b, z}));
  r = shoal::wait(refs, {.num_returns = 3});
  EXPECT_EQ(r.ready, (std::vector<shoal::ObjectRef<int>>{x, y, z}));
  EXPECT_EQ(r.not_ready, (std::vector<shoal::ObjectRef<int>>{a, b}));
  shoal::get(gate.task(&Gate::open).remote(2));
  r = shoal::wait(refs, {.num_returns = 5});
  EXPECT_EQ(r.ready, refs);
  EXPECT_TRUE(r.not_ready.empty());
}

TEST(Wait, DefaultWaitsForOneAndBlocksUntilItIsReady) {
  auto gate = make_gate();
  const std::vector<shoal::ObjectRef<int>> refs{gate.task(&Gate::wait_open).remote(2),
                                                gate.task(&Gate::wait_open).remote(1)};
  std::thread opener([&] {
    std::this_thread::sleep_for(50ms);
    gate.task(&Gate::open).remote(1);
  });
  auto r = shoal::wait(refs);
  opener.join();
  EXPECT_EQ(r.ready, (std::vector<shoal::ObjectRef<int>>{refs[1]}));
  EXPECT_EQ(r.not_ready, (std::vector<shoal::ObjectRef<int>>{refs[0]}));
  shoal::get(gate.task(&Gate::open).remote(2));
}

TEST(Wait, TimeoutReturnsWhatIsReady) {
  auto gate = make_gate();
  auto x = shoal::put(1);
  auto a = gate.task(&Gate::wait_open).remote(1);
  auto y = shoal::put(2);
  const std::vector<shoal::ObjectRef<int>> refs{x, a, y};
  const auto start = std::chrono::steady_clock::now();
  auto r = shoal::wait(refs, {.num_returns = 3, .timeout = 200ms});
  EXPECT_GE(std::chrono::steady_clock::now() - start, 200ms);
  EXPECT_EQ(r.ready, (std::vector<shoal::ObjectRef<int>>{x, y}));
  EXPECT_EQ(r.not_ready, (std::vector<shoal::ObjectRef<int>>{a}));
  // Nothing ready at all: an empty `ready`, not an error.
  r = shoal::wait(std::vector<shoal::ObjectRef<int>>{a}, {.num_returns = 1, .timeout = 50ms});
  EXPECT_TRUE(r.ready.empty());
  EXPECT_EQ(r.not_ready.size(), 1u);
  shoal::get(gate.task(&Gate::open).remote(1));
}

TEST(Wait, BadArgumentsThrowInvalidArgument) {
  const std::vector<shoal::ObjectRef<int>> refs{shoal::put(1), shoal::put(2)};
  EXPECT_THROW(shoal::wait(refs, {.num_returns = 0}), std::invalid_argument);
  EXPECT_THROW(shoal::wait(refs, {.num_returns = 3}), std::invalid_argument);
  EXPECT_THROW(shoal::wait(std::vector<shoal::ObjectRef<int>>{}), std::invalid_argument);
  EXPECT_THROW(shoal::wait(std::vector<shoal::ObjectRef<int>>{refs[0], refs[1], refs[0]},
                           {.num_returns = 1}),
               std::invalid_argument);
  // Two distinct copies of one ref are still the same ref.
  const shoal::ObjectRef<int> copy = refs[1];
  EXPECT_THROW(shoal::wait(std::vector<shoal::ObjectRef<int>>{copy, refs[1]}),
               std::invalid_argument);
  const shoal::ObjectRef<int> by_id(refs[0].id());
  EXPECT_THROW(shoal::wait(std::vector<shoal::ObjectRef<int>>{refs[0], by_id}),
               std::invalid_argument);
}

TEST(Wait, LoopOnWhatIsLeftMovesTheRefsAndKeepsTheirOrder) {
  std::vector<shoal::ObjectRef<int>> all;
  for (int i = 0; i < 200; ++i)
    all.push_back(shoal::put(i));
  std::vector<shoal::ObjectRef<int>> not_ready = all;
  std::vector<int> seen;
  while (!not_ready.empty()) {
    auto r = shoal::wait(std::move(not_ready), {.num_returns = not_ready.size() > 7 ? 3u : 1u});
    for (const auto& ref : r.ready)
      seen.push_back(shoal::get(ref));
    not_ready = std::move(r.not_ready);
    // What is left is exactly the tail of `all`, in order.
    ASSERT_EQ(not_ready,
              std::vector<shoal::ObjectRef<int>>(all.end() - long(not_ready.size()), all.end()));
  }
  std::vector<int> expected(200);
  std::iota(expected.begin(), expected.end(), 0);
  EXPECT_EQ(seen, expected);
  // An lvalue list is copied: the caller's refs stay as they were.
  const auto r = shoal::wait(all, {.num_returns = 2});
  EXPECT_EQ(all.size(), 200u);
  EXPECT_EQ(r.ready, (std::vector<shoal::ObjectRef<int>>{all[0], all[1]}));
  EXPECT_EQ(r.not_ready.size(), 198u);
}

TEST(Wait, ADuplicateSlippedIntoAListAlreadyCheckedIsStillFound) {
  auto gate = make_gate();
  std::vector<shoal::ObjectRef<int>> refs{shoal::put(1)};
  for (int i = 0; i < 5; ++i)
    refs.push_back(gate.task(&Gate::wait_open).remote(1));
  // wait() remembers the not_ready it returns as checked...
  auto left = shoal::wait(std::move(refs)).not_ready;
  ASSERT_EQ(left.size(), 5u);
  // ...a copy of one ref put over another is a duplicate...
  auto copied = left;
  copied[3] = copied[1];
  EXPECT_THROW(shoal::wait(std::move(copied), {.num_returns = 1, .timeout = 10ms}),
               std::invalid_argument);
  // ...and so is a new ref to one of the objects, made from its id, even in
  // the place of a ref dropped meanwhile (whose record it may reuse).
  auto left2 = shoal::wait(std::move(left), {.num_returns = 1, .timeout = 10ms}).not_ready;
  ASSERT_EQ(left2.size(), 5u);
  const shoal::ObjectId id = left2[0].id();
  const shoal::ObjectRef<int> p0 = left2[0], p1 = left2[1];
  left2[4] = shoal::ObjectRef<int>();
  left2[4] = shoal::ObjectRef<int>(id);
  EXPECT_THROW(shoal::wait(std::move(left2), {.num_returns = 1, .timeout = 10ms}),
               std::invalid_argument);
  // The same when the list starts with a ready ref, which wait() returns
  // without looking further than it unless the list is new to it.
  std::vector<shoal::ObjectRef<int>> mixed{shoal::put(7), p0, p1, p0};
  EXPECT_THROW(shoal::wait(std::move(mixed)), std::invalid_argument);
  std::vector<shoal::ObjectRef<int>> fine{shoal::put(7), shoal::put(8), p0, p1};
  auto r = shoal::wait(std::move(fine));
  ASSERT_EQ(r.ready.size(), 1u);
  EXPECT_EQ(shoal::get(r.ready[0]), 7);
  r.not_ready.push_back(r.not_ready[1]);
  EXPECT_THROW(shoal::wait(std::move(r.not_ready)), std::invalid_argument);
  shoal::get(gate.task(&Gate::open).remote(1));
}

// ---- as_completed -------------------------------------------------------------

TEST(AsCompleted, YieldsEveryRefOnceInCompletionOrder) {
  auto gate = make_gate();
  // Given in the reverse of the order the gate lets them finish.
  std::vector<shoal::ObjectRef<int>> refs;
  for (int k = 4; k >= 1; --k)
    refs.push_back(gate.task(&Gate::wait_open).remote(k));
  std::vector<int> order;
  int next = 1;
  shoal::get(gate.task(&Gate::open).remote(next));
  for (const shoal::ObjectRef<int>& ref : shoal::as_completed(refs)) {
    // Only `next` can be sealed yet: the gate opens one level at a time.
    const int v = shoal::get(ref, 0ns);
    order.push_back(v);
    if (++next <= 4) shoal::get(gate.task(&Gate::open).remote(next));
  }
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3, 4}));
}

TEST(AsCompleted, ReadyRefsComeInInputOrderAndEachOnce) {
  std::vector<shoal::ObjectRef<int>> refs;
  for (int i = 0; i < 20; ++i)
    refs.push_back(shoal::put(i));
  std::vector<int> seen;
  for (const auto& ref : shoal::as_completed(refs))
    seen.push_back(shoal::get(ref));
  std::vector<int> want(20);
  for (int i = 0; i < 20; ++i)
    want[size_t(i)] = i;
  EXPECT_EQ(seen, want);
  int count = 0;
  for ([[maybe_unused]] const auto& ref : shoal::as_completed(std::vector<shoal::ObjectRef<int>>{}))
    ++count;
  EXPECT_EQ(count, 0);
}

TEST(AsCompleted, ActorCallsThatSleepDifferentAmountsComeShortestFirst) {
  // Separate actors so the calls really run side by side. The gaps are wide
  // (two seconds) so only a machine stalled that long could reorder them;
  // YieldsEveryRefOnceInCompletionOrder checks the order without the clock.
  std::vector<shoal::ActorHandle<Sleeper>> sleepers;
  for (int i = 0; i < 3; ++i)
    sleepers.push_back(shoal::actor<Sleeper>().remote());
  for (auto& s : sleepers)
    shoal::get(s.task(&Sleeper::sleep_then).remote(0, 0));  // started
  const std::vector<shoal::ObjectRef<int>> refs{
      sleepers[0].task(&Sleeper::sleep_then).remote(4000, 3),
      sleepers[1].task(&Sleeper::sleep_then).remote(50, 1),
      sleepers[2].task(&Sleeper::sleep_then).remote(2000, 2)};
  std::vector<int> order;
  for (const auto& ref : shoal::as_completed(refs))
    order.push_back(shoal::get(ref));
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

// ---- futures --------------------------------------------------------------------

TEST(Future, GetReturnsTheValue) {
  auto ref = shoal::put(std::string("future"));
  std::future<std::string> f = ref.future();
  EXPECT_EQ(f.get(), "future");
}

TEST(Future, WaitForTimesOutUntilTheObjectIsSealed) {
  auto gate = make_gate();
  auto ref = gate.task(&Gate::wait_open).remote(1);
  std::future<int> f = ref.future();
  EXPECT_EQ(f.wait_for(100ms), std::future_status::timeout);
  shoal::get(gate.task(&Gate::open).remote(1));
  ASSERT_EQ(f.wait_for(60s), std::future_status::ready);
  EXPECT_EQ(f.get(), 1);
}

TEST(Future, FuturesFromManyRefsAllResolve) {
  auto gate = make_gate();
  std::vector<shoal::ObjectRef<int>> refs;
  for (int i = 0; i < 100; ++i) {
    // Ten calls block on the gate: fewer than its 16 threads, so open() runs.
    refs.push_back(i % 10 != 5 ? shoal::put(i) : gate.task(&Gate::wait_open).remote(1));
  }
  std::vector<std::future<int>> futures;
  for (const auto& r : refs)
    futures.push_back(r.future());
  shoal::get(gate.task(&Gate::open).remote(1));
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(futures[size_t(i)].wait_for(60s), std::future_status::ready) << i;
    EXPECT_EQ(futures[size_t(i)].get(), i % 10 != 5 ? i : 1);
  }
}

TEST(Future, WrongTypeIsReportedThroughTheFuture) {
  auto ref = shoal::put(1);
  std::future<double> f = shoal::ObjectRef<double>(ref.id()).future();
  EXPECT_THROW(f.get(), shoal::TypeMismatchError);
}
