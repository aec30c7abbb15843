/*
 * Remote-write decoder that goes straight from protobuf wire bytes to MetricBatch JSON.
 *
 * Why C: at ~1M samples/s a Python object per sample (or per label) costs more than the
 * whole budget. This walks the protobuf wire format of prometheus.WriteRequest (1.0) and
 * io.prometheus.write.v2.Request (2.0) in one pass, maps the configured app / version /
 * track / deployment_id labels, applies the metric-name allow-list (a per-name verdict
 * cache; Python's regex is asked only for names never seen before) and appends each kept
 * series, already JSON-encoded, to its app's buffer. Python only wraps each app's series
 * array in the MetricBatch envelope.
 *
 * Output of Mapper.encode(data, version):
 *   (chunks, kept_samples, dropped_samples, histograms)
 *   chunks = [(app: str, series_json: bytes, n_samples: int, max_ts_ms: int), ...]
 * An app whose JSON exceeds max_chunk bytes is split into several chunks (Kafka
 * message size); otherwise there is exactly one chunk per app.
 * Raises ValueError (message = reason for the HTTP 400) on malformed input.
 *
 * The walk runs without the GIL (system malloc, no Python objects), so the API decodes in
 * worker threads while its event loop keeps serving; only a metric name never seen before
 * takes the GIL back to ask the allow-list regex. Encodes of one Mapper run in parallel:
 * its caches (metric-name verdicts; series seen before, which skip mapping and label
 * JSON) are read without locks and written under the GIL (_fd_cache.h).
 *
 * Layout: _fd_json.h (buffers, JSON, wire primitives) <- _fd_cache.h (lock-free caches)
 * <- _fd_map.h (Mapper, buckets, series -> JSON) <- _fd_parse.h (1.0 / 2.0 walkers)
 * <- this file (Python type, module).
 */
#include "_fd_parse.h"

static PyObject *build_result(Call *c) {
    PyObject *chunks = PyList_New(0);
    if (!chunks) return NULL;
    for (size_t i = 0; i < c->nb; i++) {
        Bucket *k = &c->b[i];
        if (k->json.len > k->chunk_start && bucket_close_chunk(k)) goto fail;
        PyObject *app = PyUnicode_DecodeUTF8((const char *)k->app.p, (Py_ssize_t)k->app.n, "strict");
        if (!app) goto fail;
        size_t start = 0;
        for (size_t j = 0; j < k->nch; j++) {
            size_t n = k->cut[j] - start;          /* ends with ',' -> becomes ']' */
            PyObject *bytes = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)n + 1);
            if (!bytes) { Py_DECREF(app); goto fail; }
            char *d = PyBytes_AS_STRING(bytes);
            d[0] = '[';
            memcpy(d + 1, k->json.p + start, n);
            d[n] = ']';
            start = k->cut[j];
            PyObject *t = Py_BuildValue("(OOLL)", app, bytes, (long long)k->samples[j],
                                        (long long)k->maxts[j]);
            Py_DECREF(bytes);
            if (!t || PyList_Append(chunks, t)) { Py_XDECREF(t); Py_DECREF(app); goto fail; }
            Py_DECREF(t);
        }
        Py_DECREF(app);
    }
    return Py_BuildValue("(NLLL)", chunks, (long long)c->kept, (long long)c->dropped,
                         (long long)c->hist);
fail:
    Py_DECREF(chunks);
    return NULL;
}

