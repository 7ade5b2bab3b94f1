// The fixture of tests whose actors crash on purpose (abort, SIGSEGV, SIGKILL): a session per
// test, and no core file left behind by each crash.
#pragma once

#include <sys/resource.h>

#include <gtest/gtest.h>

#include <shoal/shoal.hpp>

namespace shoal::testing {

// This process, and every process it starts from here on, writes no core file when it crashes.
inline void disable_core_files() {
  const rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
}

// A session (default Config without prefaulting) for each test, with core files disabled first.
class CrashSession : public ::testing::Test {
 protected:
  void SetUp() override {
    disable_core_files();
    shoal::init(shoal::Config{.prefault = false});
  }
  void TearDown() override { shoal::shutdown(); }
};

}  // namespace shoal::testing
