// libFuzzer target: config.json parsing for every family (ModernBERT, BERT, Megatron-BERT) and the
// family detection that picks between them. Bad JSON, wrong types, out-of-range values and
// inconsistent shapes must give medenc::Error; a config that parses must write back a config.json
// that parses to the same thing (to_json is a fixed point after one round).
//   build-fuzz/fuzz/fuzz_config -max_total_time=600 fuzz/corpus/fuzz_config
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_common.h"
#include "medenc/bert.h"
#include "medenc/error.h"
#include "medenc/model.h"
#include "medenc/modernbert.h"

namespace {

using medenc::fuzz::check;

template <class Config>
void round_trip(const std::string& text) {
  try {
    const Config c = Config::from_json_text(text, "config.json");
    const std::string once = c.to_json();
    const std::string twice = Config::from_json_text(once, "written config.json").to_json();
    check(once == twice, "to_json round trip");
  } catch (const medenc::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  round_trip<medenc::ModernBertConfig>(text);
  round_trip<medenc::BertConfig>(text);
  const std::string& dir = medenc::fuzz::scratch_dir();
  medenc::fuzz::write_bytes(dir + "/config.json", text);
  try {
    medenc::detect_family(dir);
  } catch (const medenc::Error&) {
  }
  return 0;
}