static PyObject *Mapper_encode(Mapper *self, PyObject *args) {
    Py_buffer view; int version;
    if (!PyArg_ParseTuple(args, "y*i", &view, &version)) return NULL;
    if (version != 1 && version != 2) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "version must be 1 or 2");
        return NULL;
    }
    Call c; memset(&c, 0, sizeof(c)); c.m = self;
    const uint8_t *p = view.buf, *e = p + view.len;
    int rc;
    c.nt = self->names; c.nt->refs++;                                       /* GIL held */
    if (version == 1 && self->stab) { c.st = self->stab; c.st->refs++; }
    PyThreadState *save = PyEval_SaveThread();
    c.save = &save;
    tl_oom = 0;
    rc = version == 1 ? parse_v1(&c, p, e) : parse_v2(&c, p, e);
    PyEval_RestoreThread(save);
    PyObject *res = NULL;
    if (tl_oom) { PyErr_Clear(); PyErr_NoMemory(); }
    else if (rc == 0) {
        res = build_result(&c);
        if (tl_oom) { Py_CLEAR(res); PyErr_NoMemory(); }
    }
    else if (!PyErr_Occurred())
        PyErr_SetString(PyExc_ValueError, c.err ? c.err : "malformed protobuf");
    if (res && self->stab) {   /* GIL held: new series into the cache (emptied at dealloc) */
        stab_add_all(&self->stab, c.pend, c.pendh, c.npend);
        c.npend = 0;
        self->hits += (unsigned long long)c.hits;
    }
    stab_unref(c.nt);
    if (c.st) stab_unref(c.st);
    call_free(&c);
    PyBuffer_Release(&view);
    return res;
}

static int copy_label(Str *dst, PyObject *s) {
    Py_ssize_t n; const char *u = PyUnicode_AsUTF8AndSize(s, &n);
    if (!u) return -1;
    char *d = malloc(n ? (size_t)n : 1);
    if (!d) { PyErr_NoMemory(); return -1; }
    memcpy(d, u, (size_t)n);
    dst->p = (const uint8_t *)d; dst->n = (size_t)n;
    return 0;
}

static int Mapper_init(Mapper *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"label_app", "label_version", "label_track", "label_deployment_id",
                             "allow", "max_chunk_bytes", "name_cache_size", "series_cache_size",
                             "series_cache_bytes", NULL};
    PyObject *ls[4], *allow; Py_ssize_t max_chunk = 900000, cache = 65536;
    Py_ssize_t series = 65536, series_bytes = 64 << 20;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "UUUUO|nnnn", kwlist, &ls[0], &ls[1], &ls[2],
                                     &ls[3], &allow, &max_chunk, &cache, &series, &series_bytes))
        return -1;
    if (!PyCallable_Check(allow)) { PyErr_SetString(PyExc_TypeError, "allow must be callable"); return -1; }
    if (max_chunk < 1 || cache < 1 || series < 0 || series_bytes < 0) {
        PyErr_SetString(PyExc_ValueError, "sizes must be >= 1 (series cache: >= 0, 0 = off)");
        return -1;
    }
    if (self->names) { PyErr_SetString(PyExc_RuntimeError, "Mapper already initialised"); return -1; }
    for (int i = 0; i < 4; i++) if (copy_label(&self->lab[i], ls[i])) return -1;
    Py_INCREF(allow); self->allow = allow;
    self->max_chunk = (size_t)max_chunk;
    self->names = stab_new((size_t)cache, NO_BYTE_LIMIT);   /* names are short */
    if (!self->names) { PyErr_NoMemory(); return -1; }
    if (series > 0 && series_bytes > 0) {
        self->stab = stab_new((size_t)series, (size_t)series_bytes);
        if (!self->stab) { PyErr_NoMemory(); return -1; }
    }
    return 0;
}

