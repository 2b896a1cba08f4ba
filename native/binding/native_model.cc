#include "native_model.h"

#include <onnxruntime_cxx_api.h>

#include <future>
#include <string>
#include <utility>
#include <vector>

#include "js_values.h"
#include "promise_worker.h"

namespace crossrank::binding {

namespace {

using EnginePtr = std::shared_ptr<const CrossEncoderEngine>;

// An engine and the signal its last owner gives when it has destroyed it (rule 2 in the header).
struct OwnedEngine {
  EnginePtr engine;
  std::shared_future<void> gone;
};

OwnedEngine make_engine(const EngineConfig& config) {
  auto gone = std::make_shared<std::promise<void>>();
  std::shared_future<void> signal = gone->get_future().share();
  EnginePtr engine(new CrossEncoderEngine(config), [gone](const CrossEncoderEngine* e) {
    delete e;
    gone->set_value();
  });
  return {std::move(engine), std::move(signal)};
}

// Per-environment data (one per worker_thread): the class constructor, to build instances
// from the load worker's completion; the engine being handed to the instance it constructs; the
// option ranges of lib/options.ts.
struct AddonData {
  Napi::FunctionReference constructor;
  OwnedEngine handoff;
  OptionTable options;
  bool has_options = false;
};

const OptionTable& option_table(Napi::Env env) {
  auto* data = env.GetInstanceData<AddonData>();
  if (!data->has_options) {
    throw coded_error(env, ErrorCode::Internal, "the option table was not set: call setOptionTable (lib/options.ts) first");
  }
  return data->options;
}

Activation parse_activation(Napi::Env env, const std::string& name) {
  if (name == "sigmoid") return Activation::Sigmoid;
  if (name == "identity") return Activation::Identity;
  if (name == "softmax") return Activation::Softmax;
  if (name == "tanh") return Activation::Tanh;
  throw coded_error(env, ErrorCode::InvalidArgument,
                    "activation must be one of sigmoid, identity, softmax, tanh; received '" + name + "'");
}

class LoadWorker : public PromiseWorker {
 public:
  LoadWorker(Napi::Env env, EngineConfig config) : PromiseWorker(env, "crossrank:load"), config_(std::move(config)) {}

 protected:
  void Run() override { engine_ = make_engine(config_); }

  // Only called while the environment runs JS (PromiseWorker). The constructor takes the engine
  // from the environment's data at once; if construction fails, the engine dies here.
  Napi::Value Result(Napi::Env env) override {
    auto* data = env.GetInstanceData<AddonData>();
    data->handoff = std::move(engine_);
    struct Clear {
      AddonData* data;
      ~Clear() { data->handoff = OwnedEngine(); }
    } clear{data};
    return data->constructor.New({});
  }

 private:
  EngineConfig config_;
  OwnedEngine engine_;
};

// Texts are copied out of JS on the calling thread (V8 strings cannot be read elsewhere).
JobTexts read_texts(const Napi::CallbackInfo& info) {
  JobTexts texts;
  texts.first = string_array(info[0], "first");
  if (info.Length() > 1 && !info[1].IsNull() && !info[1].IsUndefined()) {
    texts.second = string_array(info[1], "second");
    const bool shared = texts.first.size() == 1;
    if (!shared && texts.first.size() != texts.second.size()) {
      throw coded_error(info.Env(), ErrorCode::InvalidArgument,
                        "first and second must have the same length, or first exactly one text");
    }
  }
  return texts;
}

// Disposes of a closed engine off the JS thread: its destructor waits for the batch in flight.
// Resolves once the engine is destroyed, whoever held it last (an encode call still tokenizing
// on another pool thread): threads joined, tokenizer and session freed.
class DisposeWorker : public PromiseWorker {
 public:
  DisposeWorker(Napi::Env env, EnginePtr engine, std::shared_future<void> gone)
      : PromiseWorker(env, "crossrank:close"), engine_(std::move(engine)), gone_(std::move(gone)) {}

