#include "convert.h"

#include <cmath>

namespace medenc::python {

using nlohmann::ordered_json;

void status_fields(const InputStatus& status, ordered_json& out) {
  if (status.truncated) out["truncated"] = true;
  if (status.windows > 1) out["windows"] = status.windows;
}

py::object json_to_python(const ordered_json& j) {
  using T = ordered_json::value_t;
  switch (j.type()) {
    case T::null:
    case T::discarded:
    case T::binary:
      return py::none();
    case T::boolean:
      return py::bool_(j.get<bool>());
    case T::number_integer:
      return py::int_(j.get<int64_t>());
    case T::number_unsigned:
      return py::int_(j.get<uint64_t>());
    case T::number_float:  // nlohmann writes null for NaN and infinities
      return std::isfinite(j.get<double>()) ? py::object(py::float_(j.get<double>())) : py::object(py::none());
    case T::string:
      return py::str(j.get_ref<const std::string&>());
    case T::array: {
      py::list list;
      for (const auto& v : j) list.append(json_to_python(v));
      return list;
    }
    case T::object: {
      py::dict d;
      for (auto it = j.begin(); it != j.end(); ++it) d[py::str(it.key())] = json_to_python(it.value());
      return d;
    }
  }
  return py::none();
}

}  // namespace medenc::python
