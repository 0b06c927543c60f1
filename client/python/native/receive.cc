// imagefeed._native: StreamBatches for the Python client through gRPC C++,
// copying each received message once.
//
// grpcio (1.51) turns a received message into `bytes` through three copies:
// each slice into a temporary bytes object, that into a growing bytearray,
// the bytearray into the final bytes. For float32 batches (38.5 MB for
// 64 x 3 x 224 x 224) that was 9 % of all CPU of a loopback benchmark
// (README "Speed"). Here the message's slices are copied straight into an
// uninitialized bytes object of the message's size, with the GIL released
// while the call waits and copies. Everything else of the client (the other
// RPCs, the shared-memory transport) stays on grpcio; imagefeed/_client.py
// falls back to grpcio when this module is missing or unusable.
//
// Python API (see _client.py's _NativeCall):
//   Channel(target, options, root_certificates)   options: [(name, int|str)]
//                                                 root_certificates: None
//                                                 (insecure) or PEM bytes
//   Channel.stream(method, request, metadata, timeout) -> Call
//   Call.read() -> bytes, or None once the stream has ended
//   Call.finish() -> (code, details)  the status, after read() gave None
//   Call.cancel()                     from any thread
//   forked() -> bool   gRPC C++ was started in a parent of this process
//                      (it is not fork-safe: the caller must not use it)
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/support/sync_stream.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

// The process that first created a channel (and so started gRPC's threads).
std::atomic<pid_t> g_grpc_pid{0};

bool Forked() {
  const pid_t started = g_grpc_pid.load();
  return started != 0 && started != getpid();
}

struct ChannelObject {
  PyObject_HEAD
  std::shared_ptr<grpc::Channel>* channel;
};

struct CallObject {
  PyObject_HEAD
  // Owned; deleted in this order (the reader uses the context).
  std::unique_ptr<grpc::ClientReader<grpc::ByteBuffer>>* reader;
  grpc::ClientContext* context;
  PyObject* channel;  // keeps the channel alive while the call is
  bool finished;
  bool busy;  // in read() or finish() with the GIL released: one caller at a time
  int code;
  std::string* details;
};

PyTypeObject CallType = {PyVarObject_HEAD_INIT(nullptr, 0) "imagefeed._native.Call"};
PyTypeObject ChannelType = {PyVarObject_HEAD_INIT(nullptr, 0) "imagefeed._native.Channel"};

// Applies one channel option as grpcio does: ints with SetInt, strings with
// SetString. Returns false with a Python exception set otherwise.
bool ApplyOption(PyObject* item, grpc::ChannelArguments* args) {
  const char* name = nullptr;
  PyObject* value = nullptr;
  if (!PyArg_ParseTuple(item, "sO", &name, &value)) return false;
  if (PyLong_Check(value)) {
    const long v = PyLong_AsLong(value);
    if (v == -1 && PyErr_Occurred()) return false;
    if (v < INT32_MIN || v > INT32_MAX) {
      PyErr_Format(PyExc_ValueError, "channel option %s=%ld does not fit in 32 bits", name, v);
      return false;
    }
    args->SetInt(name, static_cast<int>(v));
    return true;
  }
  if (PyUnicode_Check(value)) {
    const char* s = PyUnicode_AsUTF8(value);
    if (s == nullptr) return false;
    args->SetString(name, s);
    return true;
  }
  PyErr_Format(PyExc_TypeError, "channel option %s: value must be int or str", name);
  return false;
}

int Channel_init(ChannelObject* self, PyObject* args, PyObject*) {
  const char* target = nullptr;
  PyObject* options = nullptr;
  PyObject* root_certificates = nullptr;
  if (!PyArg_ParseTuple(args, "sOO", &target, &options, &root_certificates)) return -1;
  if (Forked()) {
    PyErr_SetString(PyExc_RuntimeError, "gRPC C++ was started before this process was forked");
    return -1;
  }
  grpc::ChannelArguments channel_args;
  PyObject* seq = PySequence_Fast(options, "options must be a sequence of (name, value) pairs");
  if (seq == nullptr) return -1;
  for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); ++i) {
    if (!ApplyOption(PySequence_Fast_GET_ITEM(seq, i), &channel_args)) {
      Py_DECREF(seq);
      return -1;
    }
  }
  Py_DECREF(seq);
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (root_certificates == Py_None) {
    credentials = grpc::InsecureChannelCredentials();
  } else {
    char* pem = nullptr;
    Py_ssize_t pem_len = 0;
    if (PyBytes_AsStringAndSize(root_certificates, &pem, &pem_len) < 0) return -1;
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs.assign(pem, static_cast<size_t>(pem_len));
    credentials = grpc::SslCredentials(ssl);
  }
  pid_t none = 0;
  g_grpc_pid.compare_exchange_strong(none, getpid());
  delete self->channel;
  self->channel = new std::shared_ptr<grpc::Channel>(grpc::CreateCustomChannel(target, credentials, channel_args));
  return 0;
}

