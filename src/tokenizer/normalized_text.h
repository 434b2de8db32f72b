#pragma once
// Text that is being normalized, with every char aligned to the range of original chars it came
// from, and the list of pieces the pre-tokenizers cut it into.
//
// Alignment rules follow Hugging Face `tokenizers` exactly, because they decide the offsets: a
// transform emits (char, change) pairs where change 0 replaces the next original char, -n replaces
// it and drops the n chars after it, and +1 inserts a char that takes the alignment of the char
// consumed just before it (or the piece start when nothing was consumed yet).
#include <cstdint>
#include <string>
#include <vector>

namespace medenc::tok {

struct NormalizedText {
  std::vector<char32_t> chars;
  std::vector<int32_t> start, end;  // original char range of each char (absolute in the sequence)
  int32_t shift = 0;                // original start of this text (alignment for inserts at its start)

  size_t size() const { return chars.size(); }
  bool empty() const { return chars.empty(); }
  void clear() {
    chars.clear();
    start.clear();
    end.clear();
  }
  void reserve(size_t n) {
    chars.reserve(n);
    start.reserve(n);
    end.reserve(n);
  }
  void push(char32_t c, int32_t s, int32_t e) {
    chars.push_back(c);
    start.push_back(s);
    end.push_back(e);
  }
  // Appends chars [b, e) of `o`.
  void append(const NormalizedText& o, size_t b, size_t e);
  // Copies chars [b, e) of `o` into this (shift = alignment start of char b).
  void assign(const NormalizedText& o, size_t b, size_t e);
};

struct Edit {
  char32_t c;
  int32_t change;
};

// Rewrites `t` from `edits` after dropping `removed_at_start` leading chars (HF transform()).
void apply_edits(NormalizedText& t, const std::vector<Edit>& edits, size_t removed_at_start);

// One piece of the sequence: chars [begin, end) of PieceList::text. added_id >= 0 marks a piece the
// added vocabulary already turned into a token; the pre-tokenizers and the model leave it alone.
struct Piece {
  uint32_t begin, end;
  int32_t added_id;
  int32_t shift;  // original start of the piece (HF original_shift)
};

struct PieceList {
  NormalizedText text;
  std::vector<Piece> pieces;
};

// What a split does with the matched delimiters (HF SplitDelimiterBehavior).
enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };
SplitBehavior parse_split_behavior(const std::string& name);

// A match list covering a piece: [b, e) ranges (piece-relative) with is_match flags.
struct Match {
  uint32_t b, e;
  bool is_match;
};

// Applies `behavior` to `matches` and appends the non-empty kept ranges (offset by `base`) to out.
void split_by_behavior(const std::vector<Match>& matches, SplitBehavior behavior, uint32_t base,
                       std::vector<std::pair<uint32_t, uint32_t>>& out);

// Replaces every non-added piece by the pieces `split` returns for it. `split(text, piece, ranges)`
// appends absolute [b, e) ranges into `ranges`; empty ranges are dropped.
template <class SplitFn>
void split_pieces(PieceList& list, SplitFn&& split) {
  std::vector<Piece> out;
  out.reserve(list.pieces.size() * 2);
  std::vector<std::pair<uint32_t, uint32_t>> ranges;
  for (const Piece& p : list.pieces) {
    if (p.added_id >= 0) {
      out.push_back(p);
      continue;
    }
    ranges.clear();
    split(list.text, p, ranges);
    for (auto [b, e] : ranges)
      if (e > b) out.push_back(Piece{b, e, -1, list.text.start[b]});
  }
  list.pieces.swap(out);
}

// Matches of a char predicate: every matching char is one match (HF Pattern for Fn(char) -> bool).
template <class Pred>
void char_matches(const char32_t* chars, uint32_t n, Pred&& pred, std::vector<Match>& out) {
  out.clear();
  if (n == 0) {
    out.push_back({0, 0, false});
    return;
  }
  uint32_t last = 0;
  for (uint32_t i = 0; i < n; ++i) {
    if (!pred(chars[i])) continue;
    if (last < i) out.push_back({last, i, false});
    out.push_back({i, i + 1, true});
    last = i + 1;
  }
  if (last < n) out.push_back({last, n, false});
}

}  // namespace medenc::tok
