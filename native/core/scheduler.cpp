#include "scheduler.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <new>
#include <set>

#include "batch_packing.h"
#include "inference_session.h"

namespace crossrank {

namespace {

// Pairs per tokenizer task: a call is cut into one task per tokenizer thread, so that a small call
// (a 1 x 100 rerank) is spread over all of them, within these bounds (a task holds the shared lock
// once, so it should not be tiny; large calls are cut fine enough to share out evenly).
constexpr size_t kMinTaskPairs = 8;
constexpr size_t kMaxTaskPairs = 64;
constexpr size_t kMinWindow = 64;
constexpr size_t kMaxWindow = 8192;
constexpr size_t kMaxReady = 4 * kMaxWindow;  // tokenized pairs waiting: bounds memory
// When many more pairs are queued than a window starts with, a window takes more of them, until
// it makes this many batches: sorting more pairs together groups lengths more tightly, and
// padding is computed work. At 256 rows a batch (the CUDA default), MS MARCO-like pairs carry
// about 24 % padding in windows of 8 batches and 9 % in windows of 32, nearly all of it in the
// batch of the longest pairs (bench/TUNING.md, seventh round). It grows to half the queued pairs
// at most, so that tokenizing the next window overlaps running this one. On a CPU the token
// budget makes batches of tens of rows, so a window already makes more than this many and stays
// as it was.
constexpr size_t kBacklogWindowBatches = 32;
constexpr size_t kMaxBacklogWindow = kMaxReady / 2;  // leaves the rest to a second inference thread

// Where a pair stands, in Job::state (under the scheduler's mutex).
constexpr uint8_t kPending = 0;    // queued for or being tokenized
constexpr uint8_t kTokenized = 1;  // its encoding waits in Job::encodings for a window
constexpr uint8_t kSettled = 2;    // counted off without a score (failed, cancelled, closed)

bool flag_set(const int32_t* flag) { return flag != nullptr && __atomic_load_n(flag, __ATOMIC_RELAXED) != 0; }

void apply_activation(Activation activation, float* row, size_t labels) {
  switch (activation) {
    case Activation::Identity:
      return;
    case Activation::Sigmoid:
      for (size_t l = 0; l < labels; ++l) row[l] = 1.0f / (1.0f + std::exp(-row[l]));
      return;
    case Activation::Tanh:
      for (size_t l = 0; l < labels; ++l) row[l] = std::tanh(row[l]);
      return;
    case Activation::Softmax: {
      const float top = *std::max_element(row, row + labels);
      float sum = 0.0f;
      for (size_t l = 0; l < labels; ++l) sum += (row[l] = std::exp(row[l] - top));
      for (size_t l = 0; l < labels; ++l) row[l] /= sum;
      return;
    }
  }
}

// What a failure that is not a crossrank::Error means for the caller.
Error from_exception(const std::exception& e) {
  if (dynamic_cast<const std::bad_alloc*>(&e) != nullptr) return Error(ErrorCode::OutOfMemory, "out of memory");
  return Error(ErrorCode::Internal, e.what());
}

// A window takes at least 8 batches' worth of pairs (all that are queued, when fewer).
size_t window_for(size_t batch_size) { return std::clamp(batch_size * 8, kMinWindow, kMaxWindow); }

// Batches a window will make, at least: each holds at most batch_size rows and max_batch_tokens
// positions (padding only adds to the real tokens counted here).
size_t batches_at_least(size_t pairs, size_t tokens, const PredictOptions& options) {
  auto ceil_div = [](size_t a, size_t b) { return (a + b - 1) / b; };
  return std::max(ceil_div(pairs, options.batch_size), ceil_div(tokens, options.max_batch_tokens));
}

// Every live scheduler, so that exit() can stop their threads before the static destructors of
// ONNX Runtime run under a batch in flight (process.exit() in Node runs no finalizers).
// Leaked on purpose: it must outlive every other static.
std::mutex& registry_mutex() {
  static auto* m = new std::mutex();
  return *m;
}
std::set<Scheduler*>& registry() {
  static auto* r = new std::set<Scheduler*>();
  return *r;
}
void shutdown_all_at_exit() {
  std::lock_guard<std::mutex> lock(registry_mutex());
  for (Scheduler* s : registry()) s->shutdown();
}

}  // namespace

struct Scheduler::Job {
  JobTexts texts;
  PredictOptions options;
  float* out = nullptr;
  size_t total = 0;
  JobDone done;
  std::atomic<size_t> remaining{0};
  std::atomic<bool> failed{false};
  std::mutex error_mutex;
  std::optional<Error> error;
  // Per pair: its encoding until a window takes it, and where it stands (kPending, ...). state,
  // frontier and next_take are read and written under the scheduler's mutex; a tokenizer thread
  // writes the encodings of its own task before marking them kTokenized.
  std::vector<Encoding> encodings;
  std::vector<uint8_t> state;
  size_t frontier = 0;   // no pair below is kPending
  size_t next_take = 0;  // every pair below is in a window or settled
  // A rerank's shared first text, tokenized once (Scheduler::query_of).
  std::mutex query_mutex;
  std::unique_ptr<EncodedQuery> query;
  std::optional<Error> query_error;

