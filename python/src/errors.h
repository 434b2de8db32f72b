#pragma once
// Python exceptions for medenc::Error kinds, and Ctrl-C for calls that run without the GIL.
#include <chrono>
#include <optional>
#include <string>

#include <pybind11/pybind11.h>

#include "medenc/error.h"
#include "medenc/session.h"

namespace medenc::python {

namespace py = pybind11;

// Adds medenc.Error and one subclass per ErrorKind to `m` and translates medenc::Error into them.
void register_errors(py::module_& m);

// The exception class of a kind: InvalidInputError (a ValueError), ModelError, UnsupportedError,
// ResourceExhaustedError (a MemoryError), CancelledError, IoError (an OSError), InternalError.
PyObject* exception_class(ErrorKind kind);

// Raises the class of `kind` with `message` (GIL held).
[[noreturn]] void raise_error(ErrorKind kind, const std::string& message);

// Lets a call that runs without the GIL be stopped by Python's signal handlers: the StopCheck it
// hands out, polled by the library between layers and batches, takes the GIL at most every 50 ms
// on the main thread and runs PyErr_CheckSignals. When a handler raises (Ctrl-C: KeyboardInterrupt)
// the call stops with Error(Cancelled) and the handler's exception is raised in its place.
class SignalWatch {
 public:
  SignalWatch();
  StopCheck stop_check();
  // With the GIL held, after the call: re-raises the handler's exception if a signal stopped it.
  void rethrow_if_interrupted();

 private:
  bool poll();
  bool main_thread_ = false;
  bool stopped_ = false;
  std::chrono::steady_clock::time_point last_poll_;
  std::optional<py::error_already_set> pending_;
};

// Runs body(stop_check) with the GIL released. A call stopped by a signal raises the signal
// handler's exception (KeyboardInterrupt for Ctrl-C); other medenc::Errors propagate.
template <class Body>
auto run_without_gil(Body&& body) -> decltype(body(StopCheck{})) {
  SignalWatch watch;
  try {
    py::gil_scoped_release release;
    return body(watch.stop_check());
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::Cancelled) watch.rethrow_if_interrupted();
    throw;
  }
}

// Records the calling thread as Python's main thread (called at import).
void set_main_thread();

}  // namespace medenc::python
