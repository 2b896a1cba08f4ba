// ONNX Runtime session of a reranker graph: discovers which inputs the graph takes and their
// integer type, checks the logits output, and runs one padded batch through an I/O binding. Two
// graph kinds (GraphKind): a classifier (input_ids, attention_mask, token_type_ids -> logits
// [batch, labels]; crossrank's LLM score graphs are of this kind) and a causal LM as transformers.js
// / optimum / onnx-community export it (input_ids, attention_mask, position_ids and empty
// past_key_values -> logits [batch, seq, vocab]), of which one score per row is read: the true
// token's logit minus the false token's at the row's last real position. On CUDA the inputs are staged in the
// provider's pinned host memory, so ONNX Runtime copies them to the GPU asynchronously on the run's
// own stream instead of through a pageable bounce buffer.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "execution_provider.h"

namespace crossrank {

// What a graph computes, as detected at load (InferenceSession::graph_kind).
enum class GraphKind {
  Classifier,              // logits [batch, labels]
  CausalLmWithPast,        // logits [batch, seq, vocab], past_key_values.{i}.key/value inputs
};

// Most bytes of [rows, columns, vocab] logits one causal-LM run may return: batches of such a graph
// hold at most this / (vocab * element size) tokens (InferenceSession::max_run_tokens), whatever
// maxBatchTokens says. ONNX Runtime computes every vocabulary logit of every position.
constexpr size_t kMaxCausalLogitsBytes = size_t{512} << 20;

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
  // A graph with past_key_values inputs is accepted only when this is set (the folder is a causal-LM
  // reranker); a graph without them is then refused (UNSUPPORTED_MODEL).
  bool causal_lm_with_past = false;
  // A classifier graph may take position_ids (a decoder's seq-cls head exported with them), fed as
  // transformers computes them (cumsum of the mask - 1). Encoders' position ids follow other rules
  // (RoBERTa counts from the pad id), so only decoder rerankers set this.
  bool decoder_positions = false;
  // Causal-LM graphs: the vocabulary columns read at each row's last real position. The score is
  // logit[score_true_id] - logit[score_false_id], or logit[score_true_id] alone when the false id is < 0.
  int64_t score_true_id = -1;
  int64_t score_false_id = -1;
  // Causal-LM graphs: config.json's KV heads, head size and vocabulary size, used where the graph
  // leaves those dimensions symbolic (0: unknown).
  int64_t kv_heads_hint = 0;
  int64_t head_dim_hint = 0;
  int64_t vocab_hint = 0;
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

  // Runs one batch; writes rows * num_labels() logits (fp32) into `logits` (a causal-LM graph: one
  // score per row, read from the [rows, columns, vocab] logits at the row's last real position). Thread-safe across
  // contexts; one context is used by one thread at a time.
  void run(const PackedBatch& batch, float* logits, RunContext& context) const;

  // "pinned" when inputs are staged in the GPU provider's pinned host memory, else "cpu". Falls
  // back to "cpu" for good (and keeps running) if ONNX Runtime refuses a pinned input.
  std::string input_memory() const;

  int64_t num_labels() const { return num_labels_; }
  GraphKind graph_kind() const { return graph_kind_; }
  // "classifier" or "causal-lm-with-past".
  std::string graph_kind_name() const;
  // Most rows x columns one run may take (0: no bound of the session's own). Causal-LM graphs
  // return every vocabulary logit of every position: kMaxCausalLogitsBytes bounds that memory.
  size_t max_run_tokens() const { return max_run_tokens_; }
  bool has_token_type_ids() const;
  std::vector<std::string> input_names() const;
  std::string output_name() const;
  std::string output_type() const;  // "float32" or "float16"
  const DeviceChoice& device() const { return device_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int64_t num_labels_ = 0;
  GraphKind graph_kind_ = GraphKind::Classifier;
  size_t max_run_tokens_ = 0;
  DeviceChoice device_;
};

}  // namespace crossrank
