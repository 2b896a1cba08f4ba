// ONNX Runtime session of a sequence-classification model: discovers which inputs the graph
// takes (input_ids, attention_mask, token_type_ids) and their integer type, checks the logits
// output, and runs one padded batch through an I/O binding. On CUDA the inputs are staged in the
// provider's pinned host memory, so ONNX Runtime copies them to the GPU asynchronously on the run's
// own stream instead of through a pageable bounce buffer.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "execution_provider.h"

namespace crossrank {

struct SessionOptions {
  int intra_op_threads = 0;  // 0: ONNX Runtime's default (one per physical core)
  int inter_op_threads = 1;
  bool optimize_graph = true;
  // ORT's pool threads spin while waiting for work; that burns the cores the tokenizer threads
  // need between runs. Measured in bench/RESULTS.md (ORT tuning).
  bool allow_spinning = true;
  // ONNX Runtime lines printed (OrtLoggingLevel: 0 verbose .. 3 error, 4 fatal only = off).
  int log_severity = 4;
  DeviceRequest device;
};

// A padded batch in row-major [rows, columns] layout.
struct PackedBatch {
  size_t rows = 0;
  size_t columns = 0;
  std::vector<int64_t> input_ids;
  std::vector<int64_t> attention_mask;
  std::vector<int64_t> token_type_ids;
};

class InferenceSession {
 public:
  // num_labels_hint is used when the graph leaves the label dimension symbolic.
  InferenceSession(const std::string& model_path, const SessionOptions& options, int64_t num_labels_hint);
  ~InferenceSession();
  InferenceSession(const InferenceSession&) = delete;
  InferenceSession& operator=(const InferenceSession&) = delete;

  // What one thread needs to run batches: the I/O binding and the staging buffers it reuses.
  class RunContext;
  struct RunContextDeleter {
    void operator()(RunContext* context) const;
  };
  using RunContextPtr = std::unique_ptr<RunContext, RunContextDeleter>;
  RunContextPtr make_run_context() const;

  // Runs one batch; writes rows * num_labels() logits (fp32) into `logits`. Thread-safe across
  // contexts; one context is used by one thread at a time.
  void run(const PackedBatch& batch, float* logits, RunContext& context) const;

  // "pinned" when inputs are staged in the GPU provider's pinned host memory, else "cpu". Falls
  // back to "cpu" for good (and keeps running) if ONNX Runtime refuses a pinned input.
  std::string input_memory() const;

  int64_t num_labels() const { return num_labels_; }
  bool has_token_type_ids() const;
  std::vector<std::string> input_names() const;
  std::string output_name() const;
  std::string output_type() const;  // "float32" or "float16"
  const DeviceChoice& device() const { return device_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int64_t num_labels_ = 0;
  DeviceChoice device_;
};

}  // namespace crossrank
