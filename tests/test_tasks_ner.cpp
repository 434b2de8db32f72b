// NER aggregation as Hugging Face's token-classification pipeline defines it, on hand-made token
// score tables with hand-computed groups; window merging; product spans.
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "medenc/result_json.h"
#include "medenc/error.h"
#include "medenc/ner.h"

namespace medenc {
namespace {

// Byte offset of every code point of `s`, plus the end (what codepoint_byte_offsets returns).
std::vector<size_t> cp_offsets(const std::string& s) {
  std::vector<size_t> cp;
  for (size_t i = 0; i < s.size(); ++i)
    if (((unsigned char)s[i] & 0xC0) != 0x80) cp.push_back(i);
  cp.push_back(s.size());
  return cp;
}

// WordPiece-like decode for the "word" field: "##" pieces glue, others join with a space.
std::string join_pieces(const std::vector<std::string>& pieces) {
  std::string s;
  for (const auto& p : pieces) {
    if (p.rfind("##", 0) == 0) s += p.substr(2);
    else s += (s.empty() ? "" : " ") + p;
  }
  return s;
}

NerLabeling labeling(std::vector<std::string> labels) {
  NerLabeling l;
  l.id2label = std::move(labels);
  l.word_aware = true;
  l.tokens_to_string = join_pieces;
  return l;
}

NerToken token(const std::string& word, int64_t start, int64_t end, bool subword, std::vector<float> scores,
               int64_t index = 0) {
  NerToken t;
  t.word = word;
  t.start = start;
  t.end = end;
  t.is_subword = subword;
  t.scores = std::move(scores);
  t.index = index;
  return t;
}

// A probability vector over n labels with p at `label` and the rest spread evenly.
std::vector<float> peak(size_t n, size_t label, float p) {
  std::vector<float> v(n, (1.0f - p) / (float)(n - 1));
  v[label] = p;
  return v;
}

NerOptions with(NerAggregation a) {
  NerOptions o;
  o.aggregation = a;
  return o;
}

TEST(TasksNer, SimpleGroupingFollowsBioRules) {
  const auto l = labeling({"O", "B-DIS", "I-DIS", "B-DRUG", "I-DRUG"});
  // Text "a b c d e f g": one single-character word per token.
  std::vector<NerToken> t{
      token("a", 0, 1, false, peak(5, 1, 0.9f)),  // B-DIS
      token("b", 2, 3, false, peak(5, 2, 0.7f)),  // I-DIS  joins
      token("c", 4, 5, false, peak(5, 0, 0.8f)),  // O      closes; O group dropped
      token("d", 6, 7, false, peak(5, 2, 0.6f)),  // I-DIS after O: a new group
      token("e", 8, 9, false, peak(5, 3, 0.5f)),  // B-DRUG
      token("f", 10, 11, false, peak(5, 3, 0.4f)),  // B-DRUG after B-DRUG: a new group
      token("g", 12, 13, false, peak(5, 4, 0.8f)),  // I-DRUG joins
  };
  const auto e = ner_aggregate(t, l, with(NerAggregation::Simple));
  ASSERT_EQ(e.size(), 4u);
  EXPECT_EQ(e[0].label, "DIS");
  EXPECT_NEAR(e[0].score, 0.8, 1e-6);
  EXPECT_EQ(e[0].start, 0);
  EXPECT_EQ(e[0].end, 3);
  EXPECT_EQ(e[0].word, "a b");
  EXPECT_EQ(e[1].label, "DIS");
  EXPECT_NEAR(e[1].score, 0.6, 1e-6);
  EXPECT_EQ(e[1].start, 6);
  EXPECT_EQ(e[2].label, "DRUG");
  EXPECT_NEAR(e[2].score, 0.5, 1e-6);
  EXPECT_EQ(e[2].end, 9);
  EXPECT_EQ(e[3].label, "DRUG");
  EXPECT_NEAR(e[3].score, 0.6, 1e-6);
  EXPECT_EQ(e[3].start, 10);
  EXPECT_EQ(e[3].end, 13);
  EXPECT_EQ(e[3].word, "f g");
  for (const auto& x : e) EXPECT_EQ(x.index, -1);

  // Keeping "O": consecutive O tokens form one group.
  NerOptions keep = with(NerAggregation::Simple);
  keep.ignore_labels.clear();
  const auto all = ner_aggregate(t, l, keep);
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all[1].label, "O");
}

TEST(TasksNer, PlainLabelsContinueAndLoseTextBeforeADash) {
  const auto l = labeling({"O", "Drug", "Dose", "Sign-Symptom"});
  std::vector<NerToken> t{
      token("aspirin", 0, 7, false, peak(4, 1, 0.9f)),   token("tablets", 8, 15, false, peak(4, 1, 0.5f)),
      token("81", 16, 18, false, peak(4, 2, 0.7f)),       token("for", 19, 22, false, peak(4, 0, 0.9f)),
      token("headache", 23, 31, false, peak(4, 3, 0.6f)),
  };
  const auto e = ner_aggregate(t, l, with(NerAggregation::Simple));
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(e[0].label, "Drug");  // a label without B-/I- counts as I-: the two tokens join
  EXPECT_NEAR(e[0].score, 0.7, 1e-6);
  EXPECT_EQ(e[0].end, 15);
  EXPECT_EQ(e[1].label, "Dose");
  // The pipeline names a group by its first label minus everything up to the first '-'.
  EXPECT_EQ(e[2].label, "Symptom");
}

TEST(TasksNer, NoneKeepsTokensAndFullLabels) {
  const auto l = labeling({"O", "B-DIS", "I-DIS"});
  std::vector<NerToken> t{
      token("chest", 0, 5, false, peak(3, 1, 0.6f), 1),
      token("pain", 6, 10, false, peak(3, 2, 0.7f), 2),
      token("today", 11, 16, false, peak(3, 0, 0.9f), 3),
  };
  const auto e = ner_aggregate(t, l, with(NerAggregation::None));
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].label, "B-DIS");
  EXPECT_EQ(e[0].index, 1);
  EXPECT_EQ(e[0].word, "chest");
  EXPECT_EQ(e[1].label, "I-DIS");
  EXPECT_NEAR(e[1].score, 0.7, 1e-6);
  EXPECT_EQ(e[1].index, 2);
}

