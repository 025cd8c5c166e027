/*
 * capture._capture: the Python face of libcapture (compiled in: no second implementation of
 * the protocol). Frame exports its payload through the buffer protocol, read-only, so a
 * memoryview or a NumPy array of it *is* the ring's memory; the Frame (and with it the ring's
 * mapping) lives as long as any such view.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <capture/capture.h>
#include <errno.h>

#include "capture_payload.h"
#include <math.h>
#include <time.h>
#include <unistd.h>

static PyObject *Error, *DaemonGone, *Refused, *Detached, *ProtocolError, *Timeout;

/* The exception for a negative libcapture result, with capture_last_message() as its text. */
static PyObject *raise_error(int r) {
    PyObject *type = Error;
    switch (-r) {
    case CAPTURE_EDAEMON_GONE: type = DaemonGone; break;
    case CAPTURE_EREFUSED: type = Refused; break;
    case CAPTURE_EDETACHED: type = Detached; break;
    case CAPTURE_EPROTOCOL: type = ProtocolError; break;
    case CAPTURE_ETIMEDOUT: type = Timeout; break;
    case CAPTURE_EWOKEN: type = PyExc_InterruptedError; break;
    default: break;
    }
    const char *last = capture_last_message();
    PyErr_Format(type, "%s%s%s", capture_strerror(r), *last ? ": " : "", last);
    return NULL;
}

/* ---- Frame ------------------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    capture_frame *frame;      /* freed (and its lease released) when this object goes; views of
                                * it hold a reference, so the mapping outlives them */
    int released;              /* the lease was given back (set with the GIL held) */
} FrameObject;

static PyTypeObject FrameType;

static PyObject *frame_wrap(capture_frame *f) {
    FrameObject *o = PyObject_New(FrameObject, &FrameType);
    if (!o) {
        capture_frame_release(f);
        return NULL;
    }
    o->frame = f;
    o->released = 0;
    return (PyObject *)o;
}

static void frame_dealloc(FrameObject *o) {
    if (o->frame) {
        capture_frame *f = o->frame;
        Py_BEGIN_ALLOW_THREADS
        capture_frame_release(f);
        Py_END_ALLOW_THREADS
    }
    PyObject_Free(o);
}

static int frame_getbuffer(FrameObject *o, Py_buffer *view, int flags) {
    if (flags & PyBUF_WRITABLE) {
        PyErr_SetString(PyExc_BufferError, "a frame is the ring's memory, and the ring is read-only");
        view->obj = NULL;
        return -1;
    }
    return PyBuffer_FillInfo(view, (PyObject *)o, (void *)capture_frame_data(o->frame), (Py_ssize_t)capture_frame_length(o->frame), 1, flags);
}

static PyBufferProcs frame_buffer = { (getbufferproc)frame_getbuffer, NULL };

