// Conversions between JS values and core types, with coded errors instead of crashes.
// lib/ validates every argument first; these checks keep the addon safe when called directly.
#pragma once

#include <napi.h>

#include <string>
#include <vector>

#include "errors.h"

namespace crossrank::binding {

// A JS Error carrying a stable `code` property (see lib/errors.ts).
Napi::Error coded_error(Napi::Env env, const char* code, const std::string& message);
Napi::Error coded_error(Napi::Env env, ErrorCode code, const std::string& message);

// Array of strings -> UTF-8 std::strings. Lone surrogates become U+FFFD (V8's UTF-8 writer).
std::vector<std::string> string_array(const Napi::Value& value, const char* what);

// Optional property readers: `fallback` when the property is undefined; INVALID_ARGUMENT when
// it has the wrong type or range.
double number_property(const Napi::Object& obj, const char* key, double fallback, double min, double max);
bool bool_property(const Napi::Object& obj, const char* key, bool fallback);
std::string string_property(const Napi::Object& obj, const char* key, const std::string& fallback);

}  // namespace crossrank::binding
