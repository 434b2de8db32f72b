// Training data: formats, task checks and bad-row reporting, re-reading by offset, NER span -> token
// label alignment with the real tokenizers, masked-LM masking, seeded and length-grouped batching.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

#include "medenc/datasets.h"
#include "medenc/error.h"
#include "medenc/tokenizer.h"
#include "test_support.h"
#include "trainer/sampler.h"

namespace medenc {
namespace {

using nlohmann::json;

std::string write_temp(const std::string& name, const std::string& text) {
  const std::string path = test::temp_dir("data") + "/" + name;
  test::write_file(path, text);
  return path;
}

TEST(TrainerData, RegressionBadRowsAreCountedAndLocated) {
  const std::string path = write_temp("scores.jsonl",
                                      "{\"text\": \"Mild cardiomegaly.\", \"score\": 4.5}\n"
                                      "\n"
                                      "{\"text\": \"no score here\"}\n"
                                      "{\"text\": \"out of range\", \"score\": 7}\n"
                                      "{\"text\": \"broken\", \"score\": \n"
                                      "{\"text\": \"not a number\", \"score\": \"high\"}\n"
                                      "{\"text\": \"bad \xC3\x28 byte\", \"score\": 2}\n"
                                      "{\"score\": 3}\n"
                                      "{\"text\": \"Normal chest.\", \"score\": \"1.5\"}\n");
  DataOptions o;
  o.score_min = 1;
  o.score_max = 5;
  auto d = Dataset::scan(path, TaskKind::Regression, o);
  const DataReport& r = d->report();
  EXPECT_EQ(r.records, 8);
  EXPECT_EQ(r.used, 2);
  EXPECT_EQ(r.bad_rows(), 6);
  EXPECT_EQ(r.bad.at("missing label"), 1);
  EXPECT_EQ(r.bad.at("score out of range"), 1);
  EXPECT_EQ(r.bad.at("unparseable"), 1);
  EXPECT_EQ(r.bad.at("unparseable label"), 1);
  EXPECT_EQ(r.bad.at("invalid UTF-8"), 1);
  EXPECT_EQ(r.bad.at("missing text"), 1);
  ASSERT_EQ(r.first_errors.size(), 6u);
  EXPECT_EQ(r.first_errors[0], path + ":3: missing \"label\", \"labels\" or \"score\"");
  EXPECT_EQ(r.first_errors[1], path + ":4: score 7 is outside [1, 5]");
  EXPECT_NE(r.summary().find("6 bad rows skipped"), std::string::npos) << r.summary();
  // Good rows read back by offset, in file order, with their lines.
  ASSERT_EQ(d->size(), 2);
  EXPECT_EQ(d->get(1).text, "Normal chest.");
  EXPECT_EQ(d->get(1).score, 1.5);
  EXPECT_EQ(d->get(1).line, 9);
  EXPECT_EQ(d->get(0).score, 4.5);
}

TEST(TrainerData, CsvMultiLabelAndSingleLabelWithAFixedLabelSet) {
  const std::string path = write_temp("reports.csv",
                                      "uid,findings,Problems\r\n"
                                      "1,\"Heart size normal, lungs clear.\",normal\r\n"
                                      "2,\"FINDINGS:\nLeft basilar \"\"opacity\"\".\",Opacity;Lung\r\n"
                                      "3,No effusion.,\r\n"
                                      "4,Cardiomegaly.,Cardiomegaly; Other ;Cardiomegaly\r\n");
  DataOptions o;
  o.text_field = "findings";
  o.label_field = "Problems";
  auto multi = Dataset::scan(path, TaskKind::MultiLabel, o);
  EXPECT_EQ(multi->size(), 3);
  EXPECT_EQ(multi->report().bad.at("missing label"), 1);  // row 3: empty
  EXPECT_EQ(multi->get(1).text, "FINDINGS:\nLeft basilar \"opacity\".");
  EXPECT_EQ(multi->get(1).labels, (std::vector<std::string>{"Opacity", "Lung"}));
  EXPECT_EQ(multi->get(2).labels, (std::vector<std::string>{"Cardiomegaly", "Other"}));
  EXPECT_EQ(multi->get(2).line, 6);  // the quoted line break puts row 2 on lines 3-4
  EXPECT_EQ(multi->label_counts().at("Cardiomegaly"), 1);

  // With the model's labels fixed, others are dropped (counted), rows kept.
  const LabelSpace fixed({"normal", "Lung", "Cardiomegaly"});
  auto kept = Dataset::scan(path, TaskKind::MultiLabel, o, &fixed);
  EXPECT_EQ(kept->report().labels_dropped, 2);  // Opacity, Other
  EXPECT_EQ(kept->get(1).labels, (std::vector<std::string>{"Lung"}));

  // Single-label: a label outside the fixed set makes the row bad.
  auto single = Dataset::scan(path, TaskKind::SingleLabel, o, &fixed);
  EXPECT_EQ(single->size(), 1);
  EXPECT_EQ(single->report().bad.at("label not in the label set"), 2);
  // A missing text column is an error naming the file.
  o.text_field = "text";
  EXPECT_THROW(Dataset::scan(path, TaskKind::MultiLabel, o), Error);
}

TEST(TrainerData, NerSpansAreCheckedMappedAndDeoverlapped) {
  const std::string text = "Pseudomonas aeruginosa infection in cystic fibrosis";
  json rows = json::array();
  std::string jsonl;
  jsonl += json({{"text", text},
                 {"entities",
                  {{{"start", 0}, {"end", 32}, {"label", "T047"}},
                   {{"start", 12}, {"end", 22}, {"label", "T038"}},  // inside the first: dropped
                   {{"start", 36}, {"end", 51}, {"label", "T047"}}}}})
               .dump() +
           "\n";
  jsonl += json({{"text", "short"}, {"entities", {{{"start", 2}, {"end", 9}, {"label", "T038"}}}}}).dump() + "\n";
  jsonl += json({{"text", "no annotation"}}).dump() + "\n";
  jsonl += json({{"text", "dropped type"}, {"entities", {{{"start", 0}, {"end", 7}, {"label", "T071"}}}}}).dump() + "\n";
  const std::string path = write_temp("spans.jsonl", jsonl);
  DataOptions o;
  o.label_map = {{"T047", "T038"}, {"T071", "O"}};
  auto d = Dataset::scan(path, TaskKind::Ner, o);
  EXPECT_EQ(d->size(), 2);
  EXPECT_EQ(d->report().bad.at("span outside the text"), 1);
  EXPECT_EQ(d->report().bad.at("missing label"), 1);
  EXPECT_EQ(d->report().entities_dropped, 2);  // the overlapping one, the one mapped to O
  const Example ex = d->get(0);
  EXPECT_EQ(ex.entities, (std::vector<TextSpan>{{0, 32, "T038"}, {36, 51, "T038"}}));
  EXPECT_EQ(d->label_counts().at("T038"), 2);
}

TEST(TrainerData, MedMentionsConll) {
  auto d = Dataset::scan(test::data_path("trainer/medmentions_dev_3docs.conll"), TaskKind::Ner, DataOptions{});
  EXPECT_EQ(d->report().bad_rows(), 0);
  ASSERT_GT(d->size(), 10);
  const Example ex = d->get(0);
  EXPECT_EQ(ex.text, "The Impact of Deployment on Parental , Family and Child Adjustment in Military Families");
  EXPECT_EQ(ex.words.size(), 14u);
  EXPECT_EQ(ex.entities, (std::vector<TextSpan>{{14, 24, "T052"},
                                                {28, 36, "T099"},
                                                {39, 45, "T099"},
                                                {50, 55, "T100"},
                                                {56, 66, "T055"}}));
  // Multi-word entities: "military service" and "United States" in the second sentence.
  const Example second = d->get(1);
  bool united = false;
  for (const TextSpan& e : second.entities)
    if (second.text.substr((size_t)e.start, (size_t)(e.end - e.start)) == "United States") united = e.label == "T083";
  EXPECT_TRUE(united) << second.text;
  // Word tags round-trip to the file's tags.
  EXPECT_EQ(word_bio_tags(ex.words, ex.entities),
            (std::vector<std::string>{"O", "O", "O", "B-T052", "O", "B-T099", "O", "B-T099", "O", "B-T100",
                                      "B-T055", "O", "O", "O"}));
}

TEST(TrainerData, ConllRepairsIob1AndReportsBadTags) {
  const std::string path = write_temp("small.conll",
                                      "-DOCSTART- (1)\n\n"
                                      "Acute O\nrenal I-T047\nfailure I-T047\nand O\nsepsis B-T047\n\n"
                                      "Bad O\ntag X-T047\nhere O\n\n"
                                      "no_tag_column\n\n"
                                      "Last\tO\tO\tB-T033\n");
  auto d = Dataset::scan(path, TaskKind::Ner, DataOptions{});
  EXPECT_EQ(d->size(), 2);
  EXPECT_EQ(d->report().bad.at("unparseable"), 2);
  EXPECT_EQ(d->report().first_errors[0], path + ":9: line 10: tag 'X-T047' is not O, B-type or I-type");
  EXPECT_EQ(d->report().first_errors[1], path + ":13: line 13: expected a token and a tag");
  const Example ex = d->get(0);
  EXPECT_EQ(ex.text, "Acute renal failure and sepsis");
  // "renal failure" starts with an I- after O: an entity all the same (conlleval's reading).
  EXPECT_EQ(ex.entities, (std::vector<TextSpan>{{6, 19, "T047"}, {24, 30, "T047"}}));
  EXPECT_EQ(d->get(1).entities, (std::vector<TextSpan>{{0, 4, "T033"}}));
}

TEST(TrainerData, PubTatorMentionsMatchTheText) {
  auto d = Dataset::scan(test::data_path("trainer/medmentions_st21pv_3docs.pubtator"), TaskKind::Ner, DataOptions{});
  EXPECT_EQ(d->size(), 3);
  EXPECT_EQ(d->report().bad_rows(), 0);
  const Example ex = d->get(0);
  EXPECT_EQ(ex.text.substr(0, 5), "DCTN4");
  // "chronic Pseudomonas aeruginosa infection" [23, 63) is kept; nothing overlaps it.
  EXPECT_EQ(ex.entities[1], (TextSpan{23, 63, "T038"}));
  int64_t mentions = 0;
  for (int64_t i = 0; i < d->size(); ++i) mentions += (int64_t)d->get(i).entities.size();
  EXPECT_EQ(mentions + d->report().entities_dropped, 115);

  // A mention whose text differs from the document is a bad row.
  std::string text = test::read_file(test::data_path("trainer/medmentions_st21pv_3docs.pubtator"));
  text.replace(text.find("\tDCTN4\tT103"), 11, "\tDCTN5\tT103");
  auto bad = Dataset::scan(write_temp("bad.pubtator", text), TaskKind::Ner, DataOptions{});
  EXPECT_EQ(bad->size(), 2);
  EXPECT_EQ(bad->report().bad.at("span outside the text"), 1);
}

TEST(TrainerData, GzipInputIsRefused) {
  const std::string path = write_temp("data.jsonl", std::string("\x1f\x8b\x08\x00", 4));
  try {
    Dataset::scan(path, TaskKind::Regression, DataOptions{});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("decompress"), std::string::npos);
  }
}

// Labelled tokens of one example as "token=TAG".
std::vector<std::string> labelled(const Tokenizer& tok, const EncodedExample& e, const LabelSpace& labels) {
  std::vector<std::string> out;
  for (size_t t = 0; t < e.ids.size(); ++t)
    if (e.token_labels[t] != -100) out.push_back(tok.id_to_token(e.ids[t]) + "=" + labels.names[(size_t)e.token_labels[t]]);
  return out;
}

Example pseudomonas_example() {
  Example ex;
  ex.text = "Pseudomonas aeruginosa (Pa) infection in cystic fibrosis (CF) patients";
  ex.entities = {{0, 37, "T038"}, {41, 56, "T038"}, {58, 60, "T038"}, {62, 70, "T098"}};
  return ex;
}

TEST(TrainerData, NerAlignmentWordPiece) {
  auto tok = Tokenizer::from_dir(test::data_path("tokenizers/bert-base-cased"));
  const LabelSpace labels(bio_label_names({"T038", "T098"}));
  const ExampleEncoder enc(*tok, TaskKind::Ner, labels, 128, true);
  const EncodedExample e = enc.encode(pseudomonas_example());
  // First sub-token of each word labelled, the rest (and [CLS]/[SEP]) -100.
  EXPECT_EQ(e.token_labels.front(), -100);
  EXPECT_EQ(e.token_labels.back(), -100);
  EXPECT_EQ(labelled(*tok, e, labels),
            (std::vector<std::string>{"P=B-T038", "a=I-T038", "(=I-T038", "Pa=I-T038", ")=I-T038", "infection=I-T038",
                                      "in=O", "c=B-T038", "fi=I-T038", "(=O", "CF=B-T038", ")=O", "patients=B-T098"}));
  for (size_t t = 1; t + 1 < e.ids.size(); ++t)
    if (tok->id_to_token(e.ids[t]).rfind("##", 0) == 0) {
      EXPECT_EQ(e.token_labels[t], -100) << t;
    }
  // With a label set that lacks T098 (--label-list), "patients" is trained as O.
  const LabelSpace fewer(bio_label_names({"T038"}));
  const EncodedExample f = ExampleEncoder(*tok, TaskKind::Ner, fewer, 128, true).encode(pseudomonas_example());
  EXPECT_EQ(labelled(*tok, f, fewer).back(), "patients=O");
}

TEST(TrainerData, NerAlignmentByteLevelBpe) {
  auto tok = Tokenizer::from_dir(test::data_path("tokenizers/modernbert-base"));
  const LabelSpace labels(bio_label_names({"T038", "T098"}));
  const ExampleEncoder enc(*tok, TaskKind::Ner, labels, 128, false);
  const EncodedExample e = enc.encode(pseudomonas_example());
  // The leading space of "Ġ" tokens does not pull them into the previous word.
  EXPECT_EQ(tok->id_to_token(e.ids[2]), "omonas");  // the second sub-token of "Pseudomonas"
  EXPECT_EQ(e.token_labels[2], -100);
  EXPECT_EQ(labelled(*tok, e, labels),
            (std::vector<std::string>{"Pseud=B-T038", "\xC4\xA0" "aeruginosa=I-T038", "\xC4\xA0(=I-T038", "Pa=I-T038",
                                      ")=I-T038", "\xC4\xA0infection=I-T038", "\xC4\xA0in=O",
                                      "\xC4\xA0" "cystic=B-T038", "\xC4\xA0" "fibrosis=I-T038", "\xC4\xA0(=O",
                                      "CF=B-T038", ")=O",
                                      "\xC4\xA0patients=B-T098"}));
}

TEST(TrainerData, NerWindowsCoverTheWholeText) {
  auto tok = Tokenizer::from_dir(test::data_path("tokenizers/bert-base-cased"));
  const LabelSpace labels(bio_label_names({"T038", "T098"}));
  const ExampleEncoder enc(*tok, TaskKind::Ner, labels, 8, true);
  const Example ex = pseudomonas_example();
  EXPECT_TRUE(enc.encode(ex).truncated);
  const auto w = enc.encode_ner_windows(ex);
  EXPECT_GT(w.windows.size(), 2u);
  for (const auto& win : w.windows) EXPECT_LE(win.size(), 8u);
  // Every word has its first token somewhere; the tags are the words' tags.
  ASSERT_EQ(w.gold_tags.size(), w.first_token.size());
  for (auto [win, t] : w.first_token) EXPECT_GE(win, 0);
  EXPECT_EQ(w.gold_tags.front(), "B-T038");
  EXPECT_EQ(w.gold_tags.back(), "B-T098");
}

TEST(TrainerData, MaskingRatesAndDeterminism) {
  const int64_t n = 20000;
  std::vector<int32_t> ids(n);
  std::vector<uint8_t> special(n, 0);
  for (int64_t i = 0; i < n; ++i) ids[(size_t)i] = 1000 + (int32_t)(i % 5000);
  for (int64_t i = 0; i < n; i += 100) special[(size_t)i] = 1;
  std::vector<int32_t> a = ids, b = ids, la, lb;
  mask_tokens(a, special, 0.3, 7, 30000, 99, la);
  mask_tokens(b, special, 0.3, 7, 30000, 99, lb);
  EXPECT_EQ(a, b);
  EXPECT_EQ(la, lb);
  int64_t picked = 0, masked = 0, kept = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (special[(size_t)i]) {
      EXPECT_EQ(la[(size_t)i], -100);
      EXPECT_EQ(a[(size_t)i], ids[(size_t)i]);
      continue;
    }
    if (la[(size_t)i] == -100) {
      EXPECT_EQ(a[(size_t)i], ids[(size_t)i]);
      continue;
    }
    EXPECT_EQ(la[(size_t)i], ids[(size_t)i]);
    ++picked;
    masked += a[(size_t)i] == 7;
    kept += a[(size_t)i] == ids[(size_t)i];
  }
  const double eligible = (double)(n - n / 100);
  EXPECT_NEAR((double)picked / eligible, 0.3, 0.015);
  EXPECT_NEAR((double)masked / (double)picked, 0.8, 0.02);
  EXPECT_NEAR((double)kept / (double)picked, 0.1, 0.015);
  std::vector<int32_t> c = ids, lc;
  mask_tokens(c, special, 0.3, 7, 30000, 100, lc);
  EXPECT_NE(lc, la);
}