/* Frame.release(): the lease goes back now; the memory stays mapped while views of it live. */
static PyObject *frame_release(FrameObject *o, PyObject *unused) {
    (void)unused;
    if (o->released) Py_RETURN_NONE;
    o->released = 1;   /* under the GIL: one Release, whichever thread asks first */
    capture_frame *f = o->frame;
    Py_BEGIN_ALLOW_THREADS
    capture_frame_unlease(f);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *frame_check(FrameObject *o, PyObject *unused) {
    (void)unused;
    int r;
    capture_frame *f = o->frame;
    Py_BEGIN_ALLOW_THREADS
    r = capture_frame_check(f);
    Py_END_ALLOW_THREADS
    if (r == 0) return PyUnicode_FromString("intact");
    if (r == -CAPTURE_EOVERWRITTEN) return PyUnicode_FromString("overwritten");
    return PyUnicode_FromFormat("corrupt: %s", capture_last_message());
}

static PyObject *frame_intact(FrameObject *o, void *c) { (void)c; return PyBool_FromLong(capture_frame_intact(o->frame)); }
static PyObject *frame_sequence(FrameObject *o, void *c) { (void)c; return PyLong_FromUnsignedLongLong(capture_frame_sequence(o->frame)); }
static PyObject *frame_timestamp(FrameObject *o, void *c) { (void)c; return PyLong_FromUnsignedLongLong(capture_frame_timestamp_ns(o->frame)); }
static PyObject *frame_slot(FrameObject *o, void *c) { (void)c; return PyLong_FromUnsignedLong(capture_frame_slot(o->frame)); }
static PyObject *frame_length(FrameObject *o, void *c) { (void)c; return PyLong_FromSize_t(capture_frame_length(o->frame)); }
static PyObject *frame_flags(FrameObject *o, void *c) { (void)c; return PyLong_FromUnsignedLong(capture_frame_flags(o->frame)); }
static PyObject *frame_checksum(FrameObject *o, void *c) { (void)c; return PyLong_FromUnsignedLong(capture_frame_checksum(o->frame)); }
static PyObject *frame_leased(FrameObject *o, void *c) { (void)c; return PyBool_FromLong(capture_frame_leased(o->frame)); }

static PyObject *format_dict(const capture_format *f);
static PyObject *frame_format(FrameObject *o, void *c) { (void)c; return format_dict(capture_frame_format(o->frame)); }

static PyObject *frame_memoryview(FrameObject *o, void *c) { (void)c; return PyMemoryView_FromObject((PyObject *)o); }

/* numpy.ndarray, imported on first use (NumPy is optional). */
static PyObject *ndarray_type(void) {
    static PyObject *ndarray;
    if (ndarray) return ndarray;
    PyObject *np = PyImport_ImportModule("numpy");
    if (!np) {
        PyErr_SetString(PyExc_ImportError, "capture: Frame.array needs NumPy (pip install numpy); Frame.memoryview needs nothing");
        return NULL;
    }
    ndarray = PyObject_GetAttrString(np, "ndarray");
    Py_DECREF(np);
    return ndarray;
}

/* A tuple of `n` unsigned integers. */
static PyObject *tuple_of(uint32_t n, const uint64_t *values) {
    PyObject *t = PyTuple_New(n);
    for (uint32_t i = 0; t && i < n; i++) {
        PyObject *v = PyLong_FromUnsignedLongLong(values[i]);
        if (!v) Py_CLEAR(t);
        else PyTuple_SET_ITEM(t, i, v);
    }
    return t;
}

/* Frame.array: a read-only NumPy array over the frame's bytes, shaped by the stream's format. */
static PyObject *frame_array(FrameObject *o, void *c) {
    (void)c;
    PyObject *ndarray = ndarray_type();
    if (!ndarray) return NULL;
    const capture_format *f = capture_frame_format(o->frame);
    uint64_t opaque = capture_frame_length(o->frame), one = 1;   /* opaque frames: as many bytes as this one has */
    int flat = f->kind == CAPTURE_FORMAT_OPAQUE;
    PyObject *shape = flat ? tuple_of(1, &opaque) : tuple_of(f->ndim, f->shape);
    PyObject *strides = flat ? tuple_of(1, &one) : tuple_of(f->ndim, f->strides);
    PyObject *result = NULL;
    if (shape && strides) {
        PyObject *kwargs = Py_BuildValue("{s:O,s:s,s:O,s:O}", "shape", shape, "dtype", f->dtype, "buffer", (PyObject *)o, "strides", strides);
        PyObject *empty = PyTuple_New(0);
        if (kwargs && empty) result = PyObject_Call(ndarray, empty, kwargs);
        Py_XDECREF(kwargs);
        Py_XDECREF(empty);
    }
    Py_XDECREF(shape);
    Py_XDECREF(strides);
    return result;
}

static PyObject *frame_enter(PyObject *o, PyObject *unused) {
    (void)unused;
    Py_INCREF(o);
    return o;
}

static PyObject *frame_exit(FrameObject *o, PyObject *args) {
    (void)args;
    return frame_release(o, NULL);
}

static PyMethodDef frame_methods[] = {
    { "__enter__", (PyCFunction)frame_enter, METH_NOARGS, NULL },
    { "__exit__", (PyCFunction)frame_exit, METH_VARARGS, "Release the frame (lease mode: the lease goes back)." },
    { "release", (PyCFunction)frame_release, METH_NOARGS, "Give the lease back now (lease mode); the memory stays readable, but may be refilled." },
    { "check", (PyCFunction)frame_check, METH_NOARGS, "Read every byte: 'intact', 'overwritten' or 'corrupt: why'." },
    { NULL, NULL, 0, NULL },
};

static PyGetSetDef frame_getset[] = {
    { "sequence", (getter)frame_sequence, NULL, "The device's frame number.", NULL },
    { "timestamp_ns", (getter)frame_timestamp, NULL, "CLOCK_MONOTONIC nanoseconds at completion.", NULL },
    { "slot", (getter)frame_slot, NULL, "The ring slot.", NULL },
    { "length", (getter)frame_length, NULL, "Payload bytes.", NULL },
    { "flags", (getter)frame_flags, NULL, "1: checksum valid; 2: device error.", NULL },
    { "checksum", (getter)frame_checksum, NULL, "CRC-32 of the payload.", NULL },
    { "leased", (getter)frame_leased, NULL, "True while the lease is held.", NULL },
    { "intact", (getter)frame_intact, NULL, "True while nothing has rewritten the slot (the seqlock).", NULL },
    { "format", (getter)frame_format, NULL, "What the frame holds (a dict).", NULL },
    { "memoryview", (getter)frame_memoryview, NULL, "The payload as a read-only memoryview (no copy).", NULL },
    { "array", (getter)frame_array, NULL, "The payload as a read-only NumPy array of the stream's dtype and shape (no copy).", NULL },
    { NULL, NULL, NULL, NULL, NULL },
};

static PyTypeObject FrameType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "capture._capture.Frame",
    .tp_basicsize = sizeof(FrameObject),
    .tp_dealloc = (destructor)frame_dealloc,
    .tp_as_buffer = &frame_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A frame in the ring: a read-only buffer that is the ring's own memory.",
    .tp_methods = frame_methods,
    .tp_getset = frame_getset,
};