 protected:
  void Run() override {
    engine_.reset();
    if (gone_.valid()) gone_.wait();
  }
  Napi::Value Result(Napi::Env env) override { return env.Undefined(); }

 private:
  EnginePtr engine_;
  std::shared_future<void> gone_;
};

// Holds its engine weakly: an encode call queued behind a close() finds it gone (CLOSED), and one
// already tokenizing delays the close only by its own run.
class EncodeWorker : public PromiseWorker {
 public:
  EncodeWorker(Napi::Env env, const EnginePtr& engine, JobTexts texts)
      : PromiseWorker(env, "crossrank:encode"), engine_(engine), texts_(std::move(texts)) {}

 protected:
  void Run() override {
    EnginePtr engine = engine_.lock();
    if (!engine) throw Error(ErrorCode::Closed, "the model is closed");
    encodings_ = engine->encode(texts_);
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Array ids = Napi::Array::New(env, encodings_.size());
    Napi::Array types = Napi::Array::New(env, encodings_.size());
    for (size_t i = 0; i < encodings_.size(); ++i) {
      const Encoding& e = encodings_[i];
      auto a = Napi::Uint32Array::New(env, e.ids.size());
      auto b = Napi::Uint32Array::New(env, e.type_ids.size());
      std::copy(e.ids.begin(), e.ids.end(), a.Data());
      std::copy(e.type_ids.begin(), e.type_ids.end(), b.Data());
      ids.Set(i, a);
      types.Set(i, b);
    }
    Napi::Object result = Napi::Object::New(env);
    result.Set("ids", ids);
    result.Set("typeIds", types);
    return result;
  }

 private:
  std::weak_ptr<const CrossEncoderEngine> engine_;
  JobTexts texts_;
  std::vector<Encoding> encodings_;
};

// Byte offsets of each text's tokens (engine token_offsets), for chunking long documents.
// Holds its engine weakly, as EncodeWorker does.
class OffsetsWorker : public PromiseWorker {
 public:
  OffsetsWorker(Napi::Env env, const EnginePtr& engine, std::vector<std::string> texts)
      : PromiseWorker(env, "crossrank:offsets"), engine_(engine), texts_(std::move(texts)) {}

 protected:
  void Run() override {
    EnginePtr engine = engine_.lock();
    if (!engine) throw Error(ErrorCode::Closed, "the model is closed");
    offsets_ = engine->token_offsets(texts_);
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Array out = Napi::Array::New(env, offsets_.size());
    for (size_t i = 0; i < offsets_.size(); ++i) {
      auto a = Napi::Uint32Array::New(env, offsets_[i].size());
      std::copy(offsets_[i].begin(), offsets_[i].end(), a.Data());
      out.Set(i, a);
    }
    return out;
  }

