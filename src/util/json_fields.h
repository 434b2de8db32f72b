#pragma once
// Typed reads of config.json fields with Hugging Face defaults and errors that name the file and key.
#include <string>

#include <nlohmann/json.hpp>

namespace medenc::json_fields {

using nlohmann::json;

// Missing or null gives the default; a value of the wrong type is an error.
long long get_int(const json& j, const char* key, long long def, const std::string& path);
double get_double(const json& j, const char* key, double def, const std::string& path);
bool get_bool(const json& j, const char* key, bool def, const std::string& path);
std::string get_string(const json& j, const char* key, const std::string& def, const std::string& path);

// Must be > 0.
long long get_positive(const json& j, const char* key, long long def, const std::string& path);

// Parses a config.json text into an object; the error names the path.
json parse_config(const std::string& text, const std::string& path);

}  // namespace medenc::json_fields
