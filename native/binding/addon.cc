// Module entry: exports the NativeModel class and the versions the addon was built against
// (and with which allocator its tokenizer crate was built).
#include <napi.h>
#include <onnxruntime_cxx_api.h>

#include "native_model.h"
#include "tokenizer.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeModel", crossrank::binding::NativeModel::Define(env));
  exports.Set("setOptionTable", Napi::Function::New(env, crossrank::binding::SetOptionTable, "setOptionTable"));
  Napi::Object versions = Napi::Object::New(env);
  versions.Set("onnxruntime", Napi::String::New(env, Ort::GetVersionString()));
  versions.Set("ortApi", Napi::Number::New(env, ORT_API_VERSION));
  versions.Set("tokenizerAllocator", Napi::String::New(env, crossrank::Tokenizer::allocator()));
  exports.Set("versions", versions);
  return exports;
}

}  // namespace

NODE_API_MODULE(crossrank, Init)
