# The cluster area: multi-node jobs under mpirun. Included by tests/CMakeLists.txt
# after every area's tests are defined. In a build without MPI (no shoal_cluster)
# the tests that need it skip, saying so.
if(SHOAL_TEST_AREAS AND NOT "cluster" IN_LIST SHOAL_TEST_AREAS)
  return()
endif()
# What the tests print when there is no MPI makes ctest count them as skipped.
foreach(t node_launch_test node_failure_test transport_test wire_test remote_actor_test)
  if(TEST ${t})
    set_property(TEST ${t} PROPERTY SKIP_REGULAR_EXPRESSION "shoal was built without MPI")
  endif()
endforeach()
if(NOT TARGET shoal_cluster)
  return()
endif()

# The wire format's unit test links the library itself.
if(TARGET wire_test)
  target_link_libraries(wire_test PRIVATE shoal_cluster)
endif()

# The gateway and transport tests drive a program of their own under mpirun.
add_executable(cluster_probe ${CMAKE_CURRENT_LIST_DIR}/cluster_probe.cpp)
target_link_libraries(cluster_probe PRIVATE shoal_cluster shoal::shoal)
target_include_directories(cluster_probe PRIVATE ${PROJECT_SOURCE_DIR})

# Under AddressSanitizer, OpenMPI's own leaks are suppressed (openmpi.supp);
# elsewhere these variables are ignored.
foreach(t node_launch_test node_failure_test transport_test remote_actor_test)
  if(TEST ${t})
    set_property(TEST ${t} APPEND PROPERTY ENVIRONMENT
                 "SHOAL_MPIRUN=${MPIEXEC_EXECUTABLE}"
                 "SHOAL_CLUSTER_PROBE=$<TARGET_FILE:cluster_probe>"
                 "LSAN_OPTIONS=suppressions=${CMAKE_CURRENT_LIST_DIR}/openmpi.supp"
                 "ASAN_OPTIONS=fast_unwind_on_malloc=0")
  endif()
endforeach()
if(TARGET transport_test)
  add_dependencies(transport_test cluster_probe)
endif()
# Each job starts a few processes per node through mpirun (about 1-2 s each on
# this 2-core machine); killed-node jobs wait out mpirun's own 2 s teardown.
shoal_test_timeout(node_launch_test 300)
shoal_test_timeout(node_failure_test 300)
shoal_test_timeout(transport_test 300)
shoal_test_timeout(remote_actor_test 400)