/* ---- Client ----------------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    capture_client *client;
    int busy;       /* calls in progress without the GIL (counted with it held) */
    int closing;    /* close() has begun: no new calls */
} ClientObject;

static int client_init(ClientObject *o, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = { "stream", "mode", "max_leases", "socket", "reconnect_ms", "doorbell", NULL };
    const char *stream, *mode = "lease", *socket = NULL;
    unsigned int max_leases = 0, reconnect_ms = 0;
    int doorbell = 1;
    if (o->client || o->closing) {
        PyErr_SetString(Error, "a Client connects once; make a new one");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "s|sIzIp", keywords, &stream, &mode, &max_leases, &socket, &reconnect_ms, &doorbell))
        return -1;
    capture_options opts;
    capture_options_init(&opts);
    if (strcmp(mode, "lease") == 0) opts.mode = CAPTURE_MODE_LEASE;
    else if (strcmp(mode, "latest") == 0) opts.mode = CAPTURE_MODE_LATEST;
    else {
        PyErr_SetString(PyExc_ValueError, "mode is 'lease' or 'latest'");
        return -1;
    }
    opts.max_leases = max_leases;
    opts.reconnect_ms = reconnect_ms;
    opts.socket_path = socket;
    if (!doorbell) opts.flags |= CAPTURE_OPTION_NO_DOORBELL | CAPTURE_OPTION_NO_SELF_SERVE; /* be told by messages */
    int r;
    capture_client *c = NULL;
    Py_BEGIN_ALLOW_THREADS
    r = capture_connect(stream, &opts, &c);
    Py_END_ALLOW_THREADS
    if (r < 0) {
        raise_error(r);
        return -1;
    }
    o->client = c;
    return 0;
}

static void client_dealloc(ClientObject *o) {
    /* No call is in progress: each holds a reference to the object. */
    if (o->client) capture_close(o->client);
    Py_TYPE(o)->tp_free((PyObject *)o);
}

/* The client for a call that may release the GIL: counted, so close() waits for it. */
static capture_client *enter(ClientObject *o) {
    if (!o->client || o->closing) {
        PyErr_SetString(Error, "the client is closed");
        return NULL;
    }
    o->busy++;
    return o->client;
}

static void leave(ClientObject *o) { o->busy--; }

/* The exception for `r`; a wait ended by close() says so. */
static PyObject *call_error(ClientObject *o, int r) {
    if (r == -CAPTURE_EWOKEN && o->closing) {
        PyErr_SetString(Error, "the client was closed");
        return NULL;
    }
    return raise_error(r);
}

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* None: wait for ever (-1); else seconds, rounded up to whole milliseconds. */
static int timeout_ms(PyObject *timeout, int *ms) {
    *ms = -1;
    if (timeout == NULL || timeout == Py_None) return 0;
    double t = PyFloat_AsDouble(timeout);
    if (t == -1.0 && PyErr_Occurred()) return -1;
    if (isnan(t)) {
        PyErr_SetString(PyExc_ValueError, "timeout is a number of seconds, or None");
        return -1;
    }
    *ms = t <= 0 ? 0 : t > 2e6 ? 2000000000 : (int)ceil(t * 1000);
    return 0;
}

