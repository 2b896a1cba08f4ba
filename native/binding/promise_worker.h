// An AsyncWorker that settles a Promise: Execute() runs on a libuv pool thread and may throw
// crossrank::Error (or anything else); the rejection then carries the matching stable code.
// Its completion follows the ownership rule of native_model.h: it never throws, and when the
// environment is being torn down it settles nothing and only frees what the worker holds.
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
  explicit PromiseWorker(Napi::Env env, const char* name) : Napi::AsyncWorker(env, name), settle_(env) {}

  Napi::Promise promise() const { return settle_.promise(); }

 protected:
  // Work off the JS thread. Never touches JS values.
  virtual void Run() = 0;
  // Back on the JS thread, only while the environment runs JS: the value the promise resolves
  // with. May throw Napi::Error (the promise then rejects with it).
  virtual Napi::Value Result(Napi::Env env) = 0;

 private:
  void Execute() final {
    try {
      Run();
    } catch (const Error& e) {
      code_ = error_code_name(e.code());
      message_ = e.what();
    } catch (const std::bad_alloc&) {
      code_ = "OUT_OF_MEMORY";
      message_ = "out of memory";
    } catch (const std::exception& e) {
      code_ = "INTERNAL";
      message_ = std::string("internal error: ") + e.what();
    } catch (...) {
      code_ = "INTERNAL";
      message_ = "internal error";
    }
  }

  // Replaces AsyncWorker's, whose error path rethrows into Node when the environment refuses JS
  // (std::terminate: "terminate called after throwing an instance of 'Napi::Error'").
  void OnWorkComplete(Napi::Env env, napi_status status) final {
    if (status != napi_cancelled) {
      if (code_ == nullptr) {
        settle_.settle(true, [&] { return napi_value(Result(env)); });
      } else {
        settle_.settle(false, [&] { return napi_value(coded_error(env, code_, message_).Value()); });
      }
    }
    Destroy();
  }

  SettleOnce settle_;
  const char* code_ = nullptr;  // set when Run() failed
  std::string message_;
};

}  // namespace crossrank::binding
