// Bad input and faults: an actor killed -9 at random points of a call stream,
// garbage written into a request ring, and calls whose argument bytes do not
// fit the method's parameters.
//
// The garbage and the ill-formed arguments are written through shoal's
// internals (the store, the ring, submit_call with a hand-made ArgWriter),
// which is what a corrupting or mismatched process would do.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <shoal/shoal.hpp>

#include "core/src/runtime.hpp"
#include "ipc/request_ring.hpp"
#include "store/object_entry.hpp"
#include "tests/support/crash_session.hpp"
#include "tests/support/test_support.hpp"

using namespace std::chrono_literals;
using namespace shoal::testing;

struct Point {
  int x = 0;
  std::string label;
  MSGPACK_DEFINE(x, label);
};

class Stream {
 public:
  int echo(int x) { return x; }
  int pid() { return int(::getpid()); }
};
SHOAL_ACTOR(Stream, &Stream::echo, &Stream::pid);

// Parameters of several codecs, for arguments that do not fit them.
class Parser {
 public:
  int take_int(int x) { return x; }
  int take_point(Point p) { return p.x; }
  std::string take_two(int a, std::string b) { return std::to_string(a) + b; }
};
SHOAL_ACTOR(Parser, &Parser::take_int, &Parser::take_point, &Parser::take_two);

int task_take_int(int x) {
  return x + 1;
}
SHOAL_REMOTE(task_take_int);

