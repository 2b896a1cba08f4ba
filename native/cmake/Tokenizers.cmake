# Builds native/tokenizers (Rust, over the HF `tokenizers` crate) with cargo and exposes it as the
# static imported target crossrank::tokenizers with its C header.

find_program(CARGO_EXECUTABLE cargo HINTS "$ENV{CARGO_HOME}/bin" "$ENV{HOME}/.cargo/bin")
if(NOT CARGO_EXECUTABLE)
  message(FATAL_ERROR "cargo not found: install the Rust toolchain (https://rustup.rs) and retry.")
endif()

set(_tk_dir "${CMAKE_CURRENT_SOURCE_DIR}/native/tokenizers")
# mimalloc for the crate's allocations (src/lib.rs says why). Off where a tool must see every
# allocation: the fuzz build (ASan, libFuzzer's malloc hooks) and the valgrind check build.
if(CROSSRANK_FUZZ)
  set(_tk_mimalloc_default OFF)
else()
  set(_tk_mimalloc_default ON)
endif()
option(CROSSRANK_TOKENIZER_MIMALLOC "Build the tokenizer crate with mimalloc as its allocator" ${_tk_mimalloc_default})
if(CROSSRANK_TOKENIZER_MIMALLOC)
  set(_tk_feature_args "")
  set(_tk_target_dir "${CMAKE_BINARY_DIR}/cargo")
else()
  set(_tk_feature_args --no-default-features)
  set(_tk_target_dir "${CMAKE_BINARY_DIR}/cargo-system-alloc")  # its own dir: no stale library
endif()
set(CROSSRANK_RUSTFLAGS "" CACHE STRING "Extra RUSTFLAGS for the tokenizer crate")
if(CROSSRANK_RUSTFLAGS)
  # With an explicit --target, RUSTFLAGS reach our crates only, not build scripts and proc macros
  # (which run on the host and cannot link the fuzzer's instrumentation).
  set(_tk_triple x86_64-unknown-linux-gnu)
  set(_tk_target_args --target ${_tk_triple})
  set(_tk_lib "${_tk_target_dir}/${_tk_triple}/release/libcrossrank_tokenizers.a")
else()
  set(_tk_target_args "")
  set(_tk_lib "${_tk_target_dir}/release/libcrossrank_tokenizers.a")
endif()

file(GLOB _tk_sources CONFIGURE_DEPENDS "${_tk_dir}/src/*.rs")
# CROSSRANK_RUSTFLAGS: extra rustc flags (the fuzz build adds coverage instrumentation).
add_custom_command(
  OUTPUT "${_tk_lib}"
  COMMAND ${CMAKE_COMMAND} -E env CARGO_TARGET_DIR=${_tk_target_dir} "RUSTFLAGS=${CROSSRANK_RUSTFLAGS}"
          ${CARGO_EXECUTABLE} build --release --locked ${_tk_target_args} ${_tk_feature_args} --manifest-path ${_tk_dir}/Cargo.toml
  DEPENDS ${_tk_dir}/Cargo.toml ${_tk_dir}/Cargo.lock ${_tk_sources}
  COMMENT "Building the tokenizer crate with cargo"
  USES_TERMINAL)
add_custom_target(crossrank_tokenizers_build DEPENDS "${_tk_lib}")

find_package(Threads REQUIRED)
add_library(crossrank::tokenizers STATIC IMPORTED GLOBAL)
set_target_properties(crossrank::tokenizers PROPERTIES
  IMPORTED_LOCATION "${_tk_lib}"
  INTERFACE_INCLUDE_DIRECTORIES "${_tk_dir}"
  INTERFACE_LINK_LIBRARIES "Threads::Threads;${CMAKE_DL_LIBS};m")

