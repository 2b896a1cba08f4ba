#include "cross_encoder.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <future>
#include <string_view>
#include <thread>

#include "errors.h"
#include "parallel.h"

namespace crossrank {

void check_model_file(const std::string& path, const char* what, uint64_t max_bytes) {
  // Non-blocking: opening a FIFO for reading would otherwise wait for a writer, forever. Regular
  // files ignore the flag. fstat on the opened descriptor judges the file that was opened.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) throw Error(ErrorCode::ModelNotFound, std::string(what) + " '" + path + "' does not exist");
    throw Error(ErrorCode::InvalidModel, std::string("cannot open ") + what + " '" + path + "': " + std::strerror(err));
  }
  struct stat st {};
  const int rc = ::fstat(fd, &st);
  const int err = errno;
  ::close(fd);
  if (rc != 0) throw Error(ErrorCode::InvalidModel, std::string("cannot stat ") + what + " '" + path + "': " + std::strerror(err));
  if (!S_ISREG(st.st_mode)) {
    throw Error(ErrorCode::InvalidModel, std::string(what) + " '" + path + "' is not a regular file");
  }
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    throw Error(ErrorCode::InvalidModel, std::string(what) + " '" + path + "' holds " + std::to_string(st.st_size) +
                                             " bytes, more than the " + std::to_string(max_bytes) + " crossrank reads");
  }
}

namespace {

// An empty text with a non-null pointer: a null second text means "no second text" to the
// tokenizer's C ABI, which would then add the special tokens of a single text.
constexpr char kEmpty[] = "";

// Tokens of an empty pair: the special tokens every pair carries ([CLS] [SEP] [SEP] for BERT,
// <s> </s> </s> </s> for RoBERTa), as the tokenizer's own post-processor adds them. Counted with
// a tokenizer of ample max length: the configured one may be too short to hold them.
size_t special_tokens_of_pair(const std::string& path, bool truncate_left) {
  const Tokenizer probe(path, 4096, truncate_left, false);
  Encoding e;
  const std::string_view empty(kEmpty, 0);
  probe.encode(empty, &empty, e);
  return e.ids.size();
}

}  // namespace

CrossEncoderEngine::CrossEncoderEngine(const EngineConfig& config) {
  // Both files are read off the JS thread (the load worker runs this), regular files only.
  check_model_file(config.tokenizer_path, "tokenizer.json", kMaxTokenizerBytes);
  check_model_file(config.model_path, "the ONNX model", UINT64_MAX);
  tokenizer_ = std::make_unique<Tokenizer>(config.tokenizer_path, config.max_length, config.truncate_left);
  if (config.chat) tokenizer_->set_chat_mode(config.chat_suffix);
  // A max length below the special tokens of a pair would make every call fail (the tokenizer
  // cannot truncate its own special tokens): refuse it now. The empty pair is the smallest pair.
  {
    Encoding e;
    const std::string_view empty(kEmpty, 0);
    bool fits = true;
    try {
      tokenizer_->encode(empty, &empty, e);
    } catch (const Error&) {
      fits = false;
    }
    if (!fits || e.ids.size() >= config.max_length) {
      const size_t special = special_tokens_of_pair(config.tokenizer_path, config.truncate_left);
      if (special >= config.max_length) {
        throw Error(ErrorCode::InvalidArgument,
                    "maxLength " + std::to_string(config.max_length) + " leaves no room for text: a pair takes " +
                        std::to_string(special) + " special tokens with this tokenizer, so maxLength must be at least " +
                        std::to_string(special + 1));
      }
    }
  }
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

std::vector<std::vector<uint32_t>> CrossEncoderEngine::token_offsets(const std::vector<std::string>& texts) const {
  std::vector<std::vector<uint32_t>> out(texts.size());
  parallel_for(texts.size(), texts.size() >= 2 ? tokenizer_threads_ : 1,
               [&](size_t i) { tokenizer_->token_offsets(texts[i], out[i]); });
  return out;
}

}  // namespace crossrank
