// Which node of a multi-node job this process is on (core/src only): settled
// once by init() or, in an actor or worker, by its runtime's installation, and
// read by node(), num_nodes() and local_rank().
#pragma once

namespace shoal::detail {

// Before a session is created (init() outside `shoal launch`). A program that
// mpirun started directly would make one unrelated session per MPI process:
// this throws shoal::Error naming the command line that does what was meant.
// A node's own driver (`shoal bench` under mpirun, its node's gateway) sets
// SHOAL_NODE first and is let through. Outside a multi-node job the node
// variables are cleared, so the session's actors do not inherit stale ones.
void check_plain_session_environment();

// Reads the node identity from the environment the launcher gave us. `rank`:
// this process is a `shoal launch` rank (local_rank() is its own).
void settle_node_identity(bool rank);

}  // namespace shoal::detail
