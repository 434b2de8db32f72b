// Inputs the fuzz targets (fuzz/) found to misbehave, kept as regression tests. Each names the
// target that found it; they matter most under scripts/test-sanitizers.sh, where undefined
// behaviour fails the test.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "medenc/error.h"
#include "medenc/safetensors.h"
#include "test_support.h"

namespace medenc {
namespace {

std::string safetensors_bytes(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[(size_t)i] = (char)((n >> (8 * i)) & 0xFF);
  return out + header + data;
}

// fuzz_safetensors: reading a tensor with zero elements passed a null destination to memcpy.
TEST(FuzzRegressions, EmptyTensorsReadAsEmpty) {
  const std::string dir = test::temp_dir("fuzz_empty_tensor");
  test::write_file(dir + "/e.safetensors",
                   safetensors_bytes(R"({"e32":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},)"
                                     R"("e16":{"dtype":"F16","shape":[2,0],"data_offsets":[0,0]},)"
                                     R"("x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                                     std::string("\x00\x00\x80\x3f", 4)));
  auto f = SafetensorsFile::open(dir + "/e.safetensors");
  EXPECT_TRUE(f->read_f32(*f->find("e32")).empty());
  EXPECT_TRUE(f->read_f32(*f->find("e16")).empty());
  EXPECT_EQ(f->read_f32(*f->find("x")), std::vector<float>{1.0f});
}

}  // namespace
}  // namespace medenc
