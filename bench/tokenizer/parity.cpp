// Dumps full medenc encodings as JSON Lines, for comparison with Hugging Face's own library
// (parity.js writes the same format). Used by parity.sh; not part of the build.
//   parity TOKENIZER [--max-length N] [--stride S] [--strategy longest_first|only_first|only_second]
//          [--left] [--no-special] [--decode] [--stop-at-max-length] < inputs.jsonl > out.jsonl
// TOKENIZER is a tokenizer.json file or a model folder. Each input line is {"text": ..., "text_pair": ...}.
#include <cstring>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "medenc/error.h"
#include "medenc/tokenizer.h"

using nlohmann::json;

static json dump(const medenc::Encoding& e) {
  json j;
  j["ids"] = e.ids;
  j["tokens"] = e.tokens;
  json offs = json::array();
  for (auto [s, t] : e.offsets) offs.push_back({s, t});
  j["offsets"] = offs;
  j["type_ids"] = e.type_ids;
  j["special_tokens_mask"] = e.special_tokens_mask;
  j["attention_mask"] = e.attention_mask;
  auto opt = [](const std::vector<int32_t>& v) {
    json a = json::array();
    for (int32_t x : v) a.push_back(x < 0 ? json(nullptr) : json(x));
    return a;
  };
  j["word_ids"] = opt(e.word_ids);
  j["sequence_ids"] = opt(e.sequence_ids);
  json over = json::array();
  for (const auto& o : e.overflowing) over.push_back(dump(o));
  j["overflowing"] = over;
  return j;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: parity TOKENIZER [options] < inputs.jsonl\n";
    return 2;
  }
  std::string path = argv[1];
  medenc::EncodeOptions o;
  bool decode = false;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--max-length") o.max_length = std::stoll(argv[++i]);
    else if (a == "--stride") o.stride = std::stoll(argv[++i]);
    else if (a == "--strategy") {
      std::string s = argv[++i];
      o.strategy = s == "only_first" ? medenc::TruncationStrategy::OnlyFirst
                   : s == "only_second" ? medenc::TruncationStrategy::OnlySecond
                                        : medenc::TruncationStrategy::LongestFirst;
    } else if (a == "--left") o.side = medenc::TruncationSide::Left;
    else if (a == "--no-special") o.add_special_tokens = false;
    else if (a == "--decode") decode = true;
    else if (a == "--stop-at-max-length") o.stop_at_max_length = true;
  }
  try {
    auto tok = path.size() > 5 && path.compare(path.size() - 5, 5, ".json") == 0 ? medenc::Tokenizer::from_tokenizer_json(path)
                                                                                 : medenc::Tokenizer::from_dir(path);
    std::string line;
    while (std::getline(std::cin, line)) {
      json in = json::parse(line);
      json out;
      try {
        medenc::Encoding e = in.contains("text_pair") && !in["text_pair"].is_null()
                                 ? tok->encode_pair(in["text"].get<std::string>(), in["text_pair"].get<std::string>(), o)
                                 : tok->encode(in["text"].get<std::string>(), o);
        out = dump(e);
        if (decode) out["decoded"] = tok->decode(e.ids, true, false);
      } catch (const medenc::Error& err) {
        out["error"] = err.what();
      }
      std::cout << out.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
    }
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