 private:
  std::weak_ptr<const CrossEncoderEngine> engine_;
  std::vector<std::string> texts_;
  std::vector<std::vector<uint32_t>> offsets_;
};

Napi::Value rejected(Napi::Env env, const Napi::Error& error) {
  auto deferred = Napi::Promise::Deferred::New(env);
  deferred.Reject(error.Value());
  return deferred.Promise();
}

Napi::Value resolved(Napi::Env env) {
  auto deferred = Napi::Promise::Deferred::New(env);
  deferred.Resolve(env.Undefined());
  return deferred.Promise();
}

}  // namespace

// What a predict() call keeps on the JS side until it settles.
struct PendingCall {
  PendingCall(NativeModel* m, Napi::Env env, Napi::Float32Array scores, Napi::Object model_object)
      : model(m), settle(env), out(Napi::Persistent(scores)), self(Napi::Persistent(model_object)) {}
  NativeModel* model;
  SettleOnce settle;
  Napi::Reference<Napi::Float32Array> out;  // the scores are written straight into it
  Napi::ObjectReference self;               // keeps the model object alive while in flight
  Napi::ObjectReference cancel;             // the abort flag's memory must outlive the call
};

// Sent from a scheduler thread to the JS thread.
struct Completion {
  PendingCall* call;
  const char* code;  // null on success
  std::string message;
};

void DeliverCompletion(Napi::Env env, Napi::Function, std::nullptr_t*, Completion* completion) {
  std::unique_ptr<Completion> c(completion);
  std::unique_ptr<PendingCall> call(c->call);
  if (env == nullptr) return;  // the channel is being finalized: nothing left to settle
  // Rule 3: never throws; settles nothing when the environment no longer runs JS.
  call->settle.settle(c->code == nullptr, [&] {
    return c->code == nullptr ? napi_value(call->out.Value()) : napi_value(coded_error(env, c->code, c->message).Value());
  });
  call->model->CallSettled(env);
}

NativeModel::~NativeModel() {
  napi_remove_env_cleanup_hook(env_, EnvCleanup, this);
  // At environment teardown Node finalizes the channel itself, possibly before this object:
  // releasing it again would touch freed memory.
  if (!*channel_finalized_) completions_.Release();
}

void NativeModel::EnvCleanup(void* self) {
  // A worker thread being terminated frees its ArrayBuffers right after: the scheduler must have
  // stopped writing scores into them first. Blocks for at most the batch in flight.
  auto* model = static_cast<NativeModel*>(self);
  if (model->engine_) model->engine_->shutdown();
  if (auto disposing = model->disposing_.lock()) disposing->shutdown();
}

void NativeModel::CallSettled(Napi::Env env) {
  // napi_unref_threadsafe_function runs no JS; its status is of no use here (teardown).
  if (--in_flight_ == 0 && !*channel_finalized_) napi_unref_threadsafe_function(env, completions_);
}

Napi::Value SetOptionTable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsObject()) {
    throw coded_error(env, ErrorCode::InvalidArgument, "setOptionTable(table) needs an object of [min, max] pairs");
  }
  Napi::Object table = info[0].As<Napi::Object>();
  Napi::Array names = table.GetPropertyNames();
  OptionTable options;
  for (uint32_t i = 0; i < names.Length(); ++i) {
    const std::string name = names.Get(i).ToString().Utf8Value();
    Napi::Value entry = table.Get(name);
    const bool pair = entry.IsArray() && entry.As<Napi::Array>().Length() == 2 && entry.As<Napi::Array>().Get(0u).IsNumber() &&
                      entry.As<Napi::Array>().Get(1u).IsNumber();
    const double min = pair ? entry.As<Napi::Array>().Get(0u).As<Napi::Number>().DoubleValue() : 0;
    const double max = pair ? entry.As<Napi::Array>().Get(1u).As<Napi::Number>().DoubleValue() : 0;
    // The addon casts option values to size_t and int: ranges must stay within what a double
    // holds exactly and be non-negative.
    if (!pair || !(min >= 0) || !(max >= min) || max > 9007199254740991.0) {
      throw coded_error(env, ErrorCode::InvalidArgument, "setOptionTable: " + name + " must be [min, max] with 0 <= min <= max <= 2^53 - 1");
    }
    options[name] = {min, max};
  }
  auto* data = env.GetInstanceData<AddonData>();
  data->options = std::move(options);
  data->has_options = true;
  return env.Undefined();
}

Napi::Function NativeModel::Define(Napi::Env env) {
  Napi::Function cls = DefineClass(env, "NativeModel",
                                   {
                                       StaticMethod<&NativeModel::Load>("load"),
                                       InstanceMethod<&NativeModel::Predict>("predict"),
                                       InstanceMethod<&NativeModel::Encode>("encode"),
                                       InstanceMethod<&NativeModel::TokenOffsets>("tokenOffsets"),
                                       InstanceMethod<&NativeModel::Info>("info"),
                                       InstanceMethod<&NativeModel::Stats>("stats"),
                                       InstanceMethod<&NativeModel::Close>("close"),
                                       InstanceAccessor<&NativeModel::IsClosed>("closed"),
                                       InstanceAccessor<&NativeModel::InputMemory>("inputMemory"),
                                   });
  auto* data = new AddonData();
  data->constructor = Napi::Persistent(cls);
  env.SetInstanceData<AddonData>(data);
  return cls;
}

