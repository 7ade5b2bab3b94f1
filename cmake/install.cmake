# cmake --install: the public headers, the libraries, the shoal command and a
# CMake package, so that find_package(shoal CONFIG) gives shoal::shoal.
include(CMakePackageConfigHelpers)

set_target_properties(shoal_core PROPERTIES EXPORT_NAME core)
set_target_properties(shoal_launcher PROPERTIES EXPORT_NAME launcher)
set_target_properties(shoal_store PROPERTIES EXPORT_NAME store)
set_target_properties(shoal_ipc PROPERTIES EXPORT_NAME ipc)
set_target_properties(shoal_timeline PROPERTIES EXPORT_NAME timeline)

install(TARGETS shoal shoal_core shoal_launcher shoal_timeline shoal_store shoal_ipc
  EXPORT shoalTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS shoal_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/core/include/shoal
                  ${PROJECT_SOURCE_DIR}/store/include/shoal
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT shoalTargets
  NAMESPACE shoal::
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/shoal)

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/shoalConfig.cmake.in
  ${PROJECT_BINARY_DIR}/shoalConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/shoal)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/shoalConfigVersion.cmake
  COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/shoalConfig.cmake ${PROJECT_BINARY_DIR}/shoalConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/shoal)
