# The one place that decides where ONNX Runtime comes from.
#
#   ONNXRUNTIME_ROOT (CMake variable or environment variable): an official ONNX Runtime release
#     folder with include/ and lib/ (libonnxruntime.so.1 or libonnxruntime.so).
#   otherwise: the npm package com.github.asus4.onnxruntime (ONNX Runtime 1.29.0), a dependency:
#     headers, and the core library when the GPU packages are absent. When the CUDA provider
#     (com.github.asus4.onnxruntime.linux-x64-gpu) and onnxruntime-node@1.29.0 (both optional
#     dependencies) are installed, the core library is onnxruntime-node's instead: the CUDA provider
#     calls back into CUDA host functions that only a CUDA-enabled core build has (with asus4's
#     CPU-only core the first Run on the GPU crashed, seen on an H200), and
#     libonnxruntime_providers_shared.so, which the provider loads through, goes beside it.
#     CROSSRANK_ORT_CORE=cpu (environment) keeps asus4's CPU-only core regardless.
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
  # A GPU release folder carries the provider bridge beside its core.
  if(EXISTS "${ONNXRUNTIME_ROOT}/lib/libonnxruntime_providers_shared.so")
    set(_ort_providers_shared "${ONNXRUNTIME_ROOT}/lib/libonnxruntime_providers_shared.so")
  endif()
else()
  set(_ort_pkg "${CMAKE_CURRENT_SOURCE_DIR}/node_modules/com.github.asus4.onnxruntime")
  set(_ort_include "${_ort_pkg}/Plugins/iOS~/onnxruntime.xcframework/ios-arm64_x86_64-simulator/onnxruntime.framework/Headers")
  set(_ort_lib "${_ort_pkg}/Plugins/Linux/x64/libonnxruntime.so")
  set(_ort_source "npm com.github.asus4.onnxruntime (CPU-only core)")
  set(_ort_gpu_dir "${CMAKE_CURRENT_SOURCE_DIR}/node_modules/com.github.asus4.onnxruntime.linux-x64-gpu/Plugins/Linux/x64")
  execute_process(COMMAND node -p "require.resolve('onnxruntime-node/package.json')"
                  WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}
                  OUTPUT_VARIABLE _ortn_json OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(NOT "$ENV{CROSSRANK_ORT_CORE}" STREQUAL "cpu" AND EXISTS "${_ort_gpu_dir}/libonnxruntime_providers_cuda.so"
     AND _ortn_json AND EXISTS "${_ortn_json}")
    # The version crossrank pins (package.json) is the one its headers match.
    file(READ "${CMAKE_CURRENT_SOURCE_DIR}/package.json" _crossrank_manifest)
    string(JSON _ortn_wanted GET "${_crossrank_manifest}" optionalDependencies onnxruntime-node)
    file(READ "${_ortn_json}" _ortn_manifest)
    string(JSON _ortn_version GET "${_ortn_manifest}" version)
    get_filename_component(_ortn_dir "${_ortn_json}" DIRECTORY)
    set(_ortn_lib "${_ortn_dir}/bin/napi-v6/linux/x64/libonnxruntime.so.1")
    if(_ortn_version STREQUAL _ortn_wanted AND EXISTS "${_ortn_lib}")
      set(_ort_lib "${_ortn_lib}")
      set(_ort_providers_shared "${_ort_gpu_dir}/libonnxruntime_providers_shared.so")
      set(_ort_source "npm onnxruntime-node@${_ortn_version} (CUDA-enabled core), headers from com.github.asus4.onnxruntime")
    else()
      message(STATUS "ONNX Runtime: onnxruntime-node ${_ortn_version} is not ${_ortn_wanted}: keeping the CPU-only core")
    endif()
  endif()
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
if(_ort_providers_shared)
  configure_file("${_ort_providers_shared}" "${CMAKE_BINARY_DIR}/ort/libonnxruntime_providers_shared.so" COPYONLY)
  list(APPEND ONNXRUNTIME_LIBRARY_FILES "${CMAKE_BINARY_DIR}/ort/libonnxruntime_providers_shared.so")
else()
  file(REMOVE "${CMAKE_BINARY_DIR}/ort/libonnxruntime_providers_shared.so")
endif()
message(STATUS "ONNX Runtime: ${_ort_source}")
