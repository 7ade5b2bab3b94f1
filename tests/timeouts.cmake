# Timeouts of test files that need more than SHOAL_TEST_TIMEOUT (seconds).
# Append a line per test; keep the reason beside it. Tests of areas left out
# of SHOAL_TEST_AREAS are skipped.

# Installs shoal, then configures and builds a consumer project against it.
shoal_test_timeout(install_test 1200)

# Starts ~100 `shoal launch` jobs (each rank a full session member); about
# 90 s on a loaded 2-core machine, more under sanitizers.
shoal_test_timeout(launch_test 600)

# 100+ peer processes killed -9 and repaired by the session's supervisor; each
# peer is a fresh exec of the test binary joining the session (~1 s apiece
# under TSan on a loaded 2-core machine; ~3 s in all in a plain build).
shoal_test_timeout(store_supervised_fault_test 600)

# 270 processes killed -9 mid-loop and repaired while others run (~10 s plain,
# ~80 s under TSan).
shoal_test_timeout(store_fault_test 600)

# Under ThreadSanitizer: 120 actors killed -9 mid-stream (45 s under TSan on an
# idle 2-core machine, 130 s on a loaded one, ~5 s plain); the objects tests
# (40 s idle, 120 s loaded); the spill tests (over a GiB through the spill file
# under TSan's shadow of every byte written, and 60 actors killed -9: ~100 s at
# load 11 on 2 cores, near the default).
if(SHOAL_SANITIZE MATCHES "thread")
  shoal_test_timeout(supervision_fault_test 600)
  shoal_test_timeout(objects_test 600)
  shoal_test_timeout(spill_test 600)
endif()
