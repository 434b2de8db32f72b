// libFuzzer target: the training data readers (JSON Lines, CSV, CoNLL/BIO, PubTator, text) and the
// per-task checks behind `medenc train` / `medenc eval`. Byte 0 picks the format, byte 1 the task
// and options; the rest is the file. The scan must count bad rows, never crash; every example it
// keeps must read back by byte offset and hold together (entities sorted, non-overlapping, inside
// the text; labels present for the label tasks).
//   build-fuzz/fuzz/fuzz_training_data -max_total_time=600 fuzz/corpus/fuzz_training_data
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_common.h"
#include "medenc/datasets.h"
#include "medenc/error.h"

namespace {

using medenc::fuzz::check;

int64_t codepoints(const std::string& s) {
  int64_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  static const medenc::DataFormat formats[] = {medenc::DataFormat::Jsonl, medenc::DataFormat::Csv,
                                               medenc::DataFormat::Conll, medenc::DataFormat::Pubtator,
                                               medenc::DataFormat::Text};
  static const medenc::TaskKind tasks[] = {medenc::TaskKind::Regression, medenc::TaskKind::SingleLabel,
                                           medenc::TaskKind::MultiLabel, medenc::TaskKind::Ner,
                                           medenc::TaskKind::Mlm};
  medenc::DataOptions o;
  o.format = formats[data[0] % 5];
  const medenc::TaskKind task = tasks[data[1] % 5];
  if (data[1] & 8) o.pair_field = "text_pair";
  if (data[1] & 16) o.score_min = 1, o.score_max = 5;
  if (data[1] & 32) o.label_map = {{"a", "b"}, {"T1", "O"}, {"x", ""}};
  const medenc::LabelSpace fixed(std::vector<std::string>{"a", "b", "c"});
  const bool with_labels = (data[1] & 64) && task != medenc::TaskKind::Ner && task != medenc::TaskKind::Mlm;
  const std::string path = medenc::fuzz::scratch_dir() + "/train.data";
  medenc::fuzz::write_bytes(path, std::string_view(reinterpret_cast<const char*>(data) + 2, size - 2));
  try {
    auto ds = medenc::Dataset::scan(path, task, o, with_labels ? &fixed : nullptr);
    check(ds->report().used == ds->size(), "rows used = examples");
    for (int64_t i = 0; i < ds->size(); ++i) {
      const medenc::Example e = ds->get(i);
      const int64_t n = codepoints(e.text);
      int64_t end = 0;
      for (const auto& s : e.entities) {
        check(s.start >= end && s.start < s.end && s.end <= n, "entities sorted, disjoint, inside the text");
        end = s.end;
      }
      if (task == medenc::TaskKind::SingleLabel) check(e.labels.size() == 1, "one label");
    }
  } catch (const medenc::Error&) {
    // A file the reader refuses whole (a CSV without its header or columns).
  }
  return 0;
}
