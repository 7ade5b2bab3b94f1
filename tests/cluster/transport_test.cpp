// The gateways' transport between nodes (cluster/): batches of small messages
// arrive exactly once and in order, objects go from one node's store into
// another's intact (and a store too small refuses cleanly, nothing else
// breaks), a lost peer is noticed, and the job ends with MPI finalised.
//
// Each test runs cluster_probe (tests/cluster/cluster_probe.cpp) under mpirun:
// one gateway per node, each on a store of its own.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "tests/cluster/mpi_jobs.hpp"

using namespace std::chrono_literals;
using namespace shoal::testing;

namespace {

std::string probe() {
  const char* p = std::getenv("SHOAL_CLUSTER_PROBE");
  return p ? p : "";
}

struct ProbeRun {
  int code = -1;
  std::string out, err;
  std::vector<std::string> lines;
  // How many lines are exactly `line`.
  int count(const std::string& line) const {
    int n = 0;
    for (const std::string& l : lines)
      n += l == line;
    return n;
  }
  // The line starting with `prefix` ("" if none).
  std::string find(const std::string& prefix) const {
    for (const std::string& l : lines) {
      if (l.rfind(prefix, 0) == 0) return l;
    }
    return "";
  }
};

ProbeRun run_probe(int nodes, const std::vector<std::string>& transport,
                   const std::vector<std::string>& args) {
  std::vector<std::string> program{probe()};
  program.insert(program.end(), args.begin(), args.end());
  Child c(mpirun_argv(nodes, transport, program), mpi_env("none"));
  ProbeRun r;
  r.code = c.wait(120s);
  r.out = c.out();
  r.err = c.err();
  r.lines = split_lines(r.out);
  return r;
}

void expect_batches(int nodes, const std::vector<std::string>& transport, int count) {
  const ProbeRun r = run_probe(nodes, transport, {"batches", std::to_string(count)});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  for (int n = 0; n < nodes; ++n) {
    SCOPED_TRACE("node " + std::to_string(n));
    const std::string me = "node " + std::to_string(n) + ": ";
    for (int p = 0; p < nodes; ++p) {
      if (p == n) continue;
      EXPECT_EQ(
          r.count(me + "received " + std::to_string(count) + " from node " + std::to_string(p)), 1)
          << r.out;
    }
    EXPECT_EQ(r.count(me + "bad 0"), 1) << r.out;
    // Many messages per MPI send: far fewer batches than messages.
    const std::string sent = r.find(me + "sent ");
    unsigned long long messages = 0, batches = 0;
    ASSERT_EQ(std::sscanf(sent.c_str() + me.size(), "sent %llu messages in %llu batches", &messages,
                          &batches),
              2)
        << sent;
    // Its own, and the gateway's greeting to each peer (kHello).
    EXPECT_EQ(messages, (unsigned long long)((count + 1) * (nodes - 1)));
    EXPECT_GT(batches, 0u);
    EXPECT_LT(batches * 20, messages) << "messages are not batched";
    EXPECT_EQ(r.count(me + "job status 0, MPI finalised: yes"), 1) << r.out;
  }
}

}  // namespace

TEST(Transport, SmallMessagesArriveOnceInOrderInBatchesOverTcp) {
  SHOAL_SKIP_WITHOUT_MPI();
  expect_batches(2, kTcp, 100000);
}

TEST(Transport, SmallMessagesBetweenThreeNodesOverTheDefaultTransport) {
  SHOAL_SKIP_WITHOUT_MPI();
  expect_batches(3, kDefaultTransport, 30000);
}

TEST(Transport, ObjectsGoFromStoreToStoreIntactAndAFullStoreRefusesCleanly) {
  SHOAL_SKIP_WITHOUT_MPI();
  for (const auto* transport : {&kTcp, &kDefaultTransport}) {
    SCOPED_TRACE(transport->empty() ? "default transport" : "tcp");
    // Node 1's store: 40 MiB, so the 48 MiB and 64 MiB objects do not fit.
    const ProbeRun r = run_probe(2, *transport, {"objects", std::to_string(40 << 20)});
    EXPECT_EQ(r.code, 0) << r.out << r.err;
    const uint64_t MiB = 1 << 20;
    for (uint64_t size : std::vector<uint64_t>{0, 1, 160, 161, 4096, 32768, 32769, 16 * MiB + 3}) {
      EXPECT_EQ(r.count("node 1: received " + std::to_string(size) + " bytes intact"), 1)
          << size << "\n"
          << r.out;
      EXPECT_EQ(r.count("node 0: sent " + std::to_string(size) + " bytes: ok"), 1) << r.out;
    }
    // The 1 MiB object went twice: before the refusals and after them.
    EXPECT_EQ(r.count("node 1: received 1048576 bytes intact"), 2) << r.out;
    for (uint64_t size : {48 * MiB, 64 * MiB - 4096}) {
      const std::string sent = r.find("node 0: sent " + std::to_string(size) + " bytes: ");
      EXPECT_NE(
          sent.find("node 1 cannot store it: the object is larger than the whole object store"),
          std::string::npos)
          << r.out;
      const std::string refused = r.find("node 1: refused: object of " + std::to_string(size));
      EXPECT_NE(refused.find("this node's store is full"), std::string::npos) << r.out;
    }
    EXPECT_EQ(r.out.find("CORRUPT"), std::string::npos) << r.out;
    EXPECT_EQ(r.count("node 0: store back to baseline: yes"), 1) << r.out;
    EXPECT_EQ(r.count("node 1: store back to baseline: yes"), 1) << r.out;
    EXPECT_EQ(r.count("node 0: job status 0, MPI finalised: yes"), 1) << r.out;
    EXPECT_EQ(r.count("node 1: job status 0, MPI finalised: yes"), 1) << r.out;
  }
}

TEST(Transport, IdleGatewaysEndTheJobWithMpiFinalised) {
  SHOAL_SKIP_WITHOUT_MPI();
  const ProbeRun r = run_probe(3, kTcp, {"idle", "0.5"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  for (int n = 0; n < 3; ++n) {
    EXPECT_EQ(r.count("node " + std::to_string(n) + ": job status 0, MPI finalised: yes"), 1)
        << r.out;
  }
}

TEST(Transport, APeerThatVanishesEndsTheJobNonZero) {
  SHOAL_SKIP_WITHOUT_MPI();
  const ProbeRun r = run_probe(2, kTcp, {"lose", "-"});
  EXPECT_NE(r.code, 0) << r.out;
  EXPECT_EQ(r.count("node 1: leaving without a word"), 1) << r.out;
}
