// medenc._medenc: the Python binding of the public C++ API (include/medenc/). The package medenc
// (python/medenc/__init__.py) re-exports it and adds the pure-Python parts.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "errors.h"
#include "model.h"
#include "train.h"
#include "medenc/tokenizer.h"

namespace py = pybind11;
using namespace medenc;
using namespace medenc::python;

namespace {

// A tokenizer of its own, or a model's (kept alive by the aliasing pointer).
struct PyTokenizer {
  std::shared_ptr<const Tokenizer> tok;
};

EncodeOptions encode_options(bool add_special_tokens, std::optional<int64_t> max_length, int64_t stride,
                             const std::string& truncation, const std::string& side, bool stop_at_max_length) {
  EncodeOptions o;
  o.stop_at_max_length = stop_at_max_length;
  o.add_special_tokens = add_special_tokens;
  o.max_length = max_length.value_or(0);
  if (o.max_length < 0) raise_error(ErrorKind::InvalidInput, "max_length must be >= 0");
  if (stride < 0) raise_error(ErrorKind::InvalidInput, "stride must be >= 0");
  o.stride = stride;
  if (truncation == "longest_first") o.strategy = TruncationStrategy::LongestFirst;
  else if (truncation == "only_first") o.strategy = TruncationStrategy::OnlyFirst;
  else if (truncation == "only_second") o.strategy = TruncationStrategy::OnlySecond;
  else raise_error(ErrorKind::InvalidInput, "truncation must be longest_first, only_first or only_second");
  if (side == "right") o.side = TruncationSide::Right;
  else if (side == "left") o.side = TruncationSide::Left;
  else raise_error(ErrorKind::InvalidInput, "truncation_side must be right or left");
  return o;
}

// -1 (special tokens) as None, as Hugging Face `tokenizers` reports word and sequence ids.
py::list ids_or_none(const std::vector<int32_t>& v) {
  py::list out;
  for (int32_t x : v) out.append(x < 0 ? py::object(py::none()) : py::object(py::int_(x)));
  return out;
}

constexpr const char* kTextsDoc =
    "texts: a list of str, or of (text, pair) tuples (a second segment: token type 1 for BERT families).";

}  // namespace

