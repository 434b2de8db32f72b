// Safetensors reader/writer and checkpoint loading: every validation rule gives a clear error that
// names the file and tensor, never a crash.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "medenc/error.h"
#include "medenc/model.h"
#include "medenc/safetensors.h"
#include "test_support.h"

using namespace medenc;
using nlohmann::json;

namespace {

// Writes a raw safetensors file: 8-byte length, header text, data bytes.
std::string raw_file(const std::string& dir, const std::string& header, size_t data_bytes, const std::string& name = "t.safetensors",
                     int64_t length_override = -1) {
  std::string out;
  uint64_t n = length_override >= 0 ? (uint64_t)length_override : header.size();
  for (int i = 0; i < 8; ++i) out.push_back((char)((n >> (8 * i)) & 0xff));
  out += header;
  out.append(data_bytes, '\0');
  const std::string path = dir + "/" + name;
  test::write_file(path, out);
  return path;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void expect_error(const std::string& path, const std::string& fragment) {
  std::string msg = error_of([&] { SafetensorsFile::open(path); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find(fragment), std::string::npos) << "wanted '" << fragment << "' in: " << msg;
}

}  // namespace

TEST(Safetensors, RoundTripAllFloatTypes) {
  const std::string dir = test::temp_dir("st_roundtrip");
  std::vector<float> f32 = {1.5f, -2.25f, 3.0e-8f, 65504.0f, -0.0f, 7.0f};
  std::vector<uint16_t> bf16, f16;
  for (float v : f32) {
    bf16.push_back(f32_to_bf16(v));
    f16.push_back(f32_to_f16(v));
  }
  SafetensorsWriter w;
  w.add_f32("a", {2, 3}, f32.data());
  w.add("b", DType::BF16, {6}, bf16.data(), 12);
  w.add("c", DType::F16, {3, 2}, f16.data(), 12);
  std::vector<int64_t> ints = {1, -2, 3};
  w.add_i64("d", {3}, ints.data());
  w.write(dir + "/x.safetensors");
  auto f = SafetensorsFile::open(dir + "/x.safetensors");
  EXPECT_EQ(f->read_f32(*f->find("a")), f32);
  auto b = f->read_f32(*f->find("b"));
  auto c = f->read_f32(*f->find("c"));
  for (size_t i = 0; i < f32.size(); ++i) {
    EXPECT_EQ(b[i], bf16_to_f32(bf16[i]));
    EXPECT_EQ(c[i], f16_to_f32(f16[i]));
  }
  EXPECT_EQ(f->read_i64(*f->find("d")), ints);
  EXPECT_EQ(f->find("c")->shape, (std::vector<int64_t>{3, 2}));
}

TEST(Safetensors, HalfConversionsAreExact) {
  // Hand-checked bit patterns.
  EXPECT_EQ(f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(f16_to_f32(0xc000), -2.0f);
  EXPECT_EQ(f16_to_f32(0x7bff), 65504.0f);
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(f16_to_f32(0x03ff), std::ldexp(1023.0f, -24));
  EXPECT_TRUE(std::isinf(f16_to_f32(0x7c00)));
  EXPECT_TRUE(std::isnan(f16_to_f32(0x7e00)));
  EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
  EXPECT_EQ(bf16_to_f32(0x4049), 3.140625f);
  // Every f16 value survives f16 -> f32 -> f16.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue;  // NaN payloads
    ASSERT_EQ(f32_to_f16(f16_to_f32((uint16_t)h)), h) << h;
  }
  EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);  // tie rounds to even
  EXPECT_EQ(f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
}

TEST(Safetensors, RejectsTooShortFile) {
  const std::string dir = test::temp_dir("st_short");
  test::write_file(dir + "/s.safetensors", "abc");
  expect_error(dir + "/s.safetensors", "too short");
}

TEST(Safetensors, RejectsHeaderLongerThanFile) {
  const std::string dir = test::temp_dir("st_len");
  expect_error(raw_file(dir, "{}", 0, "t.safetensors", 1000), "header length 1000");
}

TEST(Safetensors, RejectsBadJson) {
  const std::string dir = test::temp_dir("st_json");
  expect_error(raw_file(dir, "{\"a\": [", 0), "not valid JSON");
  expect_error(raw_file(dir, "[1,2]", 0, "u.safetensors"), "not a JSON object");
}

TEST(Safetensors, RejectsUnknownDtype) {
  const std::string dir = test::temp_dir("st_dtype");
  expect_error(raw_file(dir, R"({"w":{"dtype":"F8","shape":[2],"data_offsets":[0,2]}})", 2), "unknown dtype 'F8'");
}

TEST(Safetensors, RejectsOffsetsOutOfRange) {
  const std::string dir = test::temp_dir("st_range");
  expect_error(raw_file(dir, R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8), "'w'");
  expect_error(raw_file(dir, R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8, "b.safetensors"),
               "run past");
  expect_error(raw_file(dir, R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", 8, "c.safetensors"),
               "reversed");
}

TEST(Safetensors, RejectsOverlappingTensors) {
  const std::string dir = test::temp_dir("st_overlap");
  expect_error(raw_file(dir,
                        R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                        R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                        12),
               "overlap");
}

TEST(Safetensors, RejectsSizeMismatch) {
  const std::string dir = test::temp_dir("st_size");
  expect_error(raw_file(dir, R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8), "needs 12 bytes");
  expect_error(raw_file(dir, R"({"w":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,16]}})", 16, "b.safetensors"),
               "needs 8 bytes");
}

TEST(Safetensors, RejectsDuplicateNames) {
  const std::string dir = test::temp_dir("st_dup");
  expect_error(raw_file(dir,
                        R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                        R"("w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                        8),
               "'w' appears twice");
}

TEST(Safetensors, RejectsMalformedEntries) {
  const std::string dir = test::temp_dir("st_entries");
  expect_error(raw_file(dir, R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4), "negative");
  expect_error(raw_file(dir, R"({"w":{"dtype":"F32","data_offsets":[0,4]}})", 4, "b.safetensors"), "missing shape");
  expect_error(raw_file(dir, R"({"w":{"dtype":"F32","shape":[1]}})", 4, "c.safetensors"), "data_offsets");
  expect_error(raw_file(dir, R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"__metadata__":{"k":1}})", 4,
                        "d.safetensors"),
               "__metadata__");
}

// ---- checkpoint-level rules, on a copy of a real fixture ----

namespace {

// Rewrites the fixture's model.safetensors through `edit`, in a temp copy of the folder.
std::string edited_fixture(const std::string& fixture, const std::string& tag,
                           const std::function<void(std::vector<std::tuple<std::string, DType, std::vector<int64_t>, std::vector<uint8_t>>>&)>& edit) {
  const std::string src = test::fixture_dir(fixture);
  const std::string dir = test::temp_dir(tag);
  std::filesystem::copy_file(src + "/config.json", dir + "/config.json");
  auto f = SafetensorsFile::open(src + "/model.safetensors");
  std::vector<std::tuple<std::string, DType, std::vector<int64_t>, std::vector<uint8_t>>> items;
  for (auto& t : f->tensors())
    items.emplace_back(t.name, t.dtype, t.shape, std::vector<uint8_t>(f->bytes(t), f->bytes(t) + (t.end - t.begin)));
  edit(items);
  SafetensorsWriter w;
  for (auto& [name, dtype, shape, bytes] : items) w.add(name, dtype, shape, bytes.data(), bytes.size());
  w.write(dir + "/model.safetensors");
  return dir;
}

std::string load_error(const std::string& dir) {
  return error_of([&] { load_encoder(dir); });
}

}  // namespace

TEST(Checkpoint, MissingTensorNamesTensorAndArchitecture) {
  auto dir = edited_fixture("modernbert_seqcls_regression_mean", "ck_missing", [](auto& items) {
    std::erase_if(items, [](auto& it) { return std::get<0>(it) == "model.layers.2.mlp.Wi.weight"; });
  });
  std::string msg = load_error(dir);
  EXPECT_NE(msg.find("missing tensor 'model.layers.2.mlp.Wi.weight'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("ModernBertForSequenceClassification"), std::string::npos) << msg;
}

TEST(Checkpoint, UnexpectedTensorIsAnError) {
  auto dir = edited_fixture("modernbert_seqcls_regression_mean", "ck_unexpected", [](auto& items) {
    std::vector<uint8_t> bytes(16, 0);
    items.emplace_back("model.layers.9.attn.Wqkv.weight", DType::F32, std::vector<int64_t>{2, 2}, bytes);
  });
  std::string msg = load_error(dir);
  EXPECT_NE(msg.find("unexpected tensor"), std::string::npos) << msg;
  EXPECT_NE(msg.find("model.layers.9.attn.Wqkv.weight"), std::string::npos) << msg;
}

TEST(Checkpoint, WrongShapeForRole) {
  auto dir = edited_fixture("modernbert_seqcls_regression_mean", "ck_shape", [](auto& items) {
    for (auto& [name, dtype, shape, bytes] : items)
      if (name == "model.layers.1.attn.Wo.weight") shape = {32, 128};
  });
  std::string msg = load_error(dir);
  EXPECT_NE(msg.find("'model.layers.1.attn.Wo.weight' has shape [32, 128], expected [64, 64]"), std::string::npos) << msg;
}

TEST(Checkpoint, IntegerDtypeForWeightIsAnError) {
  auto dir = edited_fixture("modernbert_seqcls_regression_mean", "ck_int", [](auto& items) {
    for (auto& [name, dtype, shape, bytes] : items)
      if (name == "model.final_norm.weight") dtype = DType::I32;
  });
  std::string msg = load_error(dir);
  EXPECT_NE(msg.find("'model.final_norm.weight' has dtype I32"), std::string::npos) << msg;
}

TEST(Checkpoint, AcceptsBothKeyLayouts) {
  // Prefix stripped from a task checkpoint's backbone keys: loads and gives identical logits.
  auto dir = edited_fixture("modernbert_seqcls_single3_smallvocab", "ck_layout", [](auto& items) {
    for (auto& it : items)
      if (std::get<0>(it).rfind("model.", 0) == 0) std::get<0>(it) = std::get<0>(it).substr(6);
  });
  Batch batch;
  std::vector<int32_t> ids = {249, 17, 80, 3, 250};
  batch.add(ids);
  auto a = load_encoder(test::fixture_dir("modernbert_seqcls_single3_smallvocab"))->forward(batch);
  auto b = load_encoder(dir)->forward(batch);
  EXPECT_EQ(a.logits, b.logits);
}

TEST(Checkpoint, TiedDecoderMayBePresent) {
  // A MaskedLM file that also stores decoder.weight (equal to the embeddings) loads.
  auto dir = edited_fixture("modernbert_mlm", "ck_tied", [](auto& items) {
    for (auto& it : items)
      if (std::get<0>(it) == "model.embeddings.tok_embeddings.weight") {
        auto copy = it;
        std::get<0>(copy) = "decoder.weight";
        items.push_back(copy);
        break;
      }
  });
  EXPECT_NO_THROW(load_encoder(dir));
}

TEST(Checkpoint, ShardedCheckpoint) {
  // Split the fixture into two shards with an index; outputs must equal the single-file load.
  const std::string src = test::fixture_dir("modernbert_seqcls_single3_smallvocab");
  const std::string dir = test::temp_dir("ck_shards");
  std::filesystem::copy_file(src + "/config.json", dir + "/config.json");
  auto f = SafetensorsFile::open(src + "/model.safetensors");
  SafetensorsWriter w1, w2;
  json index = {{"metadata", json::object()}, {"weight_map", json::object()}};
  int i = 0;
  for (auto& t : f->tensors()) {
    auto& w = (i++ % 2) ? w1 : w2;
    const std::string shard = (&w == &w1) ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
    w.add(t.name, t.dtype, t.shape, f->bytes(t), t.end - t.begin);
    index["weight_map"][t.name] = shard;
  }
  w1.write(dir + "/model-00001-of-00002.safetensors");
  w2.write(dir + "/model-00002-of-00002.safetensors");
  test::write_file(dir + "/model.safetensors.index.json", index.dump());
  Batch batch;
  std::vector<int32_t> ids = {249, 1, 2, 3, 250};
  batch.add(ids);
  EXPECT_EQ(load_encoder(src)->forward(batch).logits, load_encoder(dir)->forward(batch).logits);

  // The index names a shard that does not exist.
  index["weight_map"]["model.final_norm.weight"] = "model-00009-of-00002.safetensors";
  test::write_file(dir + "/model.safetensors.index.json", index.dump());
  std::string msg = load_error(dir);
  EXPECT_NE(msg.find("model-00009-of-00002.safetensors"), std::string::npos) << msg;
}

TEST(Checkpoint, MissingWeightsFile) {
  const std::string dir = test::temp_dir("ck_noweights");
  std::filesystem::copy_file(test::fixture_dir("modernbert_mlm") + "/config.json", dir + "/config.json");
  std::string msg = load_error(dir);
  EXPECT_NE(msg.find("no model.safetensors"), std::string::npos) << msg;
}
