#include "cross_encoder.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string_view>
#include <thread>

#include "errors.h"
#include "parallel.h"

namespace crossrank {

namespace {

// Pairs tokenized, sorted and run together. Bounds the memory of a huge call: encodings of one
// chunk at a time, however many pairs the caller passed.
constexpr size_t kChunkPairs = 8192;
// Below this, spawning tokenizer threads costs more than it saves.
constexpr size_t kParallelTokenizeMin = 64;

bool cancelled(const int32_t* flag) {
  return flag != nullptr && __atomic_load_n(flag, __ATOMIC_RELAXED) != 0;
}

}  // namespace

size_t PairTexts::size() const {
  if (second != nullptr && !second->empty()) return second->size();
  return first ? first->size() : 0;
}

bool PairTexts::shared_first() const {
  return second != nullptr && first != nullptr && first->size() == 1 && second->size() != 1;
}

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
}

void CrossEncoderEngine::encode_range(const PairTexts& texts, size_t begin, size_t end,
                                      std::vector<Encoding>& out) const {
  out.resize(end - begin);
  const bool shared = texts.shared_first();
  const bool paired = texts.second != nullptr && !texts.second->empty();
  auto one = [&](size_t k) {
    const size_t i = begin + k;
    const std::string& a = (*texts.first)[shared ? 0 : i];
    if (paired) {
      const std::string_view b((*texts.second)[i]);
      tokenizer_->encode(a, &b, out[k]);
    } else {
      tokenizer_->encode(a, nullptr, out[k]);
    }
  };
  const size_t n = end - begin;
  parallel_for(n, n >= kParallelTokenizeMin ? tokenizer_threads_ : 1, one);
}

std::vector<Encoding> CrossEncoderEngine::encode(const PairTexts& texts) const {
  std::vector<Encoding> out;
  encode_range(texts, 0, texts.size(), out);
  return out;
}

void CrossEncoderEngine::apply_activation(Activation activation, float* v, size_t rows, size_t labels) {
  const size_t n = rows * labels;
  switch (activation) {
    case Activation::Identity:
      return;
    case Activation::Sigmoid:
      for (size_t i = 0; i < n; ++i) v[i] = 1.0f / (1.0f + std::exp(-v[i]));
      return;
    case Activation::Tanh:
      for (size_t i = 0; i < n; ++i) v[i] = std::tanh(v[i]);
      return;
    case Activation::Softmax:
      for (size_t r = 0; r < rows; ++r) {
        float* row = v + r * labels;
        const float top = *std::max_element(row, row + labels);
        float sum = 0.0f;
        for (size_t l = 0; l < labels; ++l) sum += (row[l] = std::exp(row[l] - top));
        for (size_t l = 0; l < labels; ++l) row[l] /= sum;
      }
      return;
  }
}

void CrossEncoderEngine::predict(const PairTexts& texts, const PredictOptions& options, float* out) const {
  if (options.batch_size == 0) throw Error(ErrorCode::InvalidArgument, "batchSize must be positive");
  if (texts.first == nullptr) throw Error(ErrorCode::InvalidArgument, "no texts");
  const size_t total = texts.size();
  const size_t labels = static_cast<size_t>(session_->num_labels());
  const bool with_types = session_->has_token_type_ids();
  // A batch must hold at least one maximal row, whatever the token budget says.
  const size_t token_budget = std::max(options.max_batch_tokens, max_length());

  std::vector<Encoding> encodings;
  std::vector<size_t> order;
  PackedBatch batch;
  std::vector<float> logits;

  for (size_t chunk = 0; chunk < total; chunk += kChunkPairs) {
    if (cancelled(options.cancel_flag)) throw Error(ErrorCode::Aborted, "the call was aborted");
    const size_t chunk_end = std::min(total, chunk + kChunkPairs);
    encode_range(texts, chunk, chunk_end, encodings);

    // Longest first, like sentence-transformers: rows of similar length share a batch.
    order.resize(encodings.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return encodings[a].ids.size() > encodings[b].ids.size();
    });

    for (size_t start = 0; start < order.size();) {
      if (cancelled(options.cancel_flag)) throw Error(ErrorCode::Aborted, "the call was aborted");
      const size_t columns = std::max<size_t>(1, encodings[order[start]].ids.size());
      const size_t by_tokens = std::max<size_t>(1, token_budget / columns);
      const size_t rows = std::min({options.batch_size, by_tokens, order.size() - start});

      batch.rows = rows;
      batch.columns = columns;
      batch.input_ids.assign(rows * columns, pad_id_);
      batch.attention_mask.assign(rows * columns, 0);
      if (with_types) batch.token_type_ids.assign(rows * columns, 0);
      for (size_t r = 0; r < rows; ++r) {
        const Encoding& e = encodings[order[start + r]];
        int64_t* ids = batch.input_ids.data() + r * columns;
        int64_t* mask = batch.attention_mask.data() + r * columns;
        for (size_t c = 0; c < e.ids.size(); ++c) {
          ids[c] = e.ids[c];
          mask[c] = 1;
        }
        if (with_types) {
          int64_t* types = batch.token_type_ids.data() + r * columns;
          for (size_t c = 0; c < e.type_ids.size(); ++c) types[c] = e.type_ids[c];
        }
      }

      logits.resize(rows * labels);
      session_->run(batch, logits.data());
      apply_activation(options.activation, logits.data(), rows, labels);
      for (size_t r = 0; r < rows; ++r) {
        const size_t pair = chunk + order[start + r];
        std::copy_n(logits.data() + r * labels, labels, out + pair * labels);
      }
      start += rows;
    }
  }
}

}  // namespace crossrank