/* Runs a waiting libcapture call without the GIL; a signal (-EINTR) runs Python's handlers
 * and, unless one raised, the call goes on with what is left of the timeout (PEP 475). */
#define WAIT_CALL(o, ms, r, CALL)                                                          \
    do {                                                                                   \
        uint64_t deadline_ = (ms) > 0 ? now_ms() + (uint64_t)(ms) : 0;                     \
        for (;;) {                                                                         \
            Py_BEGIN_ALLOW_THREADS                                                         \
            r = CALL;                                                                      \
            Py_END_ALLOW_THREADS                                                           \
            if (r != -EINTR) break;                                                        \
            if (PyErr_CheckSignals() < 0) break;                                           \
            if (deadline_) {                                                               \
                uint64_t now_ = now_ms();                                                  \
                ms = now_ >= deadline_ ? 0 : (int)(deadline_ - now_);                      \
            }                                                                              \
        }                                                                                  \
    } while (0)

static PyObject *event_object(capture_event *ev);

static PyObject *client_next_event(ClientObject *o, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = { "timeout", NULL };
    PyObject *timeout = NULL;
    int ms;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O", keywords, &timeout) || timeout_ms(timeout, &ms) < 0) return NULL;
    capture_client *c = enter(o);
    if (!c) return NULL;
    capture_event ev;
    int r;
    WAIT_CALL(o, ms, r, capture_next_event(c, ms, &ev));
    leave(o);
    if (r == -EINTR) return NULL;   /* a signal handler raised */
    return r < 0 ? call_error(o, r) : event_object(&ev);
}

static PyObject *client_next_frame(ClientObject *o, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = { "timeout", NULL };
    PyObject *timeout = NULL;
    int ms;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O", keywords, &timeout) || timeout_ms(timeout, &ms) < 0) return NULL;
    capture_client *c = enter(o);
    if (!c) return NULL;
    capture_frame *f;
    int r;
    WAIT_CALL(o, ms, r, capture_next_frame(c, ms, &f));
    leave(o);
    if (r == -EINTR) return NULL;
    return r < 0 ? call_error(o, r) : frame_wrap(f);
}

static PyObject *client_next_frames(ClientObject *o, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = { "timeout", "most", NULL };
    PyObject *timeout = NULL;
    unsigned int capacity = 1024;
    int ms;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|OI", keywords, &timeout, &capacity) || timeout_ms(timeout, &ms) < 0) return NULL;
    if (capacity == 0) capacity = 1;
    capture_frame **frames = PyMem_Malloc(sizeof(*frames) * capacity);
    if (!frames) return PyErr_NoMemory();
    capture_client *c = enter(o);
    if (!c) {
        PyMem_Free(frames);
        return NULL;
    }
    int r;
    WAIT_CALL(o, ms, r, capture_next_frames(c, ms, frames, capacity));
    leave(o);
    PyObject *list = NULL;
    if (r >= 0) {
        list = PyList_New(r);
        for (int i = 0; i < r; i++) {
            PyObject *f = list ? frame_wrap(frames[i]) : NULL;   /* frame_wrap frees a frame it cannot wrap */
            if (!list) capture_frame_release(frames[i]);
            else if (!f) Py_CLEAR(list);
            else PyList_SET_ITEM(list, i, f);
        }
    } else if (r != -EINTR) {
        call_error(o, r);
    }
    PyMem_Free(frames);
    return list;
}

static PyObject *client_busy_poll(ClientObject *o, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = { "timeout", NULL };
    PyObject *timeout = NULL;
    int ms;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O", keywords, &timeout) || timeout_ms(timeout, &ms) < 0) return NULL;
    capture_client *c = enter(o);
    if (!c) return NULL;
    capture_frame *f;
    int r;
    WAIT_CALL(o, ms, r, capture_next_frame_busy_poll(c, ms, &f));
    leave(o);
    if (r == -EINTR) return NULL;
    return r < 0 ? call_error(o, r) : frame_wrap(f);
}

