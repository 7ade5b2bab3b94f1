// Which MPI job, if any, a process's environment describes (no MPI needed):
// OpenMPI's mpirun, PMIx, PMI (MPICH's Hydra) and Slurm's srun, malformed
// variables, and the node identity a launcher passes its ranks.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "launcher/mpi_job.hpp"
#include "launcher/session.hpp"

namespace {

using shoal::launcher::detect_mpi_job;

// Sets the given variables for one test and clears every other one read.
class Env {
 public:
  using Vars = std::vector<std::pair<const char*, const char*>>;
  explicit Env(const Vars& vars) {
    clear();
    for (const auto& [k, v] : vars)
      ::setenv(k, v, 1);
  }
  Env(const Env&) = delete;
  ~Env() { clear(); }

 private:
  static void clear() {
    for (const char* v :
         {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", "PMIX_RANK",
          "PMIX_NAMESPACE", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "SLURM_PROCID",
          "SLURM_NTASKS", "SLURM_STEP_NUM_TASKS", "SLURM_LOCALID", "SLURM_STEP_ID", "SHOAL_NODE",
          "SHOAL_NUM_NODES", "SHOAL_LOCAL_RANK"}) {
      ::unsetenv(v);
    }
  }
};

}  // namespace

TEST(MpiJob, NoneOutsideAnMpiJob) {
  Env env({});
  auto job = detect_mpi_job();
  ASSERT_TRUE(job.ok());
  EXPECT_FALSE(job->has_value());
}

TEST(MpiJob, OpenMpiGivesRankSizeAndRankOnTheHost) {
  Env env({{"OMPI_COMM_WORLD_RANK", "2"},
           {"OMPI_COMM_WORLD_SIZE", "3"},
           {"OMPI_COMM_WORLD_LOCAL_RANK", "1"},
           {"PMIX_RANK", "2"}});
  auto job = detect_mpi_job();
  ASSERT_TRUE(job.ok()) << job.error();
  ASSERT_TRUE(job->has_value());
  EXPECT_EQ((*job)->source, "OpenMPI");
  EXPECT_EQ((*job)->node, 2);
  EXPECT_EQ((*job)->num_nodes, 3);
  EXPECT_EQ((*job)->host_rank, 1);
  EXPECT_EQ((*job)->rank_variable, "OMPI_COMM_WORLD_RANK");
}

TEST(MpiJob, PmixAloneLeavesTheSizeToMpi) {
  Env env({{"PMIX_RANK", "1"}, {"PMIX_NAMESPACE", "job"}});
  auto job = detect_mpi_job();
  ASSERT_TRUE(job.ok() && job->has_value());
  EXPECT_EQ((*job)->source, "PMIx");
  EXPECT_EQ((*job)->node, 1);
  EXPECT_EQ((*job)->num_nodes, 0);
}

TEST(MpiJob, SrunWithPmixTakesTheSizeOfTheStep) {
  Env env({{"PMIX_RANK", "1"},
           {"SLURM_PROCID", "1"},
           {"SLURM_STEP_ID", "0"},
           {"SLURM_NTASKS", "8"},
           {"SLURM_STEP_NUM_TASKS", "4"},
           {"SLURM_LOCALID", "0"}});
  auto job = detect_mpi_job();
  ASSERT_TRUE(job.ok() && job->has_value());
  EXPECT_EQ((*job)->source, "PMIx");
  EXPECT_EQ((*job)->num_nodes, 4);
}

TEST(MpiJob, SlurmCountsOnlyInsideAJobStep) {
  {
    // A batch script: SLURM_PROCID but no step.
    Env env({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "4"}});
    auto job = detect_mpi_job();
    ASSERT_TRUE(job.ok());
    EXPECT_FALSE(job->has_value());
  }
  Env env({{"SLURM_PROCID", "3"},
           {"SLURM_NTASKS", "4"},
           {"SLURM_STEP_ID", "0"},
           {"SLURM_LOCALID", "0"}});
  auto job = detect_mpi_job();
  ASSERT_TRUE(job.ok() && job->has_value());
  EXPECT_EQ((*job)->source, "Slurm");
  EXPECT_EQ((*job)->node, 3);
  EXPECT_EQ((*job)->num_nodes, 4);
}

TEST(MpiJob, HydraPmi) {
  Env env({{"PMI_RANK", "0"}, {"PMI_SIZE", "2"}});
  auto job = detect_mpi_job();
  ASSERT_TRUE(job.ok() && job->has_value());
  EXPECT_EQ((*job)->source, "PMI");
  EXPECT_EQ((*job)->num_nodes, 2);
}

TEST(MpiJob, MalformedVariablesAreErrorsNamingThem) {
  for (const auto& vars : std::vector<std::vector<std::pair<const char*, const char*>>>{
           {{"OMPI_COMM_WORLD_RANK", "x"}, {"OMPI_COMM_WORLD_SIZE", "2"}},
           {{"OMPI_COMM_WORLD_RANK", "-1"}, {"OMPI_COMM_WORLD_SIZE", "2"}},
           {{"OMPI_COMM_WORLD_RANK", "2"}, {"OMPI_COMM_WORLD_SIZE", "2"}},
           {{"OMPI_COMM_WORLD_RANK", "0"}, {"OMPI_COMM_WORLD_SIZE", "0"}},
           {{"OMPI_COMM_WORLD_RANK", "0"}, {"OMPI_COMM_WORLD_SIZE", ""}}}) {
    Env env(vars);
    auto job = detect_mpi_job();
    ASSERT_FALSE(job.ok()) << vars[0].second << " " << vars[1].second;
    EXPECT_NE(job.error().find("OMPI_COMM_WORLD_"), std::string::npos) << job.error();
  }
}

TEST(NodeIdentity, ComesFromTheLaunchersVariables) {
  {
    Env env({});
    const auto id = shoal::launcher::node_identity_from_env();
    EXPECT_EQ(id.node, 0);
    EXPECT_EQ(id.num_nodes, 1);
    EXPECT_EQ(shoal::launcher::node_label(), "");
  }
  {
    Env env({{"SHOAL_NODE", "2"}, {"SHOAL_NUM_NODES", "3"}, {"SHOAL_LOCAL_RANK", "1"}});
    const auto id = shoal::launcher::node_identity_from_env();
    EXPECT_EQ(id.node, 2);
    EXPECT_EQ(id.num_nodes, 3);
    EXPECT_EQ(id.local_rank, 1);
    EXPECT_EQ(shoal::launcher::node_label(), " node 2");
  }
  {
    // Nonsense is no node at all.
    Env env({{"SHOAL_NODE", "3"}, {"SHOAL_NUM_NODES", "3"}});
    EXPECT_EQ(shoal::launcher::node_identity_from_env().num_nodes, 1);
    EXPECT_EQ(shoal::launcher::node_label(), "");
  }
}