void Channel_dealloc(ChannelObject* self) {
  delete self->channel;
  Py_TYPE(self)->tp_free(reinterpret_cast<PyObject*>(self));
}

PyObject* Channel_stream(ChannelObject* self, PyObject* args) {
  const char* method = nullptr;
  Py_buffer request;
  PyObject* metadata = nullptr;
  PyObject* timeout = nullptr;
  if (self->channel == nullptr) {
    PyErr_SetString(PyExc_ValueError, "channel not initialized");
    return nullptr;
  }
  if (!PyArg_ParseTuple(args, "sy*OO", &method, &request, &metadata, &timeout)) return nullptr;
  auto context = std::make_unique<grpc::ClientContext>();
  if (timeout != Py_None) {
    const double seconds = PyFloat_AsDouble(timeout);
    if (seconds == -1.0 && PyErr_Occurred()) {
      PyBuffer_Release(&request);
      return nullptr;
    }
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::duration_cast<std::chrono::system_clock::duration>(
                              std::chrono::duration<double>(seconds)));
  }
  PyObject* seq = PySequence_Fast(metadata, "metadata must be a sequence of (key, value) pairs");
  if (seq == nullptr) {
    PyBuffer_Release(&request);
    return nullptr;
  }
  for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); ++i) {
    const char* key = nullptr;
    const char* value = nullptr;
    if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "ss", &key, &value)) {
      Py_DECREF(seq);
      PyBuffer_Release(&request);
      return nullptr;
    }
    context->AddMetadata(key, value);
  }
  Py_DECREF(seq);
  grpc::Slice slice(request.buf, static_cast<size_t>(request.len));
  PyBuffer_Release(&request);
  grpc::ByteBuffer message(&slice, 1);

  CallObject* call = PyObject_New(CallObject, &CallType);
  if (call == nullptr) return nullptr;
  call->reader = nullptr;
  call->context = nullptr;
  call->finished = false;
  call->busy = false;
  call->code = 0;
  call->details = new std::string();
  Py_INCREF(self);
  call->channel = reinterpret_cast<PyObject*>(self);
  grpc::ClientReader<grpc::ByteBuffer>* reader;
  grpc::ClientContext* ctx = context.get();
  grpc::Channel* channel = self->channel->get();
  Py_BEGIN_ALLOW_THREADS  // starting the call may wait for the connection's first write
  reader = grpc::internal::ClientReaderFactory<grpc::ByteBuffer>::Create(
      channel, grpc::internal::RpcMethod(method, grpc::internal::RpcMethod::SERVER_STREAMING), ctx, message);
  Py_END_ALLOW_THREADS
  call->context = context.release();
  call->reader = new std::unique_ptr<grpc::ClientReader<grpc::ByteBuffer>>(reader);
  return reinterpret_cast<PyObject*>(call);
}

// Claims the call for one reader (the GIL is held). False with an exception
// if another thread is in read() or finish().
bool Claim(CallObject* self) {
  if (self->busy) {
    PyErr_SetString(PyExc_RuntimeError, "another thread is reading this call");
    return false;
  }
  self->busy = true;
  return true;
}

// Finishes the call (after Read returned false): its status.
bool FinishCall(CallObject* self) {
  if (self->finished) return true;
  if (!Claim(self)) return false;
  grpc::Status status;
  grpc::ClientReader<grpc::ByteBuffer>* reader = self->reader->get();
  Py_BEGIN_ALLOW_THREADS
  status = reader->Finish();
  Py_END_ALLOW_THREADS
  self->busy = false;
  self->finished = true;
  self->code = static_cast<int>(status.error_code());
  *self->details = status.error_message();
  return true;
}

