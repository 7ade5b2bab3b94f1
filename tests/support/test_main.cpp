// main() of every test binary: runs the tests, or, in a peer process started
// by spawn_peer(), the peer function it was started for.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <shoal/shoal.hpp>

#include "tests/support/test_support.hpp"

namespace shoal::testing {
PeerFn find_peer(const std::string& name);
}

int main(int argc, char** argv) {
  if (const char* peer = std::getenv("SHOAL_TEST_PEER")) {
    const auto fn = shoal::testing::find_peer(peer);
    if (fn == nullptr) {
      std::fprintf(stderr, "no test peer named %s\n", peer);
      return 100;
    }
    std::vector<std::string> args(argv + 1, argv + argc);
    shoal::init();
    const int rc = fn(args);
    shoal::shutdown();
    return rc;
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
