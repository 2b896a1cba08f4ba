#include "inference_session.h"

#include <onnxruntime_cxx_api.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include "errors.h"

namespace crossrank {

namespace {

// One ONNX Runtime environment per process, created on first use. Never destroyed: sessions may
// outlive any static destructor order at exit, and ORT's own environment is process-wide anyway.
Ort::Env& ort_env() {
  static Ort::Env* env = new Ort::Env(ORT_LOGGING_LEVEL_ERROR, "crossrank");
  return *env;
}

enum class InputKind { InputIds, AttentionMask, TokenTypeIds };

struct InputSlot {
  std::string name;
  InputKind kind;
  ONNXTensorElementDataType type;  // INT64 or INT32
};

}  // namespace

struct InferenceSession::Impl {
  std::unique_ptr<Ort::Session> session;
  std::vector<InputSlot> inputs;
  std::string output_name;
  ONNXTensorElementDataType output_type = ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
  Ort::MemoryInfo cpu = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
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

  Ort::AllocatorWithDefaultOptions allocator;
  Ort::Session& s = *impl_->session;
  bool have_ids = false, have_mask = false;
  for (size_t i = 0; i < s.GetInputCount(); ++i) {
    std::string name = s.GetInputNameAllocated(i, allocator).get();
    // The shape info is a view into the type info: keep the owner alive while reading it.
    Ort::TypeInfo type_info = s.GetInputTypeInfo(i);
    auto info = type_info.GetTensorTypeAndShapeInfo();
    InputSlot slot{name, InputKind::InputIds, info.GetElementType()};
    if (name == "input_ids") {
      have_ids = true;
    } else if (name == "attention_mask") {
      slot.kind = InputKind::AttentionMask;
      have_mask = true;
    } else if (name == "token_type_ids") {
      slot.kind = InputKind::TokenTypeIds;
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

  if (s.GetOutputCount() == 0) throw Error(ErrorCode::InvalidModel, "model has no outputs");
  // Prefer an output named "logits"; otherwise the first one (exports name it variously).
  size_t out_index = 0;
  for (size_t i = 0; i < s.GetOutputCount(); ++i) {
    if (std::string(s.GetOutputNameAllocated(i, allocator).get()) == "logits") out_index = i;
  }
  impl_->output_name = s.GetOutputNameAllocated(out_index, allocator).get();
  Ort::TypeInfo out_type_info = s.GetOutputTypeInfo(out_index);
  auto out_info = out_type_info.GetTensorTypeAndShapeInfo();
  impl_->output_type = out_info.GetElementType();
  if (impl_->output_type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT &&
      impl_->output_type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16) {
    throw Error(ErrorCode::InvalidModel, "model output '" + impl_->output_name + "' must be float32 or float16");
  }
  auto shape = out_info.GetShape();
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

std::string InferenceSession::output_type() const {
  return impl_->output_type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16 ? "float16" : "float32";
}

void InferenceSession::run(const PackedBatch& batch, float* logits) const {
  const int64_t shape[2] = {static_cast<int64_t>(batch.rows), static_cast<int64_t>(batch.columns)};
  const size_t count = batch.rows * batch.columns;
  std::vector<Ort::Value> values;
  std::vector<const char*> names;
  // int32 graphs get a narrowed copy; int64 graphs read the packed buffers in place.
  std::vector<std::vector<int32_t>> narrowed;
  narrowed.reserve(impl_->inputs.size());
  for (const auto& slot : impl_->inputs) {
    const std::vector<int64_t>& src = slot.kind == InputKind::InputIds       ? batch.input_ids
                                      : slot.kind == InputKind::AttentionMask ? batch.attention_mask
                                                                               : batch.token_type_ids;
    if (slot.type == ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64) {
      values.push_back(Ort::Value::CreateTensor<int64_t>(impl_->cpu, const_cast<int64_t*>(src.data()), count,
                                                         shape, 2));
    } else {
      narrowed.emplace_back(src.begin(), src.end());
      values.push_back(Ort::Value::CreateTensor<int32_t>(impl_->cpu, narrowed.back().data(), count, shape, 2));
    }
    names.push_back(slot.name.c_str());
  }
  const char* out_name = impl_->output_name.c_str();
  try {
    std::vector<Ort::Value> outputs =
        impl_->session->Run(Ort::RunOptions{nullptr}, names.data(), values.data(), values.size(), &out_name, 1);
    auto info = outputs[0].GetTensorTypeAndShapeInfo();
    auto got = info.GetShape();
    if (got.size() != 2 || got[0] != static_cast<int64_t>(batch.rows) || got[1] != num_labels_) {
      std::string dims;
      for (size_t i = 0; i < got.size(); ++i) dims += (i ? "," : "") + std::to_string(got[i]);
      throw Error(ErrorCode::InvalidModel, "model output has shape [" + dims + "], expected [" +
                                               std::to_string(batch.rows) + "," + std::to_string(num_labels_) + "]");
    }
    const size_t n = batch.rows * static_cast<size_t>(num_labels_);
    if (impl_->output_type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT) {
      std::memcpy(logits, outputs[0].GetTensorData<float>(), n * sizeof(float));
    } else {
      const Ort::Float16_t* half = outputs[0].GetTensorData<Ort::Float16_t>();
      for (size_t i = 0; i < n; ++i) logits[i] = half[i].ToFloat();
    }
  } catch (const Ort::Exception& e) {
    throw Error(ErrorCode::Inference, std::string("ONNX Runtime failed: ") + e.what());
  }
}

}  // namespace crossrank
