#include "errors.h"

namespace crossrank {

const char* error_code_name(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::InvalidArgument: return "INVALID_ARGUMENT";
    case ErrorCode::InvalidModel: return "INVALID_MODEL";
    case ErrorCode::UnsupportedModel: return "UNSUPPORTED_MODEL";
    case ErrorCode::ModelNotFound: return "MODEL_NOT_FOUND";
    case ErrorCode::Tokenizer: return "TOKENIZER_ERROR";
    case ErrorCode::Inference: return "INFERENCE_FAILED";
    case ErrorCode::Closed: return "CLOSED";
    case ErrorCode::Aborted: return "ABORTED";
    case ErrorCode::QueueFull: return "QUEUE_FULL";
    case ErrorCode::CudaUnavailable: return "CUDA_UNAVAILABLE";
    case ErrorCode::OutOfMemory: return "OUT_OF_MEMORY";
    case ErrorCode::Internal: return "INTERNAL";
  }
  return "INTERNAL";
}

}  // namespace crossrank
