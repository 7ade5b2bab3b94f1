#include "core/src/node_identity.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>

#include <shoal/errors.hpp>
#include <shoal/session.hpp>

#include "core/src/runtime.hpp"
#include "launcher/mpi_job.hpp"
#include "launcher/session.hpp"

namespace shoal {

namespace detail {

namespace {

launcher::NodeIdentity g_identity;  // written by init() before any thread of ours starts

// This program's name as it was started, for the command line we suggest.
std::string program_name() {
  std::string name;
  if (std::FILE* f = std::fopen("/proc/self/cmdline", "r")) {
    int c;
    while ((c = std::fgetc(f)) != EOF && c != '\0')
      name.push_back(char(c));
    std::fclose(f);
  }
  return name.empty() ? "PROGRAM" : name;
}

}  // namespace

void check_plain_session_environment() {
  auto job = launcher::detect_mpi_job();
  const bool mpi = !job || job->has_value();  // a malformed MPI environment counts as one
  if (mpi && std::getenv(launcher::kNodeEnv) != nullptr) return;  // a node's own driver
  if (mpi) {
    std::string where =
        job ? (*job)->rank_variable + "=" + std::to_string((*job)->node) : job.error();
    const std::string nodes =
        job && (*job)->num_nodes > 0 ? std::to_string((*job)->num_nodes) : "K";
    throw Error("shoal::init: this process was started by mpirun (" + where +
                ") but not through `shoal launch`. Each MPI process of a shoal job is one "
                "node's `shoal launch`, which starts the program's ranks on that node: run\n"
                "  mpirun -n " +
                nodes + " shoal launch -n N -- " + program_name() +
                " [ARGS]\n(N ranks on each of the " + nodes + " nodes)");
  }
  ::unsetenv(launcher::kNodeEnv);
  ::unsetenv(launcher::kNumNodesEnv);
  ::unsetenv(launcher::kLocalRankEnv);
}

void settle_node_identity(bool rank) {
  g_identity = launcher::node_identity_from_env();
  if (!rank) g_identity.local_rank = 0;
}

}  // namespace detail

int node() {
  return detail::runtime_or_null() ? detail::g_identity.node : 0;
}

int num_nodes() {
  return detail::runtime_or_null() ? detail::g_identity.num_nodes : 1;
}

int local_rank() {
  return detail::runtime_or_null() ? detail::g_identity.local_rank : 0;
}

}  // namespace shoal