PYBIND11_MODULE(_medenc, m) {
  m.doc() = "medenc: clinical text encoders (ModernBERT, BERT, Megatron-BERT) on CPU, bound from the C++ library.";
  set_main_thread();
  register_errors(m);

  py::class_<Encoding>(m, "Encoding", "One tokenized text (or pair), as Hugging Face `tokenizers` returns it.")
      .def_property_readonly("ids", [](const Encoding& e) { return e.ids; }, "Token ids.")
      .def_property_readonly("tokens", [](const Encoding& e) { return e.tokens; }, "Token strings.")
      .def_property_readonly("offsets", [](const Encoding& e) { return e.offsets; },
                             "(start, end) code-point offsets (Python str indices) into the text the token came "
                             "from; (0, 0) for special tokens.")
      .def_property_readonly("type_ids", [](const Encoding& e) { return e.type_ids; }, "Token type ids.")
      .def_property_readonly("attention_mask", [](const Encoding& e) { return e.attention_mask; })
      .def_property_readonly("special_tokens_mask", [](const Encoding& e) { return e.special_tokens_mask; })
      .def_property_readonly("word_ids", [](const Encoding& e) { return ids_or_none(e.word_ids); },
                             "Pre-tokenizer word index of each token (None for special tokens).")
      .def_property_readonly("sequence_ids", [](const Encoding& e) { return ids_or_none(e.sequence_ids); },
                             "0 or 1 (which text of a pair), None for special tokens.")
      .def_property_readonly("overflowing", [](const Encoding& e) { return e.overflowing; },
                             "Further windows when truncation cut the text.")
      .def("__len__", [](const Encoding& e) { return e.size(); })
      .def("__repr__", [](const Encoding& e) {
        return "Encoding(num_tokens=" + std::to_string(e.size()) + ", overflowing=" +
               std::to_string(e.overflowing.size()) + ")";
      });

  py::class_<PyTokenizer>(m, "Tokenizer",
                          "A tokenizer with Hugging Face `tokenizers` parity (byte-level BPE, WordPiece).")
      .def(py::init([](py::object path) {
             const std::string dir = py::str(py::module_::import("os").attr("fspath")(path));
             py::gil_scoped_release release;
             return PyTokenizer{std::shared_ptr<const Tokenizer>(Tokenizer::from_dir(dir))};
           }),
           py::arg("path"),
           "Loads PATH/tokenizer.json, else PATH/vocab.txt (+ tokenizer_config.json).")
      .def(
          "encode",
          [](const PyTokenizer& t, const std::string& text, std::optional<std::string> pair, bool add_special_tokens,
             std::optional<int64_t> max_length, int64_t stride, const std::string& truncation,
             const std::string& truncation_side, bool stop_at_max_length) {
            const EncodeOptions o =
                encode_options(add_special_tokens, max_length, stride, truncation, truncation_side, stop_at_max_length);
            py::gil_scoped_release release;
            return pair ? t.tok->encode_pair(text, *pair, o) : t.tok->encode(text, o);
          },
          py::arg("text"), py::arg("pair") = py::none(), py::kw_only(), py::arg("add_special_tokens") = true,
          py::arg("max_length") = py::none(), py::arg("stride") = 0, py::arg("truncation") = "longest_first",
          py::arg("truncation_side") = "right", py::arg("stop_at_max_length") = false,
          "Tokenizes one text (or a pair). With max_length the encoding is truncated and the rest goes to "
          "`overflowing` windows sharing `stride` tokens (stop_at_max_length: only up to the word that reaches "
          "max_length, as `tokenizers` >= 0.23 does). Invalid text raises ValueError.")
      .def(
          "encode_batch",
          [](const PyTokenizer& t, py::handle texts, bool add_special_tokens, std::optional<int64_t> max_length,
             int64_t stride, const std::string& truncation, const std::string& truncation_side,
             bool stop_at_max_length, std::optional<int> threads) {
            const EncodeOptions o =
                encode_options(add_special_tokens, max_length, stride, truncation, truncation_side, stop_at_max_length);
            const std::vector<TextInput> inputs = text_inputs(texts);
            py::gil_scoped_release release;
            bool pairs = false;
            for (const TextInput& in : inputs) pairs = pairs || in.pair.has_value();
            if (!pairs) {
              std::vector<std::string> single;
              single.reserve(inputs.size());
              for (const TextInput& in : inputs) single.push_back(in.text);
              return t.tok->encode_batch(single, o, threads.value_or(0));
            }
            std::vector<Encoding> out;
            out.reserve(inputs.size());
            for (const TextInput& in : inputs)
              out.push_back(in.pair ? t.tok->encode_pair(in.text, *in.pair, o) : t.tok->encode(in.text, o));
            return out;
          },
          py::arg("texts"), py::kw_only(), py::arg("add_special_tokens") = true, py::arg("max_length") = py::none(),
          py::arg("stride") = 0, py::arg("truncation") = "longest_first", py::arg("truncation_side") = "right",
          py::arg("stop_at_max_length") = false, py::arg("threads") = py::none(),
          "encode() over many texts (str or (text, pair)), in parallel.")
      .def(
          "decode",
          [](const PyTokenizer& t, std::vector<int32_t> ids, bool skip_special_tokens, bool clean_up) {
            return t.tok->decode(ids, skip_special_tokens, clean_up);
          },
          py::arg("ids"), py::arg("skip_special_tokens") = true, py::arg("clean_up_tokenization_spaces") = true)
      .def("token_to_id", [](const PyTokenizer& t, const std::string& token) { return t.tok->token_to_id(token); },
           py::arg("token"), "The token's id, or None.")
      .def("id_to_token", [](const PyTokenizer& t, int32_t id) { return t.tok->id_to_token(id); }, py::arg("id"))
      .def_property_readonly("vocab_size", [](const PyTokenizer& t) { return t.tok->vocab_size(); })
      .def_property_readonly("mask_token", [](const PyTokenizer& t) { return t.tok->mask_token(); })
      .def_property_readonly("model_max_length", [](const PyTokenizer& t) { return t.tok->model_max_length(); })
      .def("num_special_tokens_to_add", [](const PyTokenizer& t, bool pair) { return t.tok->num_special_tokens_to_add(pair); },
           py::arg("pair") = false);

  py::class_<PyModel>(m, "Model", R"doc(A checkpoint loaded once and shared by every call.

Model(path, dtype="f32", threads=None, tokenizer=None)

path: a Hugging Face checkpoint folder (config.json, model.safetensors, tokenizer files).
dtype: "f32", "bf16" (bf16 weights and matrix inputs, fp32 accumulation) or "int8" (int8 linear
  layers: weights per output channel, inputs per row, exact int32 sums; bf16 attention).
threads: threads per call (None or 0: all cores).
tokenizer: the tokenizer folder when it is not the model's own.

Each call runs in a session of its own without the GIL: several Python threads may call one Model
at once. Ctrl-C stops a long call (KeyboardInterrupt) and leaves the model usable. Results never
depend on the batch or the thread count.)doc")
      .def(py::init([](py::object path, const std::string& dtype, std::optional<int> threads,
                       std::optional<py::object> tokenizer) {
             auto fspath = py::module_::import("os").attr("fspath");
             std::optional<std::string> tok;
             if (tokenizer && !tokenizer->is_none()) tok = py::str(fspath(*tokenizer));
             return new PyModel(py::str(fspath(path)), dtype, threads, tok);
           }),
           py::arg("path"), py::arg("dtype") = "f32", py::arg("threads") = py::none(),
           py::arg("tokenizer") = py::none())
      .def("classify", &PyModel::classify, py::arg("texts"), py::kw_only(), py::arg("threshold") = py::none(),
           py::arg("top_k") = py::none(), py::arg("stride") = py::none(), py::arg("max_length") = py::none(),
           py::arg("window_aggregation") = "mean", py::arg("thresholds") = py::none(),
           py::arg("max_batch_tokens") = 16384, py::arg("on_error") = "raise",
           (std::string(R"doc(Sequence classification: one dict per text, as `medenc classify` writes its JSON lines.

Regression: {"score": x} (or {"scores": {label: x}}); single-label: {"label", "score", "scores"}
(softmax); multi-label: {"labels": [labels above threshold], "scores"} (sigmoid). "truncated": True
when the text was cut at max_length; "windows": n when stride > 0 cut it into n windows (their
logits averaged, or maxed with window_aggregation="max").
threshold: multi-label threshold (0.5); thresholds: {label: threshold} per label.
top_k: only the k best labels in "scores". on_error: "raise" (the first bad input raises, naming
its index) or "return" (its entry is {"error": message, "kind": kind}).
)doc") + kTextsDoc).c_str())
      .def("ner", &PyModel::ner, py::arg("texts"), py::kw_only(), py::arg("aggregation") = "simple",
           py::arg("ignore_labels") = std::vector<std::string>{"O"}, py::arg("stride") = py::none(),
           py::arg("max_length") = py::none(), py::arg("max_batch_tokens") = 16384, py::arg("on_error") = "raise",
           (std::string(R"doc(Token classification: one list of entities per text, as `medenc ner` writes them.

Each entity: {"label", "start", "end", "text", "score", "word", "hf_start", "hf_end"} ("index" with
aggregation="none"); start/end are str indices, text == input[start:end].
aggregation: none | simple | first | average | max (Hugging Face's pipeline).
)doc") + kTextsDoc).c_str())
      .def("embed", &PyModel::embed, py::arg("texts"), py::kw_only(), py::arg("pooling") = "mean",
           py::arg("normalize") = false, py::arg("stride") = py::none(), py::arg("max_length") = py::none(),
           py::arg("max_batch_tokens") = 16384,
           (std::string(R"doc(Embeddings as a numpy float32 array [len(texts), hidden_size] (one buffer, no copy).

pooling: "mean" (all tokens, special tokens included), "cls", or "splade" (masked-LM models: rows of
vocab_size, the max over tokens of log(1 + relu(logit))); normalize: unit L2 norm.
)doc") + kTextsDoc).c_str())
      .def("fill_mask", &PyModel::fill_mask, py::arg("texts"), py::kw_only(), py::arg("top_k") = 5,
           py::arg("max_length") = py::none(), py::arg("max_batch_tokens") = 16384, py::arg("on_error") = "raise",
           (std::string(R"doc(Masked LM: per text, a list of {"start", "end", "predictions": [{"token", "token_id", "score"}]}
for each mask token (top_k best, as `medenc fill-mask` writes them). A text without a mask token is an error.
)doc") + kTextsDoc).c_str())
      .def("forward", &PyModel::forward, py::arg("input_ids"), py::arg("attention_mask") = py::none(),
           py::arg("token_type_ids") = py::none(), py::arg("positions") = py::none(),
           R"doc(The low-level forward pass on right-padded inputs, as `medenc forward` runs it.

input_ids, attention_mask, token_type_ids: integer arrays [batch, tokens] (numpy or lists).
positions: masked LM only, [K, 2] (batch, token) pairs whose logits are wanted.
Returns a dict of float32 numpy arrays: last_hidden_state [B, T, H] (zeros at padding),
pooler_output [B, H] (BERT families with a pooler), logits ([B, L], [B, T, L], [B, T, V] or [K, V]).)doc")
      .def("run_file", &PyModel::run_file, py::arg("task"), py::arg("input"), py::arg("output"), py::kw_only(),
           py::arg("format") = "jsonl", py::arg("field") = "text", py::arg("id_field") = "id",
           py::arg("max_length") = py::none(), py::arg("stride") = py::none(), py::arg("max_batch_tokens") = 16384,
           py::arg("read_ahead") = 1024, py::arg("on_error") = "line",
           R"doc(The CLI's streaming job: reads INPUT (jsonl, text or csv), writes OUTPUT as the same JSON lines
`medenc TASK INPUT --out OUTPUT` writes (atomically: OUTPUT.tmp, renamed when complete).

task: classify | ner | embed | fill_mask; task options as keywords (classify: threshold, top_k,
window_aggregation, thresholds (a JSON file), pair_field; ner: aggregation, ignore_labels;
embed: pooling, normalize; fill_mask: top_k). Memory stays bounded by read_ahead documents.
Returns {"documents", "error_lines", "windows", "tokens"}.)doc")
      .def_property_readonly("info", &PyModel::info,
                             "dict: path, family, architecture, head, problem_type, labels, num_labels, hidden_size, "
                             "num_layers, vocab_size, max_length, type_vocab_size, has_pooler, dtype, threads.")
      .def_property_readonly(
          "tokenizer",
          [](const PyModel& self) {
            return PyTokenizer{std::shared_ptr<const Tokenizer>(self.model(), &self.model()->tokenizer())};
          },
          "The model's tokenizer.")
      .def("__repr__", [](const PyModel& self) {
        const ModelInfo& i = self.model()->info();
        return "medenc.Model(" + py::repr(py::str(self.model()->path())).cast<std::string>() + ", " +
               i.head.architecture + ", dtype=" + precision_name(self.model()->precision()) + ")";
      });

  m.def("train", &train, R"doc(Fine-tunes or pre-trains a checkpoint, as `medenc train` does.

train(model=..., task=..., train=..., out=..., **trainer_args) -> dict

task: regression | single-label | multi-label | ner | mlm. Other arguments are medenc train's options
with _ for - (learning_rate, num_train_epochs, max_steps, batch_size / per_device_train_batch_size,
eval, eval_strategy, save_steps, seed, threads, ...): see train_argument_names(). Writes Hugging Face
checkpoints to `out` and resumes from the latest one there. Returns the summary the CLI prints:
{"output_dir", "global_step", "train_loss", "train_runtime", "resumed"(, "best_model_checkpoint")}.)doc");
  m.def("train_argument_names", &train_argument_names, "The keyword arguments train() takes.");
}
