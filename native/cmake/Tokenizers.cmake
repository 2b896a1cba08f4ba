# Builds native/tokenizers (Rust, over the HF `tokenizers` crate) with cargo and exposes it as the
# static imported target crossrank::tokenizers with its C header.

find_program(CARGO_EXECUTABLE cargo HINTS "$ENV{CARGO_HOME}/bin" "$ENV{HOME}/.cargo/bin")
if(NOT CARGO_EXECUTABLE)
  message(FATAL_ERROR "cargo not found: install the Rust toolchain (https://rustup.rs) and retry.")
endif()

set(_tk_dir "${CMAKE_CURRENT_SOURCE_DIR}/native/tokenizers")
set(_tk_target_dir "${CMAKE_BINARY_DIR}/cargo")
set(_tk_lib "${_tk_target_dir}/release/libcrossrank_tokenizers.a")

add_custom_command(
  OUTPUT "${_tk_lib}"
  COMMAND ${CMAKE_COMMAND} -E env CARGO_TARGET_DIR=${_tk_target_dir}
          ${CARGO_EXECUTABLE} build --release --locked --manifest-path ${_tk_dir}/Cargo.toml
  DEPENDS ${_tk_dir}/Cargo.toml ${_tk_dir}/Cargo.lock ${_tk_dir}/src/lib.rs
  COMMENT "Building the tokenizer crate with cargo"
  USES_TERMINAL)
add_custom_target(crossrank_tokenizers_build DEPENDS "${_tk_lib}")

find_package(Threads REQUIRED)
add_library(crossrank::tokenizers STATIC IMPORTED GLOBAL)
set_target_properties(crossrank::tokenizers PROPERTIES
  IMPORTED_LOCATION "${_tk_lib}"
  INTERFACE_INCLUDE_DIRECTORIES "${_tk_dir}"
  INTERFACE_LINK_LIBRARIES "Threads::Threads;${CMAKE_DL_LIBS};m")

