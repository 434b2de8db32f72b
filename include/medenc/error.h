#pragma once
// One exception type for every user-facing failure: the message is a complete one-line reason
// that names the file, line, tensor or field at fault, and the kind says what a caller can do
// about it (a server maps it to a status code, Python to an exception class).
#include <stdexcept>
#include <string>

namespace medenc {

enum class ErrorKind {
  InvalidInput,       // the caller's input or arguments (bad text, ids, options): fix the request
  InvalidModel,       // the checkpoint or tokenizer files are missing, malformed or inconsistent
  Unsupported,        // valid, but not something this model or build does (wrong head, option)
  ResourceExhausted,  // out of memory, queue full, over a size limit
  Cancelled,          // stopped by the caller (stop flag, abort callback, timeout)
  Io,                 // a file or network operation failed
  Internal,           // a bug in medenc
};

// "invalid_input", "invalid_model", ...: stable names for logs and bindings.
const char* error_kind_name(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message, ErrorKind kind = ErrorKind::InvalidInput)
      : std::runtime_error(message), kind_(kind) {}
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

}  // namespace medenc
