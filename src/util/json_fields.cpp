#include "util/json_fields.h"

#include <fmt/format.h>

#include "medenc/error.h"

namespace medenc {

namespace json_fields {

static const json* field(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return nullptr;
  return &*it;
}

long long get_int(const json& j, const char* key, long long def, const std::string& path) {
  const json* v = field(j, key);
  if (!v) return def;
  if (v->is_number_integer()) return v->get<long long>();
  if (v->is_number_float()) {
    double d = v->get<double>();
    if (d == (double)(long long)d) return (long long)d;
  }
  throw Error(fmt::format("{}: \"{}\" must be an integer, got {}", path, key, v->dump()));
}

double get_double(const json& j, const char* key, double def, const std::string& path) {
  const json* v = field(j, key);
  if (!v) return def;
  if (v->is_number()) return v->get<double>();
  throw Error(fmt::format("{}: \"{}\" must be a number, got {}", path, key, v->dump()));
}

bool get_bool(const json& j, const char* key, bool def, const std::string& path) {
  const json* v = field(j, key);
  if (!v) return def;
  if (v->is_boolean()) return v->get<bool>();
  throw Error(fmt::format("{}: \"{}\" must be true or false, got {}", path, key, v->dump()));
}

std::string get_string(const json& j, const char* key, const std::string& def, const std::string& path) {
  const json* v = field(j, key);
  if (!v) return def;
  if (v->is_string()) return v->get<std::string>();
  throw Error(fmt::format("{}: \"{}\" must be a string, got {}", path, key, v->dump()));
}

long long get_positive(const json& j, const char* key, long long def, const std::string& path) {
  long long v = get_int(j, key, def, path);
  if (v <= 0) throw Error(fmt::format("{}: \"{}\" must be positive, got {}", path, key, v));
  return v;
}

json parse_config(const std::string& text, const std::string& path) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw Error(fmt::format("{}: not valid JSON: {}", path, e.what()));
  }
  if (!j.is_object()) throw Error(path + ": config must be a JSON object");
  return j;
}

}  // namespace json_fields
}  // namespace medenc
