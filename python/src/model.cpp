// medenc.Model: a loaded checkpoint shared by every call; each call runs in a Session of its own
// without the GIL, so several Python threads can use one Model at once.
#include "model.h"

#include <filesystem>
#include <fstream>
#include <set>

#include <pybind11/stl.h>

#include "convert.h"
#include "errors.h"
#include "medenc/classify.h"
#include "medenc/embed.h"
#include "medenc/fill_mask.h"
#include "medenc/forward.h"
#include "medenc/ner.h"
#include "medenc/pipeline.h"
#include "medenc/text_input.h"

namespace medenc::python {

namespace {

std::string type_name(py::handle h) { return py::str(py::type::handle_of(h).attr("__name__")); }

int64_t checked_size(int64_t value, const char* name, int64_t min) {
  if (value < min) raise_error(ErrorKind::InvalidInput, std::string(name) + " must be at least " + std::to_string(min));
  return value;
}

// The first failed input as its kind's exception, naming the input.
void raise_first_failure(const std::vector<InputStatus>& inputs) {
  for (size_t i = 0; i < inputs.size(); ++i)
    if (!inputs[i].ok()) raise_error(inputs[i].error_kind, "input " + std::to_string(i) + ": " + inputs[i].error);
}

bool keep_error_entries(const std::string& on_error) {
  if (on_error == "raise") return false;
  if (on_error == "return") return true;
  raise_error(ErrorKind::InvalidInput, "on_error must be \"raise\" or \"return\", not \"" + on_error + "\"");
}

// A result as the CLI's line holds it: the whole line's fields (with the input's status fields when
// `status` is given), or the one field `field` of it.
py::object result_object(const TaskResult& result, const InputStatus* status, const char* field) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  result_fields(result, j);
  if (status) status_fields(*status, j);
  return json_to_python(field ? j[field] : j);
}

py::object error_entry(const InputStatus& s) {
  py::dict d;
  d["error"] = s.error;
  d["kind"] = error_kind_name(s.error_kind);
  return d;
}

// A str as UTF-8; a str that is not text (lone surrogates) is an InvalidInputError naming `where`.
std::string utf8(py::handle s, const std::string& where) {
  Py_ssize_t size = 0;
  const char* data = PyUnicode_AsUTF8AndSize(s.ptr(), &size);
  if (!data) {
    py::error_already_set e;
    raise_error(ErrorKind::InvalidInput, where + " is not valid text: " + std::string(py::str(e.value())));
  }
  return std::string(data, (size_t)size);
}

}  // namespace

std::vector<TextInput> text_inputs(py::handle texts) {
  if (py::isinstance<py::str>(texts) || py::isinstance<py::bytes>(texts))
    throw py::type_error("texts must be a list of str or of (text, pair) tuples, not a single " + type_name(texts));
  if (!py::isinstance<py::sequence>(texts))
    throw py::type_error("texts must be a list of str or of (text, pair) tuples, not " + type_name(texts));
  py::sequence seq = py::reinterpret_borrow<py::sequence>(texts);
  std::vector<TextInput> inputs;
  inputs.reserve(seq.size());
  for (size_t i = 0; i < seq.size(); ++i) {
    py::object item = seq[i];
    const std::string where = "texts[" + std::to_string(i) + "]";
    if (py::isinstance<py::str>(item)) {
      inputs.emplace_back(utf8(item, where));
      continue;
    }
    if ((py::isinstance<py::tuple>(item) || py::isinstance<py::list>(item)) && py::len(item) == 2) {
      py::sequence pair = py::reinterpret_borrow<py::sequence>(item);
      if (py::isinstance<py::str>(pair[0]) && py::isinstance<py::str>(pair[1])) {
        inputs.emplace_back(utf8(pair[0], where + "[0]"), utf8(pair[1], where + "[1]"));
        continue;
      }
    }
    throw py::type_error("texts[" + std::to_string(i) + "] must be a str or a (text, pair) tuple of str, not " +
                         type_name(item));
  }
  return inputs;
}

PyModel::PyModel(const std::string& path, const std::string& dtype, std::optional<int> threads,
                 const std::optional<std::string>& tokenizer) {
  ModelOptions o;
  o.precision = parse_precision(dtype);
  if (tokenizer) o.tokenizer = *tokenizer;
  if (threads && *threads < 0) raise_error(ErrorKind::InvalidInput, "threads must be >= 0 (0: all cores)");
  threads_ = threads.value_or(0);
  py::gil_scoped_release release;
  model_ = Model::load(path, o);
  sessions_ = std::make_shared<SessionPool>(model_, threads_);
}

