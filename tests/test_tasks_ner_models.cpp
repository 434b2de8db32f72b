// NER end to end: token-classification logits (a Hugging Face fixture's, and random-weight models'
// with real vocabularies) to spans whose text is exactly the input slice, with and without windows.
#include <algorithm>
#include <cmath>

#include <gtest/gtest.h>

#include "medenc/result_json.h"
#include "medenc/ner.h"
#include "task_models.h"

namespace medenc {
namespace {

using nlohmann::json;

struct RefEntity {
  std::string label;
  double score;
  int64_t start, end;
};

// The simple strategy written out naively: argmax per token; a token opens a new group when it is
// the first, its label starts with "B-", or its tag differs from the previous token's; a group is
// named by its first label minus everything up to the first '-', scored by the mean probability.
std::vector<RefEntity> naive_simple(const Encoding& e, const float* logits, const std::vector<std::string>& labels) {
  const size_t L = labels.size();
  auto tag = [](const std::string& l) {
    return (l.rfind("B-", 0) == 0 || l.rfind("I-", 0) == 0) ? l.substr(2) : l;
  };
  std::vector<RefEntity> out;
  std::vector<double> scores;
  std::string prev;
  auto close = [&] {
    if (scores.empty()) return;
    double sum = 0;
    for (double s : scores) sum += s;
    out.back().score = sum / scores.size();
    if (out.back().label == "O") out.pop_back();
    scores.clear();
  };
  for (size_t t = 0; t < e.size(); ++t) {
    if (e.special_tokens_mask[t]) continue;
    const std::vector<double> p = test::softmax_ref(logits + t * L, L);
    const size_t k = std::max_element(p.begin(), p.end()) - p.begin();
    const std::string& label = labels[k];
    if (scores.empty() || label.rfind("B-", 0) == 0 || tag(label) != tag(prev)) {
      close();
      const size_t dash = label.find('-');
      out.push_back({dash == std::string::npos ? label : label.substr(dash + 1), 0, e.offsets[t].first, 0});
    }
    out.back().end = e.offsets[t].second;
    scores.push_back(p[k]);
    prev = label;
  }
  close();
  return out;
}

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

// Output entities against the reference; every span is the exact input slice, trimmed of white space.
void expect_entities(const json& got, const std::vector<RefEntity>& ref, const std::string& text) {
  ASSERT_EQ(got.size(), ref.size()) << text;
  for (size_t i = 0; i < ref.size(); ++i) {
    const json& g = got[i];
    EXPECT_EQ(g["label"], ref[i].label);
    EXPECT_NEAR(g["score"].get<double>(), ref[i].score, 2e-5);
    EXPECT_EQ(g["hf_start"], ref[i].start);
    EXPECT_EQ(g["hf_end"], ref[i].end);
    const int64_t s = g["start"], e = g["end"];
    EXPECT_EQ(g["text"], test::cp_slice(text, s, e));
    EXPECT_GE(s, ref[i].start);
    EXPECT_LE(e, ref[i].end);
    const std::string t = g["text"];
    ASSERT_FALSE(t.empty());
    if (std::all_of(t.begin(), t.end(), is_space)) {
      // A span of white space only keeps the pipeline's offsets.
      EXPECT_EQ(s, ref[i].start);
      EXPECT_EQ(e, ref[i].end);
      continue;
    }
    EXPECT_FALSE(is_space(t.front()) || is_space(t.back())) << "untrimmed span '" << t << "'";
    // What the trim removed is white space only.
    for (char c : test::cp_slice(text, ref[i].start, s)) EXPECT_TRUE(is_space(c));
    for (char c : test::cp_slice(text, e, ref[i].end)) EXPECT_TRUE(is_space(c));
  }
}

std::vector<std::string> labels_of(const std::string& model_dir) {
  const json j = json::parse(test::read_file(model_dir + "/config.json"));
  std::vector<std::string> labels(j["id2label"].size());
  for (auto it = j["id2label"].begin(); it != j["id2label"].end(); ++it) labels[std::stoi(it.key())] = it.value();
  return labels;
}

// Issue 5: the Megatron-BERT MedMentions fixture's own logits (made by Hugging Face) turned into
// spans over a real clinical sentence tokenized with a real WordPiece vocabulary.
TEST(TasksNerModels, FixtureLogitsBecomeSpansOfAClinicalSentence) {
  const std::string dir = test::fixture_dir("megatron_tokcls43_smallvocab");
  const std::vector<std::string> labels = labels_of(dir);
  ASSERT_EQ(labels.size(), 43u);
  auto expected = SafetensorsFile::open(dir + "/expected.safetensors");
  const std::vector<float> logits = expected->read_f32(*expected->find("logits"));  // [3, 130, 43]
  const float* seq = logits.data() + 2 * 130 * 43;                                  // the 130-token row

  auto tok = Tokenizer::from_dir(test::data_path("tokenizers/bert-base-uncased"));
  const std::string text = test::clinical_sentences()[2];  // "... from 40 to 200 μm were created."
  Window w;
  w.enc = tok->encode(text);
  ASSERT_LE(w.enc.size(), 130u);
  w.values.assign(seq, seq + w.enc.size() * 43);
  NerLabeling l;
  l.id2label = labels;
  l.word_aware = tok->has_continuing_subword_prefix();
  l.unk_id = tok->unk_id();
  l.tokens_to_string = [&](const std::vector<std::string>& t) { return tok->tokens_to_string(t); };
  ASSERT_TRUE(l.word_aware);
  const auto cp = codepoint_byte_offsets(text);
  const std::vector<Window> windows{w};

  const std::vector<RefEntity> ref = naive_simple(w.enc, w.values.data(), labels);
  ASSERT_FALSE(ref.empty());
  nlohmann::ordered_json ordered;
  ner_fields(text, cp, ner_entities(text, cp, windows, l, NerOptions{}), ordered);
  expect_entities(json::parse(ordered.dump())["entities"], ref, text);

  // Word strategies: an entity never starts or ends inside a word ("##" pieces stay with their word).
  for (NerAggregation how : {NerAggregation::First, NerAggregation::Average, NerAggregation::Max}) {
    NerOptions o;
    o.aggregation = how;
    for (const NerEntity& e : ner_entities(text, cp, windows, l, o)) {
      size_t first = 0, last = 0;
      for (size_t t = 0; t < w.enc.size(); ++t) {
        if (w.enc.special_tokens_mask[t]) continue;
        if (w.enc.offsets[t].first == e.start && first == 0) first = t;
        if (w.enc.offsets[t].second == e.end) last = t;
      }
      ASSERT_GT(first, 0u);
      EXPECT_NE(w.enc.tokens[first].rfind("##", 0), 0u) << "entity starts inside a word";
      ASSERT_GT(last, 0u);
      EXPECT_NE(w.enc.tokens[last + 1].rfind("##", 0), 0u) << "entity ends inside a word";
    }
  }
}

const std::vector<std::string> kBio{"O", "B-Disorder", "I-Disorder", "B-Chemical", "I-Chemical", "B-Anatomy",
                                    "I-Anatomy"};

struct NerModel {
  std::unique_ptr<Encoder> model;
  std::unique_ptr<Tokenizer> tok;
  std::vector<std::string> labels;
};

NerModel ner_model(const std::string& arch, const std::string& tokenizer, const std::vector<std::string>& labels,
                   bool context_free = false) {
  const std::string dir = test::make_model(arch, tokenizer, (int)labels.size());
  test::set_labels(dir, labels);
  if (context_free) test::zero_tensors(dir, "attn.Wo.weight");
  NerModel m;
  m.model = load_encoder(dir);
  m.tok = Tokenizer::from_dir(dir);
  m.labels = labels;
  return m;
}

TEST(TasksNerModels, ModernBertSpansSkipTheLeadingSpaceOfByteLevelTokens) {
  NerModel m = ner_model("ModernBertForTokenClassification", "modernbert-base", kBio);
  WindowOptions w{8192, 0};
  auto task = make_ner_task(*m.tok, m.model->info(), w, NerOptions{});
  const auto& texts = test::clinical_sentences();
  const auto lines = test::run_jsonl(*m.model, *task, test::to_jsonl(texts));
  ASSERT_EQ(lines.size(), texts.size());
  size_t moved = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const Encoding e = m.tok->encode(texts[i]);
    const ForwardOutput out = test::forward_one(*m.model, e.ids);
    expect_entities(lines[i]["entities"], naive_simple(e, out.logits.data(), kBio), texts[i]);
    for (const auto& g : lines[i]["entities"]) moved += g["start"] != g["hf_start"];
  }
  EXPECT_GT(moved, 0u);  // some spans began at the space of a "Ġ" token
}

// A long text split into windows gives the entities of the whole-text run, except those cut by a
// window edge. The model is made context-free (no attention output), so a token's scores do not
// depend on which window it sits in.
TEST(TasksNerModels, StrideWindowsKeepTheWholeTextEntities) {
  NerModel m = ner_model("ModernBertForTokenClassification", "modernbert-base", kBio, /*context_free=*/true);
  std::string text;
  for (int r = 0; r < 3; ++r)
    for (const auto& s : test::clinical_sentences()) text += s + " ";
  const std::string jsonl = json({{"text", text}}).dump() + "\n";
  const Encoding full = m.tok->encode(text);
  const int64_t n = (int64_t)full.size() - 2;

  auto whole_task = make_ner_task(*m.tok, m.model->info(), WindowOptions{8192, 0}, NerOptions{});
  const json whole = test::run_jsonl(*m.model, *whole_task, jsonl)[0]["entities"];
  const int64_t max_length = 32, stride = 8, step = max_length - 2 - stride;
  auto win_task = make_ner_task(*m.tok, m.model->info(), WindowOptions{max_length, stride}, NerOptions{});
  const json windowed_line = test::run_jsonl(*m.model, *win_task, jsonl)[0];
  const json windowed = windowed_line["entities"];
  ASSERT_GT(windowed_line["windows"].get<int>(), 3);
  ASSERT_GT(whole.size(), 5u);

  size_t checked = 0;
  for (const auto& e : whole) {
    // Content-token range of the entity in the whole-text encoding.
    int64_t first = -1, last = -1;
    for (int64_t t = 0; t < n; ++t) {
      const auto& off = full.offsets[t + 1];
      if (off.first >= e["hf_start"].get<int64_t>() && off.second <= e["hf_end"].get<int64_t>()) {
        if (first < 0) first = t;
        last = t;
      }
    }
    ASSERT_GE(first, 0);
    // Found unchanged when one window holds all its tokens: a window edge right before or after it
    // closes the group just as the neighbouring token does in the whole text.
    bool inside_one_window = false;
    for (int64_t b = 0;; b += step) {
      const int64_t end = std::min(b + max_length - 2, n);
      if (b <= first && last < end) inside_one_window = true;
      if (end == n) break;
    }
    if (!inside_one_window) continue;
    auto it = std::find_if(windowed.begin(), windowed.end(), [&](const json& x) {
      return x["hf_start"] == e["hf_start"] && x["hf_end"] == e["hf_end"];
    });
    ASSERT_NE(it, windowed.end()) << "lost " << e.dump();
    EXPECT_EQ((*it)["label"], e["label"]);
    EXPECT_NEAR((*it)["score"].get<double>(), e["score"].get<double>(), 2e-5);
    ++checked;
  }
  EXPECT_GT(checked, 5u);
  for (size_t i = 0; i < windowed.size(); ++i) {
    const json& x = windowed[i];
    EXPECT_EQ(x["text"], test::cp_slice(text, x["start"], x["end"]));
    // Merged: the overlap of neighbouring windows leaves no duplicate or overlapping spans.
    if (i > 0) {
      EXPECT_GE(x["hf_start"].get<int64_t>(), windowed[i - 1]["hf_end"].get<int64_t>());
    }
  }
}

// GatorTron-style Megatron-BERT with a WordPiece vocabulary: a text longer than the 512 positions
// is truncated by default and covered by stride windows on request, with offsets into the whole text.
TEST(TasksNerModels, MegatronLongTextsTruncateOrWindow) {
  std::vector<std::string> labels{"O"};
  for (const char* t : {"T005", "T007", "T017", "T033", "T037", "T038", "T047", "T058", "T103", "T170"})
    for (const char* bi : {"B-", "I-"}) labels.push_back(std::string(bi) + t);
  NerModel m = ner_model("MegatronBertForTokenClassification", "bert-base-uncased", labels);
  ASSERT_EQ(m.model->info().max_positions, 512);
  std::string text;
  for (int r = 0; r < 14; ++r)
    for (const auto& s : test::clinical_sentences()) text += s + " ";
  const Encoding full = m.tok->encode(text);
  ASSERT_GT(full.size(), 700u);
  const int64_t cut_char = full.offsets[511].first;  // past the end of the first 512 positions
  const std::string jsonl = json({{"text", text}}).dump() + "\n";

  auto truncating = make_ner_task(*m.tok, m.model->info(), WindowOptions{512, 0}, NerOptions{});
  const json t = test::run_jsonl(*m.model, *truncating, jsonl)[0];
  EXPECT_EQ(t["truncated"], true);
  for (const auto& e : t["entities"]) EXPECT_LT(e["hf_end"].get<int64_t>(), cut_char + 1);
  // The truncated run equals the reference on the first 511 tokens + [SEP].
  Encoding head = full;
  head.ids.resize(511);
  head.ids.push_back(full.ids.back());
  head.offsets.resize(511);
  head.offsets.push_back({0, 0});
  head.special_tokens_mask.resize(511);
  head.special_tokens_mask.push_back(1);
  head.tokens.resize(511);
  head.tokens.push_back(full.tokens.back());
  const ForwardOutput out = test::forward_one(*m.model, head.ids);
  expect_entities(t["entities"], naive_simple(head, out.logits.data(), labels), text);

  auto windowing = make_ner_task(*m.tok, m.model->info(), WindowOptions{512, 128}, NerOptions{});
  const json w = test::run_jsonl(*m.model, *windowing, jsonl)[0];
  EXPECT_FALSE(w.contains("truncated"));
  EXPECT_GE(w["windows"].get<int>(), 2);
  int64_t beyond = 0, prev_start = -1;
  for (const auto& e : w["entities"]) {
    EXPECT_EQ(e["text"], test::cp_slice(text, e["start"], e["end"]));
    EXPECT_GE(e["hf_start"].get<int64_t>(), prev_start);  // sorted, merged
    prev_start = e["hf_start"];
    beyond += e["hf_start"].get<int64_t>() > cut_char;
  }
  EXPECT_GT(beyond, 0);  // entities past the first window, with offsets into the whole text
}

}  // namespace
}  // namespace medenc
