# smo_add_plugin(<kind>_<name> SOURCES ... [LIBS ...] [INCLUDES ...])
# Builds smo_<kind>_<name>.so: hidden visibility, only smo_plugin_entry
# exported, no undefined symbols (-z defs), installed into the plugin dir.
function(smo_add_plugin id)
  cmake_parse_arguments(P "" "" "SOURCES;LIBS;INCLUDES" ${ARGN})
  set(target smo_${id})
  add_library(${target} MODULE ${P_SOURCES})
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    OUTPUT_NAME ${target}
    C_VISIBILITY_PRESET hidden)
  if(DEFINED SMO_PLUGIN_OUTPUT_DIR)
    set_target_properties(${target} PROPERTIES
      LIBRARY_OUTPUT_DIRECTORY ${SMO_PLUGIN_OUTPUT_DIR})
  endif()
  if(TARGET smo::sdk)
    target_link_libraries(${target} PRIVATE smo::sdk)
  endif()
  target_link_libraries(${target} PRIVATE ${P_LIBS})
  set(_inc "")
  foreach(d ${P_INCLUDES})
    get_filename_component(a ${d} ABSOLUTE)
    list(APPEND _inc ${a})
  endforeach()
  target_include_directories(${target} PRIVATE ${_inc})
  set_property(GLOBAL PROPERTY SMO_PLUGIN_${id}_INCLUDES ${_inc})
  # Remembered so that plugin unit tests can compile the same sources.
  set(_abs "")
  foreach(src ${P_SOURCES})
    get_filename_component(a ${src} ABSOLUTE)
    list(APPEND _abs ${a})
  endforeach()
  set_property(GLOBAL PROPERTY SMO_PLUGIN_${id}_SOURCES ${_abs})
  set_property(GLOBAL PROPERTY SMO_PLUGIN_${id}_LIBS ${P_LIBS})
  set_property(GLOBAL APPEND PROPERTY SMO_PLUGINS ${id})
  # clang's sanitizer runtimes live in the executable: -z defs cannot hold.
  if(NOT (SMO_SANITIZE AND CMAKE_C_COMPILER_ID MATCHES "Clang"))
    target_link_options(${target} PRIVATE -Wl,-z,defs)
  endif()
  target_link_options(${target} PRIVATE
    -Wl,--version-script=${SMO_PLUGIN_MAP})
  set_property(TARGET ${target} APPEND PROPERTY LINK_DEPENDS ${SMO_PLUGIN_MAP})
  if(DEFINED SMO_PLUGIN_INSTALL_DIR)
    install(TARGETS ${target} LIBRARY DESTINATION ${SMO_PLUGIN_INSTALL_DIR})
  endif()
endfunction()
