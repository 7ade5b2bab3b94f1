// Stateless tasks (SHOAL_REMOTE functions) on the session's worker processes:
// how many workers run them (Config::num_workers), arguments and results,
// tasks that throw, tasks that call tasks, and a worker that crashes.
//
// Each test runs in its own session.
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <shoal/shoal.hpp>

#include "tests/support/test_support.hpp"

using namespace std::chrono_literals;
using namespace shoal::testing;

int worker_pid(int /*unused*/) {
  return int(::getpid());
}
int slow_pid(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return int(::getpid());
}
int checked_task(int x) {
  if (x < 0) throw std::runtime_error("boom");
  return x * 2;
}
void void_task_throws(std::string why) {
  throw std::out_of_range(why);
}
std::string concat(std::string a, const std::string& b) {
  return a + b;
}
int sum_vector(const std::vector<int>& v) {
  int s = 0;
  for (int x : v)
    s += x;
  return s;
}
// A task that submits tasks and blocks on their results.
int fan_out(int n) {
  std::vector<shoal::ObjectRef<int>> refs;
  for (int i = 0; i < n; ++i)
    refs.push_back(shoal::task(checked_task).remote(i));
  int s = 0;
  for (int v : shoal::get(refs, 30s))
    s += v;
  return s;
}
int crash_worker(int how) {
  if (how == 0) std::abort();
  return how;
}
SHOAL_REMOTE(worker_pid, slow_pid, checked_task, void_task_throws, concat, sum_vector, fan_out,
             crash_worker);

namespace {

struct SessionGuard {
  explicit SessionGuard(const shoal::Config& c) { shoal::init(c); }
  ~SessionGuard() { shoal::shutdown(); }
};

std::set<int> pids_of_tasks(int n) {
  std::vector<shoal::ObjectRef<int>> refs;
  for (int i = 0; i < n; ++i)
    refs.push_back(shoal::task(worker_pid).remote(i));
  const std::vector<int> pids = shoal::get(refs, 30s);
  return std::set<int>(pids.begin(), pids.end());
}

}  // namespace

TEST(TaskWorkers, NumWorkersThreeRunsTasksInThreeDistinctWorkerProcesses) {
  SessionGuard session(shoal::Config{.prefault = false, .num_workers = 3});
  const std::set<int> pids = pids_of_tasks(30);
  EXPECT_EQ(pids.size(), 3u);
  EXPECT_EQ(pids.count(::getpid()), 0u);
  for (int p : pids)
    EXPECT_TRUE(process_alive(p));
  // The same three keep serving.
  EXPECT_EQ(pids_of_tasks(30), pids);
}

TEST(TaskWorkers, DefaultIsOneWorkerPerCore) {
  SessionGuard session(shoal::Config{.prefault = false});
  const std::set<int> pids = pids_of_tasks(64);
  EXPECT_EQ(long(pids.size()), ::sysconf(_SC_NPROCESSORS_ONLN));
  EXPECT_EQ(pids.count(::getpid()), 0u);
}

TEST(TaskWorkers, ArgumentsAndResultsOfTasks) {
  SessionGuard session(shoal::Config{.prefault = false, .num_workers = 2});
  EXPECT_EQ(shoal::get(shoal::task(concat).remote(std::string("ab"), std::string("cd")), 30s),
            "abcd");
  std::vector<int> big(200'000);
  for (size_t i = 0; i < big.size(); ++i)
    big[i] = int(i % 7);
  int want = 0;
  for (int x : big)
    want += x;
  EXPECT_EQ(shoal::get(shoal::task(sum_vector).remote(big), 30s), want);
  // A ref argument is resolved first.
  auto late = shoal::task(slow_pid).remote(200);
  auto twice = shoal::task(checked_task).remote(late);
  EXPECT_EQ(shoal::get(twice, 30s), 2 * shoal::get(late, 30s));
}

TEST(TaskWorkers, ThrowingTaskGivesTaskErrorAndWorkersKeepServing) {
  SessionGuard session(shoal::Config{.prefault = false, .num_workers = 2});
  const std::set<int> pids = pids_of_tasks(4);
  try {
    (void)shoal::get(shoal::task(checked_task).remote(-1), 30s);
    FAIL() << "no TaskError";
  } catch (const shoal::TaskError& e) {
    EXPECT_EQ(e.exception_type(), "std::runtime_error");
    EXPECT_EQ(e.message(), "boom");
    EXPECT_EQ(e.actor_class(), "");
    EXPECT_EQ(e.method(), "checked_task");
    EXPECT_EQ(pids.count(e.pid()), 1u);
  }
  try {
    shoal::get(shoal::task(void_task_throws).remote(std::string("far out")), 30s);
    FAIL() << "no TaskError";
  } catch (const shoal::TaskError& e) {
    EXPECT_EQ(e.exception_type(), "std::out_of_range");
    EXPECT_EQ(e.message(), "far out");
    EXPECT_EQ(e.method(), "void_task_throws");
  }
  std::vector<shoal::ObjectRef<int>> refs;
  for (int i = 0; i < 200; ++i)
    refs.push_back(shoal::task(checked_task).remote(i % 2 ? i : -i - 1));
  for (int i = 0; i < 200; ++i) {
    if (i % 2) {
      EXPECT_EQ(shoal::get(refs[size_t(i)], 30s), 2 * i);
    } else {
      EXPECT_THROW((void)shoal::get(refs[size_t(i)], 30s), shoal::TaskError);
    }
  }
  EXPECT_EQ(pids_of_tasks(4), pids);
}

TEST(TaskWorkers, TaskThatSubmitsTasksAndBlocksOnThemCompletes) {
  SessionGuard session(shoal::Config{.prefault = false, .num_workers = 2});
  EXPECT_EQ(shoal::get(shoal::task(fan_out).remote(10), 30s), 90);
}

TEST(TaskWorkers, CrashedWorkerFailsItsTaskAndIsReplaced) {
  SessionGuard session(shoal::Config{.prefault = false, .num_workers = 1});
  const std::set<int> before = pids_of_tasks(2);
  ASSERT_EQ(before.size(), 1u);
  EXPECT_THROW((void)shoal::get(shoal::task(crash_worker).remote(0), 30s),
               shoal::WorkerCrashedError);
  ASSERT_TRUE(eventually(
      [&] {
        try {
          return shoal::get(shoal::task(crash_worker).remote(5), 5s) == 5;
        } catch (const shoal::Error&) {
          return false;
        }
      },
      20s));
  const std::set<int> after = pids_of_tasks(2);
  ASSERT_EQ(after.size(), 1u);
  EXPECT_NE(*after.begin(), *before.begin());
}
