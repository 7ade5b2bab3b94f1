// The fixture of tests that call stateless tasks: a session per test with one task worker,
// without prefaulting the store.
#pragma once

#include <gtest/gtest.h>

#include <shoal/shoal.hpp>

namespace shoal::testing {

class WorkerSession : public ::testing::Test {
 protected:
  void SetUp() override { shoal::init(shoal::Config{.prefault = false, .num_workers = 1}); }
  void TearDown() override { shoal::shutdown(); }
};

}  // namespace shoal::testing
