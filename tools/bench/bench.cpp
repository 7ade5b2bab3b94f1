#include "tools/bench/bench.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <regex>

#include <shoal/shoal.hpp>

#include "launcher/mpi_job.hpp"
#include "launcher/session.hpp"
#include "tools/bench/measure.hpp"

namespace shoal::bench {

namespace {

constexpr uint64_t kMinStoreBytes = uint64_t(4) << 30;

std::vector<Benchmark>& registry() {
  static std::vector<Benchmark> all;
  return all;
}

NodeRun* g_node_run = nullptr;

}  // namespace

NodeRun* node_run() {
  return g_node_run;
}
void set_node_run(NodeRun* run) {
  g_node_run = run;
}

namespace {
Config g_session_config;
}  // namespace

const Config& session_config() {
  return g_session_config;
}

const char* unit_name(Unit unit) {
  switch (unit) {
    case Unit::kPerSecond:
      return "per_s";
    case Unit::kGigabytesPerSecond:
      return "GB/s";
    case Unit::kMicroseconds:
      return "us";
    case Unit::kBytes:
      return "bytes";
    case Unit::kRatio:
      return "ratio";
  }
  return "?";
}

void Reporter::report(const std::string& name, double value, Unit unit) {
  out_->push_back(Metric{name, value, unit});
}

bool Reporter::wants(const std::string& name) const {
  if (companions_ != nullptr &&
      std::find(companions_->begin(), companions_->end(), name) != companions_->end()) {
    return true;
  }
  return filter_ == nullptr || std::regex_search(name, *filter_);
}

Register::Register(std::string group, std::vector<std::string> metrics,
                   std::function<void(Reporter&)> run, std::vector<std::string> baselines) {
  registry().push_back(
      Benchmark{std::move(group), std::move(metrics), std::move(run), std::move(baselines)});
}

namespace {

// This machine's cores sometimes pass cache lines several times slower than
// at other times, for seconds at a stretch. The raw ping-pong and ring baselines are
// measured again once everything else has run, and the faster of the two
// measurements stands: the one every figure of the run is judged against
// (never flattering it).
void remeasure_baselines(const std::vector<const Benchmark*>& chosen,
                         std::vector<Metric>& results) {
  for (const Benchmark* b : chosen) {
    if (b->group != "baseline_spin_pingpong" && b->group != "baseline_futex_pingpong" &&
        b->group != "baseline_ring_pipelined") {
      continue;
    }
    std::vector<Metric> again;
    const std::regex all(".*");
    Reporter reporter(&again, &all);
    settle();
    try {
      b->run(reporter);
    } catch (const std::exception&) {
      continue;  // the first measurement stands
    }
    for (const Metric& m : again) {
      for (Metric& first : results) {
        if (first.name != m.name) continue;
        std::fprintf(stderr, "  %s: %.4g at the start of the run, %.4g at its end\n",
                     m.name.c_str(), first.value, m.value);
        first.value = std::max(first.value, m.value);
      }
    }
  }
}

}  // namespace

int run(const std::string& filter, bool json, bool list) {
  std::regex re;
  try {
    re = std::regex(filter.empty() ? "." : filter);
  } catch (const std::regex_error& e) {
    std::fprintf(stderr, "shoal bench: bad --filter regex \"%s\": %s\n", filter.c_str(), e.what());
    return 2;
  }
  std::vector<const Benchmark*> chosen;
  std::vector<std::string> companions;  // baselines shown beside a chosen metric
  for (const Benchmark& b : registry()) {
    bool metric = false, baseline = false;
    for (const std::string& m : b.metrics)
      metric = metric || std::regex_search(m, re);
    for (const std::string& m : b.baselines)
      baseline = baseline || std::regex_search(m, re);
    if (metric || baseline) chosen.push_back(&b);
    if (metric) companions.insert(companions.end(), b.baselines.begin(), b.baselines.end());
  }
  auto shown_metric = [&](const std::string& m) {
    return std::regex_search(m, re) ||
           std::find(companions.begin(), companions.end(), m) != companions.end();
  };
  if (list) {
    for (const Benchmark* b : chosen) {
      for (const auto* names : {&b->baselines, &b->metrics}) {
        for (const std::string& m : *names) {
          if (shown_metric(m)) std::printf("%s\n", m.c_str());
        }
      }
    }
    return 0;
  }
  // Under mpirun this process is one node of a cross-node run.
  NodeRun* node = nullptr;
  {
    auto job = launcher::detect_mpi_job();
    if (!job || job->has_value()) {
      node = node_run();
      std::string error = job ? "" : job.error();
      if (error.empty() && node == nullptr) {
        error = "this shoal was built without MPI (install libopenmpi-dev and rebuild)";
      }
      if (error.empty() && !node->before_init(&error) && error.empty()) error = "cannot join";
      if (!error.empty()) {
        std::fprintf(stderr, "shoal bench: started by mpirun, but %s\n", error.c_str());
        return 1;
      }
    }
  }
  if (chosen.empty()) {
    std::fprintf(stderr, "shoal bench: no metric matches \"%s\" (see --list)\n", filter.c_str());
    return 2;
  }
  // One session for the whole run; its store holds a 1 GiB object and the
  // small ones beside it with room to spare.
  Config& config = g_session_config;
  config.store_bytes = std::max<uint64_t>(launcher::default_store_bytes(), kMinStoreBytes);
  try {
    init(config);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shoal bench: cannot start a session: %s\n", e.what());
    return 1;
  }
  if (node != nullptr) {
    std::string error;
    if (!node->join(&error)) {
      std::fprintf(stderr, "shoal bench: cannot join the other nodes: %s\n", error.c_str());
      node->leave(1);
      shutdown();
      return 1;
    }
    if (!node->lead()) {
      node->serve();
      node->leave(0);
      shutdown();
      return 0;
    }
  }
  if (!json) {
    // The figures depend on what else the machine is running.
    if (std::FILE* f = std::fopen("/proc/loadavg", "r")) {
      char load[64] = {};
      if (std::fgets(load, sizeof(load), f)) {
        std::fprintf(stderr, "load average at start: %s", load);
      }
      std::fclose(f);
    }
  }
  std::vector<Metric> results;
  Reporter reporter(&results, &re, &companions);
  int status = 0;
  for (const Benchmark* b : chosen) {
    if (!json) std::fprintf(stderr, "running %s ...\n", b->group.c_str());
    settle();  // what the previous benchmark left behind is cleaned up first
    try {
      b->run(reporter);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "shoal bench: %s failed: %s\n", b->group.c_str(), e.what());
      status = 1;
    }
  }
  remeasure_baselines(chosen, results);
  if (node != nullptr) node->leave(status);
  shutdown();
  std::vector<Metric> shown;
  for (const Metric& m : results) {
    if (shown_metric(m.name)) shown.push_back(m);
  }
  if (json) {
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    for (const Metric& m : shown) {
      // Six significant digits, as the table prints them: the figures are
      // not more precise than that.
      char six[32];
      std::snprintf(six, sizeof(six), "%.6g", m.value);
      out[m.name] = {{"value", std::strtod(six, nullptr)}, {"unit", unit_name(m.unit)}};
    }
    std::printf("%s\n", out.dump().c_str());
  } else {
    std::printf("%-44s %16s  %s\n", "metric", "value", "unit");
    for (const Metric& m : shown) {
      std::printf("%-44s %16.6g  %s\n", m.name.c_str(), m.value, unit_name(m.unit));
    }
  }
  return status;
}

}  // namespace shoal::bench
