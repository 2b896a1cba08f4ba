#include "cross_encoder.h"

#include <algorithm>
#include <future>
#include <string_view>
#include <thread>

#include "errors.h"
#include "parallel.h"

namespace crossrank {

CrossEncoderEngine::CrossEncoderEngine(const EngineConfig& config) {
  tokenizer_ = std::make_unique<Tokenizer>(config.tokenizer_path, config.max_length, config.truncate_left);
  session_ = std::make_unique<InferenceSession>(config.model_path, config.session, config.num_labels_hint);
  // The pad id HF would use: tokenizer.json's padding settings, else the pad token by name,
  // else config.json. Masked positions do not change scores, but RoBERTa-style position ids are
  // computed from it, so it must be the model's own.
  pad_id_ = tokenizer_->padding_id();
  if (pad_id_ < 0 && !config.pad_token.empty()) pad_id_ = tokenizer_->token_to_id(config.pad_token);
  if (pad_id_ < 0) pad_id_ = config.pad_id_fallback;
  const size_t hw = std::max(1u, std::thread::hardware_concurrency());
  tokenizer_threads_ = config.tokenizer_threads > 0 ? config.tokenizer_threads : std::min<size_t>(hw, 8);
  SchedulerOptions so;
  so.tokenizer_threads = tokenizer_threads_;
  // On CUDA each concurrent run gets its own stream: one batch's host work (packing, launches,
  // copies) overlaps another's kernels. On a CPU one run already uses every core.
  const bool on_gpu = session_->device().device == "cuda";
  concurrent_runs_ = config.concurrent_runs > 0 ? config.concurrent_runs : (on_gpu ? 2 : 1);
  so.concurrent_runs = concurrent_runs_;
  so.max_queued_pairs = config.max_queued_pairs;
  scheduler_ = std::make_unique<Scheduler>(*tokenizer_, *session_, pad_id_, so);
}

CrossEncoderEngine::~CrossEncoderEngine() { scheduler_.reset(); }

void CrossEncoderEngine::submit(JobTexts texts, const PredictOptions& options, float* out, JobDone done) const {
  scheduler_->submit(std::move(texts), options, out, std::move(done));
}

void CrossEncoderEngine::predict(JobTexts texts, const PredictOptions& options, float* out) const {
  std::promise<void> finished;
  std::future<void> result = finished.get_future();
  submit(std::move(texts), options, out, [&finished](const Error* error) {
    if (error) {
      finished.set_exception(std::make_exception_ptr(*error));
    } else {
      finished.set_value();
    }
  });
  result.get();
}

void CrossEncoderEngine::close() const { scheduler_->close(); }

void CrossEncoderEngine::shutdown() const { scheduler_->shutdown(); }

std::vector<Encoding> CrossEncoderEngine::encode(const JobTexts& texts) const {
  const size_t n = texts.size();
  std::vector<Encoding> out(n);
  const bool shared = !texts.second.empty() && texts.first.size() == 1;
  parallel_for(n, n >= 64 ? tokenizer_threads_ : 1, [&](size_t i) {
    const std::string& a = texts.first[shared ? 0 : i];
    if (texts.second.empty()) {
      tokenizer_->encode(a, nullptr, out[i]);
    } else {
      const std::string_view b(texts.second[i]);
      tokenizer_->encode(a, &b, out[i]);
    }
  });
  return out;
}

}  // namespace crossrank
