// Run-time ISA dispatch of the CPU kernels (src/ops/cpu/isa_dispatch.h): every level this build has
// and this CPU supports runs the kernel tests that check against double-precision references (the
// attention tests' dense attention, the gradient checks' double forward and backward of every op,
// the AdamW formula), each in a child run of this test binary with MEDENC_CPU_ISA set to the level.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <sys/wait.h>
#include <vector>

#include "medenc/error.h"
#include "ops/cpu/isa_dispatch.h"
#include "test_support.h"

using namespace medenc;

namespace {

// The kernel suites a child run repeats at one level, and the check that the child really ran it.
constexpr const char* kKernelSuites =
    "Attention.*:GradcheckOps.*:TrainOptimizer.AdamW*:CpuIsa.ActiveLevelIsTheOverrideOrTheBest";

}  // namespace

TEST(CpuIsa, ActiveLevelIsTheOverrideOrTheBest) {
  const std::vector<std::string> built = ops::cpu::isa_levels_built();
  ASSERT_FALSE(built.empty());
  const char* env = std::getenv("MEDENC_CPU_ISA");
  if (env && *env) {
    EXPECT_EQ(ops::cpu::active_isa_level(), env);
    return;
  }
  std::string best;
  for (const std::string& level : built)
    if (ops::cpu::isa_level_supported(level)) {
      best = level;
      break;
    }
  ASSERT_FALSE(best.empty()) << "the baseline (or native) level must always be supported";
  EXPECT_EQ(ops::cpu::active_isa_level(), best);
}

TEST(CpuIsa, UnknownLevelIsAClearError) {
  try {
    ops::cpu::select_isa_level("avx9000");
    FAIL() << "selecting an unknown level should throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("avx9000"), std::string::npos) << e.what();
  }
}

TEST(CpuIsa, KernelTestsPassAtEverySupportedLevel) {
  if (std::getenv("MEDENC_CPU_ISA")) GTEST_SKIP() << "child run at one level";
  const std::string self = std::filesystem::read_symlink("/proc/self/exe");
  const std::string dir = test::temp_dir("cpu_isa");
  int levels_run = 0;
  for (const std::string& level : ops::cpu::isa_levels_built()) {
    if (!ops::cpu::isa_level_supported(level)) continue;
    const std::string log = dir + "/" + level + ".log";
    const std::string cmd = "MEDENC_CPU_ISA=" + level + " '" + self + "' --gtest_filter='" + kKernelSuites +
                            "' > '" + log + "' 2>&1";
    const int status = std::system(cmd.c_str());
    const bool passed = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    const std::string output = test::read_file(log);
    EXPECT_TRUE(passed) << "kernel tests at level " << level << ":\n" << output;
    // The child ran the suites (a filter matching nothing would also exit 0).
    EXPECT_NE(output.find("[  PASSED  ]"), std::string::npos) << output;
    EXPECT_EQ(output.find("0 tests"), std::string::npos) << output;
    ++levels_run;
  }
  std::filesystem::remove_all(dir);
  EXPECT_GE(levels_run, 1);
}