PyObject* Call_read(CallObject* self, PyObject*) {
  if (self->finished) Py_RETURN_NONE;
  if (!Claim(self)) return nullptr;
  grpc::ByteBuffer message;
  bool ok;
  grpc::ClientReader<grpc::ByteBuffer>* reader = self->reader->get();
  Py_BEGIN_ALLOW_THREADS
  ok = reader->Read(&message);
  Py_END_ALLOW_THREADS
  self->busy = false;
  if (!ok) Py_RETURN_NONE;
  const size_t length = message.Length();
  if (length > static_cast<size_t>(PY_SSIZE_T_MAX)) return PyErr_NoMemory();
  // Uninitialized until filled below, before any other code can see it.
  PyObject* out = PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(length));
  if (out == nullptr) return nullptr;
  char* dst = PyBytes_AS_STRING(out);
  std::vector<grpc::Slice> slices;
  grpc::Status dumped;
  Py_BEGIN_ALLOW_THREADS
  dumped = message.Dump(&slices);
  if (dumped.ok()) {
    for (const grpc::Slice& s : slices) {
      std::memcpy(dst, s.begin(), s.size());
      dst += s.size();
    }
  }
  Py_END_ALLOW_THREADS
  if (!dumped.ok()) {
    Py_DECREF(out);
    PyErr_Format(PyExc_RuntimeError, "cannot read the received message: %s", dumped.error_message().c_str());
    return nullptr;
  }
  return out;
}

PyObject* Call_finish(CallObject* self, PyObject*) {
  if (!FinishCall(self)) return nullptr;
  return Py_BuildValue("(is#)", self->code, self->details->data(), static_cast<Py_ssize_t>(self->details->size()));
}

PyObject* Call_cancel(CallObject* self, PyObject*) {
  if (self->context != nullptr) self->context->TryCancel();  // thread-safe
  Py_RETURN_NONE;
}

void Call_dealloc(CallObject* self) {
  if (self->reader != nullptr && !self->finished) {
    // An abandoned stream: cancelled, drained (Read fails at once after a
    // cancel) and finished, so that gRPC releases the call.
    self->context->TryCancel();
    grpc::ClientReader<grpc::ByteBuffer>* reader = self->reader->get();
    Py_BEGIN_ALLOW_THREADS
    grpc::ByteBuffer rest;
    while (reader->Read(&rest)) {
    }
    reader->Finish();
    Py_END_ALLOW_THREADS
  }
  delete self->reader;
  delete self->context;
  delete self->details;
  Py_XDECREF(self->channel);
  PyObject_Free(self);
}

PyMethodDef kCallMethods[] = {
    {"read", reinterpret_cast<PyCFunction>(Call_read), METH_NOARGS, "The next message (bytes), or None at the end."},
    {"finish", reinterpret_cast<PyCFunction>(Call_finish), METH_NOARGS, "(code, details) of the ended call."},
    {"cancel", reinterpret_cast<PyCFunction>(Call_cancel), METH_NOARGS, "Cancels the call (any thread)."},
    {nullptr, nullptr, 0, nullptr}};

PyMethodDef kChannelMethods[] = {
    {"stream", reinterpret_cast<PyCFunction>(Channel_stream), METH_VARARGS,
     "stream(method, request, metadata, timeout): a server-streaming Call."},
    {nullptr, nullptr, 0, nullptr}};

PyObject* Module_forked(PyObject*, PyObject*) { return PyBool_FromLong(Forked()); }

PyMethodDef kModuleMethods[] = {
    {"forked", Module_forked, METH_NOARGS, "True if gRPC C++ was started in a parent of this process."},
    {nullptr, nullptr, 0, nullptr}};

PyModuleDef kModule = {PyModuleDef_HEAD_INIT, "imagefeed._native", "StreamBatches through gRPC C++.", -1,
                       kModuleMethods};

}  // namespace

PyMODINIT_FUNC PyInit__native() {
  ChannelType.tp_basicsize = sizeof(ChannelObject);
  ChannelType.tp_flags = Py_TPFLAGS_DEFAULT;
  ChannelType.tp_new = PyType_GenericNew;
  ChannelType.tp_init = reinterpret_cast<initproc>(Channel_init);
  ChannelType.tp_dealloc = reinterpret_cast<destructor>(Channel_dealloc);
  ChannelType.tp_methods = kChannelMethods;
  CallType.tp_basicsize = sizeof(CallObject);
  CallType.tp_flags = Py_TPFLAGS_DEFAULT;
  CallType.tp_dealloc = reinterpret_cast<destructor>(Call_dealloc);
  CallType.tp_methods = kCallMethods;
  if (PyType_Ready(&ChannelType) < 0 || PyType_Ready(&CallType) < 0) return nullptr;
  PyObject* module = PyModule_Create(&kModule);
  if (module == nullptr) return nullptr;
  Py_INCREF(&ChannelType);
  if (PyModule_AddObject(module, "Channel", reinterpret_cast<PyObject*>(&ChannelType)) < 0) {
    Py_DECREF(&ChannelType);
    Py_DECREF(module);
    return nullptr;
  }
  return module;
}
