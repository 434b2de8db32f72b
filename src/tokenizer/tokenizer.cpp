// The encode pipeline (added tokens -> normalizer -> pre-tokenizer -> model -> truncation ->
// post-processor), decoding and the vocabulary queries of medenc::Tokenizer.
#include <atomic>
#include <exception>

#include <omp.h>

#include "medenc/error.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"

namespace medenc {

using tok::Enc;

namespace {

// Scratch buffers reused by every encode on a thread.
struct EncodeScratch {
  std::vector<char32_t> chars;
  tok::PieceList pieces;
  std::string word;
  std::vector<uint32_t> byte_to_char;
  std::vector<tok::ModelToken> tokens;
  std::vector<std::pair<size_t, size_t>> spans;
};

EncodeScratch& scratch() {
  thread_local EncodeScratch s;
  return s;
}

}  // namespace

tok::Enc Tokenizer::Impl::encode_sequence(std::string_view text, int32_t type_id, const char* which, size_t limit,
                                          bool from_end) const {
  EncodeScratch& s = scratch();
  s.chars.clear();
  tok::decode_utf8(text, s.chars, which);
  added.extract_and_normalize(s.chars, normalizer.get(), s.pieces);
  if (pre_tokenizer) pre_tokenizer->pre_tokenize(s.pieces);
  const tok::NormalizedText& t = s.pieces.text;
  const auto& pieces = s.pieces.pieces;

  // Model tokens of every piece (added pieces give none here), piece by piece.
  s.tokens.clear();
  auto tokenize_piece = [&](size_t w) {
    const tok::Piece& p = pieces[w];
    s.word.clear();
    for (uint32_t i = p.begin; i < p.end; ++i) tok::append_utf8(s.word, t.chars[i]);
    const size_t before = s.tokens.size();
    model->tokenize(s.word, s.tokens);
    return s.tokens.size() - before;
  };
  // Pieces [first, last) are kept; with a limit, the walk stops after the model piece that reaches it.
  size_t first = 0, last = pieces.size();
  std::vector<std::pair<size_t, size_t>>& spans = s.spans;  // token range in s.tokens per piece
  spans.assign(pieces.size(), {0, 0});
  size_t total = 0;
  // Tokenizes piece w; true when the limit is reached (HF checks only after a model piece).
  auto visit = [&](size_t w) {
    if (pieces[w].added_id >= 0) {
      ++total;
      return false;
    }
    const size_t b = s.tokens.size();
    total += tokenize_piece(w);
    spans[w] = {b, s.tokens.size()};
    return limit > 0 && total >= limit;
  };
  if (!from_end || limit == 0) {
    for (size_t w = 0; w < pieces.size(); ++w)
      if (visit(w)) {
        last = w + 1;
        break;
      }
  } else {
    for (size_t w = pieces.size(); w-- > 0;)
      if (visit(w)) {
        first = w;
        break;
      }
  }

  Enc e;
  e.reserve(s.tokens.size() + 4);
  for (size_t w = first; w < last; ++w) {
    const tok::Piece& p = pieces[w];
    const auto word = static_cast<int32_t>(w - first);
    if (p.added_id >= 0) {
      e.push(p.added_id, tok::to_utf8(t.chars.data() + p.begin, p.end - p.begin), {t.start[p.begin], t.end[p.end - 1]},
             type_id, word, 0);
      continue;
    }
    // Byte offsets in the word -> chars of the piece.
    s.byte_to_char.clear();
    for (uint32_t i = p.begin; i < p.end; ++i)
      for (size_t k = tok::utf8_length(t.chars[i]); k > 0; --k) s.byte_to_char.push_back(i);
    for (size_t k = spans[w].first; k < spans[w].second; ++k) {
      const tok::ModelToken& mt = s.tokens[k];
      const uint32_t c0 = s.byte_to_char[mt.begin], c1 = s.byte_to_char[mt.end - 1];
      const std::string* value = model->id_to_token(mt.id);
      if (!value) throw Error(source + ": the model produced id " + std::to_string(mt.id) + " that has no token");
      e.push(mt.id, *value, {t.start[c0], t.end[c1]}, type_id, word, 0);
    }
  }
  return e;
}

Encoding Tokenizer::Impl::encode(std::string_view text, const std::string_view* pair, const EncodeOptions& o) const {
  if (o.max_length < 0 || o.stride < 0) throw Error("truncation: max_length and stride must not be negative");
  const size_t limit = o.stop_at_max_length ? static_cast<size_t>(o.max_length) : 0;
  const bool from_end = o.side == TruncationSide::Left;
  Enc a = encode_sequence(text, 0, "text", limit, from_end);
  std::optional<Enc> b;
  if (pair) b = encode_sequence(*pair, 1, "text_pair", limit, from_end);
  if (o.max_length > 0) {
    auto max_length = static_cast<size_t>(o.max_length);
    const size_t added_tokens = post_processor ? post_processor->added_tokens(pair != nullptr) : 0;
    if (o.add_special_tokens && added_tokens > 0) {
      if (max_length < added_tokens)
        throw Error("truncation: max_length " + std::to_string(max_length) + " leaves no room for the " +
                    std::to_string(added_tokens) + " special tokens");
      max_length -= added_tokens;
    }
    tok::truncate_pair(a, b ? &*b : nullptr, max_length, static_cast<size_t>(o.stride), o.strategy,
                       o.side == TruncationSide::Left);
  }
  return tok::finish(tok::post_process(post_processor.get(), std::move(a), std::move(b), o.add_special_tokens));
}

int32_t Tokenizer::Impl::token_to_id(std::string_view token) const {
  const int32_t id = added.token_to_id(token);
  return id >= 0 ? id : model->token_to_id(token);
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

Encoding Tokenizer::encode(std::string_view text, const EncodeOptions& options) const {
  return impl_->encode(text, nullptr, options);
}

Encoding Tokenizer::encode_pair(std::string_view text, std::string_view pair, const EncodeOptions& options) const {
  return impl_->encode(text, &pair, options);
}

std::vector<Encoding> Tokenizer::encode_batch(std::span<const std::string> texts, const EncodeOptions& options,
                                              int threads) const {
  std::vector<Encoding> out(texts.size());
  std::vector<std::exception_ptr> errors(texts.size());
  const int n = static_cast<int>(texts.size());
  const int t = threads > 0 ? threads : omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 16) num_threads(t)
  for (int i = 0; i < n; ++i) {
    try {
      out[i] = impl_->encode(texts[i], nullptr, options);
    } catch (...) {
      errors[i] = std::current_exception();
    }
  }
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
  return out;
}

namespace {

void pad_one(Encoding& e, size_t length, int32_t pad_id, const std::string& pad_token, int32_t pad_type_id, bool left) {
  for (Encoding& o : e.overflowing) pad_one(o, length, pad_id, pad_token, pad_type_id, left);
  if (e.ids.size() >= length) return;
  const size_t n = length - e.ids.size();
  auto grow = [&](auto& v, auto value) {
    using T = typename std::decay_t<decltype(v)>::value_type;
    v.insert(left ? v.begin() : v.end(), n, static_cast<T>(value));
  };
  grow(e.ids, pad_id);
  grow(e.type_ids, pad_type_id);
  grow(e.tokens, pad_token);
  grow(e.offsets, std::pair<int64_t, int64_t>(0, 0));
  grow(e.special_tokens_mask, 1);
  grow(e.attention_mask, 0);
  grow(e.word_ids, -1);
  grow(e.sequence_ids, -1);
}

}  // namespace

void Tokenizer::pad(std::vector<Encoding>& batch, const PaddingOptions& options) const {
  if (batch.empty()) return;
  const std::optional<int32_t> id = pad_id();
  if (!id) throw Error(impl_->source + ": the tokenizer has no pad token");
  size_t length = static_cast<size_t>(std::max<int64_t>(options.length, 0));
  if (options.length <= 0)
    for (const Encoding& e : batch) length = std::max(length, e.ids.size());
  if (options.pad_to_multiple_of > 0 && length % options.pad_to_multiple_of != 0)
    length += options.pad_to_multiple_of - length % options.pad_to_multiple_of;
  const std::string token = id_to_token(*id);
  for (Encoding& e : batch) pad_one(e, length, *id, token, options.pad_type_id, options.left);
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special, bool cleanup) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    std::string token;
    if (const tok::AddedToken* a = impl_->added.token(id))
      token = a->content;
    else if (const std::string* m = impl_->model->id_to_token(id))
      token = *m;
    else
      continue;  // unknown ids are skipped, as in Hugging Face
    if (skip_special && impl_->added.is_special(token)) continue;
    tokens.push_back(std::move(token));
  }
  std::string text = tokens_to_string(tokens);
  return cleanup ? tok::clean_up_tokenization(std::move(text)) : text;
}

