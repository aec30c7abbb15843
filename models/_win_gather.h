/* _win_gather.h: a batch's series into route ids and sample arrays, with a route cache.
 *
 * Why C: routing a series seen before was one dict lookup keyed by
 * (name, tuple(labels.items()), track): building and hashing that key was ~1.2 us per
 * series, half of a batch's ingest, and more in the worker, where every batch's label
 * strings are new objects whose hashes are not cached yet. Here the key is the label
 * bytes as sent (name, track, then each key and value, separated by bytes UTF-8 never
 * contains), hashed 8 bytes at a time and compared with memcmp, like the remote-write decoder's
 * series cache; samples go straight from the Series' lists into int64/float64 arrays.
 *
 * RouteCache(limit): label bytes -> route id, at most ``limit`` entries (later ones are
 * not cached and are resolved again each time, like the dict it replaces). Pickles as
 * an empty cache: it is rebuilt from misses, which RouteTable.resolve answers from its
 * canonical (sorted-labels) table.
 * gather(items, cache) -> (R, L, T, V, misses): bytearrays of int64 route ids (-1 for a
 * miss) and sample counts per series with samples, and of int64 timestamps and float64
 * values (None -> NaN); misses = [(segment, item index)] for the caller to resolve and
 * add(series, track, rid).
 */
#ifndef WIN_GATHER_H
#define WIN_GATHER_H
#include "_win_common.h"

typedef struct {
    uint64_t hash;
    size_t off, len;
    long long rid;
} RcEntry;

typedef struct {
    PyObject_HEAD
    RcEntry *tab;
    size_t cap, used, limit;
    char *arena;
    size_t arena_len, arena_cap;
    long long hits;
} RouteCache;

typedef struct {
    char *p;
    size_t len, cap;
} Bytes;

static int b_put(Bytes *b, const void *src, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        char *p = PyMem_Realloc(b->p, cap);
        if (!p) { PyErr_NoMemory(); return -1; }
        b->p = p, b->cap = cap;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
    return 0;
}

static int b_str(Bytes *b, PyObject *s, unsigned char sep) {
    Py_ssize_t n;
    if (!PyUnicode_Check(s)) {
        PyErr_SetString(PyExc_TypeError, "gather: labels must be str");
        return -1;
    }
    const char *u = PyUnicode_AsUTF8AndSize(s, &n);
    if (!u) {  /* a lone surrogate: its surrogatepass bytes, which no valid UTF-8 has */
        if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) return -1;
        PyErr_Clear();
        PyObject *raw = PyUnicode_AsEncodedString(s, "utf-8", "surrogatepass");
        if (!raw) return -1;
        int rc = b_put(b, PyBytes_AS_STRING(raw), (size_t)PyBytes_GET_SIZE(raw));
        Py_DECREF(raw);
        return rc || b_put(b, &sep, 1) ? -1 : 0;
    }
    return b_put(b, u, (size_t)n) || b_put(b, &sep, 1) ? -1 : 0;
}

/* The route key of a series: name 0xFF track 0xFF (key 0xFE value 0xFF)*. */
static int series_key(Bytes *b, PyObject *name, PyObject *track, PyObject *labels) {
    b->len = 0;
    if (!PyDict_Check(labels)) {
        PyErr_SetString(PyExc_TypeError, "gather: labels must be a dict");
        return -1;
    }
    if (b_str(b, name, 0xFF) || b_str(b, track, 0xFF)) return -1;
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(labels, &pos, &k, &v))
        if (b_str(b, k, 0xFE) || b_str(b, v, 0xFF)) return -1;
    return 0;
}

/* 8 bytes at a time (a byte-serial FNV-1a was a fifth of gather's time), then a
 * murmur-style finalizer so every input bit reaches the low bits the table indexes by. */
static uint64_t key_hash(const char *p, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ n, w;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDULL;
        h ^= h >> 32;
    }
    w = 0;
    memcpy(&w, p + i, n - i);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ULL;
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDULL;
    return h ^ (h >> 33);
}

static RcEntry *rc_find(RouteCache *c, uint64_t h, const char *key, size_t n) {
    if (!c->cap) return NULL;
    for (size_t i = h & (c->cap - 1);; i = (i + 1) & (c->cap - 1)) {
        RcEntry *e = &c->tab[i];
        if (!e->len) return e;  /* empty slot: where it would go */
        if (e->hash == h && e->len == n && !memcmp(c->arena + e->off, key, n)) return e;
    }
}

