#include "js_values.h"

#include <cmath>

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

double number_property(const Napi::Object& obj, const char* key, double fallback, double min, double max) {
  Napi::Value v = obj.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber()) throw coded_error(obj.Env(), ErrorCode::InvalidArgument, std::string(key) + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d < min || d > max) {
    throw coded_error(obj.Env(), ErrorCode::InvalidArgument,
                      std::string(key) + " is out of range [" + std::to_string(min) + ", " + std::to_string(max) + "]");
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

}  // namespace crossrank::binding
