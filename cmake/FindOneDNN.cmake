# FindOneDNN: oneDNN's library and C++ header, without its CMake package config (Debian's requires OpenCL's
# development files, for a GPU runtime normrt does not use). Defines OneDNN_FOUND, OneDNN_VERSION,
# OneDNN_INCLUDE_DIR, OneDNN_LIBRARY and the imported target OneDNN::dnnl.
find_path(OneDNN_INCLUDE_DIR oneapi/dnnl/dnnl.hpp HINTS ${OneDNN_ROOT} $ENV{OneDNN_ROOT} PATH_SUFFIXES include)
find_library(OneDNN_LIBRARY dnnl HINTS ${OneDNN_ROOT} $ENV{OneDNN_ROOT} PATH_SUFFIXES lib64 lib)
if(OneDNN_INCLUDE_DIR AND EXISTS "${OneDNN_INCLUDE_DIR}/oneapi/dnnl/dnnl_version.h")
  file(STRINGS "${OneDNN_INCLUDE_DIR}/oneapi/dnnl/dnnl_version.h" _onednn_lines
    REGEX "#define DNNL_VERSION_(MAJOR|MINOR|PATCH) ")
  foreach(_part MAJOR MINOR PATCH)
    string(REGEX MATCH "DNNL_VERSION_${_part} ([0-9]+)" _m "${_onednn_lines}")
    set(_onednn_${_part} "${CMAKE_MATCH_1}")
  endforeach()
  set(OneDNN_VERSION "${_onednn_MAJOR}.${_onednn_MINOR}.${_onednn_PATCH}")
endif()
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(OneDNN REQUIRED_VARS OneDNN_LIBRARY OneDNN_INCLUDE_DIR VERSION_VAR OneDNN_VERSION)
if(OneDNN_FOUND AND NOT TARGET OneDNN::dnnl)
  add_library(OneDNN::dnnl SHARED IMPORTED)
  set_target_properties(OneDNN::dnnl PROPERTIES
    IMPORTED_LOCATION "${OneDNN_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${OneDNN_INCLUDE_DIR}")
endif()
mark_as_advanced(OneDNN_INCLUDE_DIR OneDNN_LIBRARY)
