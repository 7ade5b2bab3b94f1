// MpiJob: what the environment says about the MPI job this process belongs
// to. mpirun (OpenMPI, and the PRRTE/PMIx launchers that speak its dialect),
// PMI launchers (MPICH's Hydra) and Slurm's srun tell each process its rank
// and the job's size through environment variables. `shoal launch` reads them
// to learn which node it is before it starts a rank; shoal::init() reads them
// to tell a program that mpirun started outside `shoal launch` how to run it.
// Nothing here needs MPI installed.
#pragma once

#include <optional>
#include <string>

#include "ipc/result.hpp"

namespace shoal::launcher {

struct MpiJob {
  int node = 0;               // this process's rank in the MPI job: the node it is
  int num_nodes = 0;          // the job's size; 0 when the environment does not say (PMIx
                              // alone): MPI tells it once initialised
  int host_rank = 0;          // its rank among the job's processes on this machine
  std::string source;         // whose variables: "OpenMPI", "PMIx", "PMI", "Slurm"
  std::string rank_variable;  // the variable that gave the rank, for messages
};

// The MPI job of this process, nullopt outside one, or a message naming the
// variable that is present but malformed (a rank outside 0..size-1, a size
// that is not a positive number).
Result<std::optional<MpiJob>, std::string> detect_mpi_job();

// The node identity a process of a multi-node job finds in its environment
// (SHOAL_NODE, SHOAL_NUM_NODES, SHOAL_LOCAL_RANK, set by the node's launcher).
struct NodeIdentity {
  int node = 0;
  int num_nodes = 1;
  int local_rank = 0;
};
// What the environment says; {0, 1, 0} when it says nothing or nonsense.
NodeIdentity node_identity_from_env();

// " node K" inside a job of several nodes, "" otherwise: what output prefixes
// ("(rank R node K pid=P) ", "(Counter node K pid=P) ") carry after the name.
std::string node_label();

}  // namespace shoal::launcher
