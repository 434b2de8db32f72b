#pragma once
// medenc.Model: see model.cpp.
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "medenc/session.h"

namespace medenc::python {

namespace py = pybind11;

// A list of str or (text, pair) tuples as TextInputs (TypeError naming the bad item).
std::vector<TextInput> text_inputs(py::handle texts);

// Sessions of finished calls, kept for later calls so that a loop of calls (classify_iter's chunks,
// a Dask worker's shards) reuses grown workspaces instead of allocating and faulting them in again.
// A call leases one for its duration: concurrent calls still each have their own.
class SessionPool {
 public:
  SessionPool(std::shared_ptr<const Model> model, int threads) : model_(std::move(model)), threads_(threads) {}
  class Lease {
   public:
    explicit Lease(SessionPool& pool);
    ~Lease();
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Session& operator*() { return *session_; }
    Session* operator->() { return session_.get(); }

   private:
    SessionPool& pool_;
    std::unique_ptr<Session> session_;
  };

 private:
  static constexpr size_t kMaxIdle = 4;  // idle sessions kept (more concurrent calls make their own)
  std::shared_ptr<const Model> model_;
  int threads_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Session>> idle_;
};

class PyModel {
 public:
  PyModel(const std::string& path, const std::string& dtype, std::optional<int> threads,
          const std::optional<std::string>& tokenizer);

  py::list classify(py::handle texts, std::optional<double> threshold, std::optional<int> top_k,
                    std::optional<int64_t> stride, std::optional<int64_t> max_length,
                    const std::string& window_aggregation, const std::optional<py::dict>& thresholds,
                    int64_t max_batch_tokens, const std::string& on_error);
  py::list ner(py::handle texts, const std::string& aggregation, const std::vector<std::string>& ignore_labels,
               std::optional<int64_t> stride, std::optional<int64_t> max_length, int64_t max_batch_tokens,
               const std::string& on_error);
  py::array_t<float> embed(py::handle texts, const std::string& pooling, bool normalize, std::optional<int64_t> stride,
                           std::optional<int64_t> max_length, int64_t max_batch_tokens);
  py::list fill_mask(py::handle texts, int top_k, std::optional<int64_t> max_length, int64_t max_batch_tokens,
                     const std::string& on_error);
  py::dict forward(py::handle input_ids, py::handle attention_mask, py::handle token_type_ids, py::handle positions);
  py::dict run_file(const std::string& task, const std::string& input, const std::string& output,
                    const std::string& format, const std::string& field, const std::string& id_field,
                    std::optional<int64_t> max_length, std::optional<int64_t> stride, int64_t max_batch_tokens,
                    int64_t read_ahead, const std::string& on_error, const py::kwargs& task_options);
  py::dict info() const;

  const std::shared_ptr<const Model>& model() const { return model_; }
  int threads() const { return threads_; }

 private:
  RequestOptions request(std::optional<int64_t> max_length, std::optional<int64_t> stride,
                         int64_t max_batch_tokens) const;
  ClassifyOptions classify_options(std::optional<double> threshold, std::optional<int> top_k,
                                   const std::string& window_aggregation,
                                   const std::optional<py::dict>& thresholds) const;

  std::shared_ptr<const Model> model_;
  int threads_ = 0;
  std::shared_ptr<SessionPool> sessions_;
};

}  // namespace medenc::python
