#include "inference_session.h"

#include <onnxruntime_cxx_api.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <new>

#include "errors.h"

namespace crossrank {

namespace {

// ONNX Runtime's own log lines (coloured, on stderr) would land in a service's logs: its errors
// already come back as coded errors, so by default nothing is printed. A session that asks for
// them (logLevel) gets plain lines through this sink, filtered by its own severity.
void log_sink(void* /*param*/, OrtLoggingLevel severity, const char* /*category*/, const char* /*logid*/,
              const char* code_location, const char* message) {
  static const char* const names[] = {"verbose", "info", "warning", "error", "fatal"};
  const int i = std::clamp(static_cast<int>(severity), 0, 4);
  std::fprintf(stderr, "crossrank: onnxruntime %s: %s (%s)\n", names[i], message ? message : "",
               code_location ? code_location : "");
}

// One ONNX Runtime environment per process, created on first use. Never destroyed: sessions may
// outlive any static destructor order at exit, and ORT's own environment is process-wide anyway.
Ort::Env& ort_env() {
  // Messages outside any session (environment, provider registration) only when fatal.
  static Ort::Env* env = new Ort::Env(ORT_LOGGING_LEVEL_FATAL, "crossrank", log_sink, nullptr);
  return *env;
}

enum class InputKind { InputIds, AttentionMask, TokenTypeIds, PositionIds, Past };

struct InputSlot {
  std::string name;
  InputKind kind;
  ONNXTensorElementDataType type;  // INT64 or INT32; Past: FLOAT or FLOAT16
  int64_t heads = 0;               // Past: [batch, heads, 0, head_dim], fed empty
  int64_t head_dim = 0;
};

constexpr const char kPastPrefix[] = "past_key_values.";

bool is_past_name(const std::string& name) { return name.rfind(kPastPrefix, 0) == 0; }

// transformers' position ids for a padded batch (GenerationMixin: cumsum(mask) - 1, 1 on padding):
// real tokens count from 0 whichever side the padding is on.
void position_ids_of(const PackedBatch& batch, std::vector<int64_t>& out) {
  out.resize(batch.rows * batch.columns);
  for (size_t r = 0; r < batch.rows; ++r) {
    int64_t seen = 0;
    for (size_t c = 0; c < batch.columns; ++c) {
      const size_t i = r * batch.columns + c;
      seen += batch.attention_mask[i] != 0 ? 1 : 0;
      out[i] = batch.attention_mask[i] != 0 ? seen - 1 : 1;
    }
  }
}

// The row's last position whose attention mask is 1 (0 for a row without any).
size_t last_real_position(const PackedBatch& batch, size_t row) {
  for (size_t c = batch.columns; c-- > 0;) {
    if (batch.attention_mask[row * batch.columns + c] != 0) return c;
  }
  return 0;
}

// A reusable buffer for one input tensor: the provider's pinned host memory (allocator given) or
// ordinary heap memory (allocator null). Grows, never shrinks; freed by whoever allocated it.
class StagingBuffer {
 public:
  StagingBuffer() = default;
  StagingBuffer(const StagingBuffer&) = delete;
  StagingBuffer& operator=(const StagingBuffer&) = delete;
  StagingBuffer(StagingBuffer&& other) noexcept { swap(other); }
  StagingBuffer& operator=(StagingBuffer&& other) noexcept {
    swap(other);
    return *this;
  }
  ~StagingBuffer() { release(); }

  void* reserve(size_t bytes, OrtAllocator* allocator) {
    if (allocator != allocator_ || bytes > capacity_) {
      release();
      const size_t capacity = std::max(bytes, capacity_ + capacity_ / 2);
      data_ = allocator ? allocator->Alloc(allocator, capacity) : ::operator new(capacity);
      if (data_ == nullptr) throw std::bad_alloc();
      allocator_ = allocator;
      capacity_ = capacity;
    }
    return data_;
  }

