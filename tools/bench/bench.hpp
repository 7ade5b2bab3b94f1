// The benchmark registry behind `shoal bench`. A benchmark is a function that
// measures one or more metrics and reports them by name (the names follow
// Ray's microbenchmark where Ray has one).
#pragma once

#include <functional>
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
  explicit Reporter(std::vector<Metric>* out) : out_(out) {}
  void report(const std::string& name, double value, Unit unit);

 private:
  std::vector<Metric>* out_;
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
// ECMAScript regex, searched), prints a table or one JSON object.
int run(const std::string& filter, bool json, bool list);

}  // namespace shoal::bench