NativeModel::NativeModel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeModel>(info) {
  auto* data = info.Env().GetInstanceData<AddonData>();
  if (!data->handoff.engine) {
    throw coded_error(info.Env(), ErrorCode::InvalidArgument, "use NativeModel.load(options) to create a model");
  }
  // Rule 1: the engine moves into this object; nothing on the JS heap keeps a copy.
  engine_ = std::move(data->handoff.engine);
  engine_gone_ = std::move(data->handoff.gone);
  data->handoff = OwnedEngine();
  env_ = info.Env();
  channel_finalized_ = std::make_shared<bool>(false);
  completions_ = CompletionChannel::New(
      info.Env(), "crossrank:completions", 0, 1, static_cast<std::nullptr_t*>(nullptr),
      [](Napi::Env, std::shared_ptr<bool>* finalized, std::nullptr_t*) {
        **finalized = true;
        delete finalized;
      },
      new std::shared_ptr<bool>(channel_finalized_));
  completions_.Unref(info.Env());  // idle models must not keep the process alive
  // Last: a constructor that throws must not leave a hook pointing at a dead object.
  napi_add_env_cleanup_hook(env_, EnvCleanup, this);
}

Napi::Value NativeModel::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    if (info.Length() < 1 || !info[0].IsObject()) {
      throw coded_error(env, ErrorCode::InvalidArgument, "load(options) needs an options object");
    }
    Napi::Object o = info[0].As<Napi::Object>();
    EngineConfig config;
    config.model_path = string_property(o, "modelPath", "");
    config.tokenizer_path = string_property(o, "tokenizerPath", "");
    if (config.model_path.empty() || config.tokenizer_path.empty()) {
      throw coded_error(env, ErrorCode::InvalidArgument, "modelPath and tokenizerPath are required");
    }
    const OptionTable& table = option_table(env);
    config.max_length = static_cast<size_t>(int_property(o, "maxLength", 512, table));
    config.truncate_left = bool_property(o, "truncateLeft", false);
    config.pad_token = string_property(o, "padToken", "");
    config.pad_id_fallback = static_cast<int64_t>(int_property(o, "padId", 0, table));
    config.num_labels_hint = static_cast<int64_t>(int_property(o, "numLabels", 0, table));
    config.tokenizer_threads = static_cast<size_t>(int_property(o, "tokenizerThreads", 0, table));
    config.concurrent_runs = static_cast<size_t>(int_property(o, "concurrentRuns", 0, table));
    config.session.intra_op_threads = static_cast<int>(int_property(o, "intraOpThreads", 0, table));
    config.session.inter_op_threads = static_cast<int>(int_property(o, "interOpThreads", 1, table));
    config.session.optimize_graph = bool_property(o, "optimizeGraph", true);
    config.session.allow_spinning = bool_property(o, "allowSpinning", true);
    config.max_queued_pairs = static_cast<size_t>(int_property(o, "maxQueuedPairs", 1 << 20, table));
    config.session.log_severity = static_cast<int>(int_property(o, "logSeverity", 4, table));
    config.chat = bool_property(o, "chat", false);
    // LLM rerankers whose file is a causal LM with past_key_values inputs (graph 'causal-lm-with-past').
    // 'decoder-classifier': a decoder's seq-cls graph, which may take position_ids.
    const std::string graph = string_property(o, "graph", "classifier");
    config.session.causal_lm_with_past = graph == "causal-lm-with-past";
    config.session.decoder_positions = graph == "decoder-classifier";
    config.session.score_true_id = static_cast<int64_t>(int_property(o, "scoreTrueId", -1, table));
    config.session.score_false_id =
        bool_property(o, "scoreTrueOnly", false) ? -1 : static_cast<int64_t>(int_property(o, "scoreFalseId", -1, table));
    config.session.kv_heads_hint = static_cast<int64_t>(int_property(o, "kvHeads", 0, table));
    config.session.head_dim_hint = static_cast<int64_t>(int_property(o, "headDim", 0, table));
    config.session.vocab_hint = static_cast<int64_t>(int_property(o, "vocabSize", 0, table));
    const Napi::Value suffix = o.Get("chatSuffix");
    if (!suffix.IsUndefined()) {
      if (!suffix.IsTypedArray() || suffix.As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
        throw coded_error(env, ErrorCode::InvalidArgument, "chatSuffix must be a Uint32Array");
      }
      const Napi::Uint32Array ids = suffix.As<Napi::Uint32Array>();
      if (ids.ElementLength() > 4096) throw coded_error(env, ErrorCode::InvalidArgument, "chatSuffix holds more than 4096 ids");
      config.chat_suffix.assign(ids.Data(), ids.Data() + ids.ElementLength());
    }
    const std::string device = string_property(o, "device", "cpu");
    if (device == "cpu") {
      config.session.device.kind = DeviceKind::Cpu;
    } else if (device == "cuda") {
      config.session.device.kind = DeviceKind::Cuda;
    } else if (device == "auto") {
      config.session.device.kind = DeviceKind::Auto;
    } else {
      throw coded_error(env, ErrorCode::InvalidArgument, "device must be cpu, cuda or auto");
    }
    config.session.device.device_id = static_cast<int>(int_property(o, "deviceId", 0, table));
    config.session.device.cuda_provider_path = string_property(o, "cudaProviderPath", "");
    auto* worker = new LoadWorker(env, std::move(config));
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
  } catch (const Napi::Error& e) {
    return rejected(env, e);
  }
}

