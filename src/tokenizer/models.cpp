#include "tokenizer/models.h"

#include <atomic>
#include <fstream>

#include "medenc/error.h"
#include "tokenizer/unicode.h"

namespace medenc::tok {

namespace {

struct CacheSlot {
  uint64_t owner = 0, hash = 0;
  std::string word;
  std::vector<ModelToken> tokens;
};

constexpr size_t kCacheSlots = 1 << 16;

std::vector<CacheSlot>& thread_cache() {
  thread_local std::vector<CacheSlot> slots(kCacheSlots);
  return slots;
}

}  // namespace

Model::Model() {
  static std::atomic<uint64_t> next{1};
  uid_ = next.fetch_add(1);
}

bool Model::cached(std::string_view word, uint64_t hash, std::vector<ModelToken>& out) const {
  const CacheSlot& s = thread_cache()[hash & (kCacheSlots - 1)];
  if (s.owner != uid_ || s.hash != hash || s.word != word) return false;
  out.insert(out.end(), s.tokens.begin(), s.tokens.end());
  return true;
}

void Model::remember(std::string_view word, uint64_t hash, const ModelToken* b, const ModelToken* e) const {
  CacheSlot& s = thread_cache()[hash & (kCacheSlots - 1)];
  s.owner = uid_;
  s.hash = hash;
  s.word.assign(word);
  s.tokens.assign(b, e);
}

void Model::set_vocab(std::string_view token, int32_t id) { vocab_.set(token, id); }

void Model::build_reverse() {
  int32_t max_id = -1;
  vocab_.for_each([&](std::string_view, int32_t id) { max_id = std::max(max_id, id); });
  reverse_.assign(static_cast<size_t>(max_id + 1), std::string());
  has_reverse_.assign(static_cast<size_t>(max_id + 1), false);
  vocab_.for_each([&](std::string_view token, int32_t id) {
    if (id < 0) return;
    reverse_[id] = std::string(token);
    has_reverse_[id] = true;
  });
}

std::unique_ptr<Model> make_model(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) throw Error(where + ": missing \"model\"");
  std::string type;
  if (j.contains("type") && j["type"].is_string()) {
    type = j["type"].get<std::string>();
  } else if (j.contains("merges")) {
    type = "BPE";  // old files leave the type out
  } else if (j.contains("continuing_subword_prefix") || j.contains("max_input_chars_per_word")) {
    type = "WordPiece";
  } else {
    type = "WordLevel";
  }
  const std::string at = where + " (" + type + ")";
  if (type == "BPE") return make_bpe(j, at);
  if (type == "WordPiece") return make_wordpiece_json(j, at);
  if (type == "WordLevel") return make_wordlevel(j, at);
  throw Error(at + ": model type not supported");
}

std::vector<std::string> read_vocab_txt(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open");
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();  // Python reads "\r\n" as "\n"
    if (invalid_utf8_at(line) != std::string::npos)
      throw Error(path + ": line " + std::to_string(out.size() + 1) + " is not valid UTF-8");
    out.push_back(line);
  }
  return out;
}

}  // namespace medenc::tok
