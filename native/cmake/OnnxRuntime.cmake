# The one place that decides where ONNX Runtime comes from.
#
#   ONNXRUNTIME_ROOT (CMake variable or environment variable): an official ONNX Runtime release
#     folder with include/ and lib/ (libonnxruntime.so.1 or libonnxruntime.so).
#   otherwise: the npm package com.github.asus4.onnxruntime (ONNX Runtime 1.29.0), a dependency.
#
# Defines the imported target onnxruntime::onnxruntime and ONNXRUNTIME_LIBRARY_FILES: the files
# to place beside the addon, under the SONAME the addon records (libonnxruntime.so.1).

if(NOT ONNXRUNTIME_ROOT AND DEFINED ENV{ONNXRUNTIME_ROOT})
  set(ONNXRUNTIME_ROOT "$ENV{ONNXRUNTIME_ROOT}")
endif()

if(ONNXRUNTIME_ROOT)
  set(_ort_include "${ONNXRUNTIME_ROOT}/include")
  find_file(_ort_lib NAMES libonnxruntime.so.1 libonnxruntime.so PATHS "${ONNXRUNTIME_ROOT}/lib" NO_DEFAULT_PATH)
  set(_ort_source "ONNXRUNTIME_ROOT=${ONNXRUNTIME_ROOT}")
else()
  set(_ort_pkg "${CMAKE_CURRENT_SOURCE_DIR}/node_modules/com.github.asus4.onnxruntime")
  set(_ort_include "${_ort_pkg}/Plugins/iOS~/onnxruntime.xcframework/ios-arm64_x86_64-simulator/onnxruntime.framework/Headers")
  set(_ort_lib "${_ort_pkg}/Plugins/Linux/x64/libonnxruntime.so")
  set(_ort_source "npm com.github.asus4.onnxruntime")
endif()

if(NOT EXISTS "${_ort_include}/onnxruntime_cxx_api.h")
  message(FATAL_ERROR "ONNX Runtime headers not found in '${_ort_include}' (${_ort_source}). "
                      "Run `npm ci`, or set ONNXRUNTIME_ROOT to a release folder with include/ and lib/.")
endif()
if(NOT _ort_lib OR NOT EXISTS "${_ort_lib}")
  message(FATAL_ERROR "ONNX Runtime library not found (${_ort_source}). "
                      "Run `npm ci`, or set ONNXRUNTIME_ROOT to a release folder with include/ and lib/.")
endif()

# Place the library under its SONAME beside the addon, whatever the file is called at the source.
set(_ort_staged "${CMAKE_BINARY_DIR}/ort/libonnxruntime.so.1")
configure_file("${_ort_lib}" "${_ort_staged}" COPYONLY)

add_library(onnxruntime::onnxruntime SHARED IMPORTED GLOBAL)
set_target_properties(onnxruntime::onnxruntime PROPERTIES
  IMPORTED_LOCATION "${_ort_staged}"
  IMPORTED_SONAME "libonnxruntime.so.1"
  INTERFACE_INCLUDE_DIRECTORIES "${_ort_include}")
set(ONNXRUNTIME_LIBRARY_FILES "${_ort_staged}")
message(STATUS "ONNX Runtime: ${_ort_source}")