Napi::Value NativeModel::Predict(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    if (!engine_) throw coded_error(env, ErrorCode::Closed, "the model is closed");
    JobTexts texts = read_texts(info);
    PredictOptions options;
    Napi::Value cancel = env.Undefined();
    if (info.Length() > 2 && info[2].IsObject()) {
      Napi::Object o = info[2].As<Napi::Object>();
      const OptionTable& table = option_table(env);
      options.batch_size = static_cast<size_t>(int_property(o, "batchSize", 256, table));
      options.max_batch_tokens = static_cast<size_t>(int_property(o, "maxBatchTokens", 2048, table));
      options.activation = parse_activation(env, string_property(o, "activation", "sigmoid"));
      const Napi::Value suffix = o.Get("chatSuffix");
      if (!suffix.IsUndefined()) {
        if (!suffix.IsTypedArray() || suffix.As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array ||
            suffix.As<Napi::Uint32Array>().ElementLength() > 4096) {
          throw coded_error(env, ErrorCode::InvalidArgument, "chatSuffix must be a Uint32Array of at most 4096 ids");
        }
        const Napi::Uint32Array ids = suffix.As<Napi::Uint32Array>();
        options.has_chat_suffix = true;
        options.chat_suffix.assign(ids.Data(), ids.Data() + ids.ElementLength());
      }
      cancel = o.Get("cancel");
      if (!cancel.IsUndefined()) {
        if (!cancel.IsTypedArray() || cancel.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
            cancel.As<Napi::Int32Array>().ElementLength() < 1) {
          throw coded_error(env, ErrorCode::InvalidArgument, "cancel must be an Int32Array of length >= 1");
        }
        options.cancel_flag = cancel.As<Napi::Int32Array>().Data();
      }
    }
    const size_t count = texts.size() * static_cast<size_t>(engine_->num_labels());
    Napi::Float32Array out = Napi::Float32Array::New(env, count);
    auto* call = new PendingCall(this, env, out, Value());
    if (cancel.IsTypedArray()) call->cancel = Napi::Persistent(cancel.As<Napi::Object>());
    Napi::Promise promise = call->settle.promise();
    if (in_flight_++ == 0) completions_.Ref(env);
    CompletionChannel channel = completions_;
    engine_->submit(std::move(texts), options, out.Data(), [channel, call](const Error* error) mutable {
      auto* c = new Completion{call, error ? error_code_name(error->code()) : nullptr, error ? error->what() : ""};
      if (channel.NonBlockingCall(c) != napi_ok) delete c;  // only when the environment is closing
    });
    return promise;
  } catch (const Napi::Error& e) {
    return rejected(env, e);
  }
}

