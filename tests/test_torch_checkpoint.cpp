// pytorch_model.bin checkpoints (tests/data/torch_bin, written by torch.save from the safetensors
// fixtures; see make_torch_bin.py): they load to the same tensors and outputs as the safetensors
// originals, F16/BF16 values equal torch's rounding of them, and hostile pickles are refused.
#include <gtest/gtest.h>

#include <filesystem>

#include "medenc/error.h"
#include "medenc/safetensors.h"
#include "medenc/torch_checkpoint.h"
#include "test_support.h"

using namespace medenc;

namespace {

std::string bin_dir(const std::string& name) { return test::data_path("torch_bin/" + name); }

// Every tensor of the .bin checkpoint equals the fixture's, after `round` (identity for F32).
void expect_same_tensors(const std::string& bin, const std::string& fixture, DType dtype,
                         float (*round)(float) = nullptr) {
  const Checkpoint a = Checkpoint::open_dir(bin_dir(bin));
  const Checkpoint b = Checkpoint::open_dir(test::fixture_dir(fixture));
  ASSERT_EQ(a.names(), b.names());
  for (const std::string& name : a.names()) {
    SCOPED_TRACE(name);
    const auto* ea = a.find(name);
    const auto* eb = b.find(name);
    EXPECT_EQ(ea->info->shape, eb->info->shape);
    EXPECT_EQ(ea->info->dtype, dtype);
    const std::vector<float> va = ea->file->read_f32(*ea->info);
    std::vector<float> vb = eb->file->read_f32(*eb->info);
    if (round)
      for (float& x : vb) x = round(x);
    ASSERT_EQ(va.size(), vb.size());
    for (size_t i = 0; i < va.size(); ++i) ASSERT_EQ(va[i], vb[i]) << "element " << i;
  }
}

// `medenc forward` on both folders; the outputs must be bit-identical (same weights, same code).
void expect_same_forward(const std::string& bin, const std::string& fixture) {
  const std::string tmp = test::temp_dir("torch_bin_fwd");
  const std::string inputs = test::fixture_dir(fixture) + "/inputs.json";
  std::string err;
  ASSERT_EQ(test::run_cli("forward --deterministic --model " + bin_dir(bin) + " --inputs " + inputs + " --out " + tmp +
                              "/bin.safetensors",
                          nullptr, &err),
            0)
      << err;
  ASSERT_EQ(test::run_cli("forward --deterministic --model " + test::fixture_dir(fixture) + " --inputs " + inputs +
                              " --out " + tmp + "/st.safetensors",
                          nullptr, &err),
            0)
      << err;
  auto a = SafetensorsFile::open(tmp + "/bin.safetensors");
  auto b = SafetensorsFile::open(tmp + "/st.safetensors");
  ASSERT_EQ(a->tensors().size(), b->tensors().size());
  ASSERT_GE(a->tensors().size(), 2u);
  for (const TensorInfo& t : a->tensors()) {
    SCOPED_TRACE(t.name);
    const TensorInfo* u = b->find(t.name);
    ASSERT_NE(u, nullptr);
    EXPECT_EQ(a->read_f32(t), b->read_f32(*u));
  }
}

float to_f16(float x) { return f16_to_f32(f32_to_f16(x)); }
float to_bf16(float x) { return bf16_to_f32(f32_to_bf16(x)); }

std::string refusal(const std::string& file) {
  try {
    read_torch_checkpoint(bin_dir("refused/" + file));
  } catch (const Error& e) {
    return e.what();
  }
  return "(loaded without error)";
}

}  // namespace

// New zip layout; one matrix stored transposed (strides (1, rows)) and one bias as an offset
// slice of a larger storage: both must come out with the fixture's values.
TEST(TorchCheckpoint, ZipLayoutWithStridedViewsMatchesSafetensors) {
  expect_same_tensors("bert_seqcls_zip", "bert_seqcls_smallvocab", DType::F32);
  expect_same_forward("bert_seqcls_zip", "bert_seqcls_smallvocab");
}

TEST(TorchCheckpoint, LegacyStreamMatchesSafetensors) {
  expect_same_tensors("megatron_base_legacy", "megatron_base_smallvocab", DType::F32);
  expect_same_forward("megatron_base_legacy", "megatron_base_smallvocab");
}

// torch rounded the fixture to half precision; our own rounding of it must give the same values.
TEST(TorchCheckpoint, ShardedF16WithIndex) {
  expect_same_tensors("bert_tokcls9_sharded_f16", "bert_tokcls9_smallvocab", DType::F16, to_f16);
}

TEST(TorchCheckpoint, BF16) { expect_same_tensors("bert_base_bf16", "bert_base_smallvocab", DType::BF16, to_bf16); }