SessionPool::Lease::Lease(SessionPool& pool) : pool_(pool) {
  {
    std::lock_guard<std::mutex> lock(pool_.mu_);
    if (!pool_.idle_.empty()) {
      session_ = std::move(pool_.idle_.back());
      pool_.idle_.pop_back();
    }
  }
  if (!session_) session_ = std::make_unique<Session>(pool_.model_, SessionOptions{pool_.threads_});
}

SessionPool::Lease::~Lease() {
  std::lock_guard<std::mutex> lock(pool_.mu_);
  if (pool_.idle_.size() < kMaxIdle) pool_.idle_.push_back(std::move(session_));
}

RequestOptions PyModel::request(std::optional<int64_t> max_length, std::optional<int64_t> stride,
                                int64_t max_batch_tokens) const {
  RequestOptions r;
  r.max_length = checked_size(max_length.value_or(0), "max_length", 0);
  r.stride = checked_size(stride.value_or(0), "stride", 0);
  r.max_batch_tokens = checked_size(max_batch_tokens, "max_batch_tokens", 1);
  model_->window_options(r.max_length, r.stride);  // checks the values against the model
  return r;
}

ClassifyOptions PyModel::classify_options(std::optional<double> threshold, std::optional<int> top_k,
                                          const std::string& window_aggregation,
                                          const std::optional<py::dict>& thresholds) const {
  ClassifyOptions co;
  if (threshold) {
    if (!(*threshold >= 0 && *threshold <= 1)) raise_error(ErrorKind::InvalidInput, "threshold must be in [0, 1]");
    co.threshold = *threshold;
  }
  if (top_k) co.top_k = (int)checked_size(*top_k, "top_k", 0);
  co.window_aggregation = parse_window_aggregation(window_aggregation);
  if (thresholds) {
    const HeadConfig& head = model_->info().head;
    co.thresholds.assign((size_t)head.num_labels, co.threshold);
    for (auto [key, value] : *thresholds) {
      const std::string label = py::str(key);
      size_t i = 0;
      while (i < head.id2label.size() && head.id2label[i] != label) ++i;
      if (i == head.id2label.size()) raise_error(ErrorKind::InvalidInput, "thresholds: \"" + label + "\" is not a label of the model");
      const double t = value.cast<double>();
      if (!(t >= 0 && t <= 1)) raise_error(ErrorKind::InvalidInput, "thresholds: \"" + label + "\" must be in [0, 1]");
      co.thresholds[i] = t;
    }
  }
  return co;
}

py::list PyModel::classify(py::handle texts, std::optional<double> threshold, std::optional<int> top_k,
                           std::optional<int64_t> stride, std::optional<int64_t> max_length,
                           const std::string& window_aggregation, const std::optional<py::dict>& thresholds,
                           int64_t max_batch_tokens, const std::string& on_error) {
  const bool keep_errors = keep_error_entries(on_error);
  const std::vector<TextInput> inputs = text_inputs(texts);
  const ClassifyOptions co = classify_options(threshold, top_k, window_aggregation, thresholds);
  RequestOptions request = this->request(max_length, stride, max_batch_tokens);
  ClassifyResponse r = run_without_gil([&](StopCheck stop) {
    request.should_stop = std::move(stop);
    SessionPool::Lease session(*sessions_);
    return session->classify(inputs, co, request);
  });
  if (!keep_errors) raise_first_failure(r.inputs);
  py::list out;
  for (size_t i = 0; i < inputs.size(); ++i)
    out.append(r.inputs[i].ok() ? result_object(TaskResult(std::move(r.results[i])), &r.inputs[i], nullptr)
                                : error_entry(r.inputs[i]));
  return out;
}

py::list PyModel::ner(py::handle texts, const std::string& aggregation, const std::vector<std::string>& ignore_labels,
                      std::optional<int64_t> stride, std::optional<int64_t> max_length, int64_t max_batch_tokens,
                      const std::string& on_error) {
  const bool keep_errors = keep_error_entries(on_error);
  const std::vector<TextInput> inputs = text_inputs(texts);
  NerOptions no;
  no.aggregation = parse_ner_aggregation(aggregation);
  no.ignore_labels = ignore_labels;
  RequestOptions request = this->request(max_length, stride, max_batch_tokens);
  NerResponse r = run_without_gil([&](StopCheck stop) {
    request.should_stop = std::move(stop);
    SessionPool::Lease session(*sessions_);
    return session->ner(inputs, no, request);
  });
  if (!keep_errors) raise_first_failure(r.inputs);
  py::list out;
  for (size_t i = 0; i < inputs.size(); ++i)
    out.append(r.inputs[i].ok() ? result_object(TaskResult(std::move(r.results[i])), nullptr, "entities")
                                : error_entry(r.inputs[i]));
  return out;
}

