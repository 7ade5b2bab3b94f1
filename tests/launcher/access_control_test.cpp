// Out-of-band messages are obeyed only from the session's user and, for those
// acting on the session, only from its own processes: a process of another
// user (a peer that setuid()s to nobody, as root), or one of the same user
// outside the session, cannot shut the session down or start its actors.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include <shoal/shoal.hpp>

#include "core/src/runtime.hpp"
#include "launcher/mailbox.hpp"
#include "tests/support/test_support.hpp"

using namespace std::chrono_literals;
using namespace shoal::testing;
namespace launcher = shoal::launcher;

class Echo {
 public:
  int echo(int x) { return x; }
};
SHOAL_ACTOR(Echo, &Echo::echo);

namespace {

// Forks a process that becomes `uid` (if not -1), sends every message that
// acts on the session to the session's supervisor and to the driver's fork
// server, and exits 0 if every send went out.
int run_intruder(uid_t uid) {
  shoal::store::Store& s = *shoal::detail::runtime().store;
  const uint64_t tag = s.session_tag();
  const auto driver = s.me();
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (uid != uid_t(-1) && (::setgid(uid) != 0 || ::setuid(uid) != 0)) ::_exit(2);
    bool sent = true;
    for (int i = 0; i < 3; ++i) {
      sent &= launcher::send_message(launcher::supervisor_mailbox(tag),
                                     launcher::Message{launcher::MessageType::kShutdown, 0, 0, 0});
      sent &= launcher::send_message(launcher::supervisor_mailbox(tag),
                                     launcher::Message{launcher::MessageType::kActorGone, 0, 0, 0});
      sent &= launcher::send_message(launcher::fork_server_mailbox(tag, driver),
                                     launcher::Message{launcher::MessageType::kShutdown, 0, 0, 0});
      sent &= launcher::send_message(launcher::fork_server_mailbox(tag, driver),
                                     launcher::Message{launcher::MessageType::kSpawn, 0, 0, 0});
    }
    ::_exit(sent ? 0 : 1);
  }
  return wait_child(pid, 10s);
}

void expect_session_alive(const shoal::ActorHandle<Echo>& a) {
  std::this_thread::sleep_for(300ms);  // the supervisor's loop has read the messages
  EXPECT_TRUE(process_alive(shoal::detail::runtime().session.helper_pid));
  EXPECT_EQ(shoal::get(a.task(&Echo::echo).remote(7), 10s), 7);
  auto b = shoal::actor<Echo>().remote();
  EXPECT_EQ(shoal::get(b.task(&Echo::echo).remote(8), 10s), 8);
}

TEST(AccessControl, AnotherUserCannotShutTheSessionDown) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to setuid() a peer to another user";
  shoal::init(shoal::Config{.prefault = false});
  auto a = shoal::actor<Echo>().remote();
  ASSERT_EQ(shoal::get(a.task(&Echo::echo).remote(1), 10s), 1);
  EXPECT_EQ(run_intruder(65534), 0);  // the datagrams reached the sockets...
  expect_session_alive(a);            // ...and were dropped
  shoal::shutdown();
}

TEST(AccessControl, AProcessOutsideTheSessionCannotShutItDown) {
  shoal::init(shoal::Config{.prefault = false});
  auto a = shoal::actor<Echo>().remote();
  ASSERT_EQ(shoal::get(a.task(&Echo::echo).remote(1), 10s), 1);
  EXPECT_EQ(run_intruder(uid_t(-1)), 0);
  expect_session_alive(a);
  // The session's own driver still ends it.
  const pid_t helper = shoal::detail::runtime().session.helper_pid;
  shoal::shutdown();
  EXPECT_FALSE(process_alive(helper));
}

}  // namespace
