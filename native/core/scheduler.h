// Per-model scheduler: every call on one model feeds one queue.
//
//   submit() ──> intake (jobs) ──> tokenizer threads ──> tokenized pairs ──> inference thread
//                                                                         │ takes the next window
//                                                                         │ in call order, sorts it
//                                                                         │ by length, runs batches
//                                                                         │ bounded by rows and
//                                                                         │ tokens, writes each
//                                                                         ▼ score in place
//                                                                     job completion callback
//
// Batches are formed deterministically: a window is the next pairs in (call, pair index) order,
// of a size set by the queued calls and batch options alone, and it is taken only once all of
// them are tokenized, whichever tokenizer thread finished first. The sort by length is stable, so
// ties keep that order. The same call on an idle model therefore makes the same batches with any
// thread counts, which matters where a score depends on its batch companions (dynamic int8
// quantization computes activation scales per batch, padding included).
//
// One inference thread by default: ONNX Runtime already spreads one run over all intra-op threads,
// so concurrent runs would only fight over cores; tokenization overlaps with it on its own threads.
// On a GPU more than one may run (SchedulerOptions::concurrent_runs): ONNX Runtime gives each
// concurrent run its own CUDA stream, so copies and host work of one overlap kernels of another.
// Memory stays bounded: tokenizer threads stop when the ready queue holds enough work.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "errors.h"
#include "inference_session.h"
#include "tokenizer.h"

namespace crossrank {

enum class Activation { Identity, Sigmoid, Softmax, Tanh };

struct PredictOptions {
  size_t batch_size = 256;
  size_t max_batch_tokens = 2048;  // rows * padded length per run: on a CPU, the real batch size
  Activation activation = Activation::Sigmoid;
  // Read before each step; non-zero cancels the job with ErrorCode::Aborted. May be null. The
  // memory must stay valid until the job completes.
  const int32_t* cancel_flag = nullptr;
  // LLM rerankers: the chat-template suffix restored on truncated prompts for this call, when it
  // differs from the loaded one (Tokenizer::encode_chat).
  bool has_chat_suffix = false;
  std::vector<uint32_t> chat_suffix;
};

// The texts of one call, owned by the job. `first` holds one text per pair, or exactly one text
// shared by every pair (a rerank query); `second` one text per pair, or empty for single texts.
struct JobTexts {
  std::vector<std::string> first;
  std::vector<std::string> second;
  size_t size() const { return second.empty() ? first.size() : second.size(); }
};

// Counters since load, for tuning and benchmarks. Each is read on its own (relaxed): a snapshot
// taken while calls run may mix counts of a batch in progress.
struct SchedulerStats {
  uint64_t pairs = 0;          // rows the model has scored
  uint64_t batches = 0;        // model runs
  uint64_t tokens = 0;         // real tokens in those rows
  uint64_t padded_tokens = 0;  // rows x padded length summed: the positions the model computed
  uint64_t windows = 0;        // windows of pairs, each sorted by length and cut into batches
  uint64_t early_windows = 0;  // of those, ones the inference thread, free after a window, had to
                               // wait for: tokenization was behind
};

// Called exactly once per job, from a scheduler thread (or from submit() itself when the job is
// refused). `error` is null on success; the scores are then all in `out`.
using JobDone = std::function<void(const Error* error)>;

struct SchedulerOptions {
  size_t tokenizer_threads = 1;
  size_t concurrent_runs = 1;  // inference threads, each taking its own windows
  size_t max_queued_pairs = 1 << 20;  // beyond this, submit() refuses with QUEUE_FULL
};

class Scheduler {
 public:
  Scheduler(const Tokenizer& tokenizer, const InferenceSession& session, int64_t pad_id,
            const SchedulerOptions& options);
  ~Scheduler();  // closes, then joins its threads
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a job; `out` must hold size() * num_labels floats and stay valid until `done` runs.
  // Never blocks on inference. Refusals (QUEUE_FULL, CLOSED, invalid options) call `done` at once.
  void submit(JobTexts texts, const PredictOptions& options, float* out, JobDone done);

  // Refuses new jobs and fails the queued ones with CLOSED; the batch being run finishes.
  // Returns at once; the destructor waits for the threads.
  void close();

  // close(), then stop and join the threads (after the batch in flight). Idempotent; also run
  // for every live scheduler at exit().
  void shutdown();

  size_t queued_pairs() const { return queued_pairs_.load(); }
  SchedulerStats stats() const;

 private:
  struct Job;
  struct Item {
    std::shared_ptr<Job> job;
    size_t index;
    Encoding encoding;
  };
  struct TokenizeTask {
    std::shared_ptr<Job> job;
    size_t begin, end;
  };

  // Pairs the next window takes from the front of order_, or 0 while one of them is still being
  // tokenized (then *blocked is set) or none is queued. Call with mutex_ held.
  size_t plan_window(bool* blocked);
  void tokenizer_loop();
  // The shared first text of a rerank job, tokenized once by whichever tokenizer thread needs it
  // first.
  const EncodedQuery& query_of(Job& job);
  void inference_loop();
  void run_window(std::vector<Item>& window, PackedBatch& batch, std::vector<float>& logits,
                  InferenceSession::RunContext& context);
  void settle(const std::shared_ptr<Job>& job, size_t items);
  void fail(const std::shared_ptr<Job>& job, const Error& error);

  const Tokenizer& tokenizer_;
  const InferenceSession& session_;
  const int64_t pad_id_;
  const SchedulerOptions options_;

  std::mutex mutex_;
  std::condition_variable intake_cv_;  // tokenizer threads: work to take and room for tokenized pairs
  std::condition_variable ready_cv_;   // inference threads: a window to take
  std::deque<TokenizeTask> intake_;
  // Jobs with pairs not yet in a window, in submit order; windows are cut from the front.
  std::deque<std::shared_ptr<Job>> order_;
  size_t ready_pairs_ = 0;  // tokenized pairs not yet in a window: bounds memory
  bool closed_ = false;
  bool stopping_ = false;
  std::atomic<size_t> queued_pairs_{0};
  struct Counters {
    std::atomic<uint64_t> pairs{0}, batches{0}, tokens{0}, padded_tokens{0}, windows{0}, early_windows{0};
  } counters_;

  std::mutex join_mutex_;
  std::vector<std::thread> tokenizer_threads_;
  std::vector<std::thread> inference_threads_;
};

}  // namespace crossrank