py::array_t<float> PyModel::embed(py::handle texts, const std::string& pooling, bool normalize,
                                  std::optional<int64_t> stride, std::optional<int64_t> max_length,
                                  int64_t max_batch_tokens) {
  const std::vector<TextInput> inputs = text_inputs(texts);
  EmbedOptions eo;
  eo.pooling = parse_pooling(pooling);
  eo.normalize = normalize;
  RequestOptions request = this->request(max_length, stride, max_batch_tokens);
  EmbedResponse r = run_without_gil([&](StopCheck stop) {
    request.should_stop = std::move(stop);
    SessionPool::Lease session(*sessions_);
    return session->embed(inputs, eo, request);
  });
  raise_first_failure(r.inputs);
  const py::ssize_t dim = r.dim > 0 ? (py::ssize_t)r.dim : (py::ssize_t)model_->info().hidden_size;
  if (r.data.empty()) r.data.assign(inputs.size() * (size_t)dim, 0.0f);
  return numpy_from(std::move(r.data), {(py::ssize_t)inputs.size(), dim});
}

py::list PyModel::fill_mask(py::handle texts, int top_k, std::optional<int64_t> max_length, int64_t max_batch_tokens,
                            const std::string& on_error) {
  const bool keep_errors = keep_error_entries(on_error);
  const std::vector<TextInput> inputs = text_inputs(texts);
  FillMaskOptions fo;
  fo.top_k = (int)checked_size(top_k, "top_k", 1);
  RequestOptions request = this->request(max_length, std::nullopt, max_batch_tokens);
  FillMaskResponse r = run_without_gil([&](StopCheck stop) {
    request.should_stop = std::move(stop);
    SessionPool::Lease session(*sessions_);
    return session->fill_mask(inputs, fo, request);
  });
  if (!keep_errors) raise_first_failure(r.inputs);
  py::list out;
  for (size_t i = 0; i < inputs.size(); ++i)
    out.append(r.inputs[i].ok() ? result_object(TaskResult(std::move(r.results[i])), nullptr, "masks")
                                : error_entry(r.inputs[i]));
  return out;
}

namespace {

// An integer matrix [rows, cols] from a numpy array or nested lists; `name` labels errors.
std::vector<int32_t> int_matrix(py::handle obj, const char* name, int64_t* rows, int64_t* cols) {
  py::array a = py::array::ensure(obj);
  if (!a) throw py::type_error(std::string(name) + " must be an integer array [batch, tokens]");
  const char kind = a.dtype().kind();
  if (a.size() > 0 && kind != 'i' && kind != 'u' && kind != 'b')
    throw py::type_error(std::string(name) + " must hold integers, not " + std::string(py::str(a.dtype())));
  if (a.ndim() != 2) raise_error(ErrorKind::InvalidInput, std::string(name) + " must be 2-D [batch, tokens], not " +
                                                              std::to_string(a.ndim()) + "-D");
  *rows = a.shape(0);
  *cols = a.shape(1);
  if (*rows == 0 || *cols == 0) raise_error(ErrorKind::InvalidInput, std::string(name) + " is empty");
  auto v = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(a);
  std::vector<int32_t> out((size_t)a.size());
  const int64_t* p = v.data();
  for (size_t i = 0; i < out.size(); ++i) {
    if (p[i] < INT32_MIN || p[i] > INT32_MAX)
      raise_error(ErrorKind::InvalidInput, std::string(name) + "[" + std::to_string(i / *cols) + "][" +
                                               std::to_string(i % *cols) + "] is not a 32-bit integer");
    out[i] = (int32_t)p[i];
  }
  return out;
}

}  // namespace

