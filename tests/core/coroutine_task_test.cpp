// shoal::Task<T> and shoal::run: a Task is lazy, hands control over by
// symmetric transfer (deep chains and long loops of tasks that finish without
// suspending use no stack per step), propagates its exception to whoever awaits
// it, is move-only, and run() drives it in the driver, returning its value or
// rethrowing.
//
// None of this needs a session: a Task and run() work before init().
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <shoal/shoal.hpp>

namespace {

// A user exception type that must arrive as itself, not as a shoal error.
struct Oops : std::runtime_error {
  explicit Oops(int code) : std::runtime_error("oops " + std::to_string(code)), code(code) {}
  int code;
};

shoal::Task<int> value_of(int v, bool* ran) {
  *ran = true;
  co_return v;
}

shoal::Task<int> throws_after_start(int code, bool* ran) {
  *ran = true;
  throw Oops(code);
  co_return 0;  // unreachable: makes this a coroutine that throws on its first resume
}

// Depth `n` chain: each level awaits the next one, which finishes at once.
shoal::Task<int> depth(int n) {
  if (n == 0) co_return 0;
  co_return 1 + co_await depth(n - 1);
}

shoal::Task<long> sum_of_ready_tasks(int n) {
  long sum = 0;
  for (int i = 0; i < n; ++i) {
    bool ran = false;
    sum += co_await value_of(i, &ran);
  }
  co_return sum;
}

// GCC turns symmetric transfer into a tail call only when it can emit one:
// AddressSanitizer's stack instrumentation prevents it, so under ASan every
// transfer costs a stack frame and the constant-stack checks are skipped.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kTailCallsOff = true;
#else
constexpr bool kTailCallsOff = false;
#endif

// Runs `fn` on a thread with a small stack in a child process, so that a
// stack overflow fails this test instead of crashing the binary. Returns the
// child's exit status: 0 when fn returned true, 128+N for signal N, -1 if it
// hung for a minute.
template <class Fn>
int in_child_with_small_stack(Fn fn, size_t stack_bytes) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    struct Arg {
      Fn* fn;
      bool ok = false;
    } arg{&fn};
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, stack_bytes);
    pthread_t t;
    if (pthread_create(
            &t, &attr,
            [](void* p) -> void* {
              auto* a = static_cast<Arg*>(p);
              a->ok = (*a->fn)();
              return nullptr;
            },
            &arg) != 0) {
      ::_exit(3);
    }
    pthread_join(t, nullptr);
    ::_exit(arg.ok ? 0 : 1);
  }
  int status = 0;
  for (int waited_ms = 0; ::waitpid(pid, &status, WNOHANG) == 0; ++waited_ms) {
    if (waited_ms == 60'000) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;  // hung
    }
    ::usleep(1000);
  }
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

}  // namespace

TEST(CoroutineTask, NothingRunsUntilTheTaskIsAwaited) {
  bool ran = false;
  shoal::Task<int> t = value_of(7, &ran);
  EXPECT_FALSE(ran) << "creating a Task must not start it";
  EXPECT_TRUE(t.valid());
  EXPECT_FALSE(t.done());
  const int got = shoal::run([](shoal::Task<int> inner, bool* ran_flag) -> shoal::Task<int> {
    const bool before = *ran_flag;
    const int v = co_await std::move(inner);
    co_return before ? -1 : v;  // -1: the inner task ran before it was awaited
  }(std::move(t), &ran));
  EXPECT_EQ(got, 7);
  EXPECT_TRUE(ran);
}

TEST(CoroutineTask, NothingRunsUntilRunIsCalledAndAnUnawaitedTaskNeverRuns) {
  bool ran = false;
  { shoal::Task<int> dropped = value_of(1, &ran); }
  EXPECT_FALSE(ran) << "destroying an unstarted Task must free it without running it";
  shoal::Task<int> t = value_of(2, &ran);
  EXPECT_FALSE(ran);
  EXPECT_EQ(shoal::run(std::move(t)), 2);
  EXPECT_TRUE(ran);
}