static PyObject *client_release_frames(ClientObject *o, PyObject *frames) {
    (void)o;
    /* One Release message for all of them: each gives its lease back, keeping its memory. */
    PyObject *seq = PySequence_Fast(frames, "release_frames takes a sequence of frames");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!PyObject_TypeCheck(PySequence_Fast_GET_ITEM(seq, i), &FrameType)) {
            Py_DECREF(seq);
            PyErr_SetString(PyExc_TypeError, "release_frames takes frames");
            return NULL;
        }
    }
    capture_frame **batch = PyMem_Malloc(sizeof(*batch) * (size_t)(n ? n : 1));
    if (!batch) {
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    size_t k = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        FrameObject *f = (FrameObject *)PySequence_Fast_GET_ITEM(seq, i);
        if (f->released) continue;
        f->released = 1;
        batch[k++] = f->frame;
    }
    Py_BEGIN_ALLOW_THREADS   /* the frames stay alive: `seq` holds them */
    capture_unlease_frames(batch, k);
    Py_END_ALLOW_THREADS
    PyMem_Free(batch);
    Py_DECREF(seq);
    Py_RETURN_NONE;
}

static capture_client *open_client(ClientObject *o) {
    if (!o->client || o->closing) PyErr_SetString(Error, "the client is closed");
    return o->closing ? NULL : o->client;
}

static PyObject *client_fileno(ClientObject *o, PyObject *unused) {
    (void)unused;
    return open_client(o) ? PyLong_FromLong(capture_fd(o->client)) : NULL;
}

static PyObject *client_dispatch(ClientObject *o, PyObject *unused) {
    (void)unused;
    capture_client *c = enter(o);
    if (!c) return NULL;
    int r;
    Py_BEGIN_ALLOW_THREADS
    r = capture_dispatch(c);
    Py_END_ALLOW_THREADS
    leave(o);
    return r < 0 ? call_error(o, r) : PyLong_FromLong(r);
}

static PyObject *client_wakeup(ClientObject *o, PyObject *unused) {
    (void)unused;
    if (o->client) capture_wakeup(o->client);
    Py_RETURN_NONE;
}