TEST(TrainerData, SamplerShufflesBySeedAndEpochAndGroupsByLength) {
  std::string jsonl;
  for (int i = 0; i < 300; ++i) {
    std::string text = "word";
    for (int k = 0; k < (i * 7) % 40; ++k) text += " word";
    jsonl += json({{"text", text}, {"score", i}}).dump() + "\n";
  }
  auto d = Dataset::scan(write_temp("s.jsonl", jsonl), TaskKind::Regression, DataOptions{});
  auto tok = Tokenizer::from_dir(test::data_path("tokenizers/bert-base-uncased"));
  const ExampleEncoder enc(*tok, TaskKind::Regression, LabelSpace({"LABEL_0"}), 64, true);
  std::vector<int64_t> pool(300);
  for (int i = 0; i < 300; ++i) pool[(size_t)i] = i;
  auto scores = [&](Sampler& s, int64_t epoch) {
    std::vector<float> out;
    for (int64_t j = 0; j < s.batches_per_epoch(); ++j)
      for (const EncodedExample* e : s.batch(epoch, j)) out.push_back(e->score);
    return out;
  };
  Sampler a(*d, pool, enc, 8, false, 1), b(*d, pool, enc, 8, false, 1), c(*d, pool, enc, 8, false, 2);
  EXPECT_EQ(a.batches_per_epoch(), 38);
  const auto e0 = scores(a, 0), e1 = scores(a, 1);
  EXPECT_EQ(e0, scores(b, 0));  // same seed, same order
  EXPECT_NE(e0, e1);            // another epoch, another order
  EXPECT_NE(e0, scores(c, 0));  // another seed, another order
  EXPECT_EQ(std::set<float>(e0.begin(), e0.end()).size(), 300u);  // a permutation
  // Grouped by length: within each megabatch of 300 / 32 = 9 batches, lengths never increase.
  Sampler g(*d, pool, enc, 8, true, 1);
  const auto eg = scores(g, 0);
  EXPECT_EQ(std::set<float>(eg.begin(), eg.end()).size(), 300u);
  for (int64_t m = 0; m * 9 < g.batches_per_epoch(); ++m) {
    int64_t previous = 1 << 30;
    for (int64_t j = m * 9; j < std::min<int64_t>((m + 1) * 9, g.batches_per_epoch()); ++j)
      for (const EncodedExample* e : g.batch(0, j)) {
        EXPECT_LE(e->length(), previous);
        previous = e->length();
      }
  }
}

}  // namespace
}  // namespace medenc