TEST(TasksNer, WordStrategiesFirstAverageMax) {
  const auto l = labeling({"O", "B-DIS", "I-DIS"});
  // "hypertension is": three tokens make the first word.
  std::vector<NerToken> t{
      token("hyper", 0, 5, false, {0.2f, 0.5f, 0.3f}),
      token("##tens", 5, 9, true, {0.1f, 0.1f, 0.8f}),
      token("##ion", 9, 12, true, {0.7f, 0.2f, 0.1f}),
      token("is", 13, 15, false, {0.9f, 0.05f, 0.05f}),
  };
  // first: the first token's vector -> B-DIS 0.5.
  auto e = ner_aggregate(t, l, with(NerAggregation::First));
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].label, "DIS");
  EXPECT_NEAR(e[0].score, 0.5, 1e-6);
  EXPECT_EQ(e[0].start, 0);
  EXPECT_EQ(e[0].end, 12);
  EXPECT_EQ(e[0].word, "hypertension");
  // max: the token with the highest top probability (##tens, 0.8) -> I-DIS 0.8.
  e = ner_aggregate(t, l, with(NerAggregation::Max));
  ASSERT_EQ(e.size(), 1u);
  EXPECT_NEAR(e[0].score, 0.8, 1e-6);
  // average: mean vector (1.0, 0.8, 1.2) / 3 -> I-DIS 0.4.
  e = ner_aggregate(t, l, with(NerAggregation::Average));
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].label, "DIS");
  EXPECT_NEAR(e[0].score, 0.4, 1e-6);
  // A window that starts inside a word: its first token opens a word even though it is a subword.
  std::vector<NerToken> cut(t.begin() + 1, t.end());
  e = ner_aggregate(cut, l, with(NerAggregation::First));
  ASSERT_EQ(e.size(), 1u);
  EXPECT_NEAR(e[0].score, 0.8, 1e-6);
  EXPECT_EQ(e[0].start, 5);
  // The average of a word that leans to O drops it.
  t[1].scores = {0.8f, 0.1f, 0.1f};
  EXPECT_TRUE(ner_aggregate(t, l, with(NerAggregation::Average)).empty());  // mean (1.7, .8, .5)/3 -> O
}

Encoding window_of(std::vector<std::string> tokens, std::vector<std::pair<int64_t, int64_t>> offsets,
                   std::vector<int32_t> ids = {}) {
  Encoding e;
  e.tokens = std::move(tokens);
  e.offsets = std::move(offsets);
  e.ids = ids.empty() ? std::vector<int32_t>(e.tokens.size(), 5) : std::move(ids);
  e.special_tokens_mask.assign(e.tokens.size(), 0);
  e.special_tokens_mask.front() = e.special_tokens_mask.back() = 1;
  return e;
}

