// Errors of the engine. Every failure the core reports is a crossrank::Error with a stable code;
// the binding turns the code into the `code` string of the JS error.
#pragma once

#include <stdexcept>
#include <string>

namespace crossrank {

enum class ErrorCode {
  InvalidArgument,  // a caller's value is out of range or of the wrong shape
  InvalidModel,     // the model file or folder cannot be used (corrupt, wrong inputs/outputs)
  UnsupportedModel,  // a well-formed model whose graph crossrank cannot score as sentence-transformers does
  ModelNotFound,    // a file the model needs does not exist
  Tokenizer,        // tokenizer.json failed to load or to encode
  Inference,        // ONNX Runtime failed while running a batch
  Closed,           // the model was closed
  Aborted,          // the caller cancelled the call
  QueueFull,        // the model's queue holds too many pairs: back-pressure
  CudaUnavailable,  // device 'cuda' asked for, but no usable GPU path
  OutOfMemory,      // an allocation failed (std::bad_alloc)
  Internal,         // a bug: should never be seen
};

const char* error_code_name(ErrorCode code) noexcept;

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace crossrank
