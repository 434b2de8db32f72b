#pragma once
// config.json, read and written: each family's keys as one table that drives both directions, and the
// task head's part (architectures, id2label, problem_type).
#include <cstdint>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "medenc/config.h"
#include "util/json_fields.h"

namespace medenc {

// architectures[0], num_labels/id2label, problem_type; head kind from the architecture suffix.
HeadConfig parse_head(const nlohmann::json& j, const std::string& path, const std::string& family_prefix);
// Writes architectures/id2label/label2id/problem_type into j (no label maps for bare and masked-LM
// heads with the default two labels).
void write_head(nlohmann::json& j, const HeadConfig& head);

// One plain config.json key of a family's config struct: read with the struct's value as the default
// (the struct's defaults are Hugging Face's), written back as it is. Keys with a rule of their own
// (null meaning something, written only when set) are handled beside the table by the family.
template <class Config>
struct ConfigKey {
  const char* key;
  std::variant<int64_t Config::*, double Config::*, bool Config::*, std::string Config::*> member;
  bool positive = false;  // integers that must be > 0
};

template <class Config>
void read_config_keys(const nlohmann::json& j, const std::vector<ConfigKey<Config>>& keys, Config& c,
                      const std::string& path) {
  for (const ConfigKey<Config>& k : keys)
    std::visit(
        [&](auto member) {
          auto& v = c.*member;
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, int64_t>)
            v = k.positive ? json_fields::get_positive(j, k.key, v, path) : json_fields::get_int(j, k.key, v, path);
          else if constexpr (std::is_same_v<T, double>) v = json_fields::get_double(j, k.key, v, path);
          else if constexpr (std::is_same_v<T, bool>) v = json_fields::get_bool(j, k.key, v, path);
          else v = json_fields::get_string(j, k.key, v, path);
        },
        k.member);
}

template <class Config>
void write_config_keys(nlohmann::json& j, const std::vector<ConfigKey<Config>>& keys, const Config& c) {
  for (const ConfigKey<Config>& k : keys) std::visit([&](auto member) { j[k.key] = c.*member; }, k.member);
}

}  // namespace medenc