/* Wakes every call in progress on other threads, waits for them to return, then closes. */
static PyObject *client_close(ClientObject *o, PyObject *unused) {
    (void)unused;
    if (!o->client || o->closing) Py_RETURN_NONE;
    o->closing = 1;
    while (o->busy > 0) {
        capture_wakeup(o->client);
        Py_BEGIN_ALLOW_THREADS
        usleep(1000);
        Py_END_ALLOW_THREADS
    }
    capture_client *c = o->client;
    o->client = NULL;
    Py_BEGIN_ALLOW_THREADS
    capture_close(c);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *client_format(ClientObject *o, void *unused) {
    (void)unused;
    return open_client(o) ? format_dict(capture_stream_format(o->client)) : NULL;
}

static PyObject *client_info(ClientObject *o, void *unused) {
    (void)unused;
    if (!open_client(o)) return NULL;
    capture_stream_info i;
    capture_stream_info_get(o->client, &i);
    return Py_BuildValue("{s:s,s:K,s:I,s:I,s:s,s:I,s:I,s:I,s:O,s:O,s:K}", "stream", i.name, "frame_bytes", (unsigned long long)i.frame_bytes,
                         "slots", i.slot_count, "payload", i.payload, "mode", i.mode == CAPTURE_MODE_LEASE ? "lease" : "latest",
                         "max_leases", i.max_leases, "lease_timeout_ms", i.lease_timeout_ms, "client_id", i.client_id,
                         "doorbell", i.doorbell ? Py_True : Py_False, "self_serve", i.doorbell == 2 ? Py_True : Py_False,
                         "head_sequence", (unsigned long long)i.head_sequence);
}

static PyObject *client_statistics(ClientObject *o, void *unused) {
    (void)unused;
    if (!open_client(o)) return NULL;
    capture_statistics s;
    capture_statistics_get(o->client, &s);
    return Py_BuildValue("{s:K,s:K,s:K,s:K,s:K}", "frames", (unsigned long long)s.frames, "dropped", (unsigned long long)s.dropped,
                         "revoked", (unsigned long long)s.revoked, "overwritten", (unsigned long long)s.overwritten,
                         "reconnects", (unsigned long long)s.reconnects);
}

static PyMethodDef client_methods[] = {
    { "next_event", (PyCFunction)(void (*)(void))client_next_event, METH_VARARGS | METH_KEYWORDS, "next_event(timeout=None) -> Frame or an event tuple" },
    { "next_frame", (PyCFunction)(void (*)(void))client_next_frame, METH_VARARGS | METH_KEYWORDS, "next_frame(timeout=None) -> Frame" },
    { "next_frames", (PyCFunction)(void (*)(void))client_next_frames, METH_VARARGS | METH_KEYWORDS, "next_frames(timeout=None, most=1024) -> [Frame]" },
    { "next_frame_busy_poll", (PyCFunction)(void (*)(void))client_busy_poll, METH_VARARGS | METH_KEYWORDS, "next_frame_busy_poll(timeout=None) -> Frame (latest mode)" },
    { "release_frames", (PyCFunction)client_release_frames, METH_O, "release_frames(frames): every lease back in one message" },
    { "fileno", (PyCFunction)client_fileno, METH_NOARGS, "A descriptor that polls readable when dispatch() has work." },
    { "dispatch", (PyCFunction)client_dispatch, METH_NOARGS, "Read what arrived without blocking; returns the events queued." },
    { "wakeup", (PyCFunction)client_wakeup, METH_NOARGS, "Make a waiting next_* on another thread raise InterruptedError." },
    { "close", (PyCFunction)client_close, METH_NOARGS, "Say Goodbye; the daemon takes every lease back." },
    { NULL, NULL, 0, NULL },
};

static PyGetSetDef client_getset[] = {
    { "format", (getter)client_format, NULL, "What the stream's frames hold (a dict).", NULL },
    { "info", (getter)client_info, NULL, "The session: stream, mode, limits.", NULL },
    { "statistics", (getter)client_statistics, NULL, "frames, dropped, revoked, overwritten, reconnects.", NULL },
    { NULL, NULL, NULL, NULL, NULL },
};

static PyTypeObject ClientType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "capture._capture.Client",
    .tp_basicsize = sizeof(ClientObject),
    .tp_dealloc = (destructor)client_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "Client(stream, mode='lease', max_leases=0, socket=None, reconnect_ms=0, doorbell=True)",
    .tp_methods = client_methods,
    .tp_getset = client_getset,
    .tp_init = (initproc)client_init,
    .tp_new = PyType_GenericNew,
};

/* ---- formats and events ---------------------------------------------------------------- */

static PyObject *format_dict(const capture_format *f) {
    uint32_t ndim = f->ndim <= 4 ? f->ndim : 0;
    PyObject *shape = tuple_of(ndim, f->shape), *strides = tuple_of(ndim, f->strides);
    if (!shape || !strides) {
        Py_XDECREF(shape);
        Py_XDECREF(strides);
        return NULL;
    }
    const char *kind = f->kind == CAPTURE_FORMAT_IMAGE ? "image" : f->kind == CAPTURE_FORMAT_SAMPLES ? "samples" : "opaque";
    return Py_BuildValue("{s:s,s:s,s:I,s:I,s:I,s:s,s:N,s:N}", "kind", kind, "pixel_format", f->pixel_format, "width", f->width,
                         "height", f->height, "stride", f->stride, "dtype", f->dtype, "shape", shape, "strides", strides);
}

static PyObject *event_object(capture_event *ev) {
    switch (ev->type) {
    case CAPTURE_EVENT_FRAME: return frame_wrap(ev->frame);
    case CAPTURE_EVENT_DROPPED:
        return Py_BuildValue("(sKKI)", "dropped", (unsigned long long)ev->first_sequence, (unsigned long long)ev->count, ev->reason);
    case CAPTURE_EVENT_REVOKED: return Py_BuildValue("(sKI)", "revoked", (unsigned long long)ev->sequence, ev->slot);
    case CAPTURE_EVENT_NOTICE: return Py_BuildValue("(sIs)", "notice", ev->code, ev->text ? ev->text : "");
    case CAPTURE_EVENT_RECONNECTED: return Py_BuildValue("(sK)", "reconnected", (unsigned long long)ev->sequence);
    }
    Py_RETURN_NONE;
}

