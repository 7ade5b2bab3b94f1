# Timeouts of test files that need more than SHOAL_TEST_TIMEOUT (seconds).
# Append a line per test; keep the reason beside it.

# Installs shoal, then configures and builds a consumer project against it.
set_tests_properties(install_test PROPERTIES TIMEOUT 1200)

# Starts ~100 `shoal launch` jobs (each rank a full session member); about
# 90 s on a loaded 2-core machine, more under sanitizers.
set_tests_properties(launch_test PROPERTIES TIMEOUT 600)
