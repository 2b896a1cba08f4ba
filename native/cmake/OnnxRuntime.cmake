# The one place that decides where ONNX Runtime comes from.
#
#   ONNXRUNTIME_ROOT (CMake variable or environment variable): an official ONNX Runtime release
#     folder with include/ and lib/ (libonnxruntime.so.1 or libonnxruntime.so).
#   otherwise: the npm package com.github.asus4.onnxruntime (ONNX Runtime 1.29.0), a dev dependency
#     (found through Node's module resolution from this folder, then from the current directory,
#     so hoisted and nested installs both work):
#     headers, and the core library when the GPU packages are absent. When the CUDA provider
#     (com.github.asus4.onnxruntime.linux-x64-gpu) and onnxruntime-node@1.29.0 (both optional
#     dependencies) are installed, the core library is onnxruntime-node's instead: the CUDA provider
#     calls back into CUDA host functions that only a CUDA-enabled core build has (with asus4's
#     CPU-only core the first Run on the GPU crashed, seen on an H200), and
#     libonnxruntime_providers_shared.so, which the provider loads through, goes beside it.
#     CROSSRANK_ORT_CORE=cpu (environment) keeps asus4's CPU-only core regardless.
#
# Defines the imported target onnxruntime::onnxruntime and ONNXRUNTIME_LIBRARY_FILES: the files
# to place beside the addon. The core is staged as libcrossrank_onnxruntime.so.1, its SONAME
# rewritten to match with patchelf (CROSSRANK_PATCHELF, else patchelf on PATH): the dynamic loader
# shares libraries by SONAME, so under upstream's libonnxruntime.so.1 crossrank and onnxruntime-node
# (transformers.js) would get whichever version loaded first and fail on the other's symbol
# versions. Without patchelf (the fuzz and valgrind builds, which load no other ONNX Runtime) the
# upstream name stays.

# Folder of an npm package by Node's module resolution; empty when not installed.
function(crossrank_resolve_package out name)
  execute_process(
    COMMAND node -e "const p=require('path');for(const b of process.argv.slice(2)){try{process.stdout.write(p.dirname(require.resolve(process.argv[1]+'/package.json',{paths:[b]})));break}catch{}}"
            "${name}" "${CMAKE_CURRENT_SOURCE_DIR}" "$ENV{PWD}"
    OUTPUT_VARIABLE _dir OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  set(${out} "${_dir}" PARENT_SCOPE)
endfunction()

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
  crossrank_resolve_package(_ort_pkg com.github.asus4.onnxruntime)
  crossrank_resolve_package(_ort_gpu_pkg com.github.asus4.onnxruntime.linux-x64-gpu)
  crossrank_resolve_package(_ortn_dir onnxruntime-node)
  set(_ort_include "${_ort_pkg}/Plugins/iOS~/onnxruntime.xcframework/ios-arm64_x86_64-simulator/onnxruntime.framework/Headers")
  set(_ort_lib "${_ort_pkg}/Plugins/Linux/x64/libonnxruntime.so")
  set(_ort_source "npm com.github.asus4.onnxruntime (CPU-only core)")
  set(_ort_gpu_dir "${_ort_gpu_pkg}/Plugins/Linux/x64")
  set(_ortn_json "${_ortn_dir}/package.json")
  if(NOT "$ENV{CROSSRANK_ORT_CORE}" STREQUAL "cpu" AND _ort_gpu_pkg AND EXISTS "${_ort_gpu_dir}/libonnxruntime_providers_cuda.so"
     AND _ortn_dir AND EXISTS "${_ortn_json}")
    # The version crossrank pins (package.json) is the one its headers match.
    file(READ "${CMAKE_CURRENT_SOURCE_DIR}/package.json" _crossrank_manifest)
    string(JSON _ortn_wanted GET "${_crossrank_manifest}" devDependencies onnxruntime-node)
    file(READ "${_ortn_json}" _ortn_manifest)
    string(JSON _ortn_version GET "${_ortn_manifest}" version)
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
                      "Install com.github.asus4.onnxruntime@0.4.9 (npm), or set ONNXRUNTIME_ROOT to a release folder with include/ and lib/.")
endif()
if(NOT _ort_lib OR NOT EXISTS "${_ort_lib}")
  message(FATAL_ERROR "ONNX Runtime library not found (${_ort_source}). "
                      "Run `npm ci`, or set ONNXRUNTIME_ROOT to a release folder with include/ and lib/.")
endif()

# Place the library under its SONAME beside the addon, whatever the file is called at the source.
if(NOT CROSSRANK_PATCHELF)
  find_program(CROSSRANK_PATCHELF patchelf)
endif()
if(CROSSRANK_PATCHELF)
  set(_ort_soname "libcrossrank_onnxruntime.so.1")
else()
  set(_ort_soname "libonnxruntime.so.1")
  message(STATUS "ONNX Runtime: patchelf not found, keeping the upstream SONAME (no coexistence with onnxruntime-node)")
endif()
file(MAKE_DIRECTORY "${CMAKE_BINARY_DIR}/ort")
file(REMOVE "${CMAKE_BINARY_DIR}/ort/libonnxruntime.so.1" "${CMAKE_BINARY_DIR}/ort/libcrossrank_onnxruntime.so.1")
set(_ort_staged "${CMAKE_BINARY_DIR}/ort/${_ort_soname}")
file(COPY_FILE "${_ort_lib}" "${_ort_staged}")
if(CROSSRANK_PATCHELF)
  execute_process(COMMAND "${CROSSRANK_PATCHELF}" --set-soname "${_ort_soname}" "${_ort_staged}" RESULT_VARIABLE _patch_status)
  if(NOT _patch_status EQUAL 0)
    message(FATAL_ERROR "patchelf --set-soname failed on ${_ort_staged}")
  endif()
endif()

add_library(onnxruntime::onnxruntime SHARED IMPORTED GLOBAL)
set_target_properties(onnxruntime::onnxruntime PROPERTIES
  IMPORTED_LOCATION "${_ort_staged}"
  IMPORTED_SONAME "${_ort_soname}"
  INTERFACE_INCLUDE_DIRECTORIES "${_ort_include}")
set(ONNXRUNTIME_LIBRARY_FILES "${_ort_staged}")
if(_ort_providers_shared)
  configure_file("${_ort_providers_shared}" "${CMAKE_BINARY_DIR}/ort/libonnxruntime_providers_shared.so" COPYONLY)
  list(APPEND ONNXRUNTIME_LIBRARY_FILES "${CMAKE_BINARY_DIR}/ort/libonnxruntime_providers_shared.so")
else()
  file(REMOVE "${CMAKE_BINARY_DIR}/ort/libonnxruntime_providers_shared.so")
endif()
message(STATUS "ONNX Runtime: ${_ort_source}")
