// The engine: a tokenizer and an ONNX Runtime session behind one call that scores many
// (first, second) text pairs. Tokenizes in parallel, sorts by length so batches carry little
// padding, runs batches bounded by rows and by tokens, and writes each score at its pair's index.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "inference_session.h"
#include "tokenizer.h"

namespace crossrank {

enum class Activation { Identity, Sigmoid, Softmax, Tanh };

struct EngineConfig {
  std::string model_path;
  std::string tokenizer_path;
  size_t max_length = 512;
  bool truncate_left = false;
  std::string pad_token;        // looked up when tokenizer.json has no padding id; may be empty
  int64_t pad_id_fallback = 0;  // config.json pad_token_id, used when nothing else names one
  int64_t num_labels_hint = 0;  // config.json num_labels
  size_t tokenizer_threads = 0;  // 0: hardware concurrency, at most 8
  SessionOptions session;
};

// Texts of one call. `first` holds one text per pair, or exactly one text shared by every pair
// (a rerank query); `second` holds one text per pair, or is empty for single-text inputs.
struct PairTexts {
  const std::vector<std::string>* first = nullptr;
  const std::vector<std::string>* second = nullptr;
  size_t size() const;
  bool shared_first() const;
};

struct PredictOptions {
  size_t batch_size = 32;
  size_t max_batch_tokens = 32768;  // rows * padded length per batch, bounds memory on long inputs
  Activation activation = Activation::Sigmoid;
  // Read between batches; non-zero cancels the call with ErrorCode::Aborted. May be null.
  const int32_t* cancel_flag = nullptr;
};

class CrossEncoderEngine {
 public:
  explicit CrossEncoderEngine(const EngineConfig& config);

  // Scores every pair into out[i * num_labels() + label]. Thread-safe; blocks the calling thread.
  void predict(const PairTexts& texts, const PredictOptions& options, float* out) const;

  // Tokenizes every pair exactly as predict() does (for inspection and tests).
  std::vector<Encoding> encode(const PairTexts& texts) const;

  int64_t num_labels() const { return session_->num_labels(); }
  int64_t pad_id() const { return pad_id_; }
  size_t max_length() const { return tokenizer_->max_length(); }
  const InferenceSession& session() const { return *session_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }

 private:
  void encode_range(const PairTexts& texts, size_t begin, size_t end, std::vector<Encoding>& out) const;
  static void apply_activation(Activation activation, float* row_major, size_t rows, size_t labels);

  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<InferenceSession> session_;
  int64_t pad_id_ = 0;
  size_t tokenizer_threads_ = 1;
};

}  // namespace crossrank
