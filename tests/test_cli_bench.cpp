// `medenc bench` end to end on a small fixture model: the JSON report is consistent with itself
// (tokens / seconds, FLOPs / seconds, fractions of the ceiling, op profile adding up to the case's
// time), the targets section is present, and a bad case name is a one-line error.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "test_support.h"

using namespace medenc;
using nlohmann::json;

TEST(CliBench, JsonReportIsConsistent) {
  const std::string fx = test::fixture_dir("modernbert_seqcls_regression_mean");
  std::string out, err;
  ASSERT_EQ(test::run_cli("bench --model " + fx + " --cases 2x40 1x100 --dtype f32 bf16 --reps 3 --profile --json "
                          "--train --train-cases 2x16",
                          &out, &err),
            0)
      << err;
  const json report = json::parse(out);
  ASSERT_EQ(report["runs"].size(), 2u);
  for (const json& run : report["runs"]) {
    ASSERT_EQ(run["cases"].size(), 2u) << run.dump();
    EXPECT_GT((double)run["load_seconds"], 0.0);
    for (const json& c : run["cases"]) {
      SCOPED_TRACE(run["dtype"].get<std::string>() + " " + c["case"].get<std::string>());
      const double tokens = c["tokens"], seconds = c["seconds"];
      EXPECT_EQ(tokens, c["case"] == "2x40" ? 80.0 : 100.0);
      EXPECT_NEAR((double)c["tokens_per_s"] * seconds, tokens, 1e-6 * tokens);
      EXPECT_NEAR((double)c["achieved_gflops"], (double)c["gflop_per_token"] * tokens / seconds, 1e-6);
      EXPECT_GT((double)c["ceiling_gflops"], 0.0);
      EXPECT_GE((double)c["ceiling_peak_gflops"], (double)c["ceiling_gflops"]);
      EXPECT_GT((double)c["fraction_of_ceiling"], 0.0);
      EXPECT_GT((double)c["peak_rss_mb"], 0.0);
      // The profile: every op kind the forward pass calls, shares adding up to the whole run.
      double share = 0.0;
      bool saw_linear = false, saw_attention = false;
      for (const json& op : c["profile"]) {
        share += (double)op["share"];
        saw_linear |= op["op"] == "linear";
        saw_attention |= op["op"].get<std::string>().rfind("attention", 0) == 0;
      }
      EXPECT_TRUE(saw_linear && saw_attention) << c["profile"].dump();
      EXPECT_NEAR(share, 1.0, 1e-6);
    }
  }
  ASSERT_EQ(report["train"].size(), 1u);
  EXPECT_GT((double)report["train"][0]["step_seconds"], 0.0);
  bool saw_backward = false;
  for (const json& op : report["train"][0]["profile"]) saw_backward |= op["op"] == "linear backward";
  EXPECT_TRUE(saw_backward);
  // Targets computable from these cases: determinism of each dtype run (1 thread vs all, each sequence
  // alone vs in its batch) and the load time (the others need the 8x512 cases).
  ASSERT_TRUE(report["targets"].is_array());
  std::vector<std::string> names;
  for (const json& t : report["targets"]) {
    names.push_back(t["target"]);
    if (names.back().find("determinism") != std::string::npos) {
      EXPECT_TRUE(t["met"].get<bool>()) << t.dump();
    }
  }
  EXPECT_EQ(names, (std::vector<std::string>{"f32 determinism (threads, batch): identical bits",
                                             "bf16 determinism (threads, batch): identical bits", "fp32 load time"}))
      << report["targets"].dump();
}

TEST(CliBench, BadCaseIsAOneLineError) {
  const std::string fx = test::fixture_dir("modernbert_seqcls_regression_mean");
  std::string out, err;
  EXPECT_EQ(test::run_cli("bench --model " + fx + " --cases 8by512", &out, &err), 1);
  EXPECT_NE(err.find("bad case '8by512'"), std::string::npos) << err;
}