static PyObject *module_status(PyObject *self, PyObject *args) {
    (void)self;
    const char *socket = NULL;
    if (!PyArg_ParseTuple(args, "|z", &socket)) return NULL;
    char *json = NULL;
    size_t length = 0;
    int r;
    Py_BEGIN_ALLOW_THREADS
    r = capture_status_json(socket, &json, &length);
    Py_END_ALLOW_THREADS
    if (r < 0) return raise_error(r);
    PyObject *s = PyUnicode_FromStringAndSize(json, (Py_ssize_t)length);
    free(json);
    return s;
}

static PyObject *module_socket_path(PyObject *self, PyObject *args) {
    (void)self;
    const char *socket = NULL;
    if (!PyArg_ParseTuple(args, "|z", &socket)) return NULL;
    capture_options o;
    capture_options_init(&o);
    o.socket_path = socket;
    char buffer[256];
    return PyUnicode_FromString(capture_socket_path(&o, buffer, sizeof(buffer)));
}

/* libcapture's pixel format table (GStreamer's names): name -> (bytes per pixel, channels, dtype). */
static PyObject *module_pixel_formats(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    PyObject *d = PyDict_New();
    for (size_t i = 0; d; i++) {
        const capture_pixel_format *p = capture_pixel_format_at(i);
        if (!p) break;
        PyObject *v = Py_BuildValue("(IIs)", (unsigned)p->bytes_per_pixel, (unsigned)p->channels, p->dtype);
        if (!v || PyDict_SetItemString(d, p->name, v) < 0) Py_CLEAR(d);
        Py_XDECREF(v);
    }
    return d;
}

static PyMethodDef module_methods[] = {
    { "status_json", module_status, METH_VARARGS, "status_json(socket=None) -> the daemon's status document (str)" },
    { "socket_path", module_socket_path, METH_VARARGS, "socket_path(socket=None) -> the path a client would use" },
    { "pixel_formats", module_pixel_formats, METH_NOARGS, "pixel_formats() -> {name: (bytes_per_pixel, channels, dtype)}" },
    { NULL, NULL, 0, NULL },
};

static int capture_module_exceptions(PyObject *m);

static struct PyModuleDef module = { PyModuleDef_HEAD_INIT, "capture._capture", "libcapture for Python.", -1, module_methods, NULL, NULL, NULL, NULL };

PyMODINIT_FUNC PyInit__capture(void) {
    if (PyType_Ready(&FrameType) < 0 || PyType_Ready(&ClientType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    if (capture_module_exceptions(m) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}

/* The exception classes and types, added to `m`. */
static int capture_module_exceptions(PyObject *m) {
    Error = PyErr_NewExceptionWithDoc("capture.Error", "Something went wrong talking to captured.", NULL, NULL);
    DaemonGone = PyErr_NewExceptionWithDoc("capture.DaemonGone", "captured went away (stopped, restarted, crashed).", Error, NULL);
    Refused = PyErr_NewExceptionWithDoc("capture.Refused", "captured refused: the message says why.", Error, NULL);
    Detached = PyErr_NewExceptionWithDoc("capture.Detached", "The stream's device went away.", Error, NULL);
    ProtocolError = PyErr_NewExceptionWithDoc("capture.ProtocolError", "captured sent something this library does not understand.", Error, NULL);
    PyObject *bases = PyTuple_Pack(2, Error, PyExc_TimeoutError);
    Timeout = bases ? PyErr_NewExceptionWithDoc("capture.Timeout", "Nothing arrived in time.", bases, NULL) : NULL;
    Py_XDECREF(bases);
    if (!Error || !DaemonGone || !Refused || !Detached || !ProtocolError || !Timeout) return -1;
    Py_INCREF(&FrameType);
    Py_INCREF(&ClientType);
    if (PyModule_AddObject(m, "Frame", (PyObject *)&FrameType) < 0 || PyModule_AddObject(m, "Client", (PyObject *)&ClientType) < 0 ||
        PyModule_AddObject(m, "Error", Error) < 0 || PyModule_AddObject(m, "DaemonGone", DaemonGone) < 0 ||
        PyModule_AddObject(m, "Refused", Refused) < 0 || PyModule_AddObject(m, "Detached", Detached) < 0 ||
        PyModule_AddObject(m, "ProtocolError", ProtocolError) < 0 || PyModule_AddObject(m, "Timeout", Timeout) < 0)
        return -1;
    return 0;
}
