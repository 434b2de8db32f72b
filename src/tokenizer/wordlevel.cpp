// WordLevel: every word is one vocab entry, or the unk token.
#include "medenc/error.h"
#include "tokenizer/models.h"
#include "util/json_fields.h"

namespace medenc::tok {

namespace {

class WordLevelModel : public Model {
 public:
  WordLevelModel(const nlohmann::json& j, const std::string& where) {
    if (!j.contains("vocab") || !j["vocab"].is_object()) throw Error(where + ": missing \"vocab\" object");
    for (auto it = j["vocab"].begin(); it != j["vocab"].end(); ++it) set_vocab(it.key(), json_token_id(it.value(), where + ": vocab id of \"" + it.key() + "\""));
    build_reverse();
    unk_ = json_fields::get_string(j, "unk_token", "<unk>", where);
  }
  void tokenize(std::string_view word, std::vector<ModelToken>& out) const override {
    int32_t id = token_to_id(word);
    if (id < 0) id = token_to_id(unk_);
    if (id < 0) throw Error("WordLevel: unk_token \"" + unk_ + "\" is not in the vocab (needed for \"" + std::string(word) + "\")");
    out.push_back({id, 0, static_cast<uint32_t>(word.size())});
  }
  std::optional<std::string> unk_token() const override { return unk_; }

 private:
  std::string unk_;
};

}  // namespace

std::unique_ptr<Model> make_wordlevel(const nlohmann::json& j, const std::string& where) {
  return std::make_unique<WordLevelModel>(j, where);
}

}  // namespace medenc::tok
