// medenc.train: the CLI's `medenc train` options as keyword arguments (dashes become underscores).
#include "train.h"

#include <algorithm>
#include <functional>
#include <map>
#include <optional>

#include <pybind11/stl.h>

#include "convert.h"
#include "errors.h"
#include "medenc/trainer.h"

namespace medenc::python {

namespace {

using Setter = std::function<void(TrainingArguments&, py::handle)>;

template <class T>
Setter set(T TrainingArguments::*field) {
  return [field](TrainingArguments& a, py::handle v) { a.*field = v.cast<T>(); };
}
template <class T>
Setter set_data(T DataOptions::*field) {
  return [field](TrainingArguments& a, py::handle v) { a.data.*field = v.cast<T>(); };
}
std::string path_of(py::handle v) { return py::str(py::module_::import("os").attr("fspath")(v)); }
Setter set_path(std::string TrainingArguments::*field) {
  return [field](TrainingArguments& a, py::handle v) { a.*field = path_of(v); };
}

// Keyword -> field, with the CLI's option names (and its aliases).
const std::map<std::string, Setter>& setters() {
  static const std::map<std::string, Setter> s = [] {
    std::map<std::string, Setter> m;
    m["model"] = set_path(&TrainingArguments::model_dir);
    m["task"] = [](TrainingArguments& a, py::handle v) { a.task = parse_task(v.cast<std::string>()); };
    m["train"] = set_path(&TrainingArguments::train_file);
    m["eval"] = set_path(&TrainingArguments::eval_file);
    m["out"] = m["output_dir"] = set_path(&TrainingArguments::output_dir);
    m["tokenizer"] = set_path(&TrainingArguments::tokenizer_dir);
    m["from_scratch"] = set(&TrainingArguments::from_scratch);
    m["label_list"] = set_path(&TrainingArguments::label_list_file);
    m["max_length"] = set(&TrainingArguments::max_length);
    // Data options (cli/data_options.cpp).
    m["data_format"] = [](TrainingArguments& a, py::handle v) { a.data.format = parse_data_format(v.cast<std::string>()); };
    m["text_field"] = set_data(&DataOptions::text_field);
    m["pair_field"] = set_data(&DataOptions::pair_field);
    m["label_field"] = set_data(&DataOptions::label_field);
    m["entities_field"] = set_data(&DataOptions::entities_field);
    m["label_separator"] = set_data(&DataOptions::label_separator);
    m["score_min"] = [](TrainingArguments& a, py::handle v) { a.data.score_min = v.cast<double>(); };
    m["score_max"] = [](TrainingArguments& a, py::handle v) { a.data.score_max = v.cast<double>(); };
    m["label_map"] = [](TrainingArguments& a, py::handle v) {
      if (!py::isinstance<py::dict>(v))
        throw py::type_error("label_map must be a dict {\"from\": \"to\"} (a label renamed to \"\" or \"O\" is dropped)");
      a.data.label_map = v.cast<std::map<std::string, std::string>>();
    };
    // Hyperparameters, as Hugging Face's TrainingArguments names them.
    m["learning_rate"] = set(&TrainingArguments::learning_rate);
    m["num_train_epochs"] = set(&TrainingArguments::num_train_epochs);
    m["max_steps"] = set(&TrainingArguments::max_steps);
    m["per_device_train_batch_size"] = m["batch_size"] = set(&TrainingArguments::per_device_train_batch_size);
    m["per_device_eval_batch_size"] = set(&TrainingArguments::per_device_eval_batch_size);
    m["gradient_accumulation_steps"] = set(&TrainingArguments::gradient_accumulation_steps);
    m["weight_decay"] = set(&TrainingArguments::weight_decay);
    m["adam_beta1"] = set(&TrainingArguments::adam_beta1);
    m["adam_beta2"] = set(&TrainingArguments::adam_beta2);
    m["adam_epsilon"] = set(&TrainingArguments::adam_epsilon);
    m["decay_all"] = set(&TrainingArguments::decay_all);
    m["warmup_steps"] = set(&TrainingArguments::warmup_steps);
    m["warmup_ratio"] = set(&TrainingArguments::warmup_ratio);
    m["lr_scheduler_type"] = set(&TrainingArguments::lr_scheduler_type);
    m["max_grad_norm"] = set(&TrainingArguments::max_grad_norm);
    m["seed"] = set(&TrainingArguments::seed);
    m["eval_strategy"] = m["evaluation_strategy"] = set(&TrainingArguments::eval_strategy);
    m["eval_steps"] = set(&TrainingArguments::eval_steps);
    m["save_strategy"] = set(&TrainingArguments::save_strategy);
    m["save_steps"] = set(&TrainingArguments::save_steps);
    m["save_total_limit"] = set(&TrainingArguments::save_total_limit);
    m["load_best_model_at_end"] = set(&TrainingArguments::load_best_model_at_end);
    m["metric_for_best_model"] = set(&TrainingArguments::metric_for_best_model);
    m["greater_is_better"] = [](TrainingArguments& a, py::handle v) { a.greater_is_better = v.cast<bool>(); };
    m["early_stopping_patience"] = set(&TrainingArguments::early_stopping_patience);
    m["logging_steps"] = set(&TrainingArguments::logging_steps);
    m["group_by_length"] = set(&TrainingArguments::group_by_length);
    m["balance_threshold"] = [](TrainingArguments& a, py::handle v) { a.balance_threshold = v.cast<double>(); };
    m["mlm_probability"] = set(&TrainingArguments::mlm_probability);
    m["mlm_probability_end"] = [](TrainingArguments& a, py::handle v) { a.mlm_probability_end = v.cast<double>(); };
    m["threshold"] = set(&TrainingArguments::eval_threshold);
    m["regression_threshold"] = set(&TrainingArguments::regression_threshold);
    m["threads"] = set(&TrainingArguments::threads);
    m["overwrite_output_dir"] = set(&TrainingArguments::overwrite_output_dir);
    m["resume_from_checkpoint"] = m["resume"] = set_path(&TrainingArguments::resume_from_checkpoint);
    // Accepted for recipe compatibility, as the CLI does: training runs in fp32.
    m["fp16"] = m["bf16"] = [](TrainingArguments&, py::handle) {};
    return m;
  }();
  return s;
}

}  // namespace

std::vector<std::string> train_argument_names() {
  std::vector<std::string> names;
  for (const auto& [name, setter] : setters()) names.push_back(name);
  return names;
}

namespace {

// Python callables the trainer calls on its thread, which runs without the GIL: each call takes the
// GIL; the first exception a callable raises stops training (at the next step, after a checkpoint)
// and is raised once train() returns. The callables are borrowed from the caller's arguments, which
// outlive the run.
class PythonCallbacks {
 public:
  // Calls fn(*make_args()); the arguments are made and released under the GIL too.
  template <class MakeArgs>
  void call(py::handle fn, MakeArgs&& make_args) {
    py::gil_scoped_acquire gil;
    if (error_) return;
    try {
      py::tuple args = make_args();
      fn(*args);
    } catch (py::error_already_set& e) {
      error_.emplace(std::move(e));
    }
  }
  bool failed() const { return error_.has_value(); }
  void rethrow() {
    if (!error_) return;
    py::error_already_set e = std::move(*error_);
    error_.reset();
    throw e;
  }