static int rc_grow(RouteCache *c) {
    size_t cap = c->cap ? c->cap * 2 : 1024;
    RcEntry *tab = PyMem_Calloc(cap, sizeof(RcEntry));
    if (!tab) { PyErr_NoMemory(); return -1; }
    for (size_t i = 0; i < c->cap; i++) {
        RcEntry *e = &c->tab[i];
        if (!e->len) continue;
        size_t j = e->hash & (cap - 1);
        while (tab[j].len) j = (j + 1) & (cap - 1);
        tab[j] = *e;
    }
    PyMem_Free(c->tab);
    c->tab = tab, c->cap = cap;
    return 0;
}

static int rc_add(RouteCache *c, const char *key, size_t n, long long rid) {
    if (c->used >= c->limit || n == 0) return 0;
    if (2 * (c->used + 1) > c->cap && rc_grow(c)) return -1;
    uint64_t h = key_hash(key, n);
    RcEntry *e = rc_find(c, h, key, n);
    if (e->len) { e->rid = rid; return 0; }
    Bytes a = {c->arena, c->arena_len, c->arena_cap};
    if (b_put(&a, key, n)) return -1;
    c->arena = a.p, c->arena_cap = a.cap, c->arena_len = a.len;
    e->hash = h, e->off = a.len - n, e->len = n, e->rid = rid;
    c->used++;
    return 0;
}

static PyObject *rc_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    Py_ssize_t limit;
    if (!PyArg_ParseTuple(args, "n", &limit)) return NULL;
    RouteCache *c = (RouteCache *)type->tp_alloc(type, 0);
    if (c) c->limit = limit < 0 ? 0 : (size_t)limit;
    return (PyObject *)c;
}

static void rc_dealloc(RouteCache *c) {
    PyMem_Free(c->tab);
    PyMem_Free(c->arena);
    Py_TYPE(c)->tp_free((PyObject *)c);
}

static PyObject *rc_add_py(RouteCache *c, PyObject *args) {
    PyObject *s, *track, *name = NULL, *labels = NULL, *res = NULL;
    long long rid;
    if (!PyArg_ParseTuple(args, "OOL", &s, &track, &rid)) return NULL;
    Bytes k = {0};
    if ((name = PyObject_GetAttrString(s, "name")) && (labels = PyObject_GetAttrString(s, "labels")) &&
        !series_key(&k, name, track, labels) && !rc_add(c, k.p, k.len, rid))
        res = Py_NewRef(Py_None);
    Py_XDECREF(name);
    Py_XDECREF(labels);
    PyMem_Free(k.p);
    return res;
}

static PyObject *rc_len(RouteCache *c, PyObject *unused) { return PyLong_FromSize_t(c->used); }
static PyObject *rc_hits(RouteCache *c, PyObject *unused) { return PyLong_FromLongLong(c->hits); }

static PyObject *rc_reduce(RouteCache *c, PyObject *unused) {
    return Py_BuildValue("(O(n))", Py_TYPE(c), (Py_ssize_t)c->limit);
}

static PyMethodDef rc_methods[] = {
    {"add", (PyCFunction)rc_add_py, METH_VARARGS, "Remember a series' route id."},
    {"size", (PyCFunction)rc_len, METH_NOARGS, "Entries cached."},
    {"hits", (PyCFunction)rc_hits, METH_NOARGS, "Series found in the cache so far."},
    {"__reduce__", (PyCFunction)rc_reduce, METH_NOARGS, "Pickles as an empty cache."},
    {NULL, NULL, 0, NULL}};

static PyTypeObject RouteCacheType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "models._windows.RouteCache",
    .tp_basicsize = sizeof(RouteCache),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Label bytes of a series as sent -> its route id (see _win_gather.h).",
    .tp_new = rc_new,
    .tp_dealloc = (destructor)rc_dealloc,
    .tp_methods = rc_methods,
};

static PyObject *S_name, *S_labels, *S_ts, *S_values;

/* A field of a Series: from its instance dict (pydantic keeps fields there), which is
 * cheaper than the generic attribute lookup; else by getattr. New reference. */
static PyObject *field(PyObject *s, PyObject *d, PyObject *name) {
    PyObject *v = d ? PyDict_GetItemWithError(d, name) : NULL;
    if (v) return Py_NewRef(v);
    return PyErr_Occurred() ? NULL : PyObject_GetAttr(s, name);
}

