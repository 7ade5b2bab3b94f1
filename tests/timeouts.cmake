# Timeouts of test files that need more than SHOAL_TEST_TIMEOUT (seconds).
# Append a line per test; keep the reason beside it.

# Installs shoal, then configures and builds a consumer project against it.
set_tests_properties(install_test PROPERTIES TIMEOUT 1200)

# Starts ~100 `shoal launch` jobs (each rank a full session member); about
# 90 s on a loaded 2-core machine, more under sanitizers.
set_tests_properties(launch_test PROPERTIES TIMEOUT 600)

# 100+ peer processes killed -9 and repaired by the session's supervisor; each
# peer is a fresh exec of the test binary joining the session (~1 s apiece
# under TSan on a loaded 2-core machine; ~3 s in all in a plain build).
set_tests_properties(store_supervised_fault_test PROPERTIES TIMEOUT 600)

# 270 processes killed -9 mid-loop and repaired while others run (~10 s plain,
# ~80 s under TSan).
set_tests_properties(store_fault_test PROPERTIES TIMEOUT 600)
