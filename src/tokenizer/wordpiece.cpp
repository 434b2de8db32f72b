// WordPiece: greedy longest-match-first over the vocab, continuation pieces carry the "##" prefix;
// a word that cannot be covered, or is longer than max_input_chars_per_word, becomes one unk.
#include "medenc/error.h"
#include "tokenizer/models.h"
#include "util/json_fields.h"

namespace medenc::tok {

namespace {

using nlohmann::json;
namespace jf = medenc::json_fields;

class WordPieceModel : public Model {
 public:
  WordPieceModel(const std::vector<std::pair<std::string, int32_t>>& vocab, const WordPieceOptions& o) : o_(o) {
    for (const auto& [token, id] : vocab) set_vocab(token, id);
    build_reverse();
    // Lookups by the text after the prefix, so no string is built while tokenizing.
    vocab_.for_each([&](std::string_view token, int32_t id) {
      if (!o_.continuing_subword_prefix.empty() && token.substr(0, o_.continuing_subword_prefix.size()) == o_.continuing_subword_prefix) {
        const std::string_view rest = token.substr(o_.continuing_subword_prefix.size());
        continuation_.set(rest, id);
        max_continuation_ = std::max(max_continuation_, rest.size());
      }
      max_whole_ = std::max(max_whole_, token.size());
    });
    if (o_.continuing_subword_prefix.empty()) max_continuation_ = max_whole_;
    unk_id_ = token_to_id(o_.unk_token);
  }

  void tokenize(std::string_view word, std::vector<ModelToken>& out) const override {
    if (word.size() >= 64) return greedy(word, out);
    const uint64_t hash = hash_bytes(word.data(), word.size());
    if (cached(word, hash, out)) return;
    const size_t first = out.size();
    greedy(word, out);
    remember(word, hash, out.data() + first, out.data() + out.size());
  }

  std::optional<std::string> unk_token() const override { return o_.unk_token; }
  std::optional<std::string> continuing_subword_prefix() const override { return o_.continuing_subword_prefix; }

 private:
  void greedy(std::string_view word, std::vector<ModelToken>& out) const {
    const auto n = static_cast<uint32_t>(word.size());
    size_t chars = 0;
    for (char c : word) chars += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    if (chars > o_.max_input_chars_per_word) {
      out.push_back({unk(word), 0, n});
      return;
    }
    const size_t first = out.size();
    uint32_t start = 0;
    while (start < n) {
      const size_t limit = start == 0 ? max_whole_ : max_continuation_;
      uint32_t end = static_cast<uint32_t>(std::min<size_t>(n, start + limit));
      while (end < n && (static_cast<unsigned char>(word[end]) & 0xC0) == 0x80) --end;  // char boundary
      int32_t id = -1;
      while (start < end) {
        const std::string_view sub = word.substr(start, end - start);
        id = start == 0 || o_.continuing_subword_prefix.empty() ? vocab_.find(sub) : continuation_.find(sub);
        if (id >= 0) break;
        do --end;
        while (end > start && (static_cast<unsigned char>(word[end]) & 0xC0) == 0x80);
      }
      if (id < 0) {
        out.resize(first);
        out.push_back({unk(word), 0, n});
        return;
      }
      out.push_back({id, start, end});
      start = end;
    }
  }

  int32_t unk(std::string_view word) const {
    if (unk_id_ < 0) throw Error("WordPiece: unk_token \"" + o_.unk_token + "\" is not in the vocab (needed for \"" + std::string(word) + "\")");
    return unk_id_;
  }
  WordPieceOptions o_;
  StringIdMap continuation_;
  size_t max_whole_ = 0, max_continuation_ = 0;
  int32_t unk_id_ = -1;
};

}  // namespace

std::unique_ptr<Model> make_wordpiece(const std::vector<std::string>& vocab, const WordPieceOptions& o) {
  std::vector<std::pair<std::string, int32_t>> v;
  v.reserve(vocab.size());
  for (size_t i = 0; i < vocab.size(); ++i) v.emplace_back(vocab[i], static_cast<int32_t>(i));
  return std::make_unique<WordPieceModel>(v, o);
}

std::unique_ptr<Model> make_wordpiece_json(const json& j, const std::string& where) {
  if (!j.contains("vocab") || !j["vocab"].is_object()) throw Error(where + ": missing \"vocab\" object");
  std::vector<std::pair<std::string, int32_t>> v;
  for (auto it = j["vocab"].begin(); it != j["vocab"].end(); ++it) {
    if (!it.value().is_number_integer()) throw Error(where + ": vocab id of \"" + it.key() + "\" is not an integer");
    v.emplace_back(it.key(), json_token_id(it.value(), where + ": vocab id of \"" + it.key() + "\""));
  }
  WordPieceOptions o;
  o.unk_token = jf::get_string(j, "unk_token", "[UNK]", where);
  o.continuing_subword_prefix = jf::get_string(j, "continuing_subword_prefix", "##", where);
  o.max_input_chars_per_word = static_cast<size_t>(jf::get_int(j, "max_input_chars_per_word", 100, where));
  return std::make_unique<WordPieceModel>(v, o);
}

}  // namespace medenc::tok
