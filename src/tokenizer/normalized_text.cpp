#include "tokenizer/normalized_text.h"

#include <algorithm>

#include "medenc/error.h"

namespace medenc::tok {

void NormalizedText::append(const NormalizedText& o, size_t b, size_t e) {
  chars.insert(chars.end(), o.chars.begin() + b, o.chars.begin() + e);
  start.insert(start.end(), o.start.begin() + b, o.start.begin() + e);
  end.insert(end.end(), o.end.begin() + b, o.end.begin() + e);
}

void NormalizedText::assign(const NormalizedText& o, size_t b, size_t e) {
  clear();
  append(o, b, e);
  shift = b < e ? o.start[b] : o.shift;
}

void apply_edits(NormalizedText& t, const std::vector<Edit>& edits, size_t removed_at_start) {
  NormalizedText out;
  out.shift = t.shift;
  out.reserve(edits.size());
  size_t cur = removed_at_start;
  const size_t n = t.size();
  for (const Edit& ed : edits) {
    if (ed.change > 0 || cur >= n) {
      // Inserted: shares the alignment of the char consumed before it.
      if (cur == 0)
        out.push(ed.c, t.shift, t.shift);
      else
        out.push(ed.c, t.start[std::min(cur, n) - 1], t.end[std::min(cur, n) - 1]);
    } else {
      out.push(ed.c, t.start[cur], t.end[cur]);
      cur += 1 + static_cast<size_t>(-ed.change);
    }
  }
  std::swap(t, out);
}

SplitBehavior parse_split_behavior(const std::string& name) {
  if (name == "Removed") return SplitBehavior::Removed;
  if (name == "Isolated") return SplitBehavior::Isolated;
  if (name == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (name == "Contiguous") return SplitBehavior::Contiguous;
  throw Error("unknown split behavior \"" + name + "\"");
}

void split_by_behavior(const std::vector<Match>& matches, SplitBehavior behavior, uint32_t base,
                       std::vector<std::pair<uint32_t, uint32_t>>& out) {
  const size_t first = out.size();
  auto push = [&](uint32_t b, uint32_t e) { out.emplace_back(base + b, base + e); };
  switch (behavior) {
    case SplitBehavior::Isolated:
      for (const Match& m : matches) push(m.b, m.e);
      break;
    case SplitBehavior::Removed:
      for (const Match& m : matches)
        if (!m.is_match) push(m.b, m.e);
      break;
    case SplitBehavior::Contiguous: {
      bool previous = false;
      for (const Match& m : matches) {
        if (m.is_match == previous && out.size() > first)
          out.back().second = base + m.e;
        else
          push(m.b, m.e);
        previous = m.is_match;
      }
      break;
    }
    case SplitBehavior::MergedWithPrevious: {
      bool previous = false;
      for (const Match& m : matches) {
        if (m.is_match && !previous && out.size() > first)
          out.back().second = base + m.e;
        else
          push(m.b, m.e);
        previous = m.is_match;
      }
      break;
    }
    case SplitBehavior::MergedWithNext: {
      bool previous = false;
      for (auto it = matches.rbegin(); it != matches.rend(); ++it) {
        if (it->is_match && !previous && out.size() > first)
          out.back().first = base + it->b;
        else
          push(it->b, it->e);
        previous = it->is_match;
      }
      std::reverse(out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
      break;
    }
  }
}

}  // namespace medenc::tok
