// The memory, data-movement, optimizer and loss ops, on every available device (device_test.h),
// against references written here in double from each op's definition: buffers and transfers, copy,
// fill, add, scale, row gather/scatter, sequence pooling (cls/mean/fp32 mean/max), AdamW's step, the global
// gradient norm and clipping, and the three losses with their gradients. Reductions must give the
// same bits whatever the thread count.
#include <gtest/gtest.h>

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "device_test.h"
#include "ops/ops.h"
#include "ops/ops_backward.h"
#include "util/random.h"

using namespace medenc;

namespace {

std::vector<float> random_floats(size_t n, uint64_t seed, double scale = 1.0) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (float& x : v) x = (float)(rng.normal() * scale);
  return v;
}

// |got - want| <= tol * max(1, |want|) everywhere.
void expect_near(const std::vector<float>& got, const std::vector<double>& want, double tol, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < want.size(); ++i)
    ASSERT_NEAR(got[i], want[i], tol * std::max(1.0, std::fabs(want[i]))) << what << "[" << i << "]";
}

// Runs f with the given OpenMP thread count, then restores it.
template <class F>
auto with_threads(int threads, F f) {
  const int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
  auto r = f();
  omp_set_num_threads(saved);
  return r;
}

}  // namespace

class DeviceOps : public test::DeviceTest {};
MEDENC_TEST_ON_ALL_DEVICES(DeviceOps);

TEST_P(DeviceOps, BuffersRoundTripAndAreAligned) {
  const std::vector<float> host = random_floats(1000, 1);
  const auto d = put(host);
  EXPECT_EQ(d.size(), 1000);
  EXPECT_EQ(get(d), host);
  EXPECT_EQ((uintptr_t)d.data() % 64, 0u);
  const std::vector<int64_t> ids = {5, -3, 1LL << 40};
  EXPECT_EQ(get(put(ids)), ids);
  ops::Buffer<float> moved = put(host);
  const float* p = moved.data();
  ops::Buffer<float> other = std::move(moved);
  EXPECT_EQ(other.data(), p);
  EXPECT_EQ(moved.data(), nullptr);
  EXPECT_EQ(ops::Buffer<float>(ctx(), 0).data(), nullptr);
}

TEST_P(DeviceOps, ArenaPointsEverySlotAtItsOwnAlignedSlice) {
  ops::Arena arena;
  float *a = nullptr, *b = nullptr, *c = nullptr;
  arena.layout(ctx(), {{&a, 3}, {&b, 17}, {&c, 0}});
  ASSERT_NE(a, nullptr);
  EXPECT_EQ((uintptr_t)a % 64, 0u);
  EXPECT_EQ((uintptr_t)b % 64, 0u);
  EXPECT_GE(b, a + 3);
  EXPECT_GE(c, b + 17);
  EXPECT_GE(arena.capacity(), 32);
  // Slices do not overlap: fill each, read back the others unchanged.
  ops::fill(ctx(), a, 3, 1.0f);
  ops::fill(ctx(), b, 17, 2.0f);
  EXPECT_EQ(ops::download(ctx(), a, 3), std::vector<float>(3, 1.0f));
  EXPECT_EQ(ops::download(ctx(), b, 17), std::vector<float>(17, 2.0f));
  // A smaller layout reuses the block; a larger one grows it.
  const int64_t cap = arena.capacity();
  float* a2 = nullptr;
  arena.layout(ctx(), {{&a2, 5}});
  EXPECT_EQ(a2, a);
  EXPECT_EQ(arena.capacity(), cap);
  arena.layout(ctx(), {{&a2, 5000}, {&b, 7}});
  EXPECT_GE(arena.capacity(), 5000 + 7);
  EXPECT_EQ((uintptr_t)b % 64, 0u);
  EXPECT_GE(b, a2 + 5000);
}

TEST_P(DeviceOps, CopyFillAddScale) {
  const int64_t n = 70000;  // past the kernels' threading threshold
  const std::vector<float> a = random_floats(n, 2), b = random_floats(n, 3);
  const auto ad = put(a), bd = put(b);
  auto yd = filled<float>(n, NAN);
  ops::copy(ctx(), ad.data(), yd.data(), n);
  EXPECT_EQ(get(yd), a);
  ops::fill(ctx(), yd.data() + 10, 5, -2.5f);
  std::vector<float> y = get(yd);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(y[i], i >= 10 && i < 15 ? -2.5f : a[i]) << i;
  ops::add(ctx(), ad.data(), bd.data(), yd.data(), n);
  y = get(yd);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(y[i], (float)((double)a[i] + (double)b[i])) << i;  // one rounding
  // In place (y = a): the residual add.
  auto rd = put(a);
  ops::add(ctx(), rd.data(), bd.data(), rd.data(), n);
  EXPECT_EQ(get(rd), y);
  ops::scale(ctx(), rd.data(), n, 0.25f);  // a power of two: exact
  const std::vector<float> r = get(rd);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(r[i], y[i] * 0.25f);
}

