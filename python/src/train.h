#pragma once
// medenc.train: see train.cpp.
#include <string>
#include <vector>

#include <pybind11/pybind11.h>

namespace medenc::python {

namespace py = pybind11;

py::dict train(const py::kwargs& kwargs);
std::vector<std::string> train_argument_names();

}  // namespace medenc::python
