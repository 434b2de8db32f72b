#include "medenc/forward.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "medenc/error.h"
#include "medenc/safetensors.h"
#include "util/fs.h"

namespace medenc {

using nlohmann::json;

Batch PaddedInputs::to_batch() const {
  Batch b;
  for (int64_t r = 0; r < batch; ++r) {
    std::span<const int32_t> ids(input_ids.data() + r * seq_len, (size_t)lengths[r]);
    std::span<const int32_t> tt;
    if (!token_type_ids.empty()) tt = std::span<const int32_t>(token_type_ids.data() + r * seq_len, (size_t)lengths[r]);
    b.add(ids, tt);
  }
  return b;
}

static void read_matrix(const json& j, const char* key, const std::string& path, int64_t* rows, int64_t* cols,
                        std::vector<int32_t>* out) {
  auto it = j.find(key);
  if (it == j.end()) throw Error(fmt::format("{}: missing \"{}\"", path, key));
  if (!it->is_array() || it->empty()) throw Error(fmt::format("{}: \"{}\" must be a non-empty list of lists", path, key));
  *rows = (int64_t)it->size();
  *cols = -1;
  out->clear();
  for (int64_t r = 0; r < *rows; ++r) {
    const json& row = (*it)[r];
    if (!row.is_array()) throw Error(fmt::format("{}: {}[{}] is not a list", path, key, r));
    if (*cols < 0) *cols = (int64_t)row.size();
    if ((int64_t)row.size() != *cols)
      throw Error(fmt::format("{}: {}[{}] has {} entries but {}[0] has {} (rows must be padded to one length)", path,
                              key, r, row.size(), key, *cols));
    for (size_t t = 0; t < row.size(); ++t) {
      const json& v = row[t];
      if (!v.is_number_integer() || v.get<int64_t>() < INT32_MIN || v.get<int64_t>() > INT32_MAX)
        throw Error(fmt::format("{}: {}[{}][{}] is not a 32-bit integer", path, key, r, t));
      out->push_back(v.get<int32_t>());
    }
  }
  if (*cols == 0) throw Error(fmt::format("{}: \"{}\" rows are empty", path, key));
}

PaddedInputs parse_padded_inputs(const std::string& text, const std::string& path) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw Error(fmt::format("{}: not valid JSON: {}", path, e.what()));
  }
  if (!j.is_object()) throw Error(path + ": expected a JSON object with input_ids and attention_mask");
  PaddedInputs in;
  read_matrix(j, "input_ids", path, &in.batch, &in.seq_len, &in.input_ids);
  if (j.contains("attention_mask")) {
    int64_t rows, cols;
    read_matrix(j, "attention_mask", path, &rows, &cols, &in.attention_mask);
    if (rows != in.batch || cols != in.seq_len)
      throw Error(fmt::format("{}: attention_mask is {}x{} but input_ids is {}x{}", path, rows, cols, in.batch,
                              in.seq_len));
  } else {
    in.attention_mask.assign((size_t)(in.batch * in.seq_len), 1);
  }
  if (j.contains("token_type_ids") && !j["token_type_ids"].is_null()) {
    int64_t rows, cols;
    read_matrix(j, "token_type_ids", path, &rows, &cols, &in.token_type_ids);
    if (rows != in.batch || cols != in.seq_len)
      throw Error(fmt::format("{}: token_type_ids is {}x{} but input_ids is {}x{}", path, rows, cols, in.batch,
                              in.seq_len));
  }
  for (int64_t r = 0; r < in.batch; ++r) {
    int64_t len = 0;
    bool in_padding = false;
    for (int64_t t = 0; t < in.seq_len; ++t) {
      const int32_t m = in.attention_mask[r * in.seq_len + t];
      if (m != 0 && m != 1)
        throw Error(fmt::format("{}: attention_mask[{}][{}] is {}, expected 0 or 1", path, r, t, m));
      if (m == 1) {
        if (in_padding)
          throw Error(fmt::format("{}: attention_mask[{}] is not right-padded (1 after 0 at position {})", path, r, t));
        ++len;
      } else {
        in_padding = true;
      }
    }
    if (len == 0) throw Error(fmt::format("{}: attention_mask[{}] has no real tokens", path, r));
    in.lengths.push_back(len);
  }
  if (j.contains("positions") && !j["positions"].is_null()) {
    const json& p = j["positions"];
    if (!p.is_array()) throw Error(path + ": \"positions\" must be a list of [batch, token] pairs");
    for (size_t k = 0; k < p.size(); ++k) {
      if (!p[k].is_array() || p[k].size() != 2 || !p[k][0].is_number_integer() || !p[k][1].is_number_integer())
        throw Error(fmt::format("{}: positions[{}] must be a [batch, token] pair", path, k));
      int64_t b = p[k][0].get<int64_t>(), t = p[k][1].get<int64_t>();
      if (b < 0 || b >= in.batch || t < 0 || t >= in.lengths[b])
        throw Error(fmt::format("{}: positions[{}] = [{}, {}] is not a real token of the batch", path, k, b, t));
      in.positions.emplace_back(b, t);
    }
  }
  return in;
}