 private:
  void release() {
    if (data_ == nullptr) return;
    if (allocator_) {
      allocator_->Free(allocator_, data_);
    } else {
      ::operator delete(data_);
    }
    data_ = nullptr;
    capacity_ = 0;
    allocator_ = nullptr;
  }
  void swap(StagingBuffer& other) noexcept {
    std::swap(allocator_, other.allocator_);
    std::swap(data_, other.data_);
    std::swap(capacity_, other.capacity_);
  }

  OrtAllocator* allocator_ = nullptr;
  void* data_ = nullptr;
  size_t capacity_ = 0;
};

}  // namespace

class InferenceSession::RunContext {
 public:
  RunContext(Ort::Session& session, size_t inputs) : binding(session), staging(inputs) {}
  Ort::IoBinding binding;
  std::vector<StagingBuffer> staging;  // one per model input
  std::vector<int64_t> position_ids;   // graphs with a position_ids input: this batch's ids
};

struct InferenceSession::Impl {
  std::unique_ptr<Ort::Session> session;
  std::vector<InputSlot> inputs;
  std::string output_name;
  ONNXTensorElementDataType output_type = ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
  GraphKind kind = GraphKind::Classifier;
  int64_t true_id = -1, false_id = -1;  // causal-LM graphs: the columns read
  bool has_positions = false;            // a position_ids input is fed
  Ort::MemoryInfo cpu = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
  // The GPU provider's pinned host memory and its shared allocator (owned by the environment);
  // null on the CPU, or when the provider offers none.
  const OrtMemoryInfo* pinned_info = nullptr;
  OrtAllocator* pinned = nullptr;
  std::atomic<bool> use_pinned{false};