// The cross-case targets are computed from the cases' own numbers: the 1x8192 / 8x512 cost ratio
// from their throughputs, and (with --profile) from their linear layers' shares of the time.
TEST(CliBench, LengthTargetComesFromItsCases) {
  const std::string fx = test::fixture_dir("modernbert_seqcls_regression_mean");
  std::string out, err;
  ASSERT_EQ(test::run_cli("bench --model " + fx + " --cases 8x512 1x8192 --reps 2 --profile --json", &out, &err), 0)
      << err;
  const json report = json::parse(out);
  const json& cases = report["runs"][0]["cases"];
  ASSERT_EQ(cases.size(), 2u);
  const json& short_case = cases[0]["case"] == "8x512" ? cases[0] : cases[1];
  const json& long_case = cases[0]["case"] == "8x512" ? cases[1] : cases[0];
  const json* target = nullptr;
  for (const json& t : report["targets"])
    if (t["target"] == "fp32 1x8192 time per token / 8x512") target = &t;
  ASSERT_NE(target, nullptr) << report["targets"].dump();
  const double ratio = (double)short_case["tokens_per_s"] / (double)long_case["tokens_per_s"];
  EXPECT_NEAR((double)(*target)["value"], ratio, 1e-9 * ratio);
  EXPECT_EQ((*target)["met"].get<bool>(), ratio <= 2.0);
  auto linear_share = [](const json& c) {
    for (const json& op : c["profile"])
      if (op["op"] == "linear") return (double)op["share"];
    return 0.0;
  };
  const double by_linear = linear_share(short_case) / linear_share(long_case);
  EXPECT_NEAR((double)(*target)["per_linear_time"], by_linear, 1e-9 * by_linear);
  // Global attention grows with length: the long case spends a smaller share in linear layers.
  EXPECT_GT(by_linear, 1.0);
  EXPECT_GT((double)long_case["gflop_per_token"], (double)short_case["gflop_per_token"]);
}

// The bf16 targets are read off the bf16 cases: the 8x512 linear layers' share and the 1x8192
// fraction of the ceiling and global attention's share, each against its limit.
TEST(CliBench, Bf16TargetsComeFromTheirCases) {
  const std::string fx = test::fixture_dir("modernbert_seqcls_regression_mean");
  std::string out, err;
  ASSERT_EQ(test::run_cli("bench --model " + fx + " --dtype bf16 --cases 8x512 1x8192 --reps 1 --profile --json",
                          &out, &err),
            0)
      << err;
  const json report = json::parse(out);
  auto target = [&](const std::string& name) -> const json& {
    for (const json& t : report["targets"])
      if (t["target"] == name) return t;
    ADD_FAILURE() << "no target '" << name << "' in " << report["targets"].dump();
    static const json none = json::object();
    return none;
  };
  auto share = [](const json& c, const std::string& op) {
    for (const json& o : c["profile"])
      if (o["op"] == op) return (double)o["share"];
    return 0.0;
  };
  for (const json& c : report["runs"][0]["cases"]) {
    if (c["case"] == "8x512") {
      const json& t = target("bf16 8x512: share of the pass in the linear layers");
      EXPECT_EQ((double)t["value"], share(c, "linear"));
      EXPECT_EQ(t["met"].get<bool>(), share(c, "linear") >= 0.85);
    } else {
      const json& f = target("bf16 1x8192: fraction of the bf16 GEMM ceiling");
      EXPECT_EQ((double)f["value"], (double)c["fraction_of_ceiling"]);
      const json& g = target("bf16 1x8192: global attention's share of the pass");
      EXPECT_EQ((double)g["value"], share(c, "attention (global)"));
      EXPECT_GT((double)g["value"], 0.0);
      EXPECT_EQ(g["met"].get<bool>(), share(c, "attention (global)") <= 0.40);
    }
  }
}