TEST_P(DeviceOps, GatherAndScatterRows) {
  const int64_t rows = 9, dim = 5;
  const std::vector<float> src = random_floats(rows * dim, 4);
  const std::vector<int64_t> index = {7, 0, 3, 8};
  const int64_t n = (int64_t)index.size();
  const auto srcd = put(src);
  const auto indexd = put(index);
  auto outd = filled<float>(n * dim, NAN);
  ops::gather_rows(ctx(), srcd.data(), dim, indexd.data(), n, outd.data());
  const std::vector<float> out = get(outd);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t i = 0; i < dim; ++i) ASSERT_EQ(out[r * dim + i], src[index[r] * dim + i]);

  // Scatter writes the listed rows and leaves the others; with accumulate it adds.
  for (bool accumulate : {false, true}) {
    SCOPED_TRACE(accumulate ? "accumulate" : "write");
    const std::vector<float> base = random_floats(rows * dim, 5);
    auto dstd = put(base);
    ops::scatter_rows(ctx(), outd.data(), dim, indexd.data(), n, dstd.data(), accumulate);
    std::vector<double> want(base.begin(), base.end());
    for (int64_t r = 0; r < n; ++r)
      for (int64_t i = 0; i < dim; ++i)
        want[index[r] * dim + i] = (accumulate ? want[index[r] * dim + i] : 0.0) + out[r * dim + i];
    expect_near(get(dstd), want, 1e-7, "dst");
  }
}

TEST_P(DeviceOps, PoolClsMeanMaxOverRaggedSequences) {
  const std::vector<int64_t> offsets = {0, 1, 4, 4 + 300, 4 + 300 + 2};  // lengths 1, 3, 300, 2
  const int64_t batch = 4, dim = 6, total = offsets.back();
  const std::vector<float> rows = random_floats(total * dim, 6, 3.0);
  const auto rowsd = put(rows);
  const auto offd = put(offsets);
  std::vector<std::vector<float>> got_by_kind;
  for (ops::Pool kind : {ops::Pool::Cls, ops::Pool::Mean, ops::Pool::MeanF32, ops::Pool::Max}) {
    SCOPED_TRACE((int)kind);
    std::vector<double> want((size_t)(batch * dim));
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t i = 0; i < dim; ++i) {
        double sum = 0.0, mx = -INFINITY;
        float running = 0.0f;  // MeanF32 by its definition: an fp32 running sum in row order
        for (int64_t t = offsets[b]; t < offsets[b + 1]; ++t) {
          sum += rows[t * dim + i];
          running += rows[t * dim + i];
          mx = std::max(mx, (double)rows[t * dim + i]);
        }
        const int64_t len = offsets[b + 1] - offsets[b];
        want[b * dim + i] = kind == ops::Pool::Cls       ? rows[offsets[b] * dim + i]
                            : kind == ops::Pool::Mean    ? sum / (double)len
                            : kind == ops::Pool::MeanF32 ? running / (float)len
                                                         : mx;
      }
    auto pooled = filled<float>(batch * dim, NAN);
    ops::pool(ctx(), rowsd.data(), offd.data(), batch, dim, kind, pooled.data());
    // Cls and max pick an input; the mean is the double mean rounded once; MeanF32 the fp32 sum
    // divided in fp32.
    const std::vector<float> got = get(pooled);
    for (size_t i = 0; i < want.size(); ++i) ASSERT_EQ(got[i], (float)want[i]) << i;
    got_by_kind.push_back(got);
  }
  // The fp32 mean stays within float rounding of the double one, yet the 300-row sums round apart
  // somewhere: the two kinds are distinct.
  const std::vector<float>& mean = got_by_kind[1];
  expect_near(got_by_kind[2], std::vector<double>(mean.begin(), mean.end()), 1e-4, "fp32 mean");
  EXPECT_NE(got_by_kind[2], mean);
}

