// Names of the error kinds.
#include "medenc/error.h"

namespace medenc {

const char* error_kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::InvalidInput: return "invalid_input";
    case ErrorKind::InvalidModel: return "invalid_model";
    case ErrorKind::Unsupported: return "unsupported";
    case ErrorKind::ResourceExhausted: return "resource_exhausted";
    case ErrorKind::Cancelled: return "cancelled";
    case ErrorKind::Io: return "io";
    case ErrorKind::Internal: return "internal";
  }
  return "internal";
}

}  // namespace medenc