  // True once the job can no longer succeed: skip its remaining work.
  bool dead() const { return failed.load(std::memory_order_relaxed) || flag_set(options.cancel_flag); }
};

Scheduler::Scheduler(const Tokenizer& tokenizer, const InferenceSession& session, int64_t pad_id,
                     const SchedulerOptions& options)
    : tokenizer_(tokenizer), session_(session), pad_id_(pad_id), options_(options) {
  const size_t n = std::max<size_t>(1, options.tokenizer_threads);
  for (size_t i = 0; i < n; ++i) tokenizer_threads_.emplace_back([this] { tokenizer_loop(); });
  const size_t runs = std::max<size_t>(1, options.concurrent_runs);
  for (size_t i = 0; i < runs; ++i) inference_threads_.emplace_back([this] { inference_loop(); });
  static const bool registered = [] { return std::atexit(shutdown_all_at_exit) == 0; }();
  (void)registered;
  std::lock_guard<std::mutex> lock(registry_mutex());
  registry().insert(this);
}

Scheduler::~Scheduler() {
  {
    std::lock_guard<std::mutex> lock(registry_mutex());
    registry().erase(this);
  }
  shutdown();
}

void Scheduler::shutdown() {
  close();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  intake_cv_.notify_all();
  ready_cv_.notify_all();
  std::lock_guard<std::mutex> lock(join_mutex_);
  for (auto& t : tokenizer_threads_) {
    if (t.joinable()) t.join();
  }
  for (auto& t : inference_threads_) {
    if (t.joinable()) t.join();
  }
}

void Scheduler::submit(JobTexts texts, const PredictOptions& options, float* out, JobDone done) {
  const size_t n = texts.size();
  if (options.batch_size == 0) {
    Error e(ErrorCode::InvalidArgument, "batchSize must be positive");
    done(&e);
    return;
  }
  if (!texts.second.empty() && texts.first.size() != 1 && texts.first.size() != texts.second.size()) {
    Error e(ErrorCode::InvalidArgument, "first and second must have the same length, or first exactly one text");
    done(&e);
    return;
  }
  if (n == 0) {
    done(nullptr);
    return;
  }
  auto job = std::make_shared<Job>();
  job->texts = std::move(texts);
  job->options = options;
  job->out = out;
  job->total = n;
  job->done = std::move(done);
  job->remaining = n;
  job->encodings.resize(n);
  job->state.assign(n, kPending);
  {
    std::unique_lock<std::mutex> lock(mutex_);
    if (closed_) {
      lock.unlock();
      Error e(ErrorCode::Closed, "the model is closed");
      job->done(&e);
      return;
    }
    // One call larger than the bound is still taken when nothing else waits: it streams through.
    const size_t queued = queued_pairs_.load();
    if (queued > 0 && queued + n > options_.max_queued_pairs) {
      lock.unlock();
      Error e(ErrorCode::QueueFull, "the model's queue is full (" + std::to_string(queued) + " pairs waiting, limit " +
                                        std::to_string(options_.max_queued_pairs) + "); retry later");
      job->done(&e);
      return;
    }
    queued_pairs_ += n;
    order_.push_back(job);
    const size_t per_task = std::clamp((n + tokenizer_threads_.size() - 1) / tokenizer_threads_.size(), kMinTaskPairs, kMaxTaskPairs);
    for (size_t begin = 0; begin < n; begin += per_task) {
      intake_.push_back(TokenizeTask{job, begin, std::min(n, begin + per_task)});
    }
  }
  intake_cv_.notify_all();
}

SchedulerStats Scheduler::stats() const {
  auto get = [](const std::atomic<uint64_t>& c) { return c.load(std::memory_order_relaxed); };
  SchedulerStats out;
  out.pairs = get(counters_.pairs);
  out.batches = get(counters_.batches);
  out.tokens = get(counters_.tokens);
  out.padded_tokens = get(counters_.padded_tokens);
  out.windows = get(counters_.windows);
  out.early_windows = get(counters_.early_windows);
  return out;
}

void Scheduler::close() {
  std::deque<TokenizeTask> intake;
  std::vector<std::pair<std::shared_ptr<Job>, size_t>> tokenized;  // job, its pairs to settle
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) return;
    closed_ = true;
    intake.swap(intake_);
    // Pairs still being tokenized are settled by their tokenizer thread, which sees closed_.
    for (auto& job : order_) {
      size_t count = 0;
      for (size_t i = job->next_take; i < job->total; ++i) {
        if (job->state[i] != kTokenized) continue;
        job->state[i] = kSettled;
        job->encodings[i] = Encoding{};
        ++count;
      }
      job->next_take = job->total;
      if (count > 0) tokenized.emplace_back(job, count);
    }
    order_.clear();
    ready_pairs_ = 0;
  }
  ready_cv_.notify_all();
  const Error closed(ErrorCode::Closed, "the model was closed before this call finished");
  for (auto& task : intake) {
    fail(task.job, closed);
    settle(task.job, task.end - task.begin);
  }
  for (auto& [job, count] : tokenized) {
    fail(job, closed);
    settle(job, count);
  }
}

