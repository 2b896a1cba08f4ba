// NativeModel: the one JS-visible class of the addon, one instance per loaded model.
//   NativeModel.load(options) -> Promise<NativeModel>
//   model.predict(first, second | null, options) -> Promise<Float32Array>
//   model.encode(first, second | null) -> Promise<{ ids: Uint32Array[], typeIds: Uint32Array[] }>
//   model.info() -> object;  model.stats() -> object;  model.close() -> Promise<void>
// predict() hands its pairs to the engine's scheduler and returns at once; the scheduler's
// threads report completion through a thread-safe function, which settles the promise on the JS
// thread. A call in flight keeps its model object alive, so neither GC nor close() can free what
// a running call uses.
#pragma once

#include <napi.h>

#include <memory>
#include <string>

#include "cross_encoder.h"

namespace crossrank::binding {

struct PendingCall;
struct Completion;
void DeliverCompletion(Napi::Env env, Napi::Function, std::nullptr_t*, Completion* completion);
using CompletionChannel = Napi::TypedThreadSafeFunction<std::nullptr_t, Completion, DeliverCompletion>;

class NativeModel : public Napi::ObjectWrap<NativeModel> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit NativeModel(const Napi::CallbackInfo& info);
  ~NativeModel() override;

  // On the JS thread, when a call has settled.
  void CallSettled(Napi::Env env);

 private:
  static Napi::Value Load(const Napi::CallbackInfo& info);
  Napi::Value Predict(const Napi::CallbackInfo& info);
  Napi::Value Encode(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value IsClosed(const Napi::CallbackInfo& info);
  Napi::Value InputMemory(const Napi::CallbackInfo& info);

  // The environment (main thread or a worker) is going away: stop writing into its memory.
  static void EnvCleanup(void* self);

  // Null once closed.
  std::shared_ptr<const CrossEncoderEngine> engine_;
  // The engine a close() is disposing of off-thread, until that finishes.
  std::weak_ptr<const CrossEncoderEngine> disposing_;
  napi_env env_ = nullptr;
  CompletionChannel completions_;
  std::shared_ptr<bool> channel_finalized_;  // set (on the JS thread) when Node has finalized the channel
  size_t in_flight_ = 0;  // calls whose promise is pending: the channel keeps the loop alive then
};

}  // namespace crossrank::binding