PaddedInputs read_padded_inputs(const std::string& path) { return parse_padded_inputs(read_text_file(path), path); }

std::vector<NamedTensor> run_padded_forward(const Encoder& model, const PaddedInputs& in) {
  return run_padded_forward(model.info(), in,
                            [&](const Batch& batch, const ForwardOptions& o) { return model.forward(batch, o); });
}

std::vector<NamedTensor> run_padded_forward(const ModelInfo& info, const PaddedInputs& in, const ForwardCall& forward) {
  Batch batch = in.to_batch();
  if (info.type_vocab_size == 0) {
    // Only the real tokens' type ids count (padding may hold anything).
    for (int32_t t : batch.type_ids)
      if (t != 0) throw Error(fmt::format("{} models take no token_type_ids (got a non-zero one)", family_name(info.family)));
    batch.type_ids.clear();
  }
  ForwardOptions opts;
  const bool at_positions = !in.positions.empty() && info.head.kind == HeadKind::MaskedLM;
  if (at_positions)
    for (auto [b, t] : in.positions) opts.mlm_rows.push_back(batch.offsets[b] + t);
  ForwardOutput out = forward(batch, opts);

  const int64_t B = in.batch, T = in.seq_len, H = out.hidden_size;
  std::vector<NamedTensor> result;
  auto scatter_tokens = [&](const std::vector<float>& packed, int64_t cols, const std::string& name) {
    NamedTensor t{name, {B, T, cols}, std::vector<float>((size_t)(B * T * cols), 0.0f)};
    for (int64_t b = 0; b < B; ++b)
      std::copy(packed.begin() + batch.offsets[b] * cols, packed.begin() + batch.offsets[b + 1] * cols,
                t.data.begin() + b * T * cols);
    result.push_back(std::move(t));
  };
  scatter_tokens(out.last_hidden_state, H, "last_hidden_state");
  if (!out.pooler_output.empty()) result.push_back({"pooler_output", {B, H}, std::move(out.pooler_output)});
  if (!out.logits.empty()) {
    switch (info.head.kind) {
      case HeadKind::SequenceClassification:
        result.push_back({"logits", {B, out.logits_cols}, std::move(out.logits)});
        break;
      case HeadKind::MaskedLM:
        if (at_positions) {
          result.push_back({"logits", {out.logits_rows, out.logits_cols}, std::move(out.logits)});
          break;
        }
        [[fallthrough]];
      case HeadKind::TokenClassification:
        scatter_tokens(out.logits, out.logits_cols, "logits");
        break;
      case HeadKind::Base:
        break;
    }
  }
  return result;
}

void write_tensors(const std::vector<NamedTensor>& tensors, const std::string& path) {
  SafetensorsWriter w;
  w.set_metadata("format", "pt");
  for (auto& t : tensors) w.add_f32(t.name, t.shape, t.data.data());
  w.write(path);
}

}  // namespace medenc
