#include "launcher/mpi_job.hpp"

#include <cerrno>
#include <cstdlib>

#include "launcher/session.hpp"

namespace shoal::launcher {

namespace {

// The value of `name` as a non-negative int; nullopt if unset; -1 if malformed.
std::optional<long> number(const char* name) {
  const char* text = std::getenv(name);
  if (text == nullptr) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(text, &end, 10);
  if (*text == '\0' || *end != '\0' || errno != 0 || v < 0 || v > (1 << 24)) return -1;
  return v;
}

struct Dialect {
  const char* source;
  const char* rank;
  const char* sizes[2];  // the first one set gives the size; none: unknown
  const char* host_rank;
  const char* required;  // must be set too for the dialect to apply (nullptr: none)
};

// In order of preference. OpenMPI's mpirun also sets PMIX_RANK, and srun with
// PMIx sets both PMIX_RANK and SLURM_*: the more specific names come first.
// Slurm's variables count only inside a job step (srun sets SLURM_STEP_ID; a
// batch script has SLURM_PROCID too but is no node of anything).
constexpr Dialect kDialects[] = {
    {"OpenMPI",
     "OMPI_COMM_WORLD_RANK",
     {"OMPI_COMM_WORLD_SIZE", nullptr},
     "OMPI_COMM_WORLD_LOCAL_RANK",
     nullptr},
    {"PMIx", "PMIX_RANK", {"SLURM_STEP_NUM_TASKS", "SLURM_NTASKS"}, "SLURM_LOCALID", nullptr},
    {"PMI", "PMI_RANK", {"PMI_SIZE", nullptr}, "MPI_LOCALRANKID", nullptr},
    {"Slurm",
     "SLURM_PROCID",
     {"SLURM_STEP_NUM_TASKS", "SLURM_NTASKS"},
     "SLURM_LOCALID",
     "SLURM_STEP_ID"},
};

}  // namespace

Result<std::optional<MpiJob>, std::string> detect_mpi_job() {
  for (const Dialect& d : kDialects) {
    if (d.required != nullptr && std::getenv(d.required) == nullptr) continue;
    const std::optional<long> rank = number(d.rank);
    if (!rank) continue;
    const std::string rank_text = std::getenv(d.rank);
    if (*rank < 0) {
      return fail(std::string(d.rank) + "=" + rank_text + " is not a rank (" + d.source +
                  "'s environment is malformed)");
    }
    MpiJob job;
    job.source = d.source;
    job.rank_variable = d.rank;
    job.node = int(*rank);
    for (const char* size_name : d.sizes) {
      if (size_name == nullptr) break;
      const std::optional<long> size = number(size_name);
      if (!size) continue;
      if (*size <= 0) {
        return fail(std::string(size_name) + "=" + std::getenv(size_name) + " is not a job size (" +
                    d.source + "'s environment is malformed)");
      }
      if (*rank >= *size) {
        return fail(std::string(d.rank) + "=" + rank_text + " is outside a job of " +
                    std::getenv(size_name) + " (" + size_name + ")");
      }
      job.num_nodes = int(*size);
      break;
    }
    if (d.host_rank != nullptr) {
      if (const std::optional<long> local = number(d.host_rank); local && *local >= 0) {
        job.host_rank = int(*local);
      }
    }
    return std::optional<MpiJob>(job);
  }
  return std::optional<MpiJob>();
}

NodeIdentity node_identity_from_env() {
  const std::optional<long> node = number(kNodeEnv);
  const std::optional<long> nodes = number(kNumNodesEnv);
  const std::optional<long> local = number(kLocalRankEnv);
  NodeIdentity id;
  if (node && nodes && *node >= 0 && *nodes > 0 && *node < *nodes) {
    id.node = int(*node);
    id.num_nodes = int(*nodes);
  }
  if (local && *local >= 0) id.local_rank = int(*local);
  return id;
}

std::string node_label() {
  const NodeIdentity id = node_identity_from_env();
  return id.num_nodes > 1 ? " node " + std::to_string(id.node) : std::string();
}

}  // namespace shoal::launcher
