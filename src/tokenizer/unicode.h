#pragma once
// UTF-8 coding and the Unicode character classes the tokenizer pipeline needs. Character data comes
// from utf8proc; where Hugging Face `tokenizers` uses older Unicode tables (BertNormalizer and
// BertPreTokenizer) the differences are corrected by the tables in unicode_tables.cpp.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace medenc::tok {

// Decodes strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF) and appends the code
// points to `out`. Throws medenc::Error "<what>: invalid UTF-8 at byte N".
void decode_utf8(std::string_view s, std::vector<char32_t>& out, std::string_view what);
// Byte offset of the first invalid UTF-8 sequence, or npos.
size_t invalid_utf8_at(std::string_view s);

inline size_t utf8_length(char32_t c) { return c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4; }
void append_utf8(std::string& out, char32_t c);
std::string to_utf8(const char32_t* chars, size_t n);
inline std::string to_utf8(const std::vector<char32_t>& v) { return to_utf8(v.data(), v.size()); }
std::vector<char32_t> to_chars(std::string_view utf8);  // input must be valid UTF-8

// Decodes bytes the way Rust's String::from_utf8_lossy does: each maximal invalid subsequence
// becomes one U+FFFD.
std::string utf8_lossy(std::string_view bytes);

// Unicode White_Space (Rust char::is_whitespace, regex \s).
bool is_white_space(char32_t c);
// General category (utf8proc_category_t values).
int general_category(char32_t c);
bool is_letter(char32_t c);   // L*
bool is_number(char32_t c);   // N*
bool is_word_char(char32_t c);  // regex \w: Alphabetic, marks, decimal digits, connector punctuation, joiners

// BertNormalizer / BertPreTokenizer classes, matching the Unicode tables `tokenizers` uses.
bool is_bert_control(char32_t c);       // Cc, Cf, Co except \t \n \r
bool is_bert_whitespace(char32_t c);    // \t \n \r or White_Space
bool is_bert_punctuation(char32_t c);   // ASCII punctuation or P*
bool is_bert_chinese_char(char32_t c);  // the CJK ideograph blocks BERT pads with spaces
bool is_nonspacing_mark(char32_t c);    // Mn, as BertNormalizer strips after NFD
bool is_combining_mark(char32_t c);     // Mn, Mc, Me, as the StripAccents normalizer strips

// Rust char::to_lowercase: up to 3 chars written to out, returns how many.
int to_lowercase(char32_t c, char32_t out[3]);

// Canonical combining class.
int combining_class(char32_t c);
// Full canonical (or compatibility) decomposition of one char; returns its length (1 when the char
// does not decompose, with out[0] = c). out must hold 32 chars.
int decompose_char(char32_t c, bool compat, char32_t* out);
// Primary composite of (a, b), or 0.
char32_t compose_pair(char32_t a, char32_t b);
// True when normalization leaves c as it is whatever surrounds it: no decomposition, combining
// class 0 and (for the composing forms) never the second char of a composition.
bool normalization_inert(char32_t c, bool compat, bool compose);

}  // namespace medenc::tok