static int gather_series(PyObject *s, PyObject *track, RouteCache *cache, Bytes *key,
                         Bytes *R, Bytes *L, Bytes *T, Bytes *V, int *hit, long long *n_out) {
    int rc = -1;
    PyObject *ts = NULL, *tsf = NULL, *vals = NULL, *vf = NULL, *name = NULL, *labels = NULL;
    PyObject *d = PyObject_GenericGetDict(s, NULL);
    if (!d) PyErr_Clear();  /* no instance dict: getattr it is */
    else if (!PyDict_CheckExact(d)) Py_CLEAR(d);
    *n_out = 0;
    if (!(ts = field(s, d, S_ts)) || !(tsf = PySequence_Fast(ts, "timestamps_ms")))
        goto out;
    Py_ssize_t m = PySequence_Fast_GET_SIZE(tsf);
    if (m == 0) { rc = 0; goto out; }
    if (!(vals = field(s, d, S_values)) || !(vf = PySequence_Fast(vals, "values")))
        goto out;
    if (PySequence_Fast_GET_SIZE(vf) != m) {
        PyErr_SetString(PyExc_ValueError, "gather: timestamps and values differ in length");
        goto out;
    }
    if (!(name = field(s, d, S_name)) || !(labels = field(s, d, S_labels)) ||
        series_key(key, name, track, labels))
        goto out;
    RcEntry *e = rc_find(cache, key_hash(key->p, key->len), key->p, key->len);
    long long rid = e && e->len ? e->rid : -1, len = m;
    *hit = rid >= 0;
    if (b_put(R, &rid, 8) || b_put(L, &len, 8)) goto out;
    for (Py_ssize_t j = 0; j < m; j++) {
        long long t = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(tsf, j));
        if (t == -1 && PyErr_Occurred()) goto out;
        PyObject *vo = PySequence_Fast_GET_ITEM(vf, j);
        double v = vo == Py_None ? NAN : PyFloat_Check(vo) ? PyFloat_AS_DOUBLE(vo) : PyFloat_AsDouble(vo);
        if (v == -1.0 && PyErr_Occurred()) goto out;
        if (b_put(T, &t, 8) || b_put(V, &v, 8)) goto out;
    }
    *n_out = m;
    rc = 0;
out:
    Py_XDECREF(ts); Py_XDECREF(tsf); Py_XDECREF(vals); Py_XDECREF(vf);
    Py_XDECREF(name); Py_XDECREF(labels); Py_XDECREF(d);
    return rc;
}

static PyObject *gather(PyObject *self, PyObject *args) {
    PyObject *items, *res = NULL, *misses = NULL;
    RouteCache *cache;
    if (!PyArg_ParseTuple(args, "OO!", &items, &RouteCacheType, &cache)) return NULL;
    PyObject *seq = PySequence_Fast(items, "gather: items must be a sequence");
    if (!seq) return NULL;
    Bytes R = {0}, L = {0}, T = {0}, V = {0}, key = {0};
    if (!(misses = PyList_New(0))) goto done;
    Py_ssize_t nseg = 0;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) {
            PyErr_SetString(PyExc_TypeError, "gather: items are (series, track) tuples");
            goto done;
        }
        int hit = 0;
        long long m;
        if (gather_series(PyTuple_GET_ITEM(item, 0), PyTuple_GET_ITEM(item, 1), cache, &key,
                          &R, &L, &T, &V, &hit, &m))
            goto done;
        if (!m) continue;
        if (hit) {
            cache->hits++;
        } else {
            PyObject *x = Py_BuildValue("(nn)", nseg, i);
            if (!x || PyList_Append(misses, x)) { Py_XDECREF(x); goto done; }
            Py_DECREF(x);
        }
        nseg++;
    }
    res = Py_BuildValue("(NNNNO)", PyByteArray_FromStringAndSize(R.p, (Py_ssize_t)R.len),
                        PyByteArray_FromStringAndSize(L.p, (Py_ssize_t)L.len),
                        PyByteArray_FromStringAndSize(T.p, (Py_ssize_t)T.len),
                        PyByteArray_FromStringAndSize(V.p, (Py_ssize_t)V.len), misses);
done:
    Py_DECREF(seq);
    Py_XDECREF(misses);
    PyMem_Free(R.p); PyMem_Free(L.p); PyMem_Free(T.p); PyMem_Free(V.p); PyMem_Free(key.p);
    return res;
}

static int gather_init(PyObject *m) {
    if (!(S_name = PyUnicode_InternFromString("name")) ||
        !(S_labels = PyUnicode_InternFromString("labels")) ||
        !(S_ts = PyUnicode_InternFromString("timestamps_ms")) ||
        !(S_values = PyUnicode_InternFromString("values")) || PyType_Ready(&RouteCacheType))
        return -1;
    Py_INCREF(&RouteCacheType);
    return PyModule_AddObject(m, "RouteCache", (PyObject *)&RouteCacheType);
}
#endif