void Scheduler::fail(const std::shared_ptr<Job>& job, const Error& error) {
  std::lock_guard<std::mutex> lock(job->error_mutex);
  if (!job->error) job->error = error;
  job->failed = true;
}

void Scheduler::settle(const std::shared_ptr<Job>& job, size_t items) {
  if (job->remaining.fetch_sub(items) != items) return;
  queued_pairs_ -= job->total;
  if (flag_set(job->options.cancel_flag) && !job->error) {
    const Error aborted(ErrorCode::Aborted, "the call was aborted");
    job->done(&aborted);
  } else if (job->error) {
    job->done(&*job->error);
  } else {
    job->done(nullptr);
  }
}

const EncodedQuery& Scheduler::query_of(Job& job) {
  std::lock_guard<std::mutex> lock(job.query_mutex);
  if (job.query_error) throw *job.query_error;
  if (!job.query) {
    try {
      job.query = tokenizer_.encode_query(job.texts.first[0]);
    } catch (const Error& e) {
      job.query_error = e;
      throw;
    }
  }
  return *job.query;
}

void Scheduler::tokenizer_loop() {
  for (;;) {
    TokenizeTask task;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      intake_cv_.wait(lock, [&] { return stopping_ || (!intake_.empty() && ready_pairs_ < kMaxReady); });
      if (stopping_) return;
      task = std::move(intake_.front());
      intake_.pop_front();
    }
    Job& job = *task.job;
    const size_t n = task.end - task.begin;
    const bool skipped = job.dead();
    std::optional<Error> error;
    if (!skipped) {
      try {
        const JobTexts& t = job.texts;
        // A rerank: the query is tokenized once per call, not once per document.
        const bool shared = !t.second.empty() && t.first.size() == 1;
        for (size_t i = task.begin; i < task.end; ++i) {
          Encoding& encoding = job.encodings[i];
          if (t.second.empty() && job.options.has_chat_suffix && tokenizer_.chat_mode()) {
            tokenizer_.encode_chat(t.first[i], job.options.chat_suffix, encoding);
          } else if (t.second.empty()) {
            tokenizer_.encode(t.first[i], nullptr, encoding);
          } else if (shared) {
            tokenizer_.encode(query_of(job), t.second[i], encoding);
          } else {
            const std::string_view b(t.second[i]);
            tokenizer_.encode(t.first[i], &b, encoding);
          }
        }
      } catch (const Error& e) {
        error = e;
      } catch (const std::exception& e) {
        error = from_exception(e);
      }
    }
    bool closed = false;
    bool queued = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      closed = closed_;
      queued = !closed && !skipped && !error;
      for (size_t i = task.begin; i < task.end; ++i) {
        job.state[i] = queued ? kTokenized : kSettled;
        if (!queued) job.encodings[i] = Encoding{};
      }
      if (queued) ready_pairs_ += n;
    }
    if (!queued) {
      if (error) {
        fail(task.job, *error);
      } else if (closed && !skipped) {
        fail(task.job, Error(ErrorCode::Closed, "the model was closed before this call finished"));
      }
      settle(task.job, n);
    }
    ready_cv_.notify_all();
  }
}

