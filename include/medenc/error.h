#pragma once
// One exception type for every user-facing failure: the message is a complete one-line reason
// that names the file, line, tensor or field at fault.
#include <stdexcept>
#include <string>

namespace medenc {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace medenc
