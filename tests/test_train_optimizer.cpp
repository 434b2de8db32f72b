// AdamW, gradient clipping and learning-rate schedules against hand-computed values (torch.optim.AdamW,
// torch.nn.utils.clip_grad_norm_, transformers.get_scheduler).
#include <gtest/gtest.h>

#include <cmath>

#include "medenc/error.h"
#include "medenc/parameters.h"
#include "medenc/train.h"

using namespace medenc;

namespace {

// One decayed weight [2] and one bias [2] (is_bias_or_norm), values 1, 2 | 3, 4.
ParameterSet two_tensors() {
  ParameterSet ps;
  ps.declare("layer.weight", {2});
  ps.declare("layer.bias", {2}, /*is_bias_or_norm=*/true);
  ps.allocate();
  for (size_t i = 0; i < 4; ++i) ps.data()[i] = (float)(i + 1);
  return ps;
}

}  // namespace

TEST(TrainOptimizer, AdamWFirstStepByHand) {
  // p = 1, g = 0.5, lr 0.1, wd 0.1: p <- 0.99; m = 0.05, v = 2.5e-4; m_hat / (sqrt(v_hat) + eps) = 0.05 / 0.1
  // / (sqrt(0.25) + 1e-8) = 1 - 2e-8; p <- 0.99 - 0.1 * (1 - 2e-8) = 0.89.
  ParameterSet ps;
  ps.declare("w", {1});
  ps.allocate();
  ps.data()[0] = 1.0f;
  AdamWOptions o;
  o.weight_decay = 0.1;
  AdamW opt(ps, o);
  const std::vector<float> g = {0.5f};
  opt.step(ps, g, 0.1);
  EXPECT_NEAR(ps.data()[0], 0.89, 1e-6);
  EXPECT_EQ(opt.steps(), 1);
  EXPECT_NEAR(opt.exp_avg()[0], 0.05, 1e-8);
  EXPECT_NEAR(opt.exp_avg_sq()[0], 2.5e-4, 1e-10);
}

TEST(TrainOptimizer, AdamWSeveralStepsMatchTheFormula) {
  // torch's update written out in double, step by step, with a changing gradient and learning rate.
  const double lr0 = 2e-3, wd = 0.05, b1 = 0.8, b2 = 0.95, eps = 1e-6;
  const std::vector<std::vector<float>> grads = {{0.3f, -1.5f}, {-0.2f, 0.0f}, {1e-4f, 2.0f}, {0.0f, 0.0f}};
  ParameterSet ps;
  ps.declare("w", {2});
  ps.allocate();
  ps.data()[0] = 0.7f;
  ps.data()[1] = -1.2f;
  AdamWOptions o;
  o.beta1 = b1;
  o.beta2 = b2;
  o.eps = eps;
  o.weight_decay = wd;
  AdamW opt(ps, o);
  double p[2] = {0.7, -1.2}, m[2] = {0, 0}, v[2] = {0, 0};
  for (size_t t = 1; t <= grads.size(); ++t) {
    const double lr = lr0 / (double)t;
    opt.step(ps, grads[t - 1], lr);
    for (int i = 0; i < 2; ++i) {
      const double g = grads[t - 1][i];
      p[i] *= 1 - lr * wd;
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      const double m_hat = m[i] / (1 - std::pow(b1, (double)t));
      const double denom = std::sqrt(v[i]) / std::sqrt(1 - std::pow(b2, (double)t)) + eps;
      p[i] -= lr * m_hat / denom;
      EXPECT_NEAR(ps.data()[i], p[i], 1e-6) << "step " << t << " element " << i;
    }
  }
}

TEST(TrainOptimizer, WeightDecaySkipsBiasesAndNormsUnlessDecayAll) {
  const std::vector<float> zero(4, 0.0f);
  AdamWOptions o;
  o.weight_decay = 0.01;
  {
    ParameterSet ps = two_tensors();
    AdamW opt(ps, o);  // Hugging Face Trainer's rule
    opt.step(ps, zero, 1e-3);
    const float f = (float)(1.0 - 1e-3 * 0.01);
    EXPECT_EQ(ps.data()[0], 1.0f * f);
    EXPECT_EQ(ps.data()[1], 2.0f * f);
    EXPECT_EQ(ps.data()[2], 3.0f) << "bias not decayed";
    EXPECT_EQ(ps.data()[3], 4.0f);
  }
  {
    ParameterSet ps = two_tensors();
    o.decay_all = true;
    AdamW opt(ps, o);
    const float f = (float)(1.0 - 1e-3 * 0.01);
    for (int k = 0; k < 3; ++k) opt.step(ps, zero, 1e-3);
    // A parameter with zero gradient is only decayed: p_k = p_0 * fl32(1 - lr * wd)^k, bit for bit.
    for (size_t i = 0; i < 4; ++i) EXPECT_EQ(ps.data()[i], (float)(i + 1) * f * f * f);
  }
}

