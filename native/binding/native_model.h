// NativeModel: the one JS-visible class of the addon, one instance per loaded model.
//   NativeModel.load(options) -> Promise<NativeModel>
//   model.predict(first, second | null, options) -> Promise<Float32Array>
//   model.encode(first, second | null) -> Promise<{ ids: Uint32Array[], typeIds: Uint32Array[] }>
//   model.tokenOffsets(texts) -> Promise<Uint32Array[]>  (byte [start, end) of each token, for chunking)
//   model.info() -> object;  model.stats() -> object;  model.close() -> Promise<void>
// predict() hands its pairs to the engine's scheduler and returns at once; the scheduler's
// threads report completion through a thread-safe function, which settles the promise on the JS
// thread. A call in flight keeps its model object alive, so neither GC nor close() can free what
// a running call uses.
//
// OWNERSHIP RULE: native objects across close() and environment teardown.
// 1. An engine (tokenizer, ONNX Runtime session, scheduler threads) is held by shared_ptrs, and
//    no JS value ever holds one: GC timing never decides when an engine dies. Its owners are the
//    NativeModel (engine_, from load until close) and, while they run, the pool-thread workers:
//    the load worker hands its engine to the new NativeModel through the environment's data (not
//    through a JS object), an encode call holds a weak reference and pins the engine only while
//    it tokenizes, the dispose worker owns it from close() on.
// 2. close() moves the NativeModel's reference into the dispose worker, which drops it on a pool
//    thread and waits until the engine has been destroyed (whoever held it last): close()'s
//    promise settles only after the threads are joined and the tokenizer and session are freed.
// 3. Completions on the JS thread (PromiseWorker::OnWorkComplete, DeliverCompletion) never throw
//    and never assume the environment still runs JS. When a worker thread is being terminated or
//    the process exits, Node still runs pending completions but refuses every call into JS: a
//    completion then settles nothing, builds no JS object, and only frees native memory
//    (js_values.h: can_run_js, SettleOnce). An exception escaping into Node there would abort.
//    JS-facing entry points (module init, methods, the constructor) may be interrupted the same
//    way: the build defines NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS, so that an error node-addon-api
//    cannot throw into a terminating environment is dropped instead of rethrown (CMakeLists.txt).
// 4. At environment teardown, EnvCleanup stops the scheduler of every live or disposing engine
//    before Node frees the environment's ArrayBuffers (the scheduler writes scores into them), and
//    Node finalizes the completion channel itself: the model then never releases it again.
#pragma once

#include <napi.h>

#include <future>
#include <memory>
#include <string>

#include "cross_encoder.h"

namespace crossrank::binding {

struct PendingCall;
struct Completion;
void DeliverCompletion(Napi::Env env, Napi::Function, std::nullptr_t*, Completion* completion);
using CompletionChannel = Napi::TypedThreadSafeFunction<std::nullptr_t, Completion, DeliverCompletion>;

// Module-level: setOptionTable(table) stores this environment's copy of lib/options.ts's integer
// ranges (see OptionTable); load() and predict() refuse to run without it.
Napi::Value SetOptionTable(const Napi::CallbackInfo& info);

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
  Napi::Value TokenOffsets(const Napi::CallbackInfo& info);
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
  // Set when the engine has been destroyed (by its last owner, on whichever thread).
  std::shared_future<void> engine_gone_;
  napi_env env_ = nullptr;
  CompletionChannel completions_;
  std::shared_ptr<bool> channel_finalized_;  // set (on the JS thread) when Node has finalized the channel
  size_t in_flight_ = 0;  // calls whose promise is pending: the channel keeps the loop alive then
};

}  // namespace crossrank::binding