size_t Scheduler::plan_window(bool* blocked) {
  while (!order_.empty()) {
    Job& head = *order_.front();
    while (head.next_take < head.total && head.state[head.next_take] == kSettled) ++head.next_take;
    if (head.next_take < head.total) break;
    order_.pop_front();
  }
  if (order_.empty()) return 0;
  const PredictOptions& lead = order_.front()->options;
  const size_t want = window_for(lead.batch_size);
  size_t queued = 0;
  for (const auto& job : order_) queued += job->total - job->next_take;
  const size_t grow_to = std::min(kMaxBacklogWindow, queued / 2);
  size_t count = 0;
  size_t tokens = 0;
  for (const auto& job : order_) {
    while (job->frontier < job->total && job->state[job->frontier] != kPending) ++job->frontier;
    for (size_t i = job->next_take; i < job->total; ++i) {
      const bool more = count < want ||
                        (count < grow_to && batches_at_least(count, tokens, lead) < kBacklogWindowBatches);
      if (!more) return count;
      if (i >= job->frontier) {
        // The window's next pair is still being tokenized: wait for it, whatever came after it.
        *blocked = true;
        return 0;
      }
      if (job->state[i] == kTokenized) {
        ++count;
        tokens += job->encodings[i].ids.size();
      }
    }
  }
  return count;  // every queued pair: the window ends with the queue
}

void Scheduler::inference_loop() {
  std::vector<Item> window;
  PackedBatch batch;
  std::vector<float> logits;
  InferenceSession::RunContextPtr context;
  bool after_window = false;  // this thread just ran a window (it was not idle)
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      size_t take = 0;
      bool waited = false;
      ready_cv_.wait(lock, [&] {
        if (stopping_) return true;
        bool blocked = false;
        take = plan_window(&blocked);
        if (take == 0 && !blocked) after_window = false;  // nothing queued: idle
        // Free after a window but its successor is not tokenized yet: tokenization is behind.
        if (blocked && after_window) waited = true;
        return take > 0;
      });
      if (stopping_) return;  // close() has settled every queued pair
      counters_.windows.fetch_add(1, std::memory_order_relaxed);
      if (waited) counters_.early_windows.fetch_add(1, std::memory_order_relaxed);
      window.clear();
      window.reserve(take);
      while (window.size() < take) {
        const std::shared_ptr<Job> job = order_.front();
        for (; job->next_take < job->total && window.size() < take; ++job->next_take) {
          const size_t i = job->next_take;
          if (job->state[i] == kTokenized) window.push_back(Item{job, i, std::move(job->encodings[i])});
        }
        if (job->next_take == job->total) order_.pop_front();
      }
      ready_pairs_ -= take;
    }
    after_window = true;
    ready_cv_.notify_one();   // another inference thread may take the next window
    intake_cv_.notify_all();  // room for tokenized pairs again
    if (!context) {
      try {
        context = session_.make_run_context();
      } catch (const Error& e) {
        for (auto& item : window) {
          fail(item.job, e);
          settle(item.job, 1);
        }
        continue;
      }
    }
    run_window(window, batch, logits, *context);
  }
}