TEST(CoroutineTask, ChainOf100000NestedAwaitsOfReadyTasksUsesNoStackPerLevel) {
  if (kTailCallsOff) GTEST_SKIP() << "no tail calls under AddressSanitizer";
  // 100,000 levels in 256 KiB: any stack growth per level beyond ~2 bytes
  // would overflow; symmetric transfer keeps it constant.
  const int status =
      in_child_with_small_stack([] { return shoal::run(depth(100'000)) == 100'000; }, 256 * 1024);
  EXPECT_EQ(status, 0) << "exit status " << status << " (139: the chain overflowed the stack)";
}

TEST(CoroutineTask, LoopOfAMillionAwaitsOfTasksThatFinishWithoutSuspendingUsesNoStack) {
  if (kTailCallsOff) GTEST_SKIP() << "no tail calls under AddressSanitizer";
  const int status = in_child_with_small_stack(
      [] { return shoal::run(sum_of_ready_tasks(1'000'000)) == 499'999'500'000L; }, 256 * 1024);
  EXPECT_EQ(status, 0) << "exit status " << status << " (139: the loop overflowed the stack)";
}

TEST(CoroutineTask, ExceptionPropagatesToTheAwaitingCoroutineAsItself) {
  bool ran = false;
  const std::string seen = shoal::run([](bool* ran_flag) -> shoal::Task<std::string> {
    try {
      (void)co_await throws_after_start(41, ran_flag);
    } catch (const Oops& e) {
      co_return "caught " + std::to_string(e.code);
    }
    co_return "nothing thrown";
  }(&ran));
  EXPECT_TRUE(ran);
  EXPECT_EQ(seen, "caught 41");
}

TEST(CoroutineTask, ExceptionPropagatesThroughSeveralLevelsOfAwait) {
  bool ran = false;
  auto middle = [](bool* ran_flag) -> shoal::Task<int> {
    const int v = co_await throws_after_start(3, ran_flag);
    ADD_FAILURE() << "the middle task went on after the inner one threw";
    co_return v;
  };
  auto outer = [&]() -> shoal::Task<int> { co_return co_await middle(&ran); };
  try {
    (void)shoal::run(outer());
    FAIL() << "no exception";
  } catch (const Oops& e) {
    EXPECT_EQ(e.code, 3);
  }
}

TEST(CoroutineTask, TaskVoidRunsAndPropagatesExceptions) {
  int steps = 0;
  auto step = [](int* s) -> shoal::Task<void> {
    ++*s;
    co_return;
  };
  auto twice = [&]() -> shoal::Task<void> {
    co_await step(&steps);
    co_await step(&steps);
  };
  static_assert(std::is_void_v<decltype(shoal::run(twice()))>);
  shoal::run(twice());
  EXPECT_EQ(steps, 2);

  auto fails = []() -> shoal::Task<void> {
    throw Oops(9);
    co_return;
  };
  auto awaits_failure = [&]() -> shoal::Task<void> { co_await fails(); };
  EXPECT_THROW(shoal::run(awaits_failure()), Oops);
}

TEST(CoroutineTask, TaskIsMoveOnlyAndTheMovedToTaskRuns) {
  static_assert(!std::is_copy_constructible_v<shoal::Task<int>>);
  static_assert(!std::is_copy_assignable_v<shoal::Task<int>>);
  static_assert(std::is_nothrow_move_constructible_v<shoal::Task<int>>);
  static_assert(std::is_nothrow_move_assignable_v<shoal::Task<int>>);
  static_assert(!std::is_copy_constructible_v<shoal::Task<void>>);

  bool ran = false;
  shoal::Task<int> a = value_of(5, &ran);
  shoal::Task<int> b = std::move(a);
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): the moved-from state is the contract
  EXPECT_TRUE(b.valid());
  shoal::Task<int> c;
  EXPECT_FALSE(c.valid());
  c = std::move(b);
  EXPECT_FALSE(ran);
  EXPECT_EQ(shoal::run(std::move(c)), 5);
  EXPECT_TRUE(ran);
}

TEST(CoroutineTask, TaskCanReturnAMoveOnlyValue) {
  auto make = []() -> shoal::Task<std::unique_ptr<int>> { co_return std::make_unique<int>(11); };
  auto outer = [&]() -> shoal::Task<std::unique_ptr<int>> {
    std::unique_ptr<int> p = co_await make();
    *p += 1;
    co_return p;
  };
  std::unique_ptr<int> got = shoal::run(outer());
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(*got, 12);
}

TEST(CoroutineTask, RunReturnsTheValueInTheDriver) {
  auto add = [](int a, int b) -> shoal::Task<int> { co_return a + b; };
  EXPECT_EQ(shoal::run(add(20, 22)), 42);
  auto text = []() -> shoal::Task<std::string> { co_return std::string(1000, 'x'); };
  EXPECT_EQ(shoal::run(text()), std::string(1000, 'x'));
}

TEST(CoroutineTask, RunRethrowsTheTasksException) {
  auto fails = []() -> shoal::Task<int> {
    co_await shoal::sleep_for(std::chrono::nanoseconds(0));  // throw after a suspension too
    throw Oops(77);
    co_return 0;
  };
  try {
    (void)shoal::run(fails());
    FAIL() << "run() returned instead of rethrowing";
  } catch (const Oops& e) {
    EXPECT_EQ(e.code, 77);
    EXPECT_STREQ(e.what(), "oops 77");
  }
}

TEST(CoroutineTask, RunCanBeCalledAgainAfterATaskThrew) {
  auto fails = []() -> shoal::Task<int> {
    throw Oops(1);
    co_return 0;
  };
  EXPECT_THROW((void)shoal::run(fails()), Oops);
  auto fine = []() -> shoal::Task<int> { co_return 3; };
  EXPECT_EQ(shoal::run(fine()), 3);
}

TEST(CoroutineTask, SuspendedTaskResumesOnTheThreadThatRunsTheLoop) {
  const pid_t driver_tid = ::gettid();
  auto where = []() -> shoal::Task<std::vector<pid_t>> {
    std::vector<pid_t> tids{::gettid()};
    co_await shoal::sleep_for(std::chrono::milliseconds(1));
    tids.push_back(::gettid());
    co_return tids;
  };
  const std::vector<pid_t> tids = shoal::run(where());
  EXPECT_EQ(tids, (std::vector<pid_t>{driver_tid, driver_tid}));
}
