// A user's first shoal program: objects, a zero-copy view, an actor and a
// stateless task. Prints one line per check; exits non-zero on a mismatch.
#include <shoal/shoal.hpp>

#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

class Counter {
 public:
  explicit Counter(int start) : total_(start) {}
  int add(int x) { return total_ += x; }
  shoal::Task<std::string> describe() { co_return "total " + std::to_string(total_); }

 private:
  int total_;
};
SHOAL_ACTOR(Counter, &Counter::add, &Counter::describe);

int square(int x) {
  return x * x;
}
SHOAL_REMOTE(square);

int main() {
  shoal::init();
  int failures = 0;
  auto check = [&](bool ok, const char* what) {
    std::printf("%s %s\n", ok ? "ok" : "FAILED", what);
    failures += ok ? 0 : 1;
  };

  std::vector<double> values(1000);
  std::iota(values.begin(), values.end(), 1.0);
  auto ref = shoal::put(values);
  check(shoal::get(ref) == values, "put/get");
  const auto view = shoal::get_view(ref);
  check(view.size() == 1000 && view[999] == 1000.0, "get_view");

  // Ranks of one `shoal launch` share a session, so each names its own actor.
  auto counter = shoal::actor<Counter>()
                     .options({.name = "counter-" + std::to_string(shoal::rank())})
                     .remote(10);
  check(shoal::get_actor<Counter>("counter-" + std::to_string(shoal::rank())) == counter,
        "named actor");
  shoal::get(counter.task(&Counter::add).remote(5));
  check(shoal::get(counter.task(&Counter::add).remote(1)) == 16, "actor call");
  check(shoal::get(counter.task(&Counter::describe).remote()) == "total 16", "async actor call");
  check(shoal::get(shoal::task(square).remote(12)) == 144, "stateless task");

  std::printf("rank %d of %d done\n", shoal::rank(), shoal::world_size());
  shoal::shutdown();
  return failures == 0 ? 0 : 1;
}
