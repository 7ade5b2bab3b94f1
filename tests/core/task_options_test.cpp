// TaskOptions of stateless tasks, across processes (the test's driver, a task worker and a
// counting actor): generator_backpressure holds a streaming task at co_yield until the consumer
// takes values, the default leaves it unbounded, bounds below one are refused; node runs the
// task on the caller's own node and refuses a node the job does not have. Every wait is bounded.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <shoal/shoal.hpp>

#include "tests/support/stream_values.hpp"
#include "tests/support/test_support.hpp"
#include "tests/support/worker_session.hpp"

using namespace std::chrono_literals;
using namespace shoal::testing;

// Counts the values a generator task produced: the task runs in a worker process, so it reports
// each value here before it yields it.
class Tally {
 public:
  int bump() { return ++count_; }
  int count() { return count_; }

 private:
  int count_ = 0;
};
SHOAL_ACTOR(Tally, &Tally::bump, &Tally::count);

// Yields 0 .. n-1, each once `tally` has counted it.
shoal::Generator<int> counted(shoal::ActorHandle<Tally> tally, int n) {
  for (int i = 0; i < n; ++i) {
    co_await tally.task(&Tally::bump).remote();
    co_yield i;
  }
}
int twice(int x) {
  return 2 * x;
}
SHOAL_REMOTE(counted, twice);

namespace {

class TaskOptionsTest : public shoal::testing::WorkerSession {};

int tally_of(const shoal::ActorHandle<Tally>& t) {
  return shoal::get(t.task(&Tally::count).remote(), 30s);
}

// The message of the std::invalid_argument `f` throws ("" if it throws none).
template <class F>
std::string invalid_argument_of(F f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_F(TaskOptionsTest, ABoundedGeneratorTaskSuspendsAtCoYieldUntilTheConsumerTakesValues) {
  auto tally = shoal::actor<Tally>().remote();
  auto s = shoal::task(counted)
               .options(shoal::TaskOptions{.generator_backpressure = 2})
               .remote(tally, 6);
  // Nothing taken: the task produced exactly two values and waits at its third co_yield.
  ASSERT_TRUE(eventually([&] { return tally_of(tally) >= 2; }));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(tally_of(tally), 2);
  auto first = next_within(s);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(shoal::get(*first, 30s), 0);
  // One taken: exactly one more, then it waits again.
  ASSERT_TRUE(eventually([&] { return tally_of(tally) >= 3; }));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(tally_of(tally), 3);
  EXPECT_EQ(values_of(s), (std::vector<int>{1, 2, 3, 4, 5}));
  EXPECT_EQ(tally_of(tally), 6);
}

TEST_F(TaskOptionsTest, AGeneratorTaskIsUnboundedByDefault) {
  auto tally = shoal::actor<Tally>().remote();
  auto s = shoal::task(counted).remote(tally, 40);
  // Nothing taken, and still every value is produced.
  EXPECT_TRUE(eventually([&] { return tally_of(tally) == 40; })) << tally_of(tally);
  std::vector<int> expected;
  for (int i = 0; i < 40; ++i)
    expected.push_back(i);
  EXPECT_EQ(values_of(s), expected);
}

TEST_F(TaskOptionsTest, TheBoundIsOneCallersNotTheFunctions) {
  auto tally = shoal::actor<Tally>().remote();
  auto bounded = shoal::task(counted).options(shoal::TaskOptions{.generator_backpressure = 1});
  auto s = bounded.remote(tally, 3);
  ASSERT_TRUE(eventually([&] { return tally_of(tally) >= 1; }));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(tally_of(tally), 1);
  EXPECT_EQ(values_of(s), (std::vector<int>{0, 1, 2}));
  // The caller without options streams unbounded: all 30 values before the consumer takes any.
  auto t = shoal::task(counted).remote(tally, 30);
  EXPECT_TRUE(eventually([&] { return tally_of(tally) == 33; })) << tally_of(tally);
  EXPECT_EQ(values_of(t).size(), 30u);
}

TEST_F(TaskOptionsTest, ABackpressureBoundBelowOneIsRefusedNamingIt) {
  auto tally = shoal::actor<Tally>().remote();
  for (int bound : {0, -3}) {
    const std::string what = invalid_argument_of([&] {
      (void)shoal::task(counted)
          .options(shoal::TaskOptions{.generator_backpressure = bound})
          .remote(tally, 3);
    });
    EXPECT_NE(what.find("generator_backpressure must be at least 1 (" + std::to_string(bound) +
                        " given)"),
              std::string::npos)
        << what;
  }
  EXPECT_EQ(tally_of(tally), 0);  // nothing was submitted
}

TEST_F(TaskOptionsTest, TheCallersOwnNodeRunsTheTaskHere) {
  ASSERT_EQ(shoal::node(), 0);
  ASSERT_EQ(shoal::num_nodes(), 1);
  auto here = shoal::task(twice).options(shoal::TaskOptions{.node = shoal::node()});
  EXPECT_EQ(shoal::get(here.remote(21), 30s), 42);
  auto tally = shoal::actor<Tally>().remote();
  auto s = shoal::task(counted)
               .options(shoal::TaskOptions{.node = 0, .generator_backpressure = 1})
               .remote(tally, 4);
  EXPECT_EQ(values_of(s), (std::vector<int>{0, 1, 2, 3}));
}

TEST_F(TaskOptionsTest, ANodeOutsideTheJobIsRefusedNamingItAndNumNodes) {
  for (int k : {1, 7, -1}) {
    const std::string what = invalid_argument_of(
        [&] { (void)shoal::task(twice).options(shoal::TaskOptions{.node = k}).remote(1); });
    EXPECT_EQ(what, "shoal: TaskOptions::node " + std::to_string(k) +
                        " is not a node of this job (num_nodes() is 1)");
  }
  // The caller still works after the refusals.
  EXPECT_EQ(shoal::get(shoal::task(twice).remote(5), 30s), 10);
}