TEST_P(DeviceOps, AdamWStepMatchesTorchFormulaInDouble) {
  // Two tensors (decayed weight, undecayed bias) over one flat buffer, one spanning several of the
  // kernel's slices; three steps.
  const int64_t nw = 70000, nb = 13, n = nw + nb;
  const std::vector<ops::ParamRange> tensors = {{0, nw, true}, {nw, nb, false}};
  ops::AdamWStep hp;
  hp.lr = 1e-3;
  hp.beta1 = 0.9;
  hp.beta2 = 0.98;
  hp.eps = 1e-6;
  hp.weight_decay = 0.01;
  std::vector<float> p0 = random_floats(n, 7);
  std::vector<double> p(p0.begin(), p0.end()), m((size_t)n, 0.0), v((size_t)n, 0.0);
  auto pd = put(p0), md = filled<float>(n, 0.0f), vd = filled<float>(n, 0.0f);
  for (int64_t step = 1; step <= 3; ++step) {
    const std::vector<float> g = random_floats(n, 10 + step, 0.1);
    hp.step = step;
    ops::adamw_step(ctx(), pd.data(), put(g).data(), md.data(), vd.data(), tensors, hp);
    // torch.optim.AdamW: p *= 1 - lr wd; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
    // p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
    for (int64_t i = 0; i < n; ++i) {
      if (i < nw) p[i] *= 1.0 - hp.lr * hp.weight_decay;
      m[i] = hp.beta1 * m[i] + (1 - hp.beta1) * g[i];
      v[i] = hp.beta2 * v[i] + (1 - hp.beta2) * g[i] * g[i];
      const double denom = std::sqrt(v[i]) / std::sqrt(1 - std::pow(hp.beta2, step)) + hp.eps;
      p[i] -= hp.lr / (1 - std::pow(hp.beta1, step)) * m[i] / denom;
    }
  }
  expect_near(get(pd), p, 2e-6, "params");
  expect_near(get(md), m, 1e-5, "exp_avg");
  expect_near(get(vd), v, 1e-5, "exp_avg_sq");
  // The bias was not decayed: with a zero gradient and zero moments it would not move at all.
  auto still = put(std::vector<float>{1.5f, -2.0f});
  auto zm = filled<float>(2, 0.0f), zv = filled<float>(2, 0.0f);
  const std::vector<ops::ParamRange> bias_only = {{0, 2, false}};
  hp.step = 1;
  ops::adamw_step(ctx(), still.data(), zm.data(), zm.data(), zv.data(), bias_only, hp);
  EXPECT_EQ(get(still), (std::vector<float>{1.5f, -2.0f}));
}

TEST_P(DeviceOps, GradientNormAndClipping) {
  const int64_t n = 200003;  // several of the reduction's chunks
  const std::vector<float> g = random_floats(n, 8, 0.01);
  double sum = 0.0;
  for (float x : g) sum += (double)x * x;
  const double norm = std::sqrt(sum);
  const auto gd = put(g);
  EXPECT_NEAR(ops::l2_norm(ctx(), gd.data(), n), norm, 1e-12 * norm);
  // Measuring only (max_norm 0) and a bound above the norm leave the gradients as they are.
  auto keep = put(g);
  EXPECT_NEAR(ops::clip_grad_norm(ctx(), keep.data(), n, 0.0), norm, 1e-12 * norm);
  EXPECT_NEAR(ops::clip_grad_norm(ctx(), keep.data(), n, 10.0 * norm), norm, 1e-12 * norm);
  EXPECT_EQ(get(keep), g);
  // A bound below it scales every element by max_norm / (norm + 1e-6), so the new norm is max_norm.
  auto clipped = put(g);
  const double max_norm = norm / 4.0;
  ops::clip_grad_norm(ctx(), clipped.data(), n, max_norm);
  const double coef = max_norm / (norm + 1e-6);
  std::vector<double> want(g.begin(), g.end());
  for (double& x : want) x *= coef;
  expect_near(get(clipped), want, 1e-7, "clipped");
  EXPECT_NEAR(ops::l2_norm(ctx(), clipped.data(), n), max_norm, 1e-6 * max_norm);
}

TEST_P(DeviceOps, CrossEntropyWithIgnoredRowsAndScale) {
  const int64_t rows = 5, classes = 4;
  const std::vector<float> logits = random_floats(rows * classes, 9, 3.0);
  const std::vector<int32_t> labels = {3, -100, 0, 2, 1};
  const float grad_scale = 0.5f;
  double want_loss = 0.0;
  std::vector<double> want_grad((size_t)(rows * classes), 0.0);
  const int counted = 4;
  for (int64_t r = 0; r < rows; ++r) {
    if (labels[r] == -100) continue;
    double z = 0.0;
    for (int64_t c = 0; c < classes; ++c) z += std::exp((double)logits[r * classes + c]);
    want_loss += std::log(z) - logits[r * classes + labels[r]];
    for (int64_t c = 0; c < classes; ++c)
      want_grad[r * classes + c] =
          grad_scale * (std::exp((double)logits[r * classes + c]) / z - (c == labels[r] ? 1.0 : 0.0)) / counted;
  }
  const auto ld = put(logits);
  const auto yd = put(labels);
  auto gd = filled<float>(rows * classes, NAN);
  EXPECT_NEAR(ops::cross_entropy_loss(ctx(), ld.data(), rows, classes, yd.data(), gd.data(), grad_scale, -100),
              want_loss / counted, 1e-6);
  expect_near(get(gd), want_grad, 1e-6, "dlogits");
  // No gradient asked: the same loss.
  EXPECT_NEAR(ops::cross_entropy_loss(ctx(), ld.data(), rows, classes, yd.data(), nullptr, 1.0f, -100),
              want_loss / counted, 1e-6);
}

