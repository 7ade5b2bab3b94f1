// The `shoal` command: launch, status, timeline, clean, bench.
#include <cxxopts.hpp>

#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "launcher/launch.hpp"
#include "launcher/mpi_job.hpp"
#include "launcher/session.hpp"
#include "tools/bench/bench.hpp"
#include "tools/sessions.hpp"
#include "tools/timeline_command.hpp"

#if SHOAL_HAVE_CLUSTER
#include "cluster/node_launch.hpp"
#endif

namespace {

const char* kUsage =
    "usage: shoal <command> [options]\n"
    "\n"
    "commands:\n"
    "  launch -n N [--cpus LIST] [--store-size SIZE] [--store-dir DIR] [--timeline [-o FILE]]\n"
    "         -- PROGRAM [ARGS...]\n"
    "                       run N ranks of PROGRAM in one session (like mpirun);\n"
    "                       --timeline records every call (-o: the trace at the end);\n"
    "                       under `mpirun -n K` (or srun) each of the K is one node\n"
    "  status [--json | --watch]\n"
    "                       live sessions: store use, objects, actors, queues\n"
    "  timeline [SESSION] -o FILE\n"
    "                       the recorded calls of a session as a Chrome trace (Perfetto)\n"
    "  clean [--dry-run]    remove what dead sessions left in /dev/shm\n"
    "  bench [--json] [--filter REGEX] [--list]\n"
    "                       microbenchmarks\n"
    "\n"
    "run 'shoal <command> --help' for a command's options.\n";

int usage_error(const std::string& message, const std::string& help) {
  std::fprintf(stderr, "shoal: %s\n\n%s", message.c_str(), help.c_str());
  return 2;
}

// Parses one command's options (argv[0] is the command's name). Returns the
// result, or nothing with *exit_code set when the command is done already:
// 0 after printing --help, 2 after a usage error. `hint` follows the message
// about an unexpected argument.
std::optional<cxxopts::ParseResult> parse_command(cxxopts::Options& opts, const char* name,
                                                  int argc, char** argv, int* exit_code,
                                                  const char* hint = "") {
  const std::string help = opts.help();
  try {
    auto r = opts.parse(argc, argv);
    if (r.count("help")) {
      std::printf("%s", help.c_str());
      *exit_code = 0;
      return std::nullopt;
    }
    if (!r.unmatched().empty()) {
      *exit_code = usage_error(
          std::string(name) + ": unexpected argument '" + r.unmatched()[0] + "'" + hint, help);
      return std::nullopt;
    }
    return r;
  } catch (const cxxopts::exceptions::exception& e) {
    *exit_code = usage_error(std::string(name) + ": " + e.what(), help);
    return std::nullopt;
  }
}

int cmd_launch(int argc, char** argv) {
  // Everything after "--" belongs to the program.
  int split = argc;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--") == 0) {
      split = i;
      break;
    }
  }
  cxxopts::Options opts("shoal launch", "Run N ranks of PROGRAM in one shoal session.");
  opts.custom_help(
      "-n N [--cpus LIST] [--store-size SIZE] [--store-dir DIR] [--no-prefault] "
      "[--timeline [-o FILE]]");
  opts.positional_help("-- PROGRAM [ARGS...]");
  opts.add_options()("n,ranks", "number of ranks (processes) to run", cxxopts::value<int>())(
      "cpus", "pin rank i to the i-th core of LIST (e.g. 0-3 or 0,2)",
      cxxopts::value<std::string>())("store-size",
                                     "store capacity, K/M/G suffixes (default: 30% of RAM, "
                                     "or what the store directory can hold)",
                                     cxxopts::value<std::string>())(
      "store-dir", "directory of the store's file (default: SHOAL_STORE_DIR, else /dev/shm)",
      cxxopts::value<std::string>())("no-prefault", "do not fault store pages in ahead of use")(
      "timeline", "record the job's calls (see shoal timeline)")(
      "o,output", "with --timeline: write the trace (Chrome JSON) to FILE when the job ends",
      cxxopts::value<std::string>())("h,help", "print this help");
  const std::string help = opts.help();
  int exit_code = 0;
  const auto parsed =
      parse_command(opts, "launch", split, argv, &exit_code, " (put the program after --)");
  if (!parsed) return exit_code;
  const cxxopts::ParseResult& r = *parsed;
  shoal::launcher::LaunchOptions o;
  if (!r.count("n")) return usage_error("launch: -n N is required", help);
  o.ranks = r["n"].as<int>();
  if (o.ranks < 1)
    return usage_error("launch: -n must be at least 1, got " + std::to_string(o.ranks), help);
  if (o.ranks > 512) return usage_error("launch: -n is at most 512", help);
  if (r.count("cpus")) {
    std::string error;
    auto cpus = shoal::launcher::parse_cpu_list(r["cpus"].as<std::string>(), &error);
    if (!cpus) return usage_error("launch: " + error, help);
    o.cpus = *cpus;
  }
  if (r.count("store-size")) {
    auto bytes = shoal::launcher::parse_size(r["store-size"].as<std::string>());
    if (!bytes || *bytes == 0) {
      return usage_error(
          "launch: bad --store-size '" + r["store-size"].as<std::string>() + "' (e.g. 512M, 2G)",
          help);
    }
    o.store_bytes = *bytes;
  }
  if (r.count("store-dir")) {
    o.store_dir = r["store-dir"].as<std::string>();
    if (o.store_dir.empty()) return usage_error("launch: --store-dir needs a directory", help);
  }
  o.prefault = r.count("no-prefault") == 0;
  o.timeline = r.count("timeline") != 0;
  const std::string trace_out = r.count("output") ? r["output"].as<std::string>() : "";
  if (!trace_out.empty() && !o.timeline)
    return usage_error("launch: -o FILE writes the trace of --timeline: add --timeline", help);
  for (int i = split + 1; i < argc; ++i)
    o.argv.push_back(argv[i]);
  if (o.argv.empty()) return usage_error("launch: no PROGRAM after --", help);
  // Started by mpirun or srun: this launch is one node of a multi-node job.
  auto job = shoal::launcher::detect_mpi_job();
  if (!job) {
    std::fprintf(stderr, "shoal launch: %s\n", job.error().c_str());
    return 1;
  }
  if (*job) {
#if SHOAL_HAVE_CLUSTER
    return shoal::cluster::run_node_launch(o, **job);
#else
    std::fprintf(stderr,
                 "shoal launch: started by %s's launcher as MPI rank %d, but this shoal was built "
                 "without MPI: install libopenmpi-dev (scripts/deps.sh) and rebuild shoal\n",
                 (*job)->source.c_str(), (*job)->node);
    return 1;
#endif
  }
  std::string timeline_path;
  const int status = shoal::launcher::run_launch(o, &timeline_path);
  if (trace_out.empty()) return status;
  if (timeline_path.empty()) {
    std::fprintf(stderr, "shoal launch: no timeline was recorded, so %s was not written\n",
                 trace_out.c_str());
    return status != 0 ? status : 1;
  }
  const int exported = shoal::tools::run_timeline(timeline_path, trace_out);
  return status != 0 ? status : exported;
}

