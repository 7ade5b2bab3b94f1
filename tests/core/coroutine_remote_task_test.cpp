// Coroutine stateless tasks: a function returning shoal::Task<R>, registered
// with SHOAL_REMOTE, runs as a coroutine on a worker's event loop: several of
// them are suspended at once on one worker and finish in whatever order their
// awaits complete. Ray rejects async remote functions; shoal runs them.
//
// Sessions here have one worker, so every task lands on the same loop. The
// state the tasks share (counters, an Event) is per worker process.
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <shoal/shoal.hpp>

#include "tests/support/test_actors.hpp"
#include "tests/support/test_support.hpp"
#include "tests/support/worker_session.hpp"

using namespace std::chrono_literals;

struct NapReport {
  int pid = 0;
  int tid = 0;
  int finished_as = 0;     // 1 for the first task of this worker to finish, ...
  int peak_in_flight = 0;  // most tasks of this worker suspended at once, so far
  MSGPACK_DEFINE(pid, tid, finished_as, peak_in_flight);
};

namespace {
// Per worker process.
int g_in_flight = 0;
int g_peak = 0;
int g_finished = 0;
shoal::Event g_go;
int g_waiting = 0;
}  // namespace

shoal::Task<NapReport> nap(int ms) {
  g_peak = std::max(g_peak, ++g_in_flight);
  co_await shoal::sleep_for(std::chrono::milliseconds(ms));
  --g_in_flight;
  co_return NapReport{int(::getpid()), int(::gettid()), ++g_finished, g_peak};
}

// Waits for the worker-wide Event; the task that sees `expected` waiters sets it.
shoal::Task<int> meet(int id, int expected) {
  ++g_waiting;
  if (g_waiting == expected) {
    g_go.set();
  } else {
    co_await g_go.wait();
  }
  co_return id;
}

shoal::Task<int> doubled(shoal::ObjectRef<int> ref) {
  co_return 2 * co_await ref;
}
shoal::Task<int> incremented(int v) {
  co_return v + 1;
}  // its ref argument is resolved first
shoal::Task<void> nothing_much() {
  co_await shoal::sleep_for(1ms);
}
shoal::Task<int> fails_after_a_nap(int code) {
  co_await shoal::sleep_for(1ms);
  throw std::invalid_argument("bad code " + std::to_string(code));
}
shoal::Task<int> square_after(int i, int ms) {
  co_await shoal::sleep_for(std::chrono::milliseconds(ms));
  co_return i* i;
}
shoal::Task<std::vector<int>> gathers_inside(int n) {
  std::vector<shoal::Task<int>> tasks;
  for (int i = 0; i < n; ++i)
    tasks.push_back(square_after(i, n - i));  // the last finishes first
  co_return co_await shoal::gather(std::move(tasks));
}
shoal::Task<std::string> times_out_inside() {
  shoal::Event never;
  try {
    co_await shoal::wait_for(never.wait(), 10ms);
  } catch (const shoal::TimeoutError&) {
    co_return "timed out";
  }
  co_return "no timeout";
}
int driver_pid_of_plain_task() {
  return int(::getpid());
}

SHOAL_REMOTE(nap, meet, doubled, incremented, nothing_much, fails_after_a_nap, gathers_inside,
             times_out_inside, driver_pid_of_plain_task);

namespace {

class CoroutineRemoteTask : public shoal::testing::WorkerSession {};

}  // namespace

TEST_F(CoroutineRemoteTask, CoroutineTaskRunsOnAWorkerAndReturnsItsValue) {
  auto ref = shoal::task(nap).remote(1);
  static_assert(std::is_same_v<decltype(ref), shoal::ObjectRef<NapReport>>);
  const NapReport r = shoal::get(ref, 30s);
  EXPECT_NE(r.pid, int(::getpid())) << "the task ran in the driver";
  EXPECT_EQ(r.pid, shoal::get(shoal::task(driver_pid_of_plain_task).remote(), 30s))
      << "coroutine and plain tasks should share the session's one worker";
  EXPECT_EQ(r.finished_as, 1);
}

