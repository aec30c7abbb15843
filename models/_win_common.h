/* _win_common.h: array arguments (buffer protocol) and result lists of models/_windows.c. */
#ifndef WIN_COMMON_H
#define WIN_COMMON_H
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    Py_buffer b;
    int held;
} Buf;

/* A C-contiguous array argument whose format is one of ``fmt`` (e.g. "lq" for int64). */
static int get_buf(PyObject *o, Buf *x, const char *fmt, Py_ssize_t itemsize, int writable) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(o, &x->b, flags) < 0) return -1;
    x->held = 1;
    if (x->b.itemsize != itemsize || !x->b.format || strchr(fmt, x->b.format[0]) == NULL) {
        PyErr_SetString(PyExc_TypeError, "_windows: unexpected array dtype");
        return -1;
    }
    return 0;
}

static void rel(Buf *x) {
    if (x->held) PyBuffer_Release(&x->b);
    x->held = 0;
}

static PyObject *list_d(const double *v, Py_ssize_t n) {
    PyObject *l = PyList_New(n);
    if (!l) return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *f = PyFloat_FromDouble(v[i]);
        if (!f) { Py_DECREF(l); return NULL; }
        PyList_SET_ITEM(l, i, f);
    }
    return l;
}

static PyObject *list_i(const long long *v, Py_ssize_t n) {
    PyObject *l = PyList_New(n);
    if (!l) return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *f = PyLong_FromLongLong(v[i]);
        if (!f) { Py_DECREF(l); return NULL; }
        PyList_SET_ITEM(l, i, f);
    }
    return l;
}
#endif
