// A plain session's helper process (supervisor and fork server) killed -9:
// the driver notices at once (a pidfd) and fails the call in flight, every
// new call and every new actor with a clear error, instead of waiting for
// get() timeouts.
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include <shoal/shoal.hpp>

#include "core/src/runtime.hpp"
#include "tests/support/crash_session.hpp"
#include "tests/support/test_support.hpp"

using namespace std::chrono_literals;
using namespace shoal::testing;

class Sleeper {
 public:
  int nap(int ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return ms;
  }
};
SHOAL_ACTOR(Sleeper, &Sleeper::nap);

namespace {

using Clock = std::chrono::steady_clock;

std::string died_message(const shoal::ObjectRef<int>& ref) {
  try {
    (void)shoal::get(ref, 20s);
  } catch (const shoal::ActorDiedError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("not ActorDiedError: ") + e.what();
  }
  return "no error";
}

TEST(HelperDeath, CallsInFlightNewCallsAndNewActorsFailAtOnce) {
  disable_core_files();
  shoal::init(shoal::Config{.prefault = false});
  const std::string segment = session_name();
  auto a = shoal::actor<Sleeper>().remote();
  ASSERT_EQ(shoal::get(a.task(&Sleeper::nap).remote(0), 10s), 0);
  auto in_flight = a.task(&Sleeper::nap).remote(30'000);
  std::this_thread::sleep_for(50ms);
  const pid_t helper = shoal::detail::runtime().session.helper_pid;
  const auto t0 = Clock::now();
  ASSERT_EQ(::kill(helper, SIGKILL), 0);
  const std::string m = died_message(in_flight);
  const auto waited = Clock::now() - t0;
  EXPECT_NE(m.find("helper process"), std::string::npos) << m;
  EXPECT_LT(waited, 5s);  // at once, not the call's 30 s
  EXPECT_NE(died_message(a.task(&Sleeper::nap).remote(1)).find("helper process"),
            std::string::npos);
  try {
    (void)shoal::actor<Sleeper>().remote();
    ADD_FAILURE() << "an actor was created without a helper";
  } catch (const shoal::Error& e) {
    EXPECT_NE(std::string(e.what()).find("helper process"), std::string::npos) << e.what();
  }
  shoal::shutdown();
  EXPECT_FALSE(process_alive(helper));
  for (const std::string& s : shm_segments())
    EXPECT_NE(s, segment.substr(segment.rfind('/') + 1));
}

}  // namespace
