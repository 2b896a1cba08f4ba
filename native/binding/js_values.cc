#include "js_values.h"

#include <cinttypes>
#include <cmath>
#include <cstdio>

namespace crossrank::binding {

Napi::Error coded_error(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  return error;
}

Napi::Error coded_error(Napi::Env env, ErrorCode code, const std::string& message) {
  return coded_error(env, error_code_name(code), message);
}

std::vector<std::string> string_array(const Napi::Value& value, const char* what) {
  Napi::Env env = value.Env();
  if (!value.IsArray()) throw coded_error(env, ErrorCode::InvalidArgument, std::string(what) + " must be an array");
  Napi::Array array = value.As<Napi::Array>();
  const uint32_t n = array.Length();
  std::vector<std::string> out;
  out.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    Napi::Value item = array.Get(i);
    if (!item.IsString()) {
      throw coded_error(env, ErrorCode::InvalidArgument,
                        std::string(what) + "[" + std::to_string(i) + "] must be a string");
    }
    out.push_back(item.As<Napi::String>().Utf8Value());
  }
  return out;
}

std::string format_number(double value) {
  char buf[64];
  if (std::isfinite(value) && value == std::trunc(value) && std::fabs(value) < 9.2e18) {
    std::snprintf(buf, sizeof buf, "%" PRId64, static_cast<int64_t>(value));
  } else {
    std::snprintf(buf, sizeof buf, "%.17g", value);
  }
  return buf;
}

double int_property(const Napi::Object& obj, const char* key, double fallback, const OptionTable& table) {
  Napi::Env env = obj.Env();
  const auto range = table.find(key);
  if (range == table.end()) {
    throw coded_error(env, ErrorCode::Internal,
                      std::string("no range for option ") + key + ": lib/options.ts must pass its table (setOptionTable)");
  }
  const auto [min, max] = range->second;
  Napi::Value v = obj.Get(key);
  if (v.IsUndefined()) return fallback;
  const bool number = v.IsNumber();
  const double d = number ? v.As<Napi::Number>().DoubleValue() : 0;
  if (!number || !std::isfinite(d) || d != std::trunc(d) || d < min || d > max) {
    throw coded_error(env, ErrorCode::InvalidArgument,
                      std::string(key) + " must be an integer from " + format_number(min) + " to " + format_number(max) +
                          (number ? ", received " + format_number(d) : ""));
  }
  return d;
}

bool bool_property(const Napi::Object& obj, const char* key, bool fallback) {
  Napi::Value v = obj.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsBoolean()) throw coded_error(obj.Env(), ErrorCode::InvalidArgument, std::string(key) + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

std::string string_property(const Napi::Object& obj, const char* key, const std::string& fallback) {
  Napi::Value v = obj.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  if (!v.IsString()) throw coded_error(obj.Env(), ErrorCode::InvalidArgument, std::string(key) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}



bool can_run_js(napi_env env) noexcept {
  // Setting a property may run JS (a setter), so Node checks first whether it may: a harmless probe.
  napi_value object;
  napi_value value;
  if (napi_create_object(env, &object) != napi_ok || napi_get_boolean(env, true, &value) != napi_ok) return false;
  return napi_set_named_property(env, object, "probe", value) == napi_ok;
}

SettleOnce::SettleOnce(Napi::Env env) : env_(env) {
  if (napi_create_promise(env, &deferred_, &promise_) != napi_ok) throw Napi::Error::New(env);
}

void SettleOnce::conclude(bool ok, napi_value value) noexcept {
  if (deferred_ == nullptr) return;
  napi_deferred deferred = deferred_;
  deferred_ = nullptr;
  // A failure here means the environment stopped running JS in between: nothing to do.
  if (ok) {
    napi_resolve_deferred(env_, deferred, value);
  } else {
    napi_reject_deferred(env_, deferred, value);
  }
}

void SettleOnce::reject_plain(const char* code, const std::string& message) noexcept {
  try {
    conclude(false, coded_error(Napi::Env(env_), code, message).Value());
  } catch (...) {
  }
}

}  // namespace crossrank::binding
