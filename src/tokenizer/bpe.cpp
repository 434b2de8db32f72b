// Byte-pair encoding: a word starts as one symbol per char and the adjacent pair with the lowest
// merge rank is merged (leftmost first) until no pair is in the merges.
#include <array>
#include <queue>

#include "medenc/error.h"
#include "tokenizer/models.h"
#include "tokenizer/unicode.h"
#include "util/json_fields.h"

namespace medenc::tok {

namespace {

using nlohmann::json;
namespace jf = medenc::json_fields;

class BpeModel : public Model {
 public:
  BpeModel(const json& j, const std::string& where);
  void tokenize(std::string_view word, std::vector<ModelToken>& out) const override;
  std::optional<std::string> unk_token() const override { return unk_; }
  std::optional<std::string> continuing_subword_prefix() const override {
    return prefix_.empty() ? std::nullopt : std::optional<std::string>(prefix_);
  }

 private:
  struct Symbol {
    int32_t id;
    int32_t prev, next;
    uint32_t len;
  };
  void merge_word(std::string_view word, std::vector<ModelToken>& out) const;
  int32_t unk_id(const std::string& where) const;

  MergeMap merges_;
  std::optional<std::string> unk_;
  std::string prefix_, suffix_;
  bool fuse_unk_ = false, byte_fallback_ = false, ignore_merges_ = false;
  std::array<int32_t, 256> byte_ids_{};  // "<0xXX>" tokens for byte_fallback (-1: absent)
};

BpeModel::BpeModel(const json& j, const std::string& where) {
  if (!j.contains("vocab") || !j["vocab"].is_object()) throw Error(where + ": missing \"vocab\" object");
  for (auto it = j["vocab"].begin(); it != j["vocab"].end(); ++it) {
    if (!it.value().is_number_integer()) throw Error(where + ": vocab id of \"" + it.key() + "\" is not an integer");
    set_vocab(it.key(), json_token_id(it.value(), where + ": vocab id of \"" + it.key() + "\""));
  }
  build_reverse();
  if (j.contains("unk_token") && j["unk_token"].is_string()) unk_ = j["unk_token"].get<std::string>();
  prefix_ = jf::get_string(j, "continuing_subword_prefix", "", where);
  suffix_ = jf::get_string(j, "end_of_word_suffix", "", where);
  fuse_unk_ = jf::get_bool(j, "fuse_unk", false, where);
  byte_fallback_ = jf::get_bool(j, "byte_fallback", false, where);
  ignore_merges_ = jf::get_bool(j, "ignore_merges", false, where);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    byte_ids_[b] = token_to_id(name);
  }
  if (!j.contains("merges") || !j["merges"].is_array()) throw Error(where + ": missing \"merges\" list");
  int32_t rank = 0;
  for (const json& m : j["merges"]) {
    std::string a, b;
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t sp = s.find(' ');
      if (sp == std::string::npos) throw Error(where + ": merge \"" + s + "\" is not \"left right\"");
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      a = m[0].get<std::string>();
      b = m[1].get<std::string>();
    } else {
      throw Error(where + ": merge " + std::to_string(rank) + " is neither \"left right\" nor [left, right]");
    }
    const int32_t ia = token_to_id(a), ib = token_to_id(b);
    const std::string joined = a + (b.size() >= prefix_.size() ? b.substr(prefix_.size()) : std::string());
    const int32_t inew = token_to_id(joined);
    if (ia < 0 || ib < 0 || inew < 0)
      throw Error(where + ": merge " + std::to_string(rank) + " (\"" + a + "\", \"" + b + "\") uses a token missing from the vocab");
    merges_.set(ia, ib, {rank, inew});
    ++rank;
  }
}

int32_t BpeModel::unk_id(const std::string& word) const {
  const int32_t id = token_to_id(*unk_);
  if (id < 0) throw Error("BPE: unk_token \"" + *unk_ + "\" is not in the vocab (needed for \"" + word + "\")");
  return id;
}

