// The engine: a tokenizer, an ONNX Runtime session and the scheduler that feeds it, behind calls
// that score many (first, second) text pairs.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "inference_session.h"
#include "scheduler.h"
#include "tokenizer.h"

namespace crossrank {

struct EngineConfig {
  std::string model_path;
  std::string tokenizer_path;
  size_t max_length = 512;
  bool truncate_left = false;
  std::string pad_token;        // looked up when tokenizer.json has no padding id; may be empty
  int64_t pad_id_fallback = 0;  // config.json pad_token_id, used when nothing else names one
  int64_t num_labels_hint = 0;  // config.json num_labels
  size_t tokenizer_threads = 0;  // 0: hardware concurrency, at most 8
  size_t concurrent_runs = 0;    // batches in flight at once; 0: 1 on CPU, 2 on CUDA (see Scheduler)
  size_t max_queued_pairs = 1 << 20;
  // LLM rerankers: single texts are rendered prompts, tokenized without special tokens, with this
  // chat-template suffix restored on truncation (Tokenizer::set_chat_mode).
  bool chat = false;
  std::vector<uint32_t> chat_suffix;
  SessionOptions session;
};

// The most bytes of tokenizer.json crossrank reads. The largest published ones hold about 35 MB
// (large multilingual vocabularies); 256 MiB is far beyond them and still bounded.
constexpr uint64_t kMaxTokenizerBytes = 256ull << 20;

// Refuses a model file that is not a regular file (a FIFO would block a load forever, a device
// such as /dev/zero never ends) or holds more than `max_bytes`: INVALID_MODEL, or MODEL_NOT_FOUND
// when it does not exist. Opens without blocking. Runs on the load worker, off the JS thread.
void check_model_file(const std::string& path, const char* what, uint64_t max_bytes);

class CrossEncoderEngine {
 public:
  explicit CrossEncoderEngine(const EngineConfig& config);
  ~CrossEncoderEngine();

  // Queues the pairs; `done` runs once, from a scheduler thread, when every score is in `out`
  // (out[i * num_labels() + label]) or the call failed. Never blocks on inference.
  void submit(JobTexts texts, const PredictOptions& options, float* out, JobDone done) const;

  // submit() and wait: for C++ callers (benchmarks, tests). Throws crossrank::Error.
  void predict(JobTexts texts, const PredictOptions& options, float* out) const;

  // Tokenizes every pair exactly as the scheduler does (for inspection and tests).
  std::vector<Encoding> encode(const JobTexts& texts) const;

  // Byte offsets of each text's tokens (Tokenizer::token_offsets), on the tokenizer threads.
  std::vector<std::vector<uint32_t>> token_offsets(const std::vector<std::string>& texts) const;

  // Refuses new calls and fails queued ones with CLOSED; returns at once.
  void close() const;
  // close(), then waits for the batch in flight and stops the threads. After it returns, no
  // output buffer of any call is written any more.
  void shutdown() const;

  SchedulerStats stats() const { return scheduler_->stats(); }
  int64_t num_labels() const { return session_->num_labels(); }
  int64_t pad_id() const { return pad_id_; }
  size_t max_length() const { return tokenizer_->max_length(); }
  size_t tokenizer_threads() const { return tokenizer_threads_; }
  size_t concurrent_runs() const { return concurrent_runs_; }
  const InferenceSession& session() const { return *session_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }

 private:
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<InferenceSession> session_;
  int64_t pad_id_ = 0;
  size_t tokenizer_threads_ = 1;
  size_t concurrent_runs_ = 1;
  std::unique_ptr<Scheduler> scheduler_;  // declared last: stopped first
};

}  // namespace crossrank