Napi::Value NativeModel::Encode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    if (!engine_) throw coded_error(env, ErrorCode::Closed, "the model is closed");
    auto* worker = new EncodeWorker(env, engine_, read_texts(info));
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
  } catch (const Napi::Error& e) {
    return rejected(env, e);
  }
}

Napi::Value NativeModel::TokenOffsets(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    if (!engine_) throw coded_error(env, ErrorCode::Closed, "the model is closed");
    auto* worker = new OffsetsWorker(env, engine_, string_array(info[0], "texts"));
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
  } catch (const Napi::Error& e) {
    return rejected(env, e);
  }
}

Napi::Value NativeModel::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!engine_) throw coded_error(env, ErrorCode::Closed, "the model is closed");
  const InferenceSession& s = engine_->session();
  Napi::Object out = Napi::Object::New(env);
  out.Set("numLabels", Napi::Number::New(env, static_cast<double>(engine_->num_labels())));
  out.Set("maxLength", Napi::Number::New(env, static_cast<double>(engine_->max_length())));
  out.Set("padId", Napi::Number::New(env, static_cast<double>(engine_->pad_id())));
  out.Set("concurrentRuns", Napi::Number::New(env, static_cast<double>(engine_->concurrent_runs())));
  out.Set("vocabSize", Napi::Number::New(env, static_cast<double>(engine_->tokenizer().vocab_size())));
  Napi::Array inputs = Napi::Array::New(env);
  auto names = s.input_names();
  for (size_t i = 0; i < names.size(); ++i) inputs.Set(i, Napi::String::New(env, names[i]));
  out.Set("inputs", inputs);
  out.Set("output", Napi::String::New(env, s.output_name()));
  out.Set("graph", Napi::String::New(env, s.graph_kind_name()));
  out.Set("outputType", Napi::String::New(env, s.output_type()));
  out.Set("device", Napi::String::New(env, s.device().device));
  out.Set("deviceReason", Napi::String::New(env, s.device().reason));
  Napi::Array providers = Napi::Array::New(env);
  for (size_t i = 0; i < s.device().providers.size(); ++i) providers.Set(i, Napi::String::New(env, s.device().providers[i]));
  out.Set("providers", providers);
  return out;
}

Napi::Value NativeModel::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!engine_) throw coded_error(env, ErrorCode::Closed, "the model is closed");
  const SchedulerStats s = engine_->stats();
  Napi::Object out = Napi::Object::New(env);
  // Doubles: exact up to 2^53, beyond any count a process reaches.
  auto set = [&](const char* name, uint64_t value) { out.Set(name, Napi::Number::New(env, static_cast<double>(value))); };
  set("pairs", s.pairs);
  set("batches", s.batches);
  set("tokens", s.tokens);
  set("paddedTokens", s.padded_tokens);
  set("windows", s.windows);
  set("earlyWindows", s.early_windows);
  return out;
}

Napi::Value NativeModel::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!engine_) return resolved(env);
  // Queued calls fail with CLOSED now; the batch in flight finishes on the dispose worker.
  engine_->close();
  disposing_ = engine_;
  auto* worker = new DisposeWorker(env, std::move(engine_), std::move(engine_gone_));
  engine_.reset();
  engine_gone_ = std::shared_future<void>();
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

Napi::Value NativeModel::IsClosed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !engine_);
}

// A property of its own, not part of info(): it can change after load (pinned -> cpu fallback).
Napi::Value NativeModel::InputMemory(const Napi::CallbackInfo& info) {
  if (!engine_) return info.Env().Undefined();
  return Napi::String::New(info.Env(), engine_->session().input_memory());
}

}  // namespace crossrank::binding
