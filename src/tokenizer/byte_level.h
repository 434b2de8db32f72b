#pragma once
// Byte-level BPE helpers: the GPT-2 byte <-> char table and a scanner equivalent to the GPT-2
// pre-tokenization regex
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// (checked against Oniguruma on random text in tests/test_tokenizer_units.cpp).
#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/normalized_text.h"

namespace medenc::tok {

// The printable char standing for byte b.
char32_t byte_to_char(uint8_t b);
// The byte a char stands for, or -1 for chars outside the table.
int char_to_byte(char32_t c);

// The regex source above, as tokenizer.json spells it.
extern const std::string_view kGpt2Pattern;

// Splits chars[0, n) into the regex matches (they always cover the whole range).
void gpt2_split(const char32_t* chars, uint32_t n, std::vector<Match>& out);

}  // namespace medenc::tok