static void Mapper_dealloc(Mapper *self) {
    for (int i = 0; i < 4; i++) free((void *)self->lab[i].p);
    stab_unref(self->names);
    stab_unref(self->stab);
    Py_XDECREF(self->allow);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Mapper_cached(Mapper *self, PyObject *unused) {
    return PyLong_FromSize_t(self->names ? self->names->count : 0);
}

static PyObject *Mapper_cached_series(Mapper *self, PyObject *unused) {
    return PyLong_FromSize_t(self->stab ? self->stab->count : 0);
}

static PyObject *Mapper_series_hits(Mapper *self, PyObject *unused) {
    return PyLong_FromUnsignedLongLong(self->hits);
}

static PyMethodDef Mapper_methods[] = {
    {"encode", (PyCFunction)Mapper_encode, METH_VARARGS,
     "encode(data, version) -> (chunks, kept_samples, dropped_samples, histograms)"},
    {"cached_names", (PyCFunction)Mapper_cached, METH_NOARGS, "metric names with a cached verdict"},
    {"cached_series", (PyCFunction)Mapper_cached_series, METH_NOARGS,
     "series (label sets) in the current series-cache table"},
    {"series_cache_hits", (PyCFunction)Mapper_series_hits, METH_NOARGS,
     "series encoded from the series cache so far (successful requests)"},
    {NULL, NULL, 0, NULL}};

static PyTypeObject MapperType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "api.ingest._fastdecode.Mapper",
    .tp_basicsize = sizeof(Mapper),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Remote-write protobuf -> MetricBatch series JSON, grouped by app.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Mapper_init,
    .tp_dealloc = (destructor)Mapper_dealloc,
    .tp_methods = Mapper_methods,
};

/* ---------- 128-bit content hash of a request body (idempotency key of its batches) ----------
 * Not cryptographic: it only has to make accidental collisions between two different
 * bodies negligible (two independent 64-bit lanes, murmur-style finalisers), at memory
 * speed, so that retried requests get the same batch ids. */
static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static inline uint64_t fmix64(uint64_t k) {
    k ^= k >> 33; k *= 0xff51afd7ed558ccdULL; k ^= k >> 33; k *= 0xc4ceb9fe1a85ec53ULL;
    return k ^ (k >> 33);
}

static PyObject *body_hash(PyObject *mod, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    const uint8_t *p = view.buf; size_t n = (size_t)view.len, i = 0;
    uint64_t h1 = 0x9E3779B97F4A7C15ULL ^ n, h2 = 0xC2B2AE3D27D4EB4FULL + n;
    const uint64_t c1 = 0x87c37b91114253d5ULL, c2 = 0x4cf5ad432745937fULL;
    Py_BEGIN_ALLOW_THREADS
    for (; i + 16 <= n; i += 16) {
        uint64_t a, b;
        memcpy(&a, p + i, 8); memcpy(&b, p + i + 8, 8);
        h1 ^= rotl64(a * c1, 31) * c2; h1 = rotl64(h1, 27) + h2; h1 = h1 * 5 + 0x52dce729;
        h2 ^= rotl64(b * c2, 33) * c1; h2 = rotl64(h2, 31) + h1; h2 = h2 * 5 + 0x38495ab5;
    }
    uint64_t a = 0, b = 0;
    size_t rest = n - i;
    memcpy(&a, p + i, rest < 8 ? rest : 8);
    if (rest > 8) memcpy(&b, p + i + 8, rest - 8);
    h1 ^= rotl64(a * c1, 31) * c2; h2 ^= rotl64(b * c2, 33) * c1;
    h1 += h2; h2 += h1; h1 = fmix64(h1); h2 = fmix64(h2); h1 += h2; h2 += h1;
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    uint64_t out[2] = {h1, h2};
    return PyBytes_FromStringAndSize((const char *)out, 16);
}

static PyMethodDef module_methods[] = {
    {"body_hash", (PyCFunction)body_hash, METH_O, "body_hash(buffer) -> 16-byte content hash"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "_fastdecode",
                                    "Native remote-write decoder (see api/ingest/decode.py).", -1,
                                    module_methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__fastdecode(void) {
    if (PyType_Ready(&MapperType) < 0) return NULL;
    PyObject *m = PyModule_Create(&moddef);
    if (!m) return NULL;
    Py_INCREF(&MapperType);
    if (PyModule_AddObject(m, "Mapper", (PyObject *)&MapperType) < 0) {
        Py_DECREF(&MapperType); Py_DECREF(m); return NULL;
    }
    return m;
}
