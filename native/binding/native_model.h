// NativeModel: the one JS-visible class of the addon, one instance per loaded model.
//   NativeModel.load(options) -> Promise<NativeModel>
//   model.predict(first, second | null, options) -> Promise<Float32Array>
//   model.encode(first, second | null) -> Promise<{ ids: Uint32Array[], typeIds: Uint32Array[] }>
//   model.info() -> object;  model.close()
// The engine is shared with in-flight calls, so close() never frees what a running call uses.
#pragma once

#include <napi.h>

#include <memory>

#include "cross_encoder.h"

namespace crossrank::binding {

class NativeModel : public Napi::ObjectWrap<NativeModel> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit NativeModel(const Napi::CallbackInfo& info);

 private:
  static Napi::Value Load(const Napi::CallbackInfo& info);
  Napi::Value Predict(const Napi::CallbackInfo& info);
  Napi::Value Encode(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value IsClosed(const Napi::CallbackInfo& info);

  // Null once closed.
  std::shared_ptr<const CrossEncoderEngine> engine_;
};

}  // namespace crossrank::binding