int cmd_status(int argc, char** argv) {
  cxxopts::Options opts("shoal status", "Show the live shoal sessions of this user.");
  opts.add_options()("json", "print one JSON object")(
      "watch", "a live view, refreshed every second until q or Ctrl-C")(
      "count", "with --watch: stop after N refreshes", cxxopts::value<int>())("h,help",
                                                                              "print this help");
  const std::string help = opts.help();
  int exit_code = 0;
  const auto r = parse_command(opts, "status", argc, argv, &exit_code);
  if (!r) return exit_code;
  const bool watch = r->count("watch") > 0;
  if (watch && r->count("json"))
    return usage_error("status: --watch and --json do not go together", help);
  if (r->count("count") && !watch) return usage_error("status: --count needs --watch", help);
  if (watch) {
    const int count = r->count("count") ? (*r)["count"].as<int>() : 0;
    if (r->count("count") && count < 1)
      return usage_error("status: --count must be at least 1, got " + std::to_string(count), help);
    return shoal::tools::run_status_watch(count);
  }
  return shoal::tools::run_status(r->count("json") > 0);
}

int cmd_timeline(int argc, char** argv) {
  cxxopts::Options opts("shoal timeline",
                        "Write the calls a session recorded (SHOAL_TIMELINE=1, or shoal launch "
                        "--timeline) as Chrome trace-event JSON, which Perfetto opens.");
  opts.custom_help("[SESSION] -o FILE");
  opts.positional_help("");
  opts.add_options()("o,output", "where to write the trace ('-': stdout)",
                     cxxopts::value<std::string>())(
      "session", "the session's name, or a timeline file (default: the most recent)",
      cxxopts::value<std::string>())("h,help", "print this help");
  opts.parse_positional({"session"});
  const std::string help = opts.help();
  int exit_code = 0;
  const auto r = parse_command(opts, "timeline", argc, argv, &exit_code);
  if (!r) return exit_code;
  if (!r->count("output")) return usage_error("timeline: -o FILE is required", help);
  const std::string out = (*r)["output"].as<std::string>();
  if (out.empty()) return usage_error("timeline: -o needs a file name", help);
  return shoal::tools::run_timeline(r->count("session") ? (*r)["session"].as<std::string>() : "",
                                    out);
}

int cmd_clean(int argc, char** argv) {
  cxxopts::Options opts("shoal clean", "Remove the segments of dead sessions from /dev/shm.");
  opts.add_options()("dry-run", "only list what would be removed")("h,help", "print this help");
  int exit_code = 0;
  const auto r = parse_command(opts, "clean", argc, argv, &exit_code);
  if (!r) return exit_code;
  return shoal::tools::run_clean(r->count("dry-run") > 0);
}

int cmd_bench(int argc, char** argv) {
  cxxopts::Options opts("shoal bench", "Run shoal's microbenchmarks.");
  opts.add_options()("json", "print one JSON object: {metric: {value, unit}}")(
      "filter", "run only metrics matching this regex", cxxopts::value<std::string>())(
      "list", "list the metric names and exit")("h,help", "print this help");
  int exit_code = 0;
  const auto r = parse_command(opts, "bench", argc, argv, &exit_code);
  if (!r) return exit_code;
  return shoal::bench::run(r->count("filter") ? (*r)["filter"].as<std::string>() : "",
                           r->count("json") > 0, r->count("list") > 0);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "%s", kUsage);
    return 2;
  }
  const std::string cmd = argv[1];
  if (cmd == "-h" || cmd == "--help" || cmd == "help") {
    std::printf("%s", kUsage);
    return 0;
  }
  // Each command parses its own options (argv[1] acts as its program name).
  if (cmd == "launch") return cmd_launch(argc - 1, argv + 1);
  if (cmd == "status") return cmd_status(argc - 1, argv + 1);
  if (cmd == "timeline") return cmd_timeline(argc - 1, argv + 1);
  if (cmd == "clean") return cmd_clean(argc - 1, argv + 1);
  if (cmd == "bench") return cmd_bench(argc - 1, argv + 1);
  std::fprintf(stderr, "shoal: unknown command '%s'\n\n%s", cmd.c_str(), kUsage);
  return 2;
}
