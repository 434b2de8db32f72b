// Documents to model windows: truncation to max_length, or overlapping stride windows.
#include <fmt/format.h>

#include "medenc/error.h"
#include "medenc/pipeline.h"

namespace medenc {

namespace {

void flatten(Encoding&& enc, std::vector<Encoding>& out) {
  std::vector<Encoding> more = std::move(enc.overflowing);
  enc.overflowing.clear();
  out.push_back(std::move(enc));
  for (Encoding& e : more) flatten(std::move(e), out);
}

}  // namespace

std::vector<Encoding> encode_windows(const Tokenizer& tokenizer, std::string_view text,
                                     const std::optional<std::string>& pair, const WindowOptions& o,
                                     bool* truncated) {
  auto encode = [&](const EncodeOptions& eo) {
    return pair ? tokenizer.encode_pair(text, *pair, eo) : tokenizer.encode(text, eo);
  };
  *truncated = false;
  std::vector<Encoding> windows;
  Encoding full = encode(EncodeOptions{});
  if (o.max_length <= 0 || (int64_t)full.size() <= o.max_length) {
    full.overflowing.clear();
    windows.push_back(std::move(full));
    return windows;
  }
  const int64_t specials = tokenizer.num_special_tokens_to_add(pair.has_value());
  EncodeOptions eo;
  eo.max_length = o.max_length;
  if (o.stride <= 0) {
    eo.side = o.side;
    *truncated = true;
    Encoding cut = encode(eo);
    cut.overflowing.clear();
    windows.push_back(std::move(cut));
    return windows;
  }
  if (o.stride >= o.max_length - specials)
    throw Error(fmt::format("--stride {} must be smaller than --max-length {} minus the {} special tokens", o.stride,
                            o.max_length, specials));
  eo.stride = o.stride;
  if (pair) {
    // A pair is windowed over its longer text, the other kept whole in every window; when the other
    // alone leaves no room, the pair is truncated instead (longest first).
    int64_t first = 0, second = 0;
    for (int32_t s : full.sequence_ids) first += s == 0, second += s == 1;
    eo.strategy = first >= second ? TruncationStrategy::OnlyFirst : TruncationStrategy::OnlySecond;
    const int64_t other = first >= second ? second : first;
    if (other + specials + o.stride >= o.max_length) {
      *truncated = true;
      EncodeOptions cut_options;
      cut_options.max_length = o.max_length;
      cut_options.side = o.side;
      Encoding cut = encode(cut_options);
      cut.overflowing.clear();
      windows.push_back(std::move(cut));
      return windows;
    }
  }
  flatten(encode(eo), windows);
  return windows;
}

void prepare_windows(const Tokenizer& tokenizer, Job& job, const WindowOptions& options, bool with_pair,
                     bool ids_only) {
  static const std::optional<std::string> no_pair;
  std::vector<Encoding> encs =
      encode_windows(tokenizer, job.doc.text, with_pair ? job.doc.text_pair : no_pair, options, &job.truncated);
  job.windows.clear();
  job.windows.reserve(encs.size());
  for (Encoding& e : encs) {
    Window& w = job.windows.emplace_back();
    if (ids_only) {
      w.enc.ids = std::move(e.ids);
      w.enc.type_ids = std::move(e.type_ids);
    } else {
      w.enc = std::move(e);
    }
  }
}

}  // namespace medenc