TEST_P(DeviceOps, BceWithLogitsAndMse) {
  const std::vector<float> x = {0.3f, -1.2f, 4.0f, -30.0f, 35.0f, 0.0f, 2.5f};
  const std::vector<float> y = {1.0f, 0.0f, 1.0f, 1.0f, 0.0f, 0.25f, 0.7f};
  const int64_t n = (int64_t)x.size();
  const float grad_scale = 2.0f;
  double bce = 0.0, mse = 0.0;
  std::vector<double> dbce((size_t)n), dmse((size_t)n);
  for (int64_t i = 0; i < n; ++i) {
    // -[y log s(x) + (1 - y) log(1 - s(x))] = log(1 + e^x) - y x, with log1p for the saturated ends.
    const double lx = x[i] > 0 ? x[i] + std::log1p(std::exp(-(double)x[i])) : std::log1p(std::exp((double)x[i]));
    bce += lx - y[i] * (double)x[i];
    dbce[i] = grad_scale * (1.0 / (1.0 + std::exp(-(double)x[i])) - y[i]) / n;
    mse += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
    dmse[i] = grad_scale * 2.0 * ((double)x[i] - y[i]) / n;
  }
  const auto xd = put(x), yd = put(y);
  auto gd = filled<float>(n, NAN);
  EXPECT_NEAR(ops::bce_with_logits_loss(ctx(), xd.data(), yd.data(), n, gd.data(), grad_scale), bce / n, 2e-6 * bce / n);
  expect_near(get(gd), dbce, 1e-6, "dbce");
  EXPECT_NEAR(ops::mse_loss(ctx(), xd.data(), yd.data(), n, gd.data(), grad_scale), mse / n, 1e-5);
  expect_near(get(gd), dmse, 1e-6, "dmse");
}

TEST_P(DeviceOps, ReductionsDoNotDependOnTheThreadCount) {
  const int64_t rows = 300, classes = 500, n = rows * classes;
  const std::vector<float> logits = random_floats(n, 20, 2.0);
  std::vector<int32_t> labels((size_t)rows);
  for (int64_t r = 0; r < rows; ++r) labels[r] = r % 7 == 0 ? -100 : (int32_t)((r * 37) % classes);
  const auto ld = put(logits);
  const auto yd = put(labels);
  const std::vector<int64_t> offsets = {0, 1, 150, 299, 300};
  const auto offd = put(offsets);
  const std::vector<ops::ParamRange> tensors = {{0, n - 100, true}, {n - 100, 100, false}};
  ops::AdamWStep hp;
  hp.lr = 1e-3;
  hp.weight_decay = 0.1;
  auto run = [&]() {
    std::vector<double> scalars;
    auto gd = filled<float>(n, 0.0f);
    scalars.push_back(ops::cross_entropy_loss(ctx(), ld.data(), rows, classes, yd.data(), gd.data(), 1.0f, -100));
    scalars.push_back(ops::l2_norm(ctx(), ld.data(), n));
    auto pooled = filled<float>(4 * classes, 0.0f);
    ops::pool(ctx(), ld.data(), offd.data(), 4, classes, ops::Pool::Mean, pooled.data());
    auto p = put(logits), m = filled<float>(n, 0.0f), v = filled<float>(n, 0.0f);
    ops::adamw_step(ctx(), p.data(), gd.data(), m.data(), v.data(), tensors, hp);
    scalars.push_back(ops::clip_grad_norm(ctx(), gd.data(), n, 0.5));
    std::vector<float> all = get(gd);
    for (auto* b : {&pooled, &p, &m, &v}) {
      const std::vector<float> h = get(*b);
      all.insert(all.end(), h.begin(), h.end());
    }
    return std::make_pair(scalars, all);
  };
  const auto one = with_threads(1, run), two = with_threads(2, run), three = with_threads(3, run);
  EXPECT_EQ(one.first, two.first);
  EXPECT_EQ(one.first, three.first);
  EXPECT_TRUE(one.second == two.second);
  EXPECT_TRUE(one.second == three.second);
}