void BpeModel::tokenize(std::string_view word, std::vector<ModelToken>& out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    const int32_t id = token_to_id(word);
    if (id >= 0) {
      out.push_back({id, 0, static_cast<uint32_t>(word.size())});
      return;
    }
  }
  const uint64_t hash = hash_bytes(word.data(), word.size());
  if (cached(word, hash, out)) return;
  const size_t first = out.size();
  merge_word(word, out);
  if (word.size() < 256) remember(word, hash, out.data() + first, out.data() + out.size());
}

void BpeModel::merge_word(std::string_view word, std::vector<ModelToken>& out) const {
  std::vector<Symbol> sym;
  sym.reserve(word.size());
  auto add = [&](int32_t id, uint32_t len) {
    const auto n = static_cast<int32_t>(sym.size());
    if (n > 0) sym.back().next = n;
    sym.push_back({id, n - 1, -1, len});
  };
  bool have_unk = false;
  int32_t pending_unk = -1;
  uint32_t pending_len = 0;
  std::string key;
  size_t i = 0;
  while (i < word.size()) {
    const auto lead = static_cast<unsigned char>(word[i]);
    const size_t len = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
    const bool is_first = i == 0, is_last = i + len >= word.size();
    std::string_view piece = word.substr(i, len);
    int32_t id;
    if (is_first && is_last) {
      id = suffix_.empty() ? token_to_id(piece) : -2;
    } else if (!is_first && !prefix_.empty()) {
      id = -2;
    } else if (is_last && !suffix_.empty()) {
      id = -2;
    } else {
      id = token_to_id(piece);
    }
    if (id == -2) {
      key.clear();
      if (!is_first) key += prefix_;
      key += piece;
      if (is_last) key += suffix_;
      id = token_to_id(key);
      piece = key;
    }
    i += len;
    if (id >= 0) {
      if (have_unk) {
        add(pending_unk, pending_len);
        have_unk = false;
      }
      add(id, static_cast<uint32_t>(len));
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      for (char c : piece) all = all && byte_ids_[static_cast<unsigned char>(c)] >= 0;
      if (all) {
        for (char c : piece) add(byte_ids_[static_cast<unsigned char>(c)], 1);
        continue;
      }
    }
    if (unk_) {
      if (have_unk && fuse_unk_) {
        pending_len += static_cast<uint32_t>(len);
      } else {
        if (have_unk) add(pending_unk, pending_len);
        pending_unk = unk_id(std::string(word));
        pending_len = static_cast<uint32_t>(len);
        have_unk = true;
      }
    }
    // Without unk_token an unknown char is dropped (and later offsets shift, as in HF).
  }
  if (have_unk) add(pending_unk, pending_len);

  struct Candidate {
    int32_t rank, pos, id;
    bool operator<(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Candidate> queue;
  for (size_t k = 0; k + 1 < sym.size(); ++k)
    if (const MergeMap::Value* m = merges_.find(sym[k].id, sym[k + 1].id))
      queue.push({m->rank, static_cast<int32_t>(k), m->id});
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& cur = sym[top.pos];
    if (cur.len == 0 || cur.next < 0) continue;
    const int32_t next_pos = cur.next;
    const Symbol right = sym[next_pos];
    const MergeMap::Value* m = merges_.find(cur.id, right.id);
    if (!m || m->id != top.id) continue;  // stale entry
    cur.id = top.id;
    cur.len += right.len;
    cur.next = right.next;
    sym[next_pos].len = 0;
    if (right.next >= 0 && static_cast<size_t>(right.next) < sym.size()) sym[right.next].prev = top.pos;
    if (cur.prev >= 0)
      if (const MergeMap::Value* p = merges_.find(sym[cur.prev].id, cur.id)) queue.push({p->rank, cur.prev, p->id});
    if (cur.next >= 0)
      if (const MergeMap::Value* n = merges_.find(cur.id, sym[cur.next].id)) queue.push({n->rank, top.pos, n->id});
  }
  uint32_t pos = 0;
  for (const Symbol& s : sym) {
    if (s.len == 0) continue;
    out.push_back({s.id, pos, pos + s.len});
    pos += s.len;
  }
}

}  // namespace

std::unique_ptr<Model> make_bpe(const json& j, const std::string& where) { return std::make_unique<BpeModel>(j, where); }

}  // namespace medenc::tok
