// Conversions between JS values and core types, with coded errors instead of crashes.
// lib/ validates every argument first; these checks keep the addon safe when called directly.
#pragma once

#include <napi.h>

#include <exception>
#include <new>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "errors.h"

namespace crossrank::binding {

// A JS Error carrying a stable `code` property (see lib/errors.ts).
Napi::Error coded_error(Napi::Env env, const char* code, const std::string& message);
Napi::Error coded_error(Napi::Env env, ErrorCode code, const std::string& message);

// Array of strings -> UTF-8 std::strings. Lone surrogates become U+FFFD (V8's UTF-8 writer).
std::vector<std::string> string_array(const Napi::Value& value, const char* what);

// Integer option ranges, native option name -> [min, max]: the table of lib/options.ts, handed to
// each environment's addon once (setOptionTable). The addon holds no range of its own.
using OptionTable = std::unordered_map<std::string, std::pair<double, double>>;

// Optional property readers: `fallback` when the property is undefined; INVALID_ARGUMENT when
// it has the wrong type or range. int_property takes the range of `key` from `table` (INTERNAL
// when the table lacks it) and refuses non-integers.
double int_property(const Napi::Object& obj, const char* key, double fallback, const OptionTable& table);
bool bool_property(const Napi::Object& obj, const char* key, bool fallback);
std::string string_property(const Napi::Object& obj, const char* key, const std::string& fallback);

// A number for a message: integers without a fraction ("1000000000", not "1000000000.000000").
std::string format_number(double value);

// --- Teardown-safe completions (the ownership rule in native_model.h) ---

// Whether the environment still runs JavaScript. While a worker thread is being terminated, or the
// process exits, Node refuses every call that could run JS (napi_pending_exception with no
// exception pending; napi_cannot_run_js from N-API 10): completions must then do nothing.
bool can_run_js(napi_env env) noexcept;

// A promise settled later from the JS thread. Unlike Napi::Promise::Deferred, settling never
// throws: if the environment is going away the outcome is dropped (nobody is left to see it).
class SettleOnce {
 public:
  explicit SettleOnce(Napi::Env env);  // throws Napi::Error (called from JS-facing code)
  SettleOnce(const SettleOnce&) = delete;
  SettleOnce& operator=(const SettleOnce&) = delete;
  Napi::Promise promise() const { return Napi::Promise(env_, promise_); }
  // `build` makes the value on the JS thread (it may throw Napi::Error: the promise then rejects
  // with that error). Resolve when `ok`, else reject. Never throws; settles at most once.
  template <typename Build>
  void settle(bool ok, Build&& build) noexcept {
    if (deferred_ == nullptr || !can_run_js(env_)) return;
    napi_handle_scope scope;
    if (napi_open_handle_scope(env_, &scope) != napi_ok) return;
    try {
      napi_value value = build();
      conclude(ok, value);
    } catch (const Napi::Error& e) {
      try {
        conclude(false, e.Value());
      } catch (...) {
      }
    } catch (const std::bad_alloc&) {
      reject_plain("OUT_OF_MEMORY", "out of memory");
    } catch (const std::exception& e) {
      reject_plain("INTERNAL", std::string("internal error: ") + e.what());
    } catch (...) {
      reject_plain("INTERNAL", "internal error");
    }
    napi_close_handle_scope(env_, scope);
  }

 private:
  void conclude(bool ok, napi_value value) noexcept;
  void reject_plain(const char* code, const std::string& message) noexcept;
  napi_env env_;
  napi_deferred deferred_ = nullptr;
  napi_value promise_ = nullptr;
};

}  // namespace crossrank::binding