 private:
  std::optional<py::error_already_set> error_;
};

py::dict step_dict(const TrainStepInfo& s) {
  py::dict d;
  d["step"] = s.step;
  d["total_steps"] = s.total_steps;
  d["epoch"] = s.epoch;
  d["loss"] = s.loss;
  d["learning_rate"] = s.learning_rate;
  d["tokens_per_second"] = s.tokens_per_second;
  d["eta_seconds"] = s.eta_seconds;
  return d;
}

}  // namespace

py::dict train(const py::kwargs& kwargs) {
  static const char* kCallbacks[] = {"on_step", "on_log", "on_evaluate", "on_save", "on_message", "on_eval_progress"};
  TrainingArguments a;
  py::dict callables;
  for (auto [key, value] : kwargs) {
    const std::string name = py::str(key);
    if (std::find_if(std::begin(kCallbacks), std::end(kCallbacks), [&](const char* c) { return name == c; }) !=
        std::end(kCallbacks)) {
      if (!value.is_none() && !PyCallable_Check(value.ptr())) throw py::type_error("train(): " + name + " must be callable");
      callables[key] = value;
      continue;
    }
    auto it = setters().find(name);
    if (it == setters().end())
      throw py::type_error("train() got an unexpected argument \"" + name +
                           "\" (the names are medenc train's options with _ for -; see medenc.train_argument_names())");
    if (value.is_none()) continue;  // None: the default
    try {
      it->second(a, value);
    } catch (const py::cast_error&) {
      throw py::type_error("train(): " + name + " has the wrong type (" +
                           std::string(py::str(py::type::handle_of(value).attr("__name__"))) + ")");
    }
  }
  for (const char* required : {"model", "task", "train"})
    if (!kwargs.contains(required)) throw py::type_error(std::string("train() needs ") + required + "=");
  if (!kwargs.contains("out") && !kwargs.contains("output_dir")) throw py::type_error("train() needs out=");
  a.validate();

  auto fn = [&](const char* name) -> py::handle { return callables.contains(name) ? callables[name] : py::handle(); };
  PythonCallbacks py_calls;
  SignalWatch watch;
  const StopCheck interrupted = watch.stop_check();
  TrainerCallbacks& c = a.callbacks;
  const py::handle on_step = fn("on_step"), on_log = fn("on_log"), on_evaluate = fn("on_evaluate"),
                   on_save = fn("on_save"), on_message = fn("on_message"), on_eval_progress = fn("on_eval_progress");
  if (on_step)
    c.on_step = [&](const TrainStepInfo& s) { py_calls.call(on_step, [&] { return py::make_tuple(step_dict(s)); }); };
  if (on_log)
    c.on_log = [&](const nlohmann::ordered_json& e) {
      py_calls.call(on_log, [&] { return py::make_tuple(json_to_python(e)); });
    };
  if (on_evaluate)
    c.on_evaluate = [&](const nlohmann::ordered_json& e) {
      py_calls.call(on_evaluate, [&] { return py::make_tuple(json_to_python(e)); });
    };
  if (on_save)
    c.on_save = [&](const std::string& path) { py_calls.call(on_save, [&] { return py::make_tuple(path); }); };
  if (on_message)
    c.on_message = [&](const std::string& line) { py_calls.call(on_message, [&] { return py::make_tuple(line); }); };
  if (on_eval_progress)
    c.on_eval_progress = [&](int64_t done, int64_t total) {
      py_calls.call(on_eval_progress, [&] { return py::make_tuple(done, total); });
    };
  // Ctrl-C or a callback's exception: the trainer saves a checkpoint at the next step and returns.
  c.should_stop = [&] { return interrupted() || py_calls.failed(); };

  TrainSummary s;
  {
    py::gil_scoped_release release;
    s = medenc::train(a);
  }
  a.callbacks = {};
  watch.rethrow_if_interrupted();  // KeyboardInterrupt, after the checkpoint the resume starts from
  py_calls.rethrow();
  return json_to_python(summary_json(a.output_dir, s)).cast<py::dict>();
}

}  // namespace medenc::python