TEST_F(CoroutineRemoteTask, SeveralTasksSuspendedAtOnceOnOneWorkerFinishOutOfOrder) {
  const int naps_ms[] = {400, 300, 200, 100};
  std::vector<shoal::ObjectRef<NapReport>> refs;
  for (int ms : naps_ms)
    refs.push_back(shoal::task(nap).remote(ms));
  std::vector<NapReport> reports;
  for (auto& r : refs)
    reports.push_back(shoal::get(r, 30s));
  std::set<int> pids, tids;
  for (const NapReport& r : reports) {
    pids.insert(r.pid);
    tids.insert(r.tid);
  }
  EXPECT_EQ(pids.size(), 1u) << "the tasks ran on several workers";
  EXPECT_EQ(tids.size(), 1u) << "the tasks ran on several threads of the worker";
  // The shortest nap, submitted last, finished first.
  EXPECT_EQ(reports[0].finished_as, 4);
  EXPECT_EQ(reports[1].finished_as, 3);
  EXPECT_EQ(reports[2].finished_as, 2);
  EXPECT_EQ(reports[3].finished_as, 1);
  EXPECT_EQ(reports[0].peak_in_flight, 4) << "the four naps were not all suspended at once";
}

TEST_F(CoroutineRemoteTask, TwoHundredTasksWaitingOnEachOtherOnOneWorkerAllFinish) {
  // Run one at a time, the first would wait for ever for the others.
  std::vector<shoal::ObjectRef<int>> refs;
  for (int i = 0; i < 200; ++i)
    refs.push_back(shoal::task(meet).remote(i, 200));
  for (int i = 0; i < 200; ++i)
    EXPECT_EQ(shoal::get(refs[size_t(i)], 30s), i);
}

TEST_F(CoroutineRemoteTask, CoroutineTaskAwaitsARefItIsGiven) {
  auto latch = shoal::actor<Latch>().options({.max_concurrency = 2}).remote();
  auto pending = latch.task(&Latch::value_when_open).remote(21);
  auto twice = shoal::task(doubled).remote(pending);
  auto plus = shoal::task(incremented).remote(pending);
  // The session's one worker is not blocked by them: a task submitted after
  // them finishes while they wait.
  EXPECT_EQ(shoal::get(shoal::task(incremented).remote(1), 30s), 2);
  EXPECT_FALSE(twice.ready());
  EXPECT_FALSE(plus.ready());
  shoal::get(latch.task(&Latch::open).remote(), 30s);
  EXPECT_EQ(shoal::get(twice, 30s), 42);
  EXPECT_EQ(shoal::get(plus, 30s), 22);
}

TEST_F(CoroutineRemoteTask, VoidCoroutineTaskGivesAnObjectRefVoid) {
  auto ref = shoal::task(nothing_much).remote();
  static_assert(std::is_same_v<decltype(ref), shoal::ObjectRef<void>>);
  shoal::get(ref, 30s);
  EXPECT_TRUE(ref.ready());
}

TEST_F(CoroutineRemoteTask, CoroutineTaskThatThrowsGivesTaskErrorAndTheWorkerServesOn) {
  try {
    (void)shoal::get(shoal::task(fails_after_a_nap).remote(3), 30s);
    FAIL() << "no error";
  } catch (const shoal::TaskError& e) {
    EXPECT_EQ(e.exception_type(), "std::invalid_argument");
    EXPECT_EQ(e.message(), "bad code 3");
    EXPECT_EQ(e.method(), "fails_after_a_nap");
    EXPECT_EQ(e.actor_class(), "");
  }
  EXPECT_EQ(shoal::get(shoal::task(incremented).remote(1), 30s), 2);
}

TEST_F(CoroutineRemoteTask, GatherAndWaitForWorkInsideACoroutineTask) {
  EXPECT_EQ(shoal::get(shoal::task(gathers_inside).remote(5), 30s),
            (std::vector<int>{0, 1, 4, 9, 16}));
  EXPECT_EQ(shoal::get(shoal::task(times_out_inside).remote(), 30s), "timed out");
}

TEST_F(CoroutineRemoteTask, DriverCoroutineAwaitsCoroutineTasks) {
  std::vector<shoal::ObjectRef<int>> refs;
  for (int i = 0; i < 20; ++i)
    refs.push_back(shoal::task(incremented).remote(i));
  const std::vector<int> got = shoal::run(shoal::wait_for(shoal::gather(refs), 30s));
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(got[size_t(i)], i + 1);
}