py::dict PyModel::forward(py::handle input_ids, py::handle attention_mask, py::handle token_type_ids,
                          py::handle positions) {
  PaddedInputs in;
  in.input_ids = int_matrix(input_ids, "input_ids", &in.batch, &in.seq_len);
  if (!attention_mask.is_none()) {
    int64_t rows, cols;
    in.attention_mask = int_matrix(attention_mask, "attention_mask", &rows, &cols);
    if (rows != in.batch || cols != in.seq_len)
      raise_error(ErrorKind::InvalidInput, "attention_mask is " + std::to_string(rows) + "x" + std::to_string(cols) +
                                               " but input_ids is " + std::to_string(in.batch) + "x" +
                                               std::to_string(in.seq_len));
  } else {
    in.attention_mask.assign((size_t)(in.batch * in.seq_len), 1);
  }
  if (!token_type_ids.is_none()) {
    int64_t rows, cols;
    in.token_type_ids = int_matrix(token_type_ids, "token_type_ids", &rows, &cols);
    if (rows != in.batch || cols != in.seq_len)
      raise_error(ErrorKind::InvalidInput, "token_type_ids is " + std::to_string(rows) + "x" + std::to_string(cols) +
                                               " but input_ids is " + std::to_string(in.batch) + "x" +
                                               std::to_string(in.seq_len));
  }
  for (int64_t r = 0; r < in.batch; ++r) {
    int64_t len = 0;
    bool in_padding = false;
    for (int64_t t = 0; t < in.seq_len; ++t) {
      const int32_t m = in.attention_mask[(size_t)(r * in.seq_len + t)];
      const std::string at = "attention_mask[" + std::to_string(r) + "]";
      if (m != 0 && m != 1) raise_error(ErrorKind::InvalidInput, at + "[" + std::to_string(t) + "] is not 0 or 1");
      if (m == 1 && in_padding)
        raise_error(ErrorKind::InvalidInput, at + " is not right-padded (1 after 0 at position " + std::to_string(t) + ")");
      if (m == 1) ++len;
      else in_padding = true;
    }
    if (len == 0) raise_error(ErrorKind::InvalidInput, "attention_mask[" + std::to_string(r) + "] has no real tokens");
    in.lengths.push_back(len);
  }
  if (!positions.is_none()) {
    int64_t rows, cols;
    std::vector<int32_t> p = int_matrix(positions, "positions", &rows, &cols);
    if (cols != 2) raise_error(ErrorKind::InvalidInput, "positions must be [K, 2] (batch, token) pairs");
    for (int64_t k = 0; k < rows; ++k) {
      const int64_t b = p[(size_t)(2 * k)], t = p[(size_t)(2 * k + 1)];
      if (b < 0 || b >= in.batch || t < 0 || t >= in.lengths[(size_t)b])
        raise_error(ErrorKind::InvalidInput, "positions[" + std::to_string(k) + "] = [" + std::to_string(b) + ", " +
                                                 std::to_string(t) + "] is not a real token of the batch");
      in.positions.emplace_back(b, t);
    }
  }
  std::vector<NamedTensor> tensors = run_without_gil([&](StopCheck stop) {
    SessionPool::Lease session(*sessions_);
    return run_padded_forward(model_->info(), in, [&](const Batch& batch, const ForwardOptions& options) {
      return session->forward(batch, options, stop);
    });
  });
  py::dict out;
  for (NamedTensor& t : tensors) {
    std::vector<py::ssize_t> shape(t.shape.begin(), t.shape.end());
    out[py::str(t.name)] = numpy_from(std::move(t.data), shape);
  }
  return out;
}

py::dict PyModel::info() const {
  const ModelInfo& i = model_->info();
  py::dict d;
  d["path"] = model_->path();
  d["family"] = family_name(i.family);
  d["architecture"] = i.head.architecture;
  d["head"] = head_name(i.head.kind);
  d["problem_type"] = problem_type_name(i.head.resolved_problem_type());
  d["labels"] = i.head.kind == HeadKind::SequenceClassification || i.head.kind == HeadKind::TokenClassification
                    ? py::cast(i.head.id2label)
                    : py::cast(std::vector<std::string>{});
  d["num_labels"] = i.head.kind == HeadKind::SequenceClassification || i.head.kind == HeadKind::TokenClassification
                        ? i.head.num_labels
                        : 0;
  d["hidden_size"] = i.hidden_size;
  d["num_layers"] = i.num_layers;
  d["vocab_size"] = i.vocab_size;
  d["max_length"] = model_->max_length();
  d["type_vocab_size"] = i.type_vocab_size;
  d["has_pooler"] = i.has_pooler;
  d["dtype"] = precision_name(model_->precision());
  d["threads"] = threads_;
  return d;
}