namespace {

using Clock = std::chrono::steady_clock;
namespace detail = shoal::detail;

// A session per test; the actors under test crash on purpose.
class Faults : public CrashSession {};

// Sends what this process writes to fd 2 (and so what the session's actors
// write to stderr, through its fork server) to a file while it lives. Make it
// before shoal::init().
class StderrCapture {
 public:
  StderrCapture()
      : path_(::testing::TempDir() + "/shoal_stderr_" + std::to_string(::getpid()) + ".txt") {
    std::fflush(stderr);
    saved_ = ::dup(2);
    const int fd = ::open(path_.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_APPEND, 0600);
    ::dup2(fd, 2);
    ::close(fd);
  }
  ~StderrCapture() {
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    std::remove(path_.c_str());
  }
  std::string text() const {
    std::ifstream in(path_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

 private:
  std::string path_;
  int saved_ = -1;
};

size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
    ++n;
  return n;
}

// Claims the next cell of the actor's ring, lets `fill` write its payload,
// publishes it and wakes the actor.
template <class Fill>
void publish_cell(uint32_t actor_index, Fill&& fill) {
  shoal::store::Store& s = *detail::runtime().store;
  shoal::ipc::ActorEntry& e = s.actor(actor_index);
  auto ring = shoal::ipc::RequestRing::attach(s.base() + e.ring_off, e.ring_bytes);
  ASSERT_TRUE(ring);
  shoal::ipc::RequestRing::Claim claim;
  ASSERT_TRUE(eventually([&] {
    auto c = ring->try_claim(s.me());
    if (c) claim = *c;
    return bool(c);
  }));
  fill(claim.cell->payload);
  ring->publish(claim, s.me());
  const uint32_t consumer = ring->header().consumer.load();
  if (s.processes().valid(shoal::ipc::ProcessSlotId(consumer))) {
    s.processes().slot(shoal::ipc::ProcessSlotId(consumer)).wake.notify();
  }
}

// A result object for a hand-made call to the actor, as submit_call makes one.
shoal::ObjectRef<int> pending_result(uint32_t actor_index) {
  shoal::store::Store& s = *detail::runtime().store;
  auto created = s.create_object(shoal::store::ObjectState::kPending,
                                 shoal::store::WriterId::actor(actor_index), 2);
  EXPECT_TRUE(created);
  return detail::RefAccess::adopt<int>(*created);
}

}  // namespace

// ---- an actor killed at random points of a call stream ---------------------------------------

TEST_F(Faults, ActorKilledAtRandomPointsOfACallStreamEndsEveryCallInItsResultOrActorDied) {
  constexpr int kRounds = 120;
  constexpr int kMaxCalls = 50'000;
  constexpr int kCallsAfterKill = 200;
  std::mt19937 rng(20240611);
  int died_total = 0, served_total = 0;
  for (int round = 0; round < kRounds; ++round) {
    shoal::ActorOptions o;
    if (round % 2 == 1) o.ring_capacity = 16;  // callers park on a full ring
    const bool restarts = round % 4 == 3;
    if (restarts) o.max_restarts = -1;
    auto s = shoal::actor<Stream>().options(o).remote();
    // Every fifth round kills through shoal::kill as soon as it can, which may
    // be before the process has started.
    const bool early = round % 5 == 0;
    const pid_t pid = early ? 0 : s.pid();
    if (!early) {
      ASSERT_GT(pid, 0) << "round " << round;
    }
    const int delay_us = int(rng() % 2000);
    std::atomic<bool> killed{false};
    std::thread killer([&] {
      std::this_thread::sleep_for(std::chrono::microseconds(delay_us));
      if (early) {
        shoal::kill(s);
      } else {
        ::kill(pid, SIGKILL);
      }
      killed.store(true);
    });
    // The stream runs until some calls after the kill have been made (if the
    // killer is starved of a core for long, it ends waiting for the kill).
    std::vector<shoal::ObjectRef<int>> refs;
    int after_kill = 0;
    while (after_kill < kCallsAfterKill) {
      if (int(refs.size()) == kMaxCalls) killer.join();
      refs.push_back(s.task(&Stream::echo).remote(int(refs.size())));
      if (killed.load(std::memory_order_relaxed)) ++after_kill;
    }
    if (killer.joinable()) killer.join();
    int died = 0, bad = 0;
    bool failed_before = false, served_after_failure = false;
    for (size_t i = 0; i < refs.size(); ++i) {
      try {
        const int v = shoal::get(refs[i], 10s);
        if (v != int(i)) ++bad;
        if (failed_before) served_after_failure = true;
      } catch (const shoal::ActorDiedError&) {
        ++died;
        failed_before = true;
      } catch (const std::exception& e) {
        if (bad++ == 0) ADD_FAILURE() << "round " << round << " call " << i << ": " << e.what();
      }
    }
    EXPECT_EQ(bad, 0) << "round " << round;
    if (!restarts) {
      // Without restarts the calls run in order: the served ones come first,
      // and the calls made after the kill fail.
      EXPECT_FALSE(served_after_failure) << "round " << round;
      EXPECT_GT(died, 0) << "round " << round;
    }
    died_total += died;
    served_total += int(refs.size()) - died - bad;
    if (restarts) shoal::kill(s);
    if (HasFailure()) break;
  }
  std::printf("%d rounds: %d calls served, %d failed with ActorDiedError\n", kRounds, served_total,
              died_total);
}

// ---- garbage in a ring -----------------------------------------------------------------------

TEST(GarbageCell, RandomBytesInARingCellAreReportedAndTheActorKeepsServing) {
  StderrCapture capture;
  shoal::init(shoal::Config{.prefault = false});
  struct Guard {
    ~Guard() { shoal::shutdown(); }
  } guard;
  auto s = shoal::actor<Stream>().remote();
  const int pid = shoal::get(s.task(&Stream::pid).remote(), 30s);
  constexpr int kGarbage = 20;
  for (int g = 0; g < kGarbage; ++g) {
    std::mt19937_64 rng(uint64_t(g) + 1);
    publish_cell(s.id().index, [&](std::byte* payload) {
      for (size_t i = 0; i < shoal::ipc::kRingPayloadBytes; ++i)
        payload[i] = std::byte(rng());
    });
    EXPECT_EQ(shoal::get(s.task(&Stream::echo).remote(g), 30s), g) << "after garbage cell " << g;
  }
  EXPECT_EQ(shoal::get(s.task(&Stream::pid).remote(), 30s), pid) << "the actor was replaced";
  const std::string report =
      "(Stream pid=" + std::to_string(pid) + ") shoal: Stream dropped a malformed call cell";
  EXPECT_TRUE(eventually([&] { return count_of(capture.text(), report) == kGarbage; }))
      << "stderr:\n"
      << capture.text();
}

TEST_F(Faults, MalformedCellNamingAPendingResultAnswersItWithAnError) {
  auto s = shoal::actor<Stream>().remote();
  const int pid = shoal::get(s.task(&Stream::pid).remote(), 30s);
  shoal::ObjectRef<int> result = pending_result(s.id().index);
  publish_cell(s.id().index, [&](std::byte* payload) {
    detail::CallHeader h{};
    h.result_slot = detail::RefAccess::record(result)->slot;
    h.result_gen = detail::RefAccess::record(result)->gen;
    h.caller = uint16_t(detail::runtime().store->me());
    h.flags = 0x40;  // no such flag
    std::memcpy(payload, &h, sizeof(h));
  });
  try {
    (void)shoal::get(result, 30s);
    FAIL() << "a malformed cell got a value";
  } catch (const shoal::TaskError& e) {
    EXPECT_EQ(e.actor_class(), "Stream");
    EXPECT_NE(e.message().find("malformed"), std::string::npos) << e.what();
  }
  EXPECT_EQ(shoal::get(s.task(&Stream::pid).remote(), 30s), pid);
}

TEST_F(Faults, CellNamingAMethodTheClassDoesNotHaveFailsWithUsageError) {
  auto s = shoal::actor<Stream>().remote();
  const int pid = shoal::get(s.task(&Stream::pid).remote(), 30s);
  for (uint32_t method : {2u, 999u, 0u}) {
    shoal::ObjectRef<int> result = pending_result(s.id().index);
    publish_cell(s.id().index, [&](std::byte* payload) {
      detail::CallHeader h{};
      h.method = method;
      h.signature = 12345;  // method 0 exists, but not with this signature
      h.result_slot = detail::RefAccess::record(result)->slot;
      h.result_gen = detail::RefAccess::record(result)->gen;
      h.caller = uint16_t(detail::runtime().store->me());
      std::memcpy(payload, &h, sizeof(h));
    });
    try {
      (void)shoal::get(result, 30s);
      FAIL() << "method #" << method << " got a value";
    } catch (const shoal::TaskError& e) {
      EXPECT_EQ(e.exception_type(), "shoal::UsageError") << e.what();
      EXPECT_EQ(e.actor_class(), "Stream");
      EXPECT_NE(e.message().find("Stream"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(shoal::get(s.task(&Stream::echo).remote(3), 30s), 3);
  EXPECT_EQ(shoal::get(s.task(&Stream::pid).remote(), 30s), pid);
}

// ---- a corrupt request ring ------------------------------------------------------------------

namespace {

// The message of the StoreCorruptError a call to `s` throws while its ring
// is corrupt in the way `what` says.
std::string ring_error(const shoal::ActorHandle<Stream>& s, const std::string& what) {
  return "shoal: the request ring of actor Stream (entry " + std::to_string(s.id().index) +
         " of the actor table) is corrupt: " + what;
}

// Calls s.echo(x) and returns the message of the StoreCorruptError it throws
// ("" if it throws nothing, or something else). The call is made on a thread
// of its own: a thread validates an actor's ring at its first call to that
// actor (generation), and uses what it validated from then on.
std::string call_error(const shoal::ActorHandle<Stream>& s, int x) {
  std::string message;
  std::thread caller([&] {
    try {
      (void)s.task(&Stream::echo).remote(x);
    } catch (const shoal::StoreCorruptError& e) {
      message = e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "not a StoreCorruptError: " << e.what();
    }
  });
  caller.join();
  return message;
}

}  // namespace

TEST_F(Faults, CallIntoARingWhoseHeaderIsCorruptThrowsStoreCorruptErrorNamingTheRing) {
  auto s = shoal::actor<Stream>().remote();
  ASSERT_EQ(shoal::get(s.task(&Stream::echo).remote(1), 30s), 1);
  shoal::store::Store& st = *detail::runtime().store;
  const shoal::ipc::ActorEntry& e = st.actor(s.id().index);
  auto* header = reinterpret_cast<shoal::ipc::RingHeader*>(st.base() + e.ring_off);
  const uint64_t live = store_live_objects();
  const uint64_t magic = header->magic;
  header->magic = ~magic;
  EXPECT_EQ(call_error(s, 2),
            ring_error(s, "its header fails validation (magic number, capacity or size)"));
  EXPECT_EQ(store_live_objects(), live) << "the refused call's result was not freed";
  const uint32_t capacity = header->capacity;
  header->magic = magic;
  header->capacity = capacity + 1;  // not a power of two
  EXPECT_EQ(call_error(s, 3),
            ring_error(s, "its header fails validation (magic number, capacity or size)"));
  header->capacity = capacity;
  // The actor never saw the refused calls, and serves the next one.
  EXPECT_EQ(shoal::get(s.task(&Stream::echo).remote(4), 30s), 4);
  EXPECT_EQ(store_live_objects(), live);
}

TEST_F(Faults, ACapacityCorruptedAfterAThreadsFirstCallIsNeverReadByThatThread) {
  auto s = shoal::actor<Stream>().remote();
  ASSERT_EQ(shoal::get(s.task(&Stream::echo).remote(1), 30s), 1);
  shoal::store::Store& st = *detail::runtime().store;
  const shoal::ipc::ActorEntry& e = st.actor(s.id().index);
  auto* header = reinterpret_cast<shoal::ipc::RingHeader*>(st.base() + e.ring_off);
  const uint32_t capacity = header->capacity;
  header->capacity = 1u << 30;  // a power of two: cells far past the segment's end
  // This thread validated the ring at its first call: its calls still land
  // in the ring's real cells, and the actor serves them.
  for (int i = 2; i < 2 + int(capacity) * 2; ++i) {
    ASSERT_EQ(shoal::get(s.task(&Stream::echo).remote(i), 30s), i);
  }
  // A thread that has not called the actor yet validates the ring now.
  EXPECT_EQ(call_error(s, 0),
            ring_error(s, "its header fails validation (magic number, capacity or size)"));
  header->capacity = capacity;
  EXPECT_EQ(shoal::get(s.task(&Stream::echo).remote(7), 30s), 7);
}

TEST_F(Faults, CallIntoARingOutsideTheSegmentThrowsStoreCorruptErrorNamingTheRing) {
  auto s = shoal::actor<Stream>().remote();
  ASSERT_EQ(shoal::get(s.task(&Stream::echo).remote(1), 30s), 1);
  shoal::store::Store& st = *detail::runtime().store;
  shoal::ipc::ActorEntry& e = st.actor(s.id().index);
  const uint64_t ring_off = e.ring_off;
  const uint64_t size = st.segment().size();
  e.ring_off = size - 64;  // the ring would run past the end of the segment
  EXPECT_EQ(call_error(s, 2),
            ring_error(s, "its place (offset " + std::to_string(size - 64) + ", " +
                              std::to_string(e.ring_bytes) + " bytes) is not inside the segment (" +
                              std::to_string(size) + " bytes)"));
  e.ring_off = ring_off;
  EXPECT_EQ(shoal::get(s.task(&Stream::echo).remote(3), 30s), 3);
}

TEST_F(Faults, CallIntoARingWhoseTailCellIsCorruptThrowsStoreCorruptErrorNamingTheRing) {
  auto s = shoal::actor<Stream>().remote();
  ASSERT_EQ(shoal::get(s.task(&Stream::echo).remote(1), 30s), 1);
  shoal::store::Store& st = *detail::runtime().store;
  const shoal::ipc::ActorEntry& e = st.actor(s.id().index);
  auto* header = reinterpret_cast<shoal::ipc::RingHeader*>(st.base() + e.ring_off);
  auto* cells = reinterpret_cast<shoal::ipc::RingCell*>(header + 1);
  const uint64_t tail = header->tail.load();
  shoal::ipc::RingCell& cell = cells[tail & (header->capacity - 1)];
  const uint64_t seq = cell.seq.load();
  using Ring = shoal::ipc::RequestRing;
  cell.seq.store(Ring::make_seq(tail + 5, Ring::CellState::kFree, 0));  // a position it never had
  EXPECT_EQ(call_error(s, 2),
            ring_error(s,
                       "the sequence word of the cell at its tail is neither free nor a lap "
                       "behind"));
  cell.seq.store(seq);
  EXPECT_EQ(shoal::get(s.task(&Stream::echo).remote(3), 30s), 3);
}

// ---- arguments that do not deserialize -------------------------------------------------------

namespace {

// Submits method I of Parser with the arguments `write` puts in an ArgWriter.
template <size_t I, class Write>
shoal::ObjectRef<int> submit_raw(const shoal::ActorHandle<Parser>& p, Write&& write) {
  detail::ArgWriter w;
  write(w);
  return detail::RefAccess::adopt<int>(detail::submit_call(
      p.id().index, p.id().gen, uint32_t(I), detail::method_signature<Parser, I>(), w));
}

// get() of a call whose arguments were wrong: TaskError naming the method.
template <class T>
void expect_decode_error(const shoal::ObjectRef<T>& ref, const std::string& method,
                         const std::string& actor_class, const std::string& why) {
  try {
    (void)shoal::get(ref, 30s);
    ADD_FAILURE() << why << ": the call got a value";
  } catch (const shoal::TaskError& e) {
    EXPECT_EQ(e.method(), method) << why << ": " << e.what();
    EXPECT_EQ(e.actor_class(), actor_class) << why;
    EXPECT_NE(std::string(e.what()).find(method), std::string::npos) << why << ": " << e.what();
    EXPECT_NE(e.message().find("decode"), std::string::npos) << why << ": " << e.what();
  }
}

}  // namespace

TEST_F(Faults, ArgumentsThatDoNotDeserializeGiveTaskErrorNamingTheMethod) {
  auto p = shoal::actor<Parser>().remote();
  EXPECT_EQ(shoal::get(p.task(&Parser::take_int).remote(5), 30s), 5);

  expect_decode_error(submit_raw<0>(p, [](auto& w) { w.template add<double>(3.5); }), "take_int",
                      "Parser", "a double for an int");
  expect_decode_error(submit_raw<0>(p,
                                    [](auto& w) {
                                      w.template add<Point>(Point{1, "x"});
                                    }),
                      "take_int", "Parser", "a msgpack value for a raw parameter");
  expect_decode_error(submit_raw<0>(p,
                                    [](auto& w) {
                                      w.template add<int>(1);
                                      w.template add<int>(2);
                                    }),
                      "take_int", "Parser", "two arguments for one parameter");
  expect_decode_error(submit_raw<0>(p, [](auto&) {}), "take_int", "Parser", "no argument");
  auto ref = shoal::put(7);
  expect_decode_error(
      submit_raw<0>(p, [&](auto& w) { w.template add<shoal::ObjectRef<int>>(ref); }), "take_int",
      "Parser", "a reference passed as itself to a value parameter");
  expect_decode_error(submit_raw<1>(p, [](auto& w) { w.template add<int>(1); }), "take_point",
                      "Parser", "raw bytes for a msgpack parameter");
  expect_decode_error(
      submit_raw<1>(p,
                    [](auto& w) {
                      w.template add<std::vector<std::string>>(std::vector<std::string>{"a", "b"});
                    }),
      "take_point", "Parser", "msgpack of another shape");
  expect_decode_error(submit_raw<2>(p, [](auto& w) { w.template add<int>(1); }), "take_two",
                      "Parser", "one argument for two parameters");
  expect_decode_error(submit_raw<2>(p,
                                    [](auto& w) {
                                      w.template add<int>(1);
                                      w.template add<std::string>(std::string(200, 'x'));
                                      w.template add<int>(3);
                                    }),
                      "take_two", "Parser", "three arguments (in an arguments object) for two");

  // The actor kept serving through all of it.
  EXPECT_EQ(shoal::get(p.task(&Parser::take_int).remote(6), 30s), 6);
  EXPECT_EQ(shoal::get(p.task(&Parser::take_two).remote(1, std::string("a")), 30s), "1a");
}

TEST_F(Faults, TaskArgumentsThatDoNotDeserializeGiveTaskErrorNamingTheFunction) {
  EXPECT_EQ(shoal::get(shoal::task(task_take_int).remote(1), 30s), 2);
  const int index = detail::function_index(reinterpret_cast<const void*>(&task_take_int));
  ASSERT_GE(index, 0);
  detail::ArgWriter w;
  w.add<std::string>(std::string("not an int"));
  auto ref = detail::RefAccess::adopt<int>(detail::submit_task(uint32_t(index), w));
  expect_decode_error(ref, "task_take_int", "", "a string for an int");
  EXPECT_EQ(shoal::get(shoal::task(task_take_int).remote(2), 30s), 3);
}
