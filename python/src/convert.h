#pragma once
// Typed results to the JSON lines the CLI writes and to the Python objects those lines parse into
// (same keys, same values), and flat float buffers to numpy arrays without copies.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "medenc/pipeline.h"
#include "medenc/result_json.h"
#include "medenc/results.h"

namespace medenc::python {

namespace py = pybind11;

// Result fields and document lines are the CLI's own (medenc/result_json.h).
// "truncated": true and "windows": n (n > 1), as the CLI adds them after the result fields.
void status_fields(const InputStatus& status, nlohmann::ordered_json& out);

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