void Scheduler::run_window(std::vector<Item>& window, PackedBatch& batch, std::vector<float>& logits,
                           InferenceSession::RunContext& context) {
  // Drop the work of cancelled or failed jobs before spending compute on it.
  size_t kept = 0;
  for (size_t i = 0; i < window.size(); ++i) {
    if (window[i].job->dead()) {
      settle(window[i].job, 1);
    } else {
      if (kept != i) window[kept] = std::move(window[i]);  // never self-move: it would empty the item
      ++kept;
    }
  }
  window.resize(kept);
  // Longest first, like sentence-transformers: rows of similar length share a batch. Stable: the
  // window is in (call, pair index) order, so ties keep it and batches are the same every time.
  std::stable_sort(window.begin(), window.end(),
                   [](const Item& a, const Item& b) { return a.encoding.ids.size() > b.encoding.ids.size(); });

  const size_t labels = static_cast<size_t>(session_.num_labels());
  const bool with_types = session_.has_token_type_ids();
  std::vector<const Encoding*> row_ptrs;
  for (size_t start = 0; start < window.size();) {
    bool closed;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      closed = closed_;
    }
    const PredictOptions& lead = window[start].job->options;
    const size_t columns = std::max<size_t>(1, window[start].encoding.ids.size());
    // A batch always holds at least one row, whatever the token budget says. The session may bound
    // it further (a causal-LM graph's full-vocabulary logits: InferenceSession::max_run_tokens).
    const size_t session_tokens = session_.max_run_tokens();
    const size_t budget = session_tokens > 0 ? std::min(lead.max_batch_tokens, session_tokens) : lead.max_batch_tokens;
    const size_t by_tokens = std::max<size_t>(1, budget / columns);
    const size_t rows = std::min({lead.batch_size, by_tokens, window.size() - start});
    if (closed) {
      const Error e(ErrorCode::Closed, "the model was closed before this call finished");
      for (size_t r = start; r < window.size(); ++r) {
        fail(window[r].job, e);
        settle(window[r].job, 1);
      }
      return;
    }

    row_ptrs.clear();
    for (size_t r = 0; r < rows; ++r) row_ptrs.push_back(&window[start + r].encoding);
    try {
      logits.resize(rows * labels);
      pack_batch(row_ptrs, columns, pad_id_, with_types, batch);
      session_.run(batch, logits.data(), context);
      size_t tokens = 0;
      for (const Encoding* e : row_ptrs) tokens += e->ids.size();
      counters_.pairs.fetch_add(rows, std::memory_order_relaxed);
      counters_.batches.fetch_add(1, std::memory_order_relaxed);
      counters_.tokens.fetch_add(tokens, std::memory_order_relaxed);
      counters_.padded_tokens.fetch_add(rows * columns, std::memory_order_relaxed);
      for (size_t r = 0; r < rows; ++r) {
        Item& item = window[start + r];
        float* row = logits.data() + r * labels;
        apply_activation(item.job->options.activation, row, labels);
        std::copy_n(row, labels, item.job->out + item.index * labels);
      }
    } catch (const Error& e) {
      for (size_t r = 0; r < rows; ++r) fail(window[start + r].job, e);
    } catch (const std::exception& e) {
      for (size_t r = 0; r < rows; ++r) fail(window[start + r].job, from_exception(e));
    }
    for (size_t r = 0; r < rows; ++r) settle(window[start + r].job, 1);
    start += rows;
  }
}

}  // namespace crossrank