TEST(TrainOptimizer, AdamWRejectsMismatchedGradients) {
  ParameterSet ps = two_tensors();
  AdamW opt(ps, {});
  EXPECT_THROW(opt.step(ps, std::vector<float>(3, 0.0f), 1e-3), Error);
}

TEST(TrainOptimizer, ClipGradNormLikeTorch) {
  std::vector<float> g = {3.0f, 0.0f, -4.0f};
  EXPECT_NEAR(clip_grad_norm(g, 1.0), 5.0, 1e-12);
  const double coef = 1.0 / (5.0 + 1e-6);
  EXPECT_NEAR(g[0], 3.0 * coef, 1e-7);
  EXPECT_NEAR(g[2], -4.0 * coef, 1e-7);
  std::vector<float> h = {3.0f, 0.0f, -4.0f};
  EXPECT_NEAR(clip_grad_norm(h, 10.0), 5.0, 1e-12);
  EXPECT_EQ(h, (std::vector<float>{3.0f, 0.0f, -4.0f})) << "coefficient clamped to 1";
  EXPECT_NEAR(clip_grad_norm(h, 0.0), 5.0, 1e-12);
  EXPECT_EQ(h[0], 3.0f) << "max_norm <= 0 only measures";
  std::vector<float> big(300000, 0.5f);  // several reduction chunks
  EXPECT_NEAR(clip_grad_norm(big, 0.0), std::sqrt(300000 * 0.25), 1e-6);
}

TEST(TrainOptimizer, LinearScheduleWithWarmup) {
  LrSchedule s{ScheduleKind::Linear, 1.0, 2, 10};
  EXPECT_DOUBLE_EQ(s.lr(0), 0.0);
  EXPECT_DOUBLE_EQ(s.lr(1), 0.5);
  EXPECT_DOUBLE_EQ(s.lr(2), 1.0);
  EXPECT_DOUBLE_EQ(s.lr(6), 0.5);  // (10 - 6) / (10 - 2)
  EXPECT_DOUBLE_EQ(s.lr(9), 0.125);
  EXPECT_DOUBLE_EQ(s.lr(10), 0.0);
  EXPECT_DOUBLE_EQ(s.lr(12), 0.0);
  LrSchedule no_warmup{ScheduleKind::Linear, 3e-5, 0, 4};
  EXPECT_DOUBLE_EQ(no_warmup.lr(0), 3e-5);
  EXPECT_DOUBLE_EQ(no_warmup.lr(1), 3e-5 * 0.75);
}

TEST(TrainOptimizer, CosineAndConstantSchedules) {
  LrSchedule cosine{ScheduleKind::Cosine, 2.0, 0, 4};
  EXPECT_DOUBLE_EQ(cosine.lr(0), 2.0);
  EXPECT_NEAR(cosine.lr(1), 2.0 * 0.5 * (1 + std::cos(M_PI * 0.25)), 1e-15);
  EXPECT_NEAR(cosine.lr(2), 1.0, 1e-15);
  EXPECT_NEAR(cosine.lr(4), 0.0, 1e-15);
  LrSchedule cosine_warm{ScheduleKind::Cosine, 1.0, 3, 13};
  EXPECT_DOUBLE_EQ(cosine_warm.lr(1), 1.0 / 3.0);
  EXPECT_NEAR(cosine_warm.lr(8), 0.5, 1e-15);
  LrSchedule constant{ScheduleKind::Constant, 0.5, 5, 10};  // get_constant_schedule ignores warmup
  EXPECT_DOUBLE_EQ(constant.lr(0), 0.5);
  EXPECT_DOUBLE_EQ(constant.lr(100), 0.5);
  LrSchedule warm{ScheduleKind::ConstantWithWarmup, 0.5, 4, 10};
  EXPECT_DOUBLE_EQ(warm.lr(1), 0.125);
  EXPECT_DOUBLE_EQ(warm.lr(4), 0.5);
  EXPECT_DOUBLE_EQ(warm.lr(50), 0.5);
  EXPECT_EQ(parse_schedule("cosine"), ScheduleKind::Cosine);
  EXPECT_EQ(parse_schedule("constant_with_warmup"), ScheduleKind::ConstantWithWarmup);
  EXPECT_THROW(parse_schedule("polynomial"), Error);
}

TEST(TrainOptimizer, WarmupRatioRoundsUp) {
  EXPECT_EQ(warmup_steps_from_ratio(100, 0.06), 6);
  EXPECT_EQ(warmup_steps_from_ratio(10, 0.05), 1);  // ceil(0.5)
  EXPECT_EQ(warmup_steps_from_ratio(10, 0.0), 0);
  EXPECT_THROW(warmup_steps_from_ratio(10, 1.5), Error);
}
