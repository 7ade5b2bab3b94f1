// The benchmark registry behind `shoal bench`. A benchmark is a function that
// measures one or more metrics and reports them by name (the names follow
// Ray's microbenchmark where Ray has one).
#pragma once

#include <functional>
#include <regex>
#include <string>
#include <vector>

namespace shoal::bench {

enum class Unit { kPerSecond, kGigabytesPerSecond, kMicroseconds, kBytes };
const char* unit_name(Unit unit);  // "per_s", "GB/s", "us", "bytes"

struct Metric {
  std::string name;
  double value;
  Unit unit;
};

// Reports what a benchmark measured.
class Reporter {
 public:
  Reporter(std::vector<Metric>* out, const std::regex* filter) : out_(out), filter_(filter) {}
  void report(const std::string& name, double value, Unit unit);
  // Whether the run asked for this metric: a benchmark measuring several can
  // skip the work of those filtered out.
  bool wants(const std::string& name) const;
  // report(name, compute(), unit) if the run wants `name`.
  template <class F>
  void measure(const std::string& name, Unit unit, F&& compute) {
    if (wants(name)) report(name, compute(), unit);
  }

 private:
  std::vector<Metric>* out_;
  const std::regex* filter_;
};

struct Benchmark {
  std::string group;
  std::vector<std::string> metrics;  // names it reports, for --filter and --list
  std::function<void(Reporter&)> run;
};

// Registers a benchmark at static-initialisation time.
struct Register {
  Register(std::string group, std::vector<std::string> metrics, std::function<void(Reporter&)> run);
};

// `shoal bench`: runs every benchmark with a metric matching `filter` (an
// ECMAScript regex, searched) in one session it starts and ends itself, and
// prints a table or one JSON object. Returns 1 if a benchmark failed (the
// others still run), 2 for a bad filter.
int run(const std::string& filter, bool json, bool list);

}  // namespace shoal::bench
