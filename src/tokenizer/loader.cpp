// Loading a tokenizer: tokenizer.json, or a BERT folder with only vocab.txt (+ tokenizer_config.json),
// with the tokenizer_config.json rules transformers applies on top.
#include <algorithm>
#include <set>

#include "medenc/error.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"
#include "util/fs.h"
#include "util/json_fields.h"

namespace medenc {

namespace tok {

namespace {

using nlohmann::json;
namespace jf = medenc::json_fields;

json parse_json_file(const std::string& path) {
  const std::string text = read_text_file(path);
  if (size_t bad = invalid_utf8_at(text); bad != std::string::npos)
    throw Error(path + ": invalid UTF-8 at byte " + std::to_string(bad));
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw Error(path + ": not valid JSON (" + std::string(e.what()) + ")");
  }
}

AddedToken parse_added_token(const json& j, bool default_special, const std::string& where) {
  AddedToken t;
  if (j.is_string()) {
    t.content = j.get<std::string>();
    t.special = default_special;
    t.normalized = !default_special;
    return t;
  }
  if (!j.is_object() || !j.contains("content") || !j["content"].is_string())
    throw Error(where + ": added token without a \"content\" string");
  t.content = j["content"].get<std::string>();
  t.special = jf::get_bool(j, "special", default_special, where);
  t.single_word = jf::get_bool(j, "single_word", false, where);
  t.lstrip = jf::get_bool(j, "lstrip", false, where);
  t.rstrip = jf::get_bool(j, "rstrip", false, where);
  t.normalized = jf::get_bool(j, "normalized", !t.special, where);
  return t;
}

// A special token named in tokenizer_config.json: a string or an AddedToken object.
std::optional<std::string> config_token(const json& config, const char* key) {
  if (!config.is_object() || !config.contains(key)) return std::nullopt;
  const json& v = config[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return std::nullopt;
}

// tokenizer classes whose transformers fast tokenizer rebuilds the BertNormalizer from its
// do_lower_case / strip_accents / tokenize_chinese_chars arguments.
bool is_bert_like_class(std::string name) {
  if (name.size() > 4 && name.compare(name.size() - 4, 4, "Fast") == 0) name.resize(name.size() - 4);
  static const std::set<std::string> names = {
      "BertTokenizer",       "DistilBertTokenizer",   "ElectraTokenizer",           "LayoutLMTokenizer",
      "MobileBertTokenizer", "SqueezeBertTokenizer",  "FunnelTokenizer",            "RetriBertTokenizer",
      "LxmertTokenizer",     "RealmTokenizer",        "MPNetTokenizer",             "ConvBertTokenizer",
      "DPRContextEncoderTokenizer", "DPRQuestionEncoderTokenizer", "DPRReaderTokenizer"};
  return names.count(name) > 0;
}

bool is_bert_like_model_type(const std::string& t) {
  static const std::set<std::string> types = {"bert", "megatron-bert", "distilbert", "electra", "mobilebert",
                                               "squeezebert", "funnel", "layoutlm", "convbert", "mpnet", "dpr"};
  return types.count(t) > 0;
}

std::optional<bool> optional_bool(const json& config, const char* key, const std::string& where) {
  if (!config.is_object() || !config.contains(key) || config[key].is_null()) return std::nullopt;
  return jf::get_bool(config, key, false, where);
}

// First of `names` the tokenizer knows.
std::optional<std::string> first_known(const Tokenizer::Impl& impl, std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (impl.token_to_id(n) >= 0) return std::string(n);
  return std::nullopt;
}

void set_special_names(Tokenizer::Impl& impl, const json& config) {
  impl.cls = config_token(config, "cls_token");
  impl.sep = config_token(config, "sep_token");
  impl.pad = config_token(config, "pad_token");
  impl.mask = config_token(config, "mask_token");
  impl.unk = config_token(config, "unk_token");
  if (!impl.cls && impl.post_processor) impl.cls = impl.post_processor->cls_token();
  if (!impl.sep && impl.post_processor) impl.sep = impl.post_processor->sep_token();
  if (!impl.cls) impl.cls = first_known(impl, {"[CLS]", "<s>", "<cls>"});
  if (!impl.sep) impl.sep = first_known(impl, {"[SEP]", "</s>", "<sep>"});
  if (!impl.pad) impl.pad = first_known(impl, {"[PAD]", "<pad>", "<|padding|>"});
  if (!impl.mask) impl.mask = first_known(impl, {"[MASK]", "<mask>"});
  if (!impl.unk) impl.unk = impl.model->unk_token();
  if (!impl.unk) impl.unk = first_known(impl, {"[UNK]", "<unk>"});
  if (config.is_object() && config.contains("model_max_length") && config["model_max_length"].is_number()) {
    const double v = config["model_max_length"].get<double>();
    if (v > 0 && v <= 1e12) impl.model_max_length = static_cast<int64_t>(v);
  }
}

// transformers' added tokens for a tokenizer built from tokenizer_config.json: added_tokens_decoder
// (by id), then the special tokens in the order transformers lists them.
std::vector<AddedToken> config_added_tokens(const json& config, const std::string& where) {
  std::vector<AddedToken> out;
  if (config.is_object() && config.contains("added_tokens_decoder") && config["added_tokens_decoder"].is_object()) {
    std::vector<std::pair<long long, AddedToken>> byid;
    for (auto it = config["added_tokens_decoder"].begin(); it != config["added_tokens_decoder"].end(); ++it) {
      long long id = 0;
      try {
        id = std::stoll(it.key());
      } catch (...) {
        throw Error(where + ": added_tokens_decoder key \"" + it.key() + "\" is not an id");
      }
      byid.emplace_back(id, parse_added_token(it.value(), false, where));
    }
    std::sort(byid.begin(), byid.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& [id, t] : byid) out.push_back(std::move(t));
  }
  auto add_special = [&](const json& v) {
    AddedToken t = parse_added_token(v, true, where);
    t.special = true;
    for (const AddedToken& o : out)
      if (o.content == t.content) return;
    out.push_back(std::move(t));
  };
  for (const char* key : {"bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"})
    if (config.is_object() && config.contains(key) && !config[key].is_null()) add_special(config[key]);
  if (config.is_object() && config.contains("additional_special_tokens") && config["additional_special_tokens"].is_array())
    for (const json& v : config["additional_special_tokens"]) add_special(v);
  return out;
}

// BertTokenizerFast: do_lower_case (default true), strip_accents, tokenize_chinese_chars override a
// BertNormalizer that disagrees with them.
void apply_bert_config(Tokenizer::Impl& impl, const json& tokenizer_json, const json& config, const std::string& where) {
  const json& n = tokenizer_json.contains("normalizer") ? tokenizer_json["normalizer"] : json();
  if (!n.is_object() || n.value("type", "") != "BertNormalizer") return;
  const bool lower = config.is_object() ? jf::get_bool(config, "do_lower_case", true, where) : true;
  const std::optional<bool> strip = optional_bool(config, "strip_accents", where);
  const bool chinese = config.is_object() ? jf::get_bool(config, "tokenize_chinese_chars", true, where) : true;
  const bool json_lower = jf::get_bool(n, "lowercase", lower, where);
  const bool json_chinese = jf::get_bool(n, "handle_chinese_chars", chinese, where);
  std::optional<bool> json_strip = strip;
  if (n.contains("strip_accents")) json_strip = n["strip_accents"].is_null() ? std::nullopt : optional_bool(n, "strip_accents", where);
  if (json_lower == lower && json_chinese == chinese && json_strip == strip) return;
  BertNormalizerOptions o;
  o.clean_text = jf::get_bool(n, "clean_text", true, where);
  o.handle_chinese_chars = chinese;
  o.strip_accents = strip;
  o.lowercase = lower;
  impl.normalizer = make_bert_normalizer(o);
}

std::unique_ptr<Tokenizer::Impl> build_from_json(const json& j, const std::string& path) {
  auto impl = std::make_unique<Tokenizer::Impl>();
  impl->source = path;
  if (!j.is_object()) throw Error(path + ": not a tokenizer.json object");
  impl->model = make_model(j.contains("model") ? j["model"] : json(), path + ": model");
  impl->normalizer = make_normalizer(j.value("normalizer", json()), path + ": normalizer");
  impl->pre_tokenizer = make_pre_tokenizer(j.value("pre_tokenizer", json()), path + ": pre_tokenizer");
  impl->post_processor = make_post_processor(j.value("post_processor", json()), path + ": post_processor");
  impl->decoder = make_decoder(j.value("decoder", json()), path + ": decoder");
  return impl;
}

// A post-processor id that neither the model nor the added tokens know would reach the model's
// embeddings as an out-of-range row (found by fuzz_tokenizer_json): refused at load.
void check_inserted_ids(const Tokenizer::Impl& impl, const std::string& path) {
  if (!impl.post_processor) return;
  for (const auto& [token, id] : impl.post_processor->inserted_tokens())
    if (!impl.added.token(id) && !impl.model->id_to_token(id))
      throw Error(path + ": post_processor: special token \"" + token + "\" has id " + std::to_string(id) +
                  ", which is not in the vocabulary (" +
                  std::to_string(std::max(impl.model->max_id(), impl.added.max_id()) + 1) + " ids)");
}

std::vector<AddedToken> json_added_tokens(const json& j, const std::string& path) {
  std::vector<AddedToken> tokens;
  if (j.contains("added_tokens") && j["added_tokens"].is_array())
    for (const json& t : j["added_tokens"]) tokens.push_back(parse_added_token(t, false, path + ": added_tokens"));
  return tokens;
}

}  // namespace

std::unique_ptr<Tokenizer::Impl> load_tokenizer_json(const std::string& path) {
  const json j = parse_json_file(path);
  auto impl = build_from_json(j, path);
  impl->added.build(json_added_tokens(j, path), *impl->model, impl->normalizer.get());
  check_inserted_ids(*impl, path);
  set_special_names(*impl, json());
  return impl;
}

}  // namespace tok

// A JSON value of the wrong type or a missing key that a component reads with at()/get() surfaces
// as nlohmann's exception: it becomes medenc::Error naming the file (found by fuzz_tokenizer_json).
std::unique_ptr<Tokenizer> Tokenizer::from_tokenizer_json(const std::string& path) try {
  return std::unique_ptr<Tokenizer>(new Tokenizer(tok::load_tokenizer_json(path)));
} catch (const nlohmann::json::exception& e) {
  throw Error(path + ": unexpected content: " + e.what());
}

std::unique_ptr<Tokenizer> Tokenizer::from_dir(const std::string& dir) try {
  using nlohmann::json;
  const std::string config_path = join_path(dir, "tokenizer_config.json");
  const json config = file_exists(config_path) ? tok::parse_json_file(config_path) : json();
  const std::string model_config_path = join_path(dir, "config.json");
  std::string model_type;
  if (file_exists(model_config_path)) {
    const json mc = tok::parse_json_file(model_config_path);
    if (mc.is_object() && mc.contains("model_type") && mc["model_type"].is_string()) model_type = mc["model_type"].get<std::string>();
  }
  const std::string tokenizer_class = config.is_object() ? config.value("tokenizer_class", std::string()) : std::string();
  const bool bert_like =
      tokenizer_class.empty() ? tok::is_bert_like_model_type(model_type) : tok::is_bert_like_class(tokenizer_class);

  std::unique_ptr<Impl> impl;
  const std::string json_path = join_path(dir, "tokenizer.json");
  const std::string vocab_path = join_path(dir, "vocab.txt");
  if (file_exists(json_path)) {
    const json j = tok::parse_json_file(json_path);
    impl = tok::build_from_json(j, json_path);
    if (bert_like) tok::apply_bert_config(*impl, j, config, config_path);
    impl->added.build(tok::json_added_tokens(j, json_path), *impl->model, impl->normalizer.get());
    tok::check_inserted_ids(*impl, json_path);
  } else if (file_exists(vocab_path)) {
    // The fast tokenizer transformers converts from a BERT vocab.txt.
    impl = std::make_unique<Impl>();
    impl->source = dir;
    tok::WordPieceOptions wp;
    wp.unk_token = tok::config_token(config, "unk_token").value_or("[UNK]");
    impl->model = tok::make_wordpiece(tok::read_vocab_txt(vocab_path), wp);
    tok::BertNormalizerOptions n;
    n.lowercase = config.is_object() ? json_fields::get_bool(config, "do_lower_case", true, config_path) : true;
    n.strip_accents = tok::optional_bool(config, "strip_accents", config_path);
    n.handle_chinese_chars = config.is_object() ? json_fields::get_bool(config, "tokenize_chinese_chars", true, config_path) : true;
    impl->normalizer = tok::make_bert_normalizer(n);
    impl->pre_tokenizer = tok::make_bert_pre_tokenizer();
    impl->decoder = tok::make_wordpiece_decoder("##", true);
    json cfg = config.is_object() ? config : json::object();
    for (auto [key, value] : {std::pair<const char*, const char*>{"unk_token", "[UNK]"}, {"sep_token", "[SEP]"},
                              {"pad_token", "[PAD]"}, {"cls_token", "[CLS]"}, {"mask_token", "[MASK]"}})
      if (!cfg.contains(key)) cfg[key] = value;
    impl->added.build(tok::config_added_tokens(cfg, config_path), *impl->model, impl->normalizer.get());
    const std::string cls = *tok::config_token(cfg, "cls_token"), sep = *tok::config_token(cfg, "sep_token");
    const int32_t cls_id = impl->token_to_id(cls), sep_id = impl->token_to_id(sep);
    if (cls_id < 0 || sep_id < 0) throw Error(vocab_path + ": the vocab has no \"" + cls + "\" / \"" + sep + "\" token");
    impl->post_processor = tok::make_bert_template(cls, cls_id, sep, sep_id);
    tok::set_special_names(*impl, cfg);
    return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(impl)));
  } else {
    throw Error(dir + ": no tokenizer.json or vocab.txt");
  }
  tok::set_special_names(*impl, config);
  return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(impl)));
} catch (const nlohmann::json::exception& e) {
  throw Error(dir + ": unexpected tokenizer content: " + e.what());
}

}  // namespace medenc
