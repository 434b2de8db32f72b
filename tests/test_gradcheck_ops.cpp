// Gradient checks of every training op on tiny random shapes. Each op has an independent double-
// precision forward written here from its definition; the float backward under test must match
// central finite differences of that reference (step 1e-6 in double, so the numeric gradient is good
// to ~1e-9) within 1e-4 relative. The float forward of each op is also checked against its reference,
// so a backward cannot pass by differentiating the wrong function. Every op test runs on every
// available device (tests/support/device_test.h).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <numeric>

#include "medenc/error.h"
#include "medenc/train.h"
#include "ops/ops.h"
#include "ops/ops_backward.h"
#include "device_test.h"
#include "util/random.h"

using namespace medenc;

namespace {

using Vec = std::vector<double>;
using Fn = std::function<double(const Vec&)>;

Vec random_vec(size_t n, uint64_t seed, double scale = 1.0) {
  Rng rng(seed);
  Vec v(n);
  for (double& x : v) x = rng.normal() * scale;
  return v;
}

std::vector<float> to_float(const Vec& v) { return std::vector<float>(v.begin(), v.end()); }
Vec to_double(const std::vector<float>& v) { return Vec(v.begin(), v.end()); }

// The float-rounded copy, so the double reference sees exactly the float op's inputs.
Vec rounded(const Vec& v) { return to_double(to_float(v)); }

// d f / d x[i] by central differences in double.
Vec numeric_grad(const Fn& f, Vec x, double h = 1e-6) {
  Vec g(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double keep = x[i];
    x[i] = keep + h;
    const double up = f(x);
    x[i] = keep - h;
    const double down = f(x);
    x[i] = keep;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

double dot(const Vec& a, const Vec& b) { return std::inner_product(a.begin(), a.end(), b.begin(), 0.0); }

// |analytic - numeric| <= atol + rtol * |numeric| everywhere.
void expect_grad_near(const std::vector<float>& analytic, const Vec& numeric, const char* what, double rtol = 1e-4,
                      double atol = 1e-6) {
  ASSERT_EQ(analytic.size(), numeric.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < numeric.size(); ++i)
    if (!(std::fabs(analytic[i] - numeric[i]) <= atol + rtol * std::fabs(numeric[i])) && bad++ < 3)
      ADD_FAILURE() << what << "[" << i << "]: analytic " << analytic[i] << " vs numeric " << numeric[i];
}

void expect_values_near(const std::vector<float>& a, const Vec& ref, const char* what, double tol = 1e-5) {
  ASSERT_EQ(a.size(), ref.size()) << what;
  for (size_t i = 0; i < ref.size(); ++i)
    ASSERT_NEAR(a[i], ref[i], tol * std::max(1.0, std::fabs(ref[i]))) << what << "[" << i << "]";
}

// ---- double references ----

Vec ref_linear(const Vec& x, const Vec& w, const Vec* b, int64_t rows, int64_t in, int64_t out) {
  Vec y((size_t)(rows * out));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double s = b ? (*b)[o] : 0.0;
      for (int64_t i = 0; i < in; ++i) s += x[r * in + i] * w[o * in + i];
      y[r * out + o] = s;
    }
  return y;
}

Vec ref_layernorm(const Vec& x, const Vec& g, const Vec* b, int64_t rows, int64_t dim, double eps) {
  Vec y(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double m = 0, v = 0;
    for (int64_t i = 0; i < dim; ++i) m += x[r * dim + i];
    m /= dim;
    for (int64_t i = 0; i < dim; ++i) v += (x[r * dim + i] - m) * (x[r * dim + i] - m);
    v /= dim;
    for (int64_t i = 0; i < dim; ++i)
      y[r * dim + i] = (x[r * dim + i] - m) / std::sqrt(v + eps) * g[i] + (b ? (*b)[i] : 0.0);
  }
  return y;
}

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double gelu(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }

double ref_act(double x, Activation a) {
  switch (a) {
    case Activation::GeluErf: return gelu(x);
    case Activation::GeluTanh: return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case Activation::GeluFast: return 0.5 * x * (1 + std::tanh(0.7978845608 * x * (1 + 0.044715 * x * x)));
    case Activation::QuickGelu: return x * sigmoid(1.702 * x);
    case Activation::Gelu10: return std::clamp(gelu(x), -10.0, 10.0);
    case Activation::Silu: return x * sigmoid(x);
    case Activation::Relu: return std::max(x, 0.0);
    case Activation::Relu6: return std::clamp(x, 0.0, 6.0);
    case Activation::Relu2: return x > 0 ? x * x : 0.0;
    case Activation::LeakyRelu: return x >= 0 ? x : 0.01 * x;
    case Activation::Tanh: return std::tanh(x);
    case Activation::Sigmoid: return sigmoid(x);
    case Activation::Mish: return x * std::tanh(std::log1p(std::exp(x)));
    case Activation::Linear: return x;
  }
  return x;
}

const Activation kAllActivations[] = {Activation::GeluErf,  Activation::GeluTanh,  Activation::GeluFast,
                                      Activation::QuickGelu, Activation::Gelu10,   Activation::Silu,
                                      Activation::Relu,      Activation::Relu6,    Activation::Relu2,
                                      Activation::LeakyRelu, Activation::Tanh,     Activation::Sigmoid,
                                      Activation::Mish,      Activation::Linear};

// Inputs kept away from the kinks of relu-like activations (0 and 6), where the derivative jumps.
Vec away_from_kinks(Vec x) {
  for (double& v : x) {
    if (std::fabs(v) < 0.05) v = v < 0 ? -0.3 : 0.3;
    if (std::fabs(v - 6.0) < 0.05) v = 6.5;
  }
  return x;
}

// RoPE (rotate-half) on Q and K of packed qkv rows; angles as the kernel computes them (float).
Vec ref_rope(const Vec& qkv, const std::vector<int32_t>& pos, int heads, int hd, const std::vector<float>& inv_freq) {
  Vec out = qkv;
  const int64_t hidden = (int64_t)heads * hd;
  for (size_t t = 0; t < pos.size(); ++t)
    for (int part = 0; part < 2; ++part)
      for (int h = 0; h < heads; ++h)
        for (int j = 0; j < hd / 2; ++j) {
          const float angle = (float)pos[t] * inv_freq[j];
          const double c = std::cos((double)angle), s = std::sin((double)angle);
          const size_t base = t * 3 * hidden + part * hidden + (size_t)h * hd;
          const double a = qkv[base + j], b = qkv[base + j + hd / 2];
          out[base + j] = a * c - b * s;
          out[base + j + hd / 2] = b * c + a * s;
        }
  return out;
}

// Dense masked attention per sequence and head, with an optional dropout mask on the probabilities.
Vec ref_attention(const Vec& qkv, const std::vector<int64_t>& cu, int heads, int hd, int64_t window, double scale,
                  const ops::Dropout& drop = {}) {
  const int64_t hidden = (int64_t)heads * hd, stride = 3 * hidden;
  Vec out((size_t)(cu.back() * hidden), 0.0);
  const uint64_t threshold = ops::dropout_threshold(drop.p);
  for (size_t b = 0; b + 1 < cu.size(); ++b)
    for (int h = 0; h < heads; ++h)
      for (int64_t i = cu[b]; i < cu[b + 1]; ++i) {
        std::vector<double> s;
        std::vector<int64_t> keys;
        for (int64_t j = cu[b]; j < cu[b + 1]; ++j) {
          if (window >= 0 && std::llabs((i - cu[b]) - (j - cu[b])) > window) continue;
          double d = 0;
          for (int t = 0; t < hd; ++t) d += qkv[i * stride + h * hd + t] * qkv[j * stride + hidden + h * hd + t];
          s.push_back(d * scale);
          keys.push_back(j);
        }
        const double m = *std::max_element(s.begin(), s.end());
        double z = 0;
        for (double& v : s) z += (v = std::exp(v - m));
        for (size_t k = 0; k < keys.size(); ++k) {
          double p = s[k] / z;
          if (drop.active()) {
            const uint64_t index = ((uint64_t)(i * heads + h) << 32) + (uint64_t)(keys[k] - cu[b]);
            p = ops::dropout_keep(drop.seed, index, threshold) ? p / (1.0 - drop.p) : 0.0;
          }
          for (int t = 0; t < hd; ++t)
            out[i * hidden + h * hd + t] += p * qkv[keys[k] * stride + 2 * hidden + h * hd + t];
        }
      }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Every test runs on every available device (tests/support/device_test.h): inputs are uploaded,
// outputs downloaded, and each device is compared with the double references above.

class GradcheckOps : public test::DeviceTest {
 protected:
  void check_attention(int64_t window, const ops::Dropout& drop);
};
MEDENC_TEST_ON_ALL_DEVICES(GradcheckOps);

TEST_P(GradcheckOps, LinearWithAndWithoutBias) {
  const int64_t rows = 5, in = 7, out = 4;
  for (bool with_bias : {true, false}) {
    SCOPED_TRACE(with_bias ? "bias" : "no bias");
    const Vec x = rounded(random_vec(rows * in, 1)), w = rounded(random_vec(out * in, 2, 0.5)),
              b = rounded(random_vec(out, 3)), dy = rounded(random_vec(rows * out, 4));
    const auto xd = put(to_float(x)), wd = put(to_float(w)), bd = put(to_float(b)), dyd = put(to_float(dy));
    ops::LinearWeights lw;
    lw.weight = wd.data();
    lw.bias = with_bias ? bd.data() : nullptr;
    lw.in = in;
    lw.out = out;
    auto yd = filled<float>(rows * out, NAN);
    ops::linear(ctx(), lw, xd.data(), yd.data(), rows);
    expect_values_near(get(yd), ref_linear(x, w, with_bias ? &b : nullptr, rows, in, out), "y");

    // Parameter gradients accumulate onto what is there; dx is written (or added).
    auto dxd = filled<float>(rows * in, 7.0f), dwd = filled<float>(out * in, 0.5f), dbd = filled<float>(out, -1.0f);
    ops::linear_backward(ctx(), lw, xd.data(), dyd.data(), rows, dxd.data(), dwd.data(),
                         with_bias ? dbd.data() : nullptr);
    const std::vector<float> dx = get(dxd);
    const Vec* bp = with_bias ? &b : nullptr;
    expect_grad_near(dx, numeric_grad([&](const Vec& v) { return dot(dy, ref_linear(v, w, bp, rows, in, out)); }, x),
                     "dx");
    Vec ndw = numeric_grad([&](const Vec& v) { return dot(dy, ref_linear(x, v, bp, rows, in, out)); }, w);
    for (double& v : ndw) v += 0.5;
    expect_grad_near(get(dwd), ndw, "dw");
    if (with_bias) {
      Vec ndb = numeric_grad([&](const Vec& v) { return dot(dy, ref_linear(x, w, &v, rows, in, out)); }, b);
      for (double& v : ndb) v -= 1.0;
      expect_grad_near(get(dbd), ndb, "db");
    }
    auto dx2d = filled<float>(rows * in, 1.0f);
    ops::linear_backward(ctx(), lw, xd.data(), dyd.data(), rows, dx2d.data(), nullptr, nullptr, /*accumulate=*/true);
    const std::vector<float> dx2 = get(dx2d);
    for (size_t i = 0; i < dx.size(); ++i) EXPECT_NEAR(dx2[i], dx[i] + 1.0f, 1e-5);
  }
}

TEST_P(GradcheckOps, LayerNormWithAndWithoutBias) {
  const int64_t rows = 70, dim = 6;  // more rows than one reduction chunk
  const double eps = 1e-5;
  for (bool with_bias : {true, false}) {
    SCOPED_TRACE(with_bias ? "bias" : "no bias");
    const Vec x = rounded(random_vec(rows * dim, 11, 2.0)), g = rounded(random_vec(dim, 12)),
              b = rounded(random_vec(dim, 13)), dy = rounded(random_vec(rows * dim, 14));
    const auto xd = put(to_float(x)), gd = put(to_float(g)), bd = put(to_float(b)), dyd = put(to_float(dy));
    const Vec* bp = with_bias ? &b : nullptr;
    auto yd = filled<float>(rows * dim, NAN);
    ops::layernorm(ctx(), xd.data(), gd.data(), with_bias ? bd.data() : nullptr, yd.data(), rows, dim, (float)eps);
    expect_values_near(get(yd), ref_layernorm(x, g, bp, rows, dim, eps), "y");

    auto dxd = filled<float>(rows * dim, NAN), dgd = filled<float>(dim, 0.0f), dbd = filled<float>(dim, 0.0f);
    ops::layernorm_backward(ctx(), xd.data(), gd.data(), dyd.data(), dxd.data(), dgd.data(),
                            with_bias ? dbd.data() : nullptr, rows, dim, (float)eps);
    expect_grad_near(get(dxd),
                     numeric_grad([&](const Vec& v) { return dot(dy, ref_layernorm(v, g, bp, rows, dim, eps)); }, x),
                     "dx", 1e-4, 1e-5);
    expect_grad_near(get(dgd),
                     numeric_grad([&](const Vec& v) { return dot(dy, ref_layernorm(x, v, bp, rows, dim, eps)); }, g),
                     "dgamma");
    if (with_bias)
      expect_grad_near(get(dbd),
                       numeric_grad([&](const Vec& v) { return dot(dy, ref_layernorm(x, g, &v, rows, dim, eps)); }, b),
                       "dbeta");
  }
}

TEST_P(GradcheckOps, EveryActivation) {
  const Vec x = rounded(away_from_kinks(random_vec(64, 21, 2.5))), dy = rounded(random_vec(64, 22));
  const int64_t n = (int64_t)x.size();
  for (Activation act : kAllActivations) {
    SCOPED_TRACE((int)act);
    auto yd = put(to_float(x));
    ops::activation(ctx(), yd.data(), n, act);
    Vec ref(x.size());
    for (size_t i = 0; i < x.size(); ++i) ref[i] = ref_act(x[i], act);
    expect_values_near(get(yd), ref, "act", 2e-6);
    const auto xd = put(to_float(x)), dyd = put(to_float(dy));
    auto dxd = filled<float>(n, NAN);
    ops::activation_backward(ctx(), xd.data(), dyd.data(), dxd.data(), n, act);
    const Vec num = numeric_grad(
        [&](const Vec& v) {
          double s = 0;
          for (size_t i = 0; i < v.size(); ++i) s += dy[i] * ref_act(v[i], act);
          return s;
        },
        x);
    expect_grad_near(get(dxd), num, "dx", 2e-4, 1e-6);
  }
}

// A host-side scalar helper: the same for every device.
TEST(GradcheckOpsScalar, ActivationKinksFollowTorch) {
  // torch: relu'(0) = 0, relu6' is 0 at 0 and 6, leaky_relu'(0) = slope, gelu_10 is flat where clipped.
  EXPECT_EQ(ops::activation_derivative(0.0f, Activation::Relu), 0.0f);
  EXPECT_EQ(ops::activation_derivative(0.0f, Activation::Relu6), 0.0f);
  EXPECT_EQ(ops::activation_derivative(6.0f, Activation::Relu6), 0.0f);
  EXPECT_EQ(ops::activation_derivative(3.0f, Activation::Relu6), 1.0f);
  EXPECT_FLOAT_EQ(ops::activation_derivative(0.0f, Activation::LeakyRelu), 0.01f);
  EXPECT_EQ(ops::activation_derivative(12.0f, Activation::Gelu10), 0.0f);
  EXPECT_NEAR(ops::activation_derivative(2.0f, Activation::Gelu10),
              ops::activation_derivative(2.0f, Activation::GeluErf), 1e-7);
}

TEST_P(GradcheckOps, GegluWithEveryActivation) {
  const int64_t rows = 3, inter = 5;
  const Vec z = rounded(away_from_kinks(random_vec(rows * 2 * inter, 31, 2.0))),
            dout = rounded(random_vec(rows * inter, 32));
  const auto zd = put(to_float(z)), doutd = put(to_float(dout));
  for (Activation act : kAllActivations) {
    SCOPED_TRACE((int)act);
    auto ref = [&](const Vec& v) {
      Vec o((size_t)(rows * inter));
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t i = 0; i < inter; ++i)
          o[r * inter + i] = ref_act(v[r * 2 * inter + i], act) * v[r * 2 * inter + inter + i];
      return o;
    };
    auto outd = filled<float>(rows * inter, NAN);
    ops::geglu(ctx(), zd.data(), outd.data(), rows, inter, act);
    expect_values_near(get(outd), ref(z), "out", 2e-6);
    auto dzd = filled<float>((int64_t)z.size(), NAN);
    ops::geglu_backward(ctx(), zd.data(), doutd.data(), dzd.data(), rows, inter, act);
    expect_grad_near(get(dzd), numeric_grad([&](const Vec& v) { return dot(dout, ref(v)); }, z), "dz", 2e-4, 1e-6);
  }
}

TEST_P(GradcheckOps, EmbeddingSkipsPaddingRowAndSumsRepeats) {
  const int64_t vocab = 6, dim = 3;
  const std::vector<int32_t> ids = {2, 5, 2, 0, 2, 4, 0};
  const int64_t n = (int64_t)ids.size();
  const Vec dout = rounded(random_vec(ids.size() * dim, 41));
  const auto idsd = put(ids);
  const auto doutd = put(to_float(dout));
  auto dtabled = filled<float>(vocab * dim, 0.25f);
  ops::embedding_backward(ctx(), idsd.data(), n, doutd.data(), dtabled.data(), dim, /*padding_idx=*/0);
  Vec want((size_t)(vocab * dim), 0.25);
  for (size_t t = 0; t < ids.size(); ++t)
    if (ids[t] != 0)
      for (int64_t i = 0; i < dim; ++i) want[ids[t] * dim + i] += dout[t * dim + i];
  const std::vector<float> dtable = get(dtabled);
  expect_grad_near(dtable, want, "dtable", 1e-6, 1e-6);
  for (int64_t i = 0; i < dim; ++i) EXPECT_EQ(dtable[i], 0.25f) << "padding row";
  // Without a padding index every row takes its gradient.
  auto dalld = filled<float>(vocab * dim, 0.0f);
  ops::embedding_backward(ctx(), idsd.data(), n, doutd.data(), dalld.data(), dim, -1);
  EXPECT_NEAR(get(dalld)[0], dout[3 * dim] + dout[6 * dim], 1e-6);
}

TEST_P(GradcheckOps, EmbeddingForwardGathersAndAccumulates) {
  const int64_t vocab = 5, dim = 4;
  const std::vector<int32_t> ids = {3, 0, 3, 4};
  const int64_t n = (int64_t)ids.size();
  const Vec table = rounded(random_vec(vocab * dim, 42)), base = rounded(random_vec(n * dim, 43));
  const auto tabled = put(to_float(table));
  const auto idsd = put(ids);
  auto outd = filled<float>(n * dim, NAN);
  ops::embedding(ctx(), tabled.data(), dim, idsd.data(), n, outd.data());
  auto accd = put(to_float(base));
  ops::embedding(ctx(), tabled.data(), dim, idsd.data(), n, accd.data(), /*accumulate=*/true);
  Vec want((size_t)(n * dim)), want_acc((size_t)(n * dim));
  for (int64_t t = 0; t < n; ++t)
    for (int64_t i = 0; i < dim; ++i) {
      want[t * dim + i] = table[ids[t] * dim + i];
      want_acc[t * dim + i] = base[t * dim + i] + table[ids[t] * dim + i];
    }
  expect_values_near(get(outd), want, "out", 0.0);
  expect_values_near(get(accd), want_acc, "accumulated", 1e-7);
}

TEST_P(GradcheckOps, RotaryEmbedding) {
  const int heads = 2, hd = 6;
  const std::vector<int32_t> pos = {0, 1, 2, 7, 0, 30};
  const int64_t rows = (int64_t)pos.size(), width = 3 * heads * hd;
  std::vector<float> inv_freq(hd / 2);
  for (int j = 0; j < hd / 2; ++j) inv_freq[j] = 1.0f / std::pow(10000.0f, (float)(2 * j) / hd);
  const Vec qkv = rounded(random_vec(rows * width, 51)), dy = rounded(random_vec(rows * width, 52));
  const auto posd = put(pos);
  const auto freqd = put(inv_freq);
  auto yd = put(to_float(qkv));
  ops::rope_qkv(ctx(), yd.data(), posd.data(), rows, heads, hd, freqd.data());
  expect_values_near(get(yd), ref_rope(qkv, pos, heads, hd, inv_freq), "rope", 1e-6);
  auto dqkvd = put(to_float(dy));
  ops::rope_qkv_backward(ctx(), dqkvd.data(), posd.data(), rows, heads, hd, freqd.data());
  expect_grad_near(get(dqkvd),
                   numeric_grad([&](const Vec& v) { return dot(dy, ref_rope(v, pos, heads, hd, inv_freq)); }, qkv),
                   "dqkv", 1e-4, 1e-6);
}

void GradcheckOps::check_attention(int64_t window, const ops::Dropout& drop) {
  const int heads = 2, hd = 4;
  const std::vector<int64_t> cu = {0, 9, 10, 16};  // lengths 9, 1, 6
  const int64_t rows = cu.back(), hidden = heads * hd;
  const double scale = 1.0 / std::sqrt((double)hd);
  const Vec qkv = rounded(random_vec(rows * 3 * hidden, 61 + window, 1.2)),
            dout = rounded(random_vec(rows * hidden, 62));
  const auto qkvd = put(to_float(qkv));
  const auto cud = put(cu);
  const auto doutd = put(to_float(dout));
  auto outd = filled<float>(rows * hidden, NAN), statsd = filled<float>(rows * heads * 2, NAN);
  ops::attention_forward_train(ctx(), qkvd.data(), outd.data(), statsd.data(), cud.data(), 3, heads, hd, window,
                               (float)scale, drop);
  const std::vector<float> out = get(outd);
  expect_values_near(out, ref_attention(qkv, cu, heads, hd, window, scale, drop), "out", 1e-5);
  if (!drop.active()) {  // the training forward agrees with the inference kernel
    auto inferenced = filled<float>(rows * hidden, NAN);
    ops::attention(ctx(), qkvd.data(), inferenced.data(), cud.data(), 3, heads, hd, window, (float)scale);
    const std::vector<float> inference = get(inferenced);
    for (size_t i = 0; i < out.size(); ++i) EXPECT_NEAR(out[i], inference[i], 1e-6);
  }
  auto dqkvd = filled<float>((int64_t)qkv.size(), 123.0f);
  ops::attention_backward(ctx(), qkvd.data(), outd.data(), doutd.data(), statsd.data(), dqkvd.data(), cud.data(), 3,
                          heads, hd, window, (float)scale, drop);
  const Vec num =
      numeric_grad([&](const Vec& v) { return dot(dout, ref_attention(v, cu, heads, hd, window, scale, drop)); }, qkv);
  expect_grad_near(get(dqkvd), num, "dqkv", 1e-4, 2e-6);
}

TEST_P(GradcheckOps, GlobalAttention) { check_attention(-1, {}); }
TEST_P(GradcheckOps, SlidingWindowAttention) { check_attention(2, {}); }
TEST_P(GradcheckOps, WindowOfZeroAttendsToSelfOnly) { check_attention(0, {}); }
TEST_P(GradcheckOps, AttentionWithDropoutOnProbabilities) {
  check_attention(-1, ops::Dropout{0.3f, 99});
  check_attention(3, ops::Dropout{0.5f, 7});
}

TEST_P(GradcheckOps, PoolingClsAndMean) {
  const std::vector<int64_t> offsets = {0, 3, 4, 8};
  const int64_t dim = 2;
  const Vec dp = rounded(random_vec(3 * dim, 71)), rows = rounded(random_vec(8 * dim, 72));
  const auto offd = put(offsets);
  const auto dpd = put(to_float(dp));
  const auto rowsd = put(to_float(rows));
  for (bool mean : {false, true}) {
    SCOPED_TRACE(mean ? "mean" : "cls");
    // Forward: checked against its definition, and the backward against finite differences of it.
    auto ref = [&](const Vec& v) {
      Vec p((size_t)(3 * dim), 0.0);
      for (int64_t b = 0; b < 3; ++b)
        for (int64_t i = 0; i < dim; ++i) {
          const int64_t s1 = mean ? offsets[b + 1] : offsets[b] + 1;
          for (int64_t t = offsets[b]; t < s1; ++t) p[b * dim + i] += v[t * dim + i] / (double)(s1 - offsets[b]);
        }
      return p;
    };
    auto pooledd = filled<float>(3 * dim, NAN);
    ops::pool(ctx(), rowsd.data(), offd.data(), 3, dim, mean ? ops::Pool::Mean : ops::Pool::Cls, pooledd.data());
    expect_values_near(get(pooledd), ref(rows), "pooled", 1e-7);
    auto drowsd = filled<float>(8 * dim, 1.0f);
    ops::pool_backward(ctx(), offd.data(), 3, dpd.data(), drowsd.data(), dim, mean);
    Vec want = numeric_grad([&](const Vec& v) { return dot(dp, ref(v)); }, rows);
    for (double& v : want) v += 1.0;  // pool_backward adds to what is there
    expect_grad_near(get(drowsd), want, "drows", 1e-6, 1e-6);
  }
}

TEST_P(GradcheckOps, DropoutIsSeededScaledAndItsOwnBackward) {
  const int64_t n = 200000;
  const ops::Dropout d{0.1f, 1234};
  auto ad = filled<float>(n, 1.0f), bd = filled<float>(n, 1.0f), cd = filled<float>(n, 1.0f);
  ops::dropout(ctx(), ad.data(), n, d);
  ops::dropout(ctx(), bd.data(), n, d);
  ops::dropout(ctx(), cd.data(), n, ops::Dropout{0.1f, 1235});
  const std::vector<float> a = get(ad);
  EXPECT_EQ(a, get(bd)) << "same seed, same mask";
  EXPECT_NE(a, get(cd)) << "another seed, another mask";
  int64_t zeros = 0;
  for (float v : a) {
    if (v == 0.0f) ++zeros;
    else ASSERT_FLOAT_EQ(v, 1.0f / 0.9f);
  }
  EXPECT_NEAR((double)zeros / n, 0.1, 0.005);
  // An offset window of the stream is the same mask (so chunks can be processed separately).
  auto taild = filled<float>(100, 1.0f);
  ops::dropout(ctx(), taild.data(), 100, d, /*first=*/5000);
  const std::vector<float> tail = get(taild);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(tail[i], a[5000 + i]);
  // p = 0.5: half the elements, doubled.
  auto hd = filled<float>(n, 3.0f);
  ops::dropout(ctx(), hd.data(), n, ops::Dropout{0.5f, 5});
  double sum = 0;
  for (float v : get(hd)) {
    sum += v;
    ASSERT_TRUE(v == 0.0f || v == 6.0f);
  }
  EXPECT_NEAR(sum / n, 3.0, 0.03);
  auto samed = filled<float>(n, 2.0f);
  ops::dropout(ctx(), samed.data(), n, ops::Dropout{});
  EXPECT_EQ(get(samed), std::vector<float>((size_t)n, 2.0f)) << "p = 0 is the identity";
}

// ---------------------------------------------------------------------------------------------
// Losses against hand-computed values and double finite differences.

TEST(GradcheckLosses, MeanSquaredError) {
  const std::vector<float> x = {1.0f, -2.0f, 0.5f}, y = {0.0f, 1.0f, 0.5f};
  std::vector<float> g(3);
  EXPECT_NEAR(mse_loss(x, y, g.data()), (1.0 + 9.0 + 0.0) / 3.0, 1e-7);
  EXPECT_NEAR(g[0], 2.0 / 3.0, 1e-7);
  EXPECT_NEAR(g[1], -2.0, 1e-7);
  EXPECT_NEAR(g[2], 0.0, 1e-7);
  mse_loss(x, y, g.data(), 0.5f);
  EXPECT_NEAR(g[1], -1.0, 1e-7) << "grad_scale";
  EXPECT_THROW(mse_loss(x, std::vector<float>{1.0f}, g.data()), Error);
}

TEST(GradcheckLosses, BinaryCrossEntropyWithLogits) {
  const std::vector<float> x = {0.3f, -1.2f, 4.0f, -30.0f, 35.0f, 0.0f}, y = {1.0f, 0.0f, 1.0f, 1.0f, 0.0f, 0.25f};
  std::vector<float> g(x.size());
  const double loss = bce_with_logits_loss(x, y, g.data());
  double want = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double p = sigmoid(x[i]);
    // log(sigmoid) written stably for the saturated entries
    const double log_p = x[i] < -20 ? x[i] : std::log(p), log_q = x[i] > 20 ? -(double)x[i] : std::log(1 - p);
    want += -(y[i] * log_p + (1 - y[i]) * log_q);
    EXPECT_NEAR(g[i], (p - y[i]) / x.size(), 1e-7) << i;
  }
  EXPECT_NEAR(loss, want / x.size(), 1e-6);
}

TEST(GradcheckLosses, CrossEntropyIgnoresMinus100) {
  const int64_t rows = 4, classes = 3;
  const Vec logits = rounded(random_vec(rows * classes, 81, 2.0));
  const std::vector<int32_t> labels = {2, -100, 0, 1};
  auto ref = [&](const Vec& v) {
    double s = 0;
    int n = 0;
    for (int64_t r = 0; r < rows; ++r) {
      if (labels[r] == -100) continue;
      double z = 0;
      for (int64_t c = 0; c < classes; ++c) z += std::exp(v[r * classes + c]);
      s += std::log(z) - v[r * classes + labels[r]];
      ++n;
    }
    return s / n;
  };
  std::vector<float> g(logits.size());
  EXPECT_NEAR(cross_entropy_loss(to_float(logits).data(), rows, classes, labels, g.data()), ref(logits), 1e-6);
  expect_grad_near(g, numeric_grad(ref, logits), "dlogits", 1e-5, 1e-7);
  for (int64_t c = 0; c < classes; ++c) EXPECT_EQ(g[1 * classes + c], 0.0f);
  // A label out of range is an error naming the row; no labelled row gives 0.
  EXPECT_THROW(cross_entropy_loss(to_float(logits).data(), rows, classes, std::vector<int32_t>{0, 3, 0, 0}, g.data()),
               Error);
  EXPECT_EQ(cross_entropy_loss(to_float(logits).data(), rows, classes, std::vector<int32_t>(4, -100), g.data()), 0.0);
  for (float v : g) EXPECT_EQ(v, 0.0f);
}
