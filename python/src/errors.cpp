#include "errors.h"

#include <pythread.h>

namespace medenc::python {

namespace {

struct KindClass {
  ErrorKind kind;
  const char* name;       // class name in the medenc module
  PyObject* builtin;      // second base (besides medenc.Error), or null
  const char* doc;
  PyObject* cls = nullptr;
};

KindClass* kind_classes() {
  static KindClass classes[] = {
      {ErrorKind::InvalidInput, "InvalidInputError", PyExc_ValueError,
       "Bad input or arguments (a text, ids, an option): fix the request."},
      {ErrorKind::InvalidModel, "ModelError", nullptr,
       "The checkpoint or tokenizer files are missing, malformed or inconsistent."},
      {ErrorKind::Unsupported, "UnsupportedError", nullptr,
       "Valid, but not something this model or build does (e.g. classify on a model without that head)."},
      {ErrorKind::ResourceExhausted, "ResourceExhaustedError", PyExc_MemoryError,
       "Out of memory, or over a size limit."},
      {ErrorKind::Cancelled, "CancelledError", nullptr, "The call was stopped by the caller."},
      {ErrorKind::Io, "IoError", PyExc_OSError, "A file operation failed."},
      {ErrorKind::Internal, "InternalError", PyExc_RuntimeError, "A bug in medenc."},
  };
  return classes;
}
constexpr size_t kKinds = 7;

unsigned long main_thread_id = 0;

}  // namespace

void set_main_thread() { main_thread_id = PyThread_get_thread_ident(); }

void register_errors(py::module_& m) {
  py::object base = py::reinterpret_steal<py::object>(
      PyErr_NewExceptionWithDoc("medenc.Error",
                                "Base class of medenc's errors; `kind` names the ErrorKind (e.g. \"invalid_input\").",
                                PyExc_Exception, nullptr));
  if (!base) throw py::error_already_set();
  base.attr("kind") = py::none();
  m.attr("Error") = base;
  for (size_t i = 0; i < kKinds; ++i) {
    KindClass& k = kind_classes()[i];
    py::tuple bases = k.builtin ? py::make_tuple(base, py::handle(k.builtin)) : py::make_tuple(base);
    py::dict attrs;
    attrs["kind"] = error_kind_name(k.kind);
    const std::string qualified = std::string("medenc.") + k.name;
    PyObject* cls = PyErr_NewExceptionWithDoc(qualified.c_str(), k.doc, bases.ptr(), attrs.ptr());
    if (!cls) throw py::error_already_set();
    k.cls = cls;  // kept for the life of the process, as pybind11's own exception types are
    m.attr(k.name) = py::handle(cls);
  }
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error& e) {
      PyErr_SetString(exception_class(e.kind()), e.what());
    }
  });
}

PyObject* exception_class(ErrorKind kind) {
  for (size_t i = 0; i < kKinds; ++i)
    if (kind_classes()[i].kind == kind) return kind_classes()[i].cls;
  return PyExc_RuntimeError;
}

void raise_error(ErrorKind kind, const std::string& message) {
  PyErr_SetString(exception_class(kind), message.c_str());
  throw py::error_already_set();
}

SignalWatch::SignalWatch() : main_thread_(PyThread_get_thread_ident() == main_thread_id) {}

StopCheck SignalWatch::stop_check() {
  return [this] { return poll(); };
}

bool SignalWatch::poll() {
  if (stopped_) return true;
  // Signal handlers only run on the main thread; other threads never need the GIL here.
  if (!main_thread_) return false;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_poll_ < std::chrono::milliseconds(50)) return false;
  last_poll_ = now;
  py::gil_scoped_acquire gil;
  if (PyErr_CheckSignals() != 0) {
    pending_.emplace();  // takes the handler's exception (fetches and clears the error indicator)
    stopped_ = true;
  }
  return stopped_;
}

void SignalWatch::rethrow_if_interrupted() {
  if (!pending_) return;
  py::error_already_set e = std::move(*pending_);
  pending_.reset();
  throw e;
}

}  // namespace medenc::python