TEST(TorchCheckpoint, ConvertWritesEquivalentSafetensors) {
  const std::string out = test::temp_dir("torch_convert") + "/out";
  std::string err;
  ASSERT_EQ(test::run_cli("convert --model " + bin_dir("bert_tokcls9_sharded_f16") + " --out " + out, nullptr, &err), 0)
      << err;
  EXPECT_EQ(test::read_file(out + "/config.json"), test::read_file(bin_dir("bert_tokcls9_sharded_f16") + "/config.json"));
  EXPECT_FALSE(std::filesystem::exists(out + "/pytorch_model.bin.index.json"));
  auto st = SafetensorsFile::open(out + "/model.safetensors");
  const Checkpoint bin = Checkpoint::open_dir(bin_dir("bert_tokcls9_sharded_f16"));
  ASSERT_EQ(st->tensors().size(), bin.size());
  for (const TensorInfo& t : st->tensors()) {
    SCOPED_TRACE(t.name);
    EXPECT_EQ(t.dtype, DType::F16);  // dtypes kept
    const auto* e = bin.find(t.name);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(st->read_f32(t), e->file->read_f32(*e->info));
  }
  // And the converted folder runs like the original F32 model within F16 rounding of the weights.
  ASSERT_EQ(test::run_cli("forward --model " + out + " --inputs " + test::fixture_dir("bert_tokcls9_smallvocab") +
                              "/inputs.json --out " + out + "/o.safetensors",
                          nullptr, &err),
            0)
      << err;
}

TEST(TorchCheckpoint, HostilePicklesAreRefusedNamingTheGlobal) {
  EXPECT_NE(refusal("os_system.bin").find("global 'os.system' is not allowed"), std::string::npos) << refusal("os_system.bin");
  // A real torch.save of an object whose __reduce__ returns eval: refused when eval is named.
  EXPECT_NE(refusal("reduce_eval.bin").find("global '__builtin__.eval' is not allowed"), std::string::npos)
      << refusal("reduce_eval.bin");
  EXPECT_NE(refusal("stack_global_exec.bin").find("global 'builtins.exec'"), std::string::npos)
      << refusal("stack_global_exec.bin");
  EXPECT_NE(refusal("build_setstate.bin").find("BUILD sets attribute '__setstate__'"), std::string::npos)
      << refusal("build_setstate.bin");
  EXPECT_NE(refusal("build_on_tensor.bin").find("BUILD of a dict on a tensor"), std::string::npos)
      << refusal("build_on_tensor.bin");
}

TEST(TorchCheckpoint, BrokenContainersAreRefused) {
  EXPECT_NE(refusal("truncated.bin").find("not a readable PyTorch zip checkpoint"), std::string::npos)
      << refusal("truncated.bin");
  EXPECT_NE(refusal("traversal.bin").find("zip entry name '../../evil.txt' is not a safe relative path"),
            std::string::npos)
      << refusal("traversal.bin");
  const std::string tmp = test::temp_dir("torch_bad");
  test::write_file(tmp + "/junk.bin", "not a checkpoint at all");
  EXPECT_THROW(read_torch_checkpoint(tmp + "/junk.bin"), Error);
  // A pickle cut short inside the legacy stream.
  const std::string legacy = test::read_file(bin_dir("megatron_base_legacy/pytorch_model.bin"));
  test::write_file(tmp + "/cut.bin", legacy.substr(0, 300));
  EXPECT_THROW(read_torch_checkpoint(tmp + "/cut.bin"), Error);
}

// The loader reads .bin only when there is no safetensors; the index must list plain file names.
TEST(TorchCheckpoint, ShardIndexRejectsPathsOutsideTheFolder) {
  const std::string tmp = test::temp_dir("torch_index");
  test::write_file(tmp + "/pytorch_model.bin.index.json",
                   R"({"weight_map": {"a": "../pytorch_model-00001-of-00002.bin"}})");
  try {
    Checkpoint::open_dir(tmp);
    FAIL() << "loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("must be a plain file name"), std::string::npos) << e.what();
  }
}

// Random damage to the pickle of a real checkpoint (legacy stream: the pickle bytes are the file's
// first bytes, with no CRC in the way) must end in a clean Error or a validated load, never a crash.
TEST(TorchCheckpoint, DamagedPicklesFailCleanly) {
  const std::string good = test::read_file(bin_dir("megatron_base_legacy/pytorch_model.bin"));
  const std::string tmp = test::temp_dir("torch_damage");
  uint64_t state = 12345;
  auto next = [&] { return state = state * 6364136223846793005ull + 1442695040888963407ull, state >> 33; };
  int refused = 0;
  for (int i = 0; i < 300; ++i) {
    std::string bad = good;
    const size_t flips = 1 + next() % 4;
    for (size_t f = 0; f < flips; ++f) bad[next() % 4096] = (char)(next() & 0xff);
    if (i % 5 == 0) bad.resize(next() % 4096);
    test::write_file(tmp + "/p.bin", bad);
    try {
      read_torch_checkpoint(tmp + "/p.bin");
    } catch (const Error&) {
      ++refused;
    }
  }
  EXPECT_GT(refused, 200);
}
