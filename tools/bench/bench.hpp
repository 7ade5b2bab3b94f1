// The benchmark registry behind `shoal bench`. A benchmark is a function that
// measures one or more metrics and reports them by name (the names follow
// Ray's microbenchmark where Ray has one).
#pragma once

#include <functional>
#include <regex>
#include <string>
#include <vector>

namespace shoal {
struct Config;
}  // namespace shoal

namespace shoal::bench {

enum class Unit { kPerSecond, kGigabytesPerSecond, kMicroseconds, kBytes, kRatio };
const char* unit_name(Unit unit);  // "per_s", "GB/s", "us", "bytes", "ratio"

struct Metric {
  std::string name;
  double value;
  Unit unit;
};

// The Config of the run's session (a benchmark that needs a session of its
// own ends the run's, and starts it again with this when it is done).
const shoal::Config& session_config();

// Reports what a benchmark measured.
class Reporter {
 public:
  // `companions`: metrics wanted whatever the filter (baselines of a chosen benchmark).
  Reporter(std::vector<Metric>* out, const std::regex* filter,
           const std::vector<std::string>* companions = nullptr)
      : out_(out), filter_(filter), companions_(companions) {}
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
  const std::vector<std::string>* companions_;
};

struct Benchmark {
  std::string group;
  std::vector<std::string> metrics;  // names it reports, for --filter and --list
  std::function<void(Reporter&)> run;
  // Baselines it measures in the same run, between the same processes: shown
  // beside its metrics whenever one of those is chosen, whatever the filter.
  std::vector<std::string> baselines;
};

// Registers a benchmark at static-initialisation time.
struct Register {
  Register(std::string group, std::vector<std::string> metrics, std::function<void(Reporter&)> run,
           std::vector<std::string> baselines = {});
};

// A run under mpirun (node_bench.cpp, built with the cluster library): each
// `shoal bench` process is one node of the run and that node's gateway, so
// the cross-node figures and their MPI baselines are measured between the
// same two processes. Node 0 runs the benchmarks and prints the table; the
// other nodes serve node 0's cross-node benchmarks until it is done.
class NodeRun {
 public:
  virtual ~NodeRun() = default;
  // Before init(), with the MPI job's environment: gives the session its node.
  virtual bool before_init(std::string* error) = 0;
  // After init(): joins the other nodes (MPI starts on the gateway thread).
  virtual bool join(std::string* error) = 0;
  virtual bool lead() const = 0;
  // Not the lead: serves the lead's benchmarks until it is done.
  virtual void serve() = 0;
  // Before shutdown(): ends the run on every node.
  virtual void leave(int status) = 0;
};
// The NodeRun of this build, or nullptr without the cluster library.
NodeRun* node_run();
void set_node_run(NodeRun* run);

// `shoal bench`: runs every benchmark with a metric matching `filter` (an
// ECMAScript regex, searched) in one session it starts and ends itself, and
// prints a table or one JSON object. Returns 1 if a benchmark failed (the
// others still run), 2 for a bad filter.
int run(const std::string& filter, bool json, bool list);

}  // namespace shoal::bench