namespace {

std::unique_ptr<Task> make_task(const Model& model, const std::string& task, const WindowOptions& windows,
                                const py::dict& o, std::string* pair_field) {
  auto take = [&](const char* key) -> py::object {
    if (!o.contains(key)) return py::none();
    return o[key];
  };
  std::set<std::string> known;
  auto opt = [&](const char* key) {
    known.insert(key);
    return take(key);
  };
  std::unique_ptr<Task> t;
  if (task == "classify") {
    ClassifyOptions co;
    if (auto v = opt("threshold"); !v.is_none()) co.threshold = v.cast<double>();
    if (auto v = opt("top_k"); !v.is_none()) co.top_k = v.cast<int>();
    if (auto v = opt("window_aggregation"); !v.is_none()) co.window_aggregation = parse_window_aggregation(v.cast<std::string>());
    if (auto v = opt("thresholds"); !v.is_none())
      co.thresholds = read_label_thresholds(v.cast<std::string>(), model.info().head, co.threshold);
    *pair_field = "text_pair";
    if (auto v = opt("pair_field"); !v.is_none()) *pair_field = v.cast<std::string>();
    t = make_classify_task(model.tokenizer(), model.info(), windows, co);
  } else if (task == "ner") {
    NerOptions no;
    if (auto v = opt("aggregation"); !v.is_none()) no.aggregation = parse_ner_aggregation(v.cast<std::string>());
    if (auto v = opt("ignore_labels"); !v.is_none()) no.ignore_labels = v.cast<std::vector<std::string>>();
    t = make_ner_task(model.tokenizer(), model.info(), windows, no);
  } else if (task == "embed") {
    EmbedOptions eo;
    if (auto v = opt("pooling"); !v.is_none()) eo.pooling = parse_pooling(v.cast<std::string>());
    if (auto v = opt("normalize"); !v.is_none()) eo.normalize = v.cast<bool>();
    t = make_embed_task(model.tokenizer(), model.info(), windows, eo);
  } else if (task == "fill_mask" || task == "fill-mask") {
    FillMaskOptions fo;
    if (auto v = opt("top_k"); !v.is_none()) fo.top_k = v.cast<int>();
    t = make_fill_mask_task(model.tokenizer(), model.info(), windows, fo);
  } else {
    raise_error(ErrorKind::InvalidInput, "unknown task \"" + task + "\" (classify, ner, embed, fill_mask)");
  }
  for (auto [key, value] : o) {
    const std::string k = py::str(key);
    if (!known.count(k)) throw py::type_error("run_file: unexpected option \"" + k + "\" for task " + task);
  }
  return t;
}

}  // namespace

py::dict PyModel::run_file(const std::string& task, const std::string& input, const std::string& output,
                           const std::string& format, const std::string& field, const std::string& id_field,
                           std::optional<int64_t> max_length, std::optional<int64_t> stride, int64_t max_batch_tokens,
                           int64_t read_ahead, const std::string& on_error, const py::kwargs& task_options) {
  InputOptions io;
  io.format = parse_input_format(format);
  io.field = field;
  io.id_field = id_field;
  const RequestOptions request = this->request(max_length, stride, max_batch_tokens);
  const WindowOptions windows = model_->window_options(request.max_length, request.stride);
  py::dict options = task_options;
  std::unique_ptr<Task> t = make_task(*model_, task, windows, options, &io.pair_field);
  PipelineOptions po;
  po.max_batch_tokens = request.max_batch_tokens;
  po.read_ahead = checked_size(read_ahead, "read_ahead", 1);
  if (on_error != "line" && on_error != "fail")
    raise_error(ErrorKind::InvalidInput, "on_error must be \"line\" or \"fail\", not \"" + on_error + "\"");
  po.fail_on_error = on_error == "fail";
  po.source = input;

  PipelineStats stats = run_without_gil([&](StopCheck stop) {
    std::ifstream in(input, std::ios::binary);
    if (!in) throw Error(ErrorKind::Io, input + ": cannot open the input");
    std::unique_ptr<DocumentReader> reader = make_document_reader(in, io, input);
    // Written to OUTPUT.tmp and renamed when complete, as the CLI's --out.
    const std::string tmp = output + ".tmp";
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(ErrorKind::Io, tmp + ": cannot write");
    SessionPool::Lease session(*sessions_);
    po.should_stop = stop;
    po.progress = [&](const PipelineStats&, int64_t, bool) {
      out.flush();
      if (!out) throw Error(ErrorKind::Io, tmp + ": cannot write");
    };
    PipelineStats s;
    try {
      auto write = [&](const Job& job) {
        out << document_line(job).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
      };
      s = session->run_pipeline(*t, *reader, write, po);
      out.close();
      if (!out) throw Error(ErrorKind::Io, tmp + ": cannot write");
    } catch (...) {
      out.close();
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      throw;
    }
    std::filesystem::rename(tmp, output);
    return s;
  });
  py::dict d;
  d["documents"] = stats.documents;
  d["error_lines"] = stats.error_lines;
  d["windows"] = stats.windows;
  d["tokens"] = stats.tokens;
  return d;
}

}  // namespace medenc::python
