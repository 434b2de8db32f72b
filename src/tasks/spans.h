#pragma once
// Code-point spans of a text: trimming white space (NER entities, fill-mask masks, training spans).
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>

namespace medenc {

// [start, end) in code points (cp_bytes maps them to byte offsets of text) without surrounding
// Unicode white space; a span that is white space only comes back as it was.
std::pair<int64_t, int64_t> trim_whitespace(std::string_view text, std::span<const size_t> cp_bytes, int64_t start,
                                            int64_t end);

}  // namespace medenc