TEST(TasksNer, ByteLevelSubwordHeuristic) {
  // ModernBERT-style tokens: "Ġ" tokens start at the space before the word.
  const std::string text = "Pt c/o chest-pain, SOB.";
  const auto cp = cp_offsets(text);
  const Encoding w = window_of(
      {"[CLS]", "Pt", "Ġc", "/", "o", "Ġchest", "-", "pain", ",", "ĠSOB", ".", "[SEP]"},
      {{0, 0}, {0, 2}, {2, 4}, {4, 5}, {5, 6}, {6, 12}, {12, 13}, {13, 17}, {17, 18}, {18, 22}, {22, 23}, {0, 0}});
  NerLabeling l = labeling({"O", "X"});
  l.word_aware = false;
  std::vector<float> logits(w.ids.size() * 2, 0.0f);
  const auto t = ner_pre_entities(text, cp, w, logits, l);
  ASSERT_EQ(t.size(), 10u);  // the special tokens are skipped
  const std::vector<bool> subword{false, false, true, true, false, true, true, true, false, true};
  for (size_t i = 0; i < t.size(); ++i) EXPECT_EQ(t[i].is_subword, subword[i]) << t[i].word;
  EXPECT_EQ(t[0].index, 1);
  EXPECT_EQ(t[4].start, 6);
  EXPECT_FLOAT_EQ(t[0].scores[0], 0.5f);
}

TEST(TasksNer, WordPieceSubwordRuleAndUnknownTokens) {
  const std::string text = "Pt c/o SOB \xF0\x9F\x98\x80!";  // the emoji is [UNK] for the vocabulary
  const auto cp = cp_offsets(text);
  const int32_t unk = 100;
  const Encoding w = window_of({"[CLS]", "pt", "c", "/", "o", "so", "##b", "[UNK]", "!", "[SEP]"},
                               {{0, 0}, {0, 2}, {3, 4}, {4, 5}, {5, 6}, {7, 9}, {9, 10}, {11, 12}, {12, 13}, {0, 0}},
                               {101, 7, 8, 9, 10, 11, 12, unk, 13, 102});
  NerLabeling l = labeling({"O", "B-X"});
  l.unk_id = unk;
  // logits ln 1, ln 3 -> probabilities 0.25, 0.75.
  std::vector<float> logits;
  for (size_t i = 0; i < w.ids.size(); ++i) logits.insert(logits.end(), {0.0f, (float)std::log(3.0)});
  const auto t = ner_pre_entities(text, cp, w, logits, l);
  ASSERT_EQ(t.size(), 8u);
  const std::vector<bool> subword{false, false, false, false, false, true, false, false};
  for (size_t i = 0; i < t.size(); ++i) EXPECT_EQ(t[i].is_subword, subword[i]) << t[i].word;
  EXPECT_EQ(t[6].word, "\xF0\x9F\x98\x80");  // [UNK] shows its text
  EXPECT_NEAR(t[3].scores[1], 0.75f, 1e-6);
  EXPECT_THROW(ner_pre_entities(text, cp, w, std::vector<float>(3), l), Error);
}

NerEntity entity(const std::string& label, int64_t start, int64_t end, double score) {
  NerEntity e;
  e.label = label;
  e.start = start;
  e.end = end;
  e.score = score;
  return e;
}

TEST(TasksNer, MergingWindowsKeepsTheLongerThenTheLikelier) {
  const auto m = merge_window_entities({
      entity("E", 30, 32, 0.1),
      entity("A", 0, 10, 0.5),
      entity("B", 5, 12, 0.9),   // overlaps A, shorter: dropped
      entity("C", 20, 25, 0.3),
      entity("D", 20, 25, 0.6),  // same span as C, likelier: kept
  });
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0].label, "A");
  EXPECT_EQ(m[1].label, "D");
  EXPECT_EQ(m[2].label, "E");
}

TEST(TasksNer, SpansAreTrimmedSlicesOfTheInput) {
  const std::string text = "Fi\xC3\xA8vre \xC3\xA0 39\xC2\xB0" "C, toux.";  // "Fièvre à 39°C, toux."
  const auto cp = cp_offsets(text);
  nlohmann::ordered_json out;
  ner_fields(text, cp,
             {entity("SYMPTOM", 0, 6, 0.9), entity("VALUE", 8, 13, 0.5), entity("P", 13, 15, 0.4),
              entity("SPACE", 14, 15, 0.3)},
             out);
  const auto& e = out["entities"];
  ASSERT_EQ(e.size(), 4u);
  EXPECT_EQ(e[0]["text"], "Fi\xC3\xA8vre");
  EXPECT_EQ(e[0]["start"], 0);
  EXPECT_EQ(e[0]["end"], 6);
  EXPECT_EQ(e[1]["text"], "39\xC2\xB0" "C");  // the leading space of a byte-level token is trimmed
  EXPECT_EQ(e[1]["start"], 9);
  EXPECT_EQ(e[1]["end"], 13);
  EXPECT_EQ(e[1]["hf_start"], 8);
  EXPECT_EQ(e[1]["hf_end"], 13);
  EXPECT_EQ(e[2]["text"], ",");
  EXPECT_EQ(e[3]["text"], " ");  // whitespace only: the pipeline's span is kept
  EXPECT_EQ(e[3]["start"], 14);
  EXPECT_FALSE(e[0].contains("index"));
}

}  // namespace
}  // namespace medenc
