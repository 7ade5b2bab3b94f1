// An async actor with a concurrency group that fills up and stays full, for the tests that look
// at groups from outside the actor (`shoal status`, `shoal status --watch`).
//
// Include it from the test file of an executable only: SHOAL_ACTOR registers the class once per
// translation unit that includes it.
#pragma once

#include <shoal/shoal.hpp>

// Its "io" group (limit 1) holds hold() calls suspended until the actor ends: the first runs, the
// others queue. ping() is in the default group, which a full "io" never delays.
class GroupHolder {
 public:
  shoal::Task<int> hold() {
    co_await never_.wait();
    co_return 0;
  }
  int ping() { return 1; }

 private:
  shoal::Event never_;
};
SHOAL_ACTOR(GroupHolder, &GroupHolder::hold, &GroupHolder::ping);
SHOAL_CONCURRENCY_GROUP(GroupHolder, "io", 1, &GroupHolder::hold);
