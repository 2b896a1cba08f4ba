// An AsyncWorker that settles a Promise: Execute() runs on a libuv pool thread and may throw
// crossrank::Error (or anything else); the rejection then carries the matching stable code.
#pragma once

#include <napi.h>

#include <exception>
#include <new>
#include <string>

#include "errors.h"
#include "js_values.h"

namespace crossrank::binding {

class PromiseWorker : public Napi::AsyncWorker {
 public:
  explicit PromiseWorker(Napi::Env env, const char* name)
      : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)) {}

  Napi::Promise promise() const { return deferred_.Promise(); }

 protected:
  // Work off the JS thread. Never touches JS values.
  virtual void Run() = 0;
  // Back on the JS thread: the value the promise resolves with.
  virtual Napi::Value Result(Napi::Env env) = 0;

 private:
  void Execute() final {
    try {
      Run();
    } catch (const Error& e) {
      code_ = error_code_name(e.code());
      SetError(e.what());
    } catch (const std::bad_alloc&) {
      code_ = "OUT_OF_MEMORY";
      SetError("out of memory");
    } catch (const std::exception& e) {
      code_ = "INTERNAL";
      SetError(std::string("internal error: ") + e.what());
    } catch (...) {
      code_ = "INTERNAL";
      SetError("internal error");
    }
  }

  void OnOK() final {
    Napi::HandleScope scope(Env());
    try {
      deferred_.Resolve(Result(Env()));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }

  void OnError(const Napi::Error& error) final {
    Napi::HandleScope scope(Env());
    deferred_.Reject(coded_error(Env(), code_, error.Message()).Value());
  }

  Napi::Promise::Deferred deferred_;
  const char* code_ = "INTERNAL";
};

}  // namespace crossrank::binding
