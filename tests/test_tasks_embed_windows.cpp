// embed with --stride: a text longer than max_length is cut into overlapping windows (the
// tokenizer's overflowing windows), each window is pooled alone, the vectors are averaged, and
// --normalize applies to the average. The reference runs every window through the model by itself.
#include <cmath>

#include <gtest/gtest.h>

#include "medenc/embed.h"
#include "task_models.h"

namespace medenc {
namespace {

TEST(TasksEmbedWindows, StrideAveragesThePooledWindowsThenNormalizes) {
  auto model = load_encoder(test::fixture_dir("modernbert_mlm"));
  auto tok = Tokenizer::from_dir(test::data_path("tokenizers/modernbert-base"));
  WindowOptions windows;
  windows.max_length = 16;
  windows.stride = 4;
  const std::vector<std::string> texts = {
      "Short note.",
      "The patient is a 67-year-old man with a history of hypertension and type 2 diabetes who presents with "
      "three days of productive cough, fever to 38.9 C and pleuritic chest pain on the right side."};
  for (Pooling pooling : {Pooling::Cls, Pooling::Mean})
    for (bool normalize : {false, true}) {
      EmbedOptions eo;
      eo.pooling = pooling;
      eo.normalize = normalize;
      auto task = make_embed_task(*tok, model->info(), windows, eo);
      const auto lines = test::run_jsonl(*model, *task, test::to_jsonl(texts));
      ASSERT_EQ(lines.size(), texts.size());
      for (size_t i = 0; i < texts.size(); ++i) {
        EncodeOptions o;
        o.max_length = windows.max_length;
        o.stride = windows.stride;
        const Encoding first = tok->encode(texts[i], o);
        std::vector<const Encoding*> all{&first};
        for (const Encoding& w : first.overflowing) all.push_back(&w);
        if (i == 1) {
          ASSERT_GT(all.size(), 3u);  // the long text really is windowed
        }
        std::vector<double> mean;
        for (const Encoding* w : all) {
          const ForwardOutput out = test::forward_one(*model, w->ids);
          const int64_t H = out.hidden_size, n = (int64_t)w->size();
          mean.resize((size_t)H, 0.0);
          for (int64_t h = 0; h < H; ++h) {
            double v = 0;
            if (pooling == Pooling::Cls) {
              v = out.last_hidden_state[h];
            } else {
              for (int64_t t = 0; t < n; ++t) v += out.last_hidden_state[t * H + h];
              v /= (double)n;
            }
            mean[(size_t)h] += v / (double)all.size();
          }
        }
        if (normalize) {
          double norm = 0;
          for (double v : mean) norm += v * v;
          for (double& v : mean) v /= std::sqrt(norm);
        }
        // A line names its window count when there is more than one.
        if (all.size() > 1) EXPECT_EQ(lines[i]["windows"], all.size());
        else EXPECT_FALSE(lines[i].contains("windows"));
        const auto& got = lines[i]["embedding"];
        ASSERT_EQ(got.size(), mean.size());
        double worst = 0;
        for (size_t h = 0; h < mean.size(); ++h) worst = std::max(worst, std::abs(got[h].get<double>() - mean[h]));
        EXPECT_LT(worst, 2e-5) << "text " << i << " pooling " << (int)pooling << " normalize " << normalize;
      }
    }
}

}  // namespace
}  // namespace medenc