std::string Tokenizer::tokens_to_string(const std::vector<std::string>& tokens) const {
  if (impl_->decoder) return impl_->decoder->decode(tokens);
  std::string out;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i) out.push_back(' ');
    out += tokens[i];
  }
  return out;
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  const int32_t id = impl_->token_to_id(token);
  return id >= 0 ? std::optional<int32_t>(id) : std::nullopt;
}

std::string Tokenizer::id_to_token(int32_t id) const {
  if (const tok::AddedToken* a = impl_->added.token(id)) return a->content;
  if (const std::string* m = impl_->model->id_to_token(id)) return *m;
  return std::string();
}

int64_t Tokenizer::vocab_size() const { return std::max(impl_->model->max_id(), impl_->added.max_id()) + 1; }

int64_t Tokenizer::num_special_tokens_to_add(bool pair) const {
  return impl_->post_processor ? static_cast<int64_t>(impl_->post_processor->added_tokens(pair)) : 0;
}

namespace {
std::optional<int32_t> id_of(const Tokenizer::Impl& impl, const std::optional<std::string>& token) {
  if (!token) return std::nullopt;
  const int32_t id = impl.token_to_id(*token);
  return id >= 0 ? std::optional<int32_t>(id) : std::nullopt;
}
}  // namespace

std::optional<int32_t> Tokenizer::cls_id() const { return id_of(*impl_, impl_->cls); }
std::optional<int32_t> Tokenizer::sep_id() const { return id_of(*impl_, impl_->sep); }
std::optional<int32_t> Tokenizer::pad_id() const { return id_of(*impl_, impl_->pad); }
std::optional<int32_t> Tokenizer::mask_id() const { return id_of(*impl_, impl_->mask); }
std::optional<int32_t> Tokenizer::unk_id() const { return id_of(*impl_, impl_->unk); }
std::string Tokenizer::mask_token() const { return impl_->mask.value_or(std::string()); }

bool Tokenizer::has_continuing_subword_prefix() const {
  const auto p = impl_->model->continuing_subword_prefix();
  return p && !p->empty();
}

std::optional<int64_t> Tokenizer::model_max_length() const { return impl_->model_max_length; }

std::vector<size_t> codepoint_byte_offsets(std::string_view utf8) {
  std::vector<size_t> out;
  out.reserve(utf8.size() + 1);
  for (size_t i = 0; i < utf8.size(); ++i)
    if ((static_cast<unsigned char>(utf8[i]) & 0xC0) != 0x80) out.push_back(i);
  out.push_back(utf8.size());
  return out;
}

}  // namespace medenc
