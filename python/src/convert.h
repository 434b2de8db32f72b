#pragma once
// Typed results to the Python objects the CLI's JSON lines parse into (same keys, same values),
// and flat float buffers to numpy arrays without copies.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "medenc/results.h"
#include "medenc/session.h"

namespace medenc::python {

namespace py = pybind11;

// {"label", "score", "scores"} / {"labels", "scores"} / {"score"} / {"scores"} by problem type, then
// "truncated": true and "windows": n (n > 1) as the CLI writes them.
py::dict classification_dict(const ClassificationResult& r, const InputStatus& status);
// [{"label", "start", "end", "text", "score", "word", "hf_start", "hf_end"(, "index")}].
py::list entity_list(const std::vector<EntitySpan>& entities);
// [{"start", "end", "predictions": [{"token", "token_id", "score"}]}].
py::list mask_list(const std::vector<MaskPredictions>& masks);

// Any JSON value as a Python object (objects keep their key order).
py::object json_to_python(const nlohmann::ordered_json& j);

// A numpy array that owns `data` (moved, not copied); `shape` must multiply to data.size().
template <class T>
py::array_t<T> numpy_from(std::vector<T>&& data, const std::vector<py::ssize_t>& shape) {
  auto* owned = new std::vector<T>(std::move(data));
  py::capsule release(owned, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return py::array_t<T>(shape, owned->data(), release);
}

}  // namespace medenc::python
