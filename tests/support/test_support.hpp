// Helpers for shoal's tests: running commands, spawning peer processes that
// join the current session, waiting with timeouts.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace shoal::testing {

// ---- commands ----
struct CommandResult {
  int exit_code = -1;  // 128+N if killed by signal N; -1 if it timed out (and was killed)
  std::string out;
  std::string err;
};
// Runs argv[0] (searched in PATH) with argv, optional extra environment
// ("NAME=value"), capturing stdout and stderr; kills it after `timeout`.
CommandResult run_command(const std::vector<std::string>& argv,
                          std::chrono::milliseconds timeout = std::chrono::seconds(60),
                          const std::vector<std::string>& env = {});
// Path of the shoal command, of an example program, of a test binary.
std::string shoal_bin();
std::string example_bin(const std::string& name);
std::string test_bin(const std::string& name);
std::vector<std::string> split_lines(const std::string& text);

// ---- peers: other processes of the same session ----
// A peer is this test binary, started again with SHOAL_SESSION set: its
// shoal::init() joins the current session (like a `shoal launch` rank), and
// instead of the tests it runs the function registered with SHOAL_TEST_PEER
// under `name`, with `args`. Its exit status is that function's return value.
pid_t spawn_peer(const std::string& name, const std::vector<std::string>& args = {});
// Waits for a child; returns its exit code (128+N for signal N), or -1 on timeout.
int wait_child(pid_t pid, std::chrono::milliseconds timeout = std::chrono::seconds(60));

using PeerFn = int (*)(const std::vector<std::string>& args);
struct PeerRegistrar {
  PeerRegistrar(const char* name, PeerFn fn);
};
#define SHOAL_TEST_PEER(name)                                                                   \
  static int shoal_peer_##name(const std::vector<std::string>& args);                           \
  static ::shoal::testing::PeerRegistrar shoal_peer_registrar_##name(#name, shoal_peer_##name); \
  static int shoal_peer_##name([[maybe_unused]] const std::vector<std::string>& args)

// ---- the session, from the inside ----
std::string session_name();        // the current session's segment name
uint64_t store_used_bytes();       // heap bytes in use
uint64_t store_live_objects();     // objects alive in the session
uint64_t store_heap_bytes();       // the heap's capacity
uint64_t store_spilled_objects();  // objects out in the spill file
std::string store_spill_file();    // the session's spill file ("" for none)
uint32_t live_actors();            // actors (not workers) not dead, of any process
// store_live_objects() once every actor has ended (at most 10 s): the
// baseline of a test that follows tests whose owned actors are still ending.
uint64_t live_objects_once_actors_ended();
std::vector<std::string> shm_segments();  // this user's shoal segments in /dev/shm

// Polls `done` until it holds or `timeout` passes.
bool eventually(const std::function<bool()>& done,
                std::chrono::milliseconds timeout = std::chrono::seconds(10));

bool process_alive(pid_t pid);

}  // namespace shoal::testing