  // Binds one batch and runs it; `pinned` stages the inputs in pinned memory.
  void run_bound(const PackedBatch& batch, float* logits, RunContext& context, bool pinned, int64_t labels) const;
};

InferenceSession::InferenceSession(const std::string& model_path, const SessionOptions& options,
                                   int64_t num_labels_hint)
    : impl_(std::make_unique<Impl>()) {
  Ort::SessionOptions so;
  try {
    so.SetIntraOpNumThreads(options.intra_op_threads);
    so.SetInterOpNumThreads(options.inter_op_threads);
    so.SetExecutionMode(ExecutionMode::ORT_SEQUENTIAL);
    so.AddConfigEntry("session.intra_op.allow_spinning", options.allow_spinning ? "1" : "0");
    so.SetLogSeverityLevel(std::clamp(options.log_severity, 0, 4));
    so.SetGraphOptimizationLevel(options.optimize_graph ? GraphOptimizationLevel::ORT_ENABLE_ALL
                                                        : GraphOptimizationLevel::ORT_DISABLE_ALL);
  } catch (const Ort::Exception& e) {
    throw Error(ErrorCode::Internal, std::string("cannot set session options: ") + e.what());
  }
  device_ = configure_device(ort_env(), so, options.device);  // throws CudaUnavailable
  try {
    impl_->session = std::make_unique<Ort::Session>(ort_env(), model_path.c_str(), so);
  } catch (const Ort::Exception& e) {
    throw Error(ErrorCode::InvalidModel, "cannot load ONNX model '" + model_path + "': " + e.what());
  }

  if (device_.ep_device != nullptr) {
    // Optional for a provider to offer; without it inputs stay in ordinary memory.
    try {
      Ort::ConstEpDevice ep_device{device_.ep_device};
      Ort::ConstMemoryInfo pinned_info = ep_device.GetMemoryInfo(OrtDeviceMemoryType_HOST_ACCESSIBLE);
      if (static_cast<const OrtMemoryInfo*>(pinned_info) != nullptr) {
        Ort::UnownedAllocator shared = ort_env().GetSharedAllocator(pinned_info);
        if (static_cast<OrtAllocator*>(shared) != nullptr) {
          impl_->pinned_info = pinned_info;
          impl_->pinned = shared;
          impl_->use_pinned = true;
        }
      }
    } catch (const Ort::Exception&) {
      // not offered: inputs stay in ordinary memory
    }
  }

  Ort::AllocatorWithDefaultOptions allocator;
  Ort::Session& s = *impl_->session;
  // Which kind of graph: one with past_key_values inputs is a causal LM (transformers.js / optimum
  // layout), everything else a classifier.
  bool past_graph = false;
  for (size_t i = 0; i < s.GetInputCount(); ++i) {
    if (is_past_name(s.GetInputNameAllocated(i, allocator).get())) past_graph = true;
  }
  if (past_graph && !options.causal_lm_with_past) {
    throw Error(ErrorCode::UnsupportedModel,
                "model '" + model_path + "' is a causal-LM graph with past_key_values inputs, but the folder's config.json "
                "names no causal-LM reranker (*ForCausalLM of a known decoder family)");
  }
  if (!past_graph && options.causal_lm_with_past) {
    throw Error(ErrorCode::UnsupportedModel,
                "model '" + model_path + "' is neither a crossrank score graph (crossrank convert) nor a causal-LM graph "
                "with past_key_values inputs and [batch, sequence, vocab] logits; export one with "
                "`crossrank convert --model HF_DIR --out DIR`");
  }
  const auto unsupported = [&](const std::string& why) {
    return Error(ErrorCode::UnsupportedModel, "causal-LM graph '" + model_path + "': " + why +
                                                  " (crossrank runs the transformers.js / optimum layout: input_ids, "
                                                  "attention_mask, position_ids, past_key_values.{i}.key/value -> logits "
                                                  "[batch, sequence, vocab]; or `crossrank convert` makes a score graph)");
  };
  impl_->kind = past_graph ? GraphKind::CausalLmWithPast : GraphKind::Classifier;
  graph_kind_ = impl_->kind;
  bool have_ids = false, have_mask = false, have_positions = false;
  for (size_t i = 0; i < s.GetInputCount(); ++i) {
    std::string name = s.GetInputNameAllocated(i, allocator).get();
    // The shape info is a view into the type info: keep the owner alive while reading it.
    Ort::TypeInfo type_info = s.GetInputTypeInfo(i);
    if (type_info.GetONNXType() != ONNX_TYPE_TENSOR) {
      throw Error(ErrorCode::InvalidModel, "model input '" + name + "' is not a tensor");
    }
    auto info = type_info.GetTensorTypeAndShapeInfo();
    InputSlot slot{name, InputKind::InputIds, info.GetElementType()};
    if (name == "input_ids") {
      have_ids = true;
    } else if (name == "attention_mask") {
      slot.kind = InputKind::AttentionMask;
      have_mask = true;
    } else if (name == "token_type_ids" && !past_graph) {
      slot.kind = InputKind::TokenTypeIds;
    } else if (name == "position_ids" && (past_graph || options.decoder_positions)) {
      slot.kind = InputKind::PositionIds;
      have_positions = true;
    } else if (past_graph && is_past_name(name)) {
      slot.kind = InputKind::Past;
      auto shape = info.GetShape();
      if (shape.size() != 4) throw unsupported("input '" + name + "' must have rank 4 [batch, kv_heads, past, head_dim]");
      if (slot.type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT && slot.type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16) {
        throw unsupported("input '" + name + "' must be float32 or float16");
      }
      slot.heads = shape[1] > 0 ? shape[1] : options.kv_heads_hint;
      slot.head_dim = shape[3] > 0 ? shape[3] : options.head_dim_hint;
      if (slot.heads <= 0 || slot.head_dim <= 0) {
        throw unsupported("input '" + name + "' leaves its head count or head size symbolic and config.json names neither");
      }
      impl_->inputs.push_back(slot);
      continue;
    } else if (past_graph) {
      throw unsupported("input '" + name + "' is not one crossrank can feed");
    } else {
      throw Error(ErrorCode::InvalidModel,
                  "model input '" + name +
                      "' is not one crossrank can feed (input_ids, attention_mask, token_type_ids)");
    }
    if (slot.type != ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64 && slot.type != ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32) {
      throw Error(ErrorCode::InvalidModel, "model input '" + name + "' must be int64 or int32");
    }
    if (info.GetShape().size() != 2) {
      throw Error(ErrorCode::InvalidModel, "model input '" + name + "' must have rank 2 [batch, sequence]");
    }
    impl_->inputs.push_back(slot);
  }
  if (!have_ids) throw Error(ErrorCode::InvalidModel, "model has no 'input_ids' input");
  if (!have_mask) throw Error(ErrorCode::InvalidModel, "model has no 'attention_mask' input");
  impl_->has_positions = have_positions;
  if (past_graph && !have_positions) {
    // Without it the graph numbers positions its own way (often 0.. over the padded row), which
    // crossrank cannot check against transformers'.
    throw unsupported("it has no 'position_ids' input");
  }

  if (s.GetOutputCount() == 0) throw Error(ErrorCode::InvalidModel, "model has no outputs");
  // Prefer an output named "logits"; otherwise the first one (exports name it variously).
  size_t out_index = s.GetOutputCount();
  for (size_t i = 0; i < s.GetOutputCount(); ++i) {
    if (std::string(s.GetOutputNameAllocated(i, allocator).get()) == "logits") out_index = i;
  }
  if (out_index == s.GetOutputCount()) {
    if (past_graph) throw unsupported("it has no 'logits' output");
    out_index = 0;
  }
  impl_->output_name = s.GetOutputNameAllocated(out_index, allocator).get();
  Ort::TypeInfo out_type_info = s.GetOutputTypeInfo(out_index);
  if (out_type_info.GetONNXType() != ONNX_TYPE_TENSOR) {
    throw Error(ErrorCode::InvalidModel, "model output '" + impl_->output_name + "' is not a tensor");
  }
  auto out_info = out_type_info.GetTensorTypeAndShapeInfo();
  impl_->output_type = out_info.GetElementType();
  if (impl_->output_type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT &&
      impl_->output_type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16) {
    throw Error(ErrorCode::InvalidModel, "model output '" + impl_->output_name + "' must be float32 or float16");
  }
  auto shape = out_info.GetShape();
  if (past_graph) {
    if (shape.size() != 3) {
      throw unsupported("output 'logits' has rank " + std::to_string(shape.size()) + ", not 3 [batch, sequence, vocab]");
    }
    if (options.score_true_id < 0) throw Error(ErrorCode::Internal, "a causal-LM graph needs the true token id");
    const int64_t vocab = shape[2] > 0 ? shape[2] : options.vocab_hint;
    if (shape[2] > 0 && (options.score_true_id >= shape[2] || options.score_false_id >= shape[2])) {
      throw Error(ErrorCode::InvalidModel, "the score token ids " + std::to_string(options.score_true_id) + "/" +
                                               std::to_string(options.score_false_id) + " lie outside the graph's " +
                                               std::to_string(shape[2]) + " vocabulary logits");
    }
    impl_->true_id = options.score_true_id;
    impl_->false_id = options.score_false_id;
    num_labels_ = 1;
    // Unknown vocabulary: assume a large one (262,144: Gemma's) rather than no bound.
    const size_t per_token =
        static_cast<size_t>(vocab > 0 ? vocab : 262144) *
        (impl_->output_type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16 ? 2 : 4);
    max_run_tokens_ = std::max<size_t>(1, kMaxCausalLogitsBytes / per_token);
    return;
  }
  if (shape.size() != 2) {
    throw Error(ErrorCode::InvalidModel, "model output '" + impl_->output_name +
                                             "' must have shape [batch, labels], it has rank " +
                                             std::to_string(shape.size()));
  }
  num_labels_ = shape[1] > 0 ? shape[1] : num_labels_hint;
  if (num_labels_ <= 0) {
    throw Error(ErrorCode::InvalidModel, "cannot tell the number of labels: the output dimension is symbolic "
                                         "and config.json gives no num_labels");
  }
}

InferenceSession::~InferenceSession() = default;

bool InferenceSession::has_token_type_ids() const {
  return std::any_of(impl_->inputs.begin(), impl_->inputs.end(),
                     [](const InputSlot& s) { return s.kind == InputKind::TokenTypeIds; });
}

std::vector<std::string> InferenceSession::input_names() const {
  std::vector<std::string> names;
  for (const auto& s : impl_->inputs) names.push_back(s.name);
  return names;
}

std::string InferenceSession::output_name() const { return impl_->output_name; }

std::string InferenceSession::graph_kind_name() const {
  return graph_kind_ == GraphKind::CausalLmWithPast ? "causal-lm-with-past" : "classifier";
}

std::string InferenceSession::output_type() const {
  return impl_->output_type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16 ? "float16" : "float32";
}

void InferenceSession::RunContextDeleter::operator()(RunContext* context) const { delete context; }

InferenceSession::RunContextPtr InferenceSession::make_run_context() const {
  try {
    return RunContextPtr(new RunContext(*impl_->session, impl_->inputs.size()));
  } catch (const Ort::Exception& e) {
    throw Error(ErrorCode::Internal, std::string("cannot create an I/O binding: ") + e.what());
  }
}

std::string InferenceSession::input_memory() const { return impl_->use_pinned.load() ? "pinned" : "cpu"; }

void InferenceSession::run(const PackedBatch& batch, float* logits, RunContext& context) const {
  const bool pinned = impl_->use_pinned.load(std::memory_order_relaxed);
  try {
    impl_->run_bound(batch, logits, context, pinned, num_labels_);
    return;
  } catch (const Ort::Exception& e) {
    if (!pinned) throw Error(ErrorCode::Inference, std::string("ONNX Runtime failed: ") + e.what());
  }
  // The provider refused pinned inputs. If ordinary memory works, keep to it from now on; if it
  // fails too, the batch itself is at fault and pinned staging stays.
  try {
    impl_->run_bound(batch, logits, context, false, num_labels_);
  } catch (const Ort::Exception& e) {
    throw Error(ErrorCode::Inference, std::string("ONNX Runtime failed: ") + e.what());
  }
  impl_->use_pinned = false;
}

void InferenceSession::Impl::run_bound(const PackedBatch& batch, float* logits, RunContext& context, bool pinned,
                                       int64_t labels) const {
  const int64_t shape[2] = {static_cast<int64_t>(batch.rows), static_cast<int64_t>(batch.columns)};
  const size_t count = batch.rows * batch.columns;
  Ort::IoBinding& binding = context.binding;
  binding.ClearBoundInputs();
  binding.ClearBoundOutputs();
  const OrtMemoryInfo* where = pinned ? pinned_info : static_cast<const OrtMemoryInfo*>(cpu);
  const bool causal = kind == GraphKind::CausalLmWithPast;
  if (has_positions) position_ids_of(batch, context.position_ids);
  std::vector<Ort::Value> values;  // kept until the run is over
  values.reserve(inputs.size());
  static int64_t empty_past = 0;  // a non-null address for the zero-byte past tensors
  for (size_t i = 0; i < inputs.size(); ++i) {
    const InputSlot& slot = inputs[i];
    if (slot.kind == InputKind::Past) {
      // Empty past: [rows, heads, 0, head_dim], no bytes, in CPU memory wherever the graph runs.
      const int64_t past_shape[4] = {static_cast<int64_t>(batch.rows), slot.heads, 0, slot.head_dim};
      values.push_back(Ort::Value::CreateTensor(static_cast<const OrtMemoryInfo*>(cpu), &empty_past, 0, past_shape, 4,
                                                slot.type));
      binding.BindInput(slot.name.c_str(), values.back());
      continue;
    }
    const std::vector<int64_t>& src = slot.kind == InputKind::InputIds       ? batch.input_ids
                                      : slot.kind == InputKind::AttentionMask ? batch.attention_mask
                                      : slot.kind == InputKind::PositionIds   ? context.position_ids
                                                                               : batch.token_type_ids;
    const bool wide = slot.type == ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64;
    const size_t bytes = count * (wide ? sizeof(int64_t) : sizeof(int32_t));
    void* data;
    if (wide && !pinned) {
      data = const_cast<int64_t*>(src.data());  // read in place
    } else {
      data = context.staging[i].reserve(bytes, pinned ? this->pinned : nullptr);
      if (wide) {
        std::memcpy(data, src.data(), bytes);
      } else {
        std::copy(src.begin(), src.end(), static_cast<int32_t*>(data));
      }
    }
    values.push_back(Ort::Value::CreateTensor(where, data, bytes, shape, 2, slot.type));
    binding.BindInput(slot.name.c_str(), values.back());
  }
  // Outputs go to CPU memory: a few floats a row for a classifier; for a causal LM the
  // [rows, columns, vocab] logits ONNX Runtime computes anyway, of which two columns per row are read.
  // (present.* outputs are left unbound: ONNX Runtime computes and drops them.)
  binding.BindOutput(output_name.c_str(), cpu);
  session->Run(Ort::RunOptions{nullptr}, binding);
  binding.SynchronizeOutputs();
  std::vector<Ort::Value> outputs = binding.GetOutputValues();
  auto info = outputs[0].GetTensorTypeAndShapeInfo();
  auto got = info.GetShape();
  const auto dims = [&got] {
    std::string text;
    for (size_t i = 0; i < got.size(); ++i) text += (i ? "," : "") + std::to_string(got[i]);
    return text;
  };
  const bool half = output_type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16;
  if (causal) {
    if (got.size() != 3 || got[0] != static_cast<int64_t>(batch.rows) || got[1] != static_cast<int64_t>(batch.columns) ||
        got[2] <= std::max(true_id, false_id)) {
      throw Error(ErrorCode::InvalidModel, "model output 'logits' has shape [" + dims() + "], expected [" +
                                               std::to_string(batch.rows) + "," + std::to_string(batch.columns) +
                                               ",vocab] with vocab > " + std::to_string(std::max(true_id, false_id)));
    }
    const size_t vocab = static_cast<size_t>(got[2]);
    // The gather: per row, the two token columns of its last real position (right padding puts it
    // at length - 1; reading the mask keeps either side right). Nothing else is copied.
    const auto at = [&](size_t offset) -> float {
      return half ? outputs[0].GetTensorData<Ort::Float16_t>()[offset].ToFloat() : outputs[0].GetTensorData<float>()[offset];
    };
    for (size_t r = 0; r < batch.rows; ++r) {
      const size_t base = (r * batch.columns + last_real_position(batch, r)) * vocab;
      const float yes = at(base + static_cast<size_t>(true_id));
      logits[r] = false_id >= 0 ? yes - at(base + static_cast<size_t>(false_id)) : yes;
    }
    return;
  }
  if (got.size() != 2 || got[0] != static_cast<int64_t>(batch.rows) || got[1] != labels) {
    throw Error(ErrorCode::InvalidModel, "model output has shape [" + dims() + "], expected [" +
                                             std::to_string(batch.rows) + "," + std::to_string(labels) + "]");
  }
  const size_t n = batch.rows * static_cast<size_t>(labels);
  if (!half) {
    std::memcpy(logits, outputs[0].GetTensorData<float>(), n * sizeof(float));
  } else {
    const Ort::Float16_t* values16 = outputs[0].GetTensorData<Ort::Float16_t>();
    for (size_t i = 0; i < n; ++i) logits[i] = values16[i].ToFloat();
  }
}

}  // namespace crossrank
