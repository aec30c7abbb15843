/* _win_samples.h: a (track, KPI) of one tick as the KpiSample tuples the judge reads.
 *
 * Why: after spans() moved the arithmetic to C, the Python that turned its lists into
 * KpiSamples (per span: a few numpy slices, a division, a NamedTuple) cost three times
 * the read itself, eight times a tick. Here the same values are built in one call: the
 * reference is models/window_native.py's read_spans (kinds ratio, quantile, counter),
 * and tests/kpi/test_windows_native.py checks the two give equal samples.
 *
 * samples(kind, sums, counts, epoch, end_bucket, cols, sizes, out, q, les,
 *         cls, spans, res_s, mean, seen, tick_ms, rows) -> [cls(...)] per span
 *   the first ten as for spans() (kind 0, 1 or 2; out holds m * (1 + len(sizes)) for a
 *   counter, whose per-series rates are written after its bucket sums);
 *   cls: the KpiSample NamedTuple class (built as tuple.__new__ would build it);
 *   spans: seconds per span; res_s: bucket seconds; mean: 1 when a counter's value is per
 *   series (aggregate "mean"); seen: int64 newest sample time of each route of the ring
 *   (counter: the active series of a span are those seen since tick_ms - span);
 *   rows: quantile, out[m:] as an (m, len(les)) array (the samples' hist are its rows).
 * A span whose sample would equal the previous span's gets the same object, so the
 * judge's same-window check is an identity test.
 */
#ifndef WIN_SAMPLES_H
#define WIN_SAMPLES_H
#include "_win_spans.h"

#define SAMPLE_FIELDS 9

/* out[lo:hi] of a numpy array: a view, as Python's slicing gives. */
static PyObject *view(PyObject *arr, Py_ssize_t lo, Py_ssize_t hi) {
    PyObject *lo_o = PyLong_FromSsize_t(lo), *hi_o = PyLong_FromSsize_t(hi), *sl = NULL, *v = NULL;
    if (lo_o && hi_o && (sl = PySlice_New(lo_o, hi_o, NULL))) v = PyObject_GetItem(arr, sl);
    Py_XDECREF(lo_o);
    Py_XDECREF(hi_o);
    Py_XDECREF(sl);
    return v;
}

/* cls(*items) for a NamedTuple class; steals the references in items (also on error). */
static PyObject *make_sample(PyTypeObject *cls, PyObject **items) {
    PyObject *t = cls->tp_alloc(cls, SAMPLE_FIELDS);
    for (int i = 0; i < SAMPLE_FIELDS; i++) {
        if (!items[i]) {
            Py_XDECREF(t);
            t = NULL;
        }
    }
    for (int i = 0; i < SAMPLE_FIELDS; i++) {
        if (t) PyTuple_SET_ITEM(t, i, items[i]);
        else Py_XDECREF(items[i]);
    }
    return t;
}

static PyObject *float_or_none(double v, int none) {
    return none ? Py_NewRef(Py_None) : PyFloat_FromDouble(v);
}

static PyObject *samples(PyObject *self, PyObject *args) {
    int kind, mean;
    long long end_bucket, tick_ms;
    double q, res_s;
    PyObject *o_sums, *o_counts, *o_epoch, *o_cols, *o_sizes, *o_out, *o_les, *o_seen, *o_rows;
    PyObject *o_cls, *o_spans, *res = NULL, *spf = NULL;
    if (!PyArg_ParseTuple(args, "iOOOLOOOdOOOdiOLO", &kind, &o_sums, &o_counts, &o_epoch,
                          &end_bucket, &o_cols, &o_sizes, &o_out, &q, &o_les, &o_cls, &o_spans,
                          &res_s, &mean, &o_seen, &tick_ms, &o_rows))
        return NULL;
    PyTypeObject *cls = (PyTypeObject *)o_cls;
    if (!PyType_Check(o_cls) || !PyType_IsSubtype(cls, &PyTuple_Type) ||
        cls->tp_basicsize != PyTuple_Type.tp_basicsize || kind < 0 || kind > 2) {
        PyErr_SetString(PyExc_TypeError, "samples: cls must be a NamedTuple class, kind 0-2");
        return NULL;
    }
    SpanArgs a;
    Buf bseen = {0};
    double *sp = NULL;
    if (span_args(&a, kind, o_sums, o_counts, o_epoch, o_cols, o_sizes, o_out, o_les)) goto done;
    Py_ssize_t ns = a.ns, m = a.m, kept;
    if (!(spf = PySequence_Fast(o_spans, "samples: spans must be a sequence"))) goto done;
    if (PySequence_Fast_GET_SIZE(spf) != ns || (kind == 2 && a.bo.b.len / 8 < m * (1 + ns)) ||
        (kind == 2 && get_buf(o_seen, &bseen, "lq", 8, 0))) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "samples: spans or out size");
        goto done;
    }
    if (!(sp = PyMem_Malloc(sizeof(double) * (size_t)SPAN_RESULTS(ns)))) { PyErr_NoMemory(); goto done; }
    if ((kept = span_kernel(&a, kind, end_bucket, q, sp)) < 0) goto done;
    long long *sp_i = SPAN_INTS(sp, ns);
    double *out = a.bo.b.buf;
    if (kind == 2)
        for (Py_ssize_t i = 0; i < kept; i++) out[i] /= res_s;  /* bucket sums -> rates */
    if (!(res = PyList_New(ns))) goto done;
    PyObject *prev = NULL;
    double pv[6] = {0};  /* what made the previous span's sample */
    for (Py_ssize_t s = 0; s < ns; s++) {
        long long k = sp_i[s], size = a.sizes[s], per = 1, one = 1;
        double cur[6] = {0};  /* everything this span's sample is made of */
        if (kind == 0) {  /* num, den, samples, kept */
            cur[0] = sp[s], cur[1] = sp[ns + s], cur[2] = sp[2 * ns + s], cur[3] = (double)k;
        } else if (kind == 1) {  /* quantile, samples, kept, rows */
            cur[0] = sp[s], cur[1] = sp[ns + s], cur[2] = (double)k, cur[3] = (double)size;
        } else {  /* counter: value, samples, kept, per, active series, total */
            double w = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(spf, s));
            if (w == -1.0 && PyErr_Occurred()) goto fail;
            const int64_t *seen = bseen.b.buf;
            long long since = tick_ms - (long long)(w * 1000.0), active = 0, first = sp_i[ns + s];
            for (Py_ssize_t j = 0; j < bseen.b.len / 8; j++) active += seen[j] >= since;
            one = active > 1 ? active : 1, per = mean ? one : 1;
            double total = sp[s], smp = sp[ns + s];
            double span = first >= 0 ? (double)first * res_s : w;
            if (smp != 0 && span == 0) {
                PyErr_SetString(PyExc_ZeroDivisionError, "samples: a counter span of 0 s");
                goto fail;
            }
            cur[0] = smp != 0 ? total / span / (double)per : 0, cur[1] = smp;
            cur[2] = (double)k, cur[3] = (double)per, cur[4] = (double)one, cur[5] = total;
        }
        if (prev && !memcmp(cur, pv, sizeof cur)) {  /* the same sample as the previous span's */
            PyList_SET_ITEM(res, s, Py_NewRef(prev));
            continue;
        }
        PyObject *it[SAMPLE_FIELDS] = {0};
        if (kind < 2 || per == 1) it[2] = view(o_out, kept - k, kept);  /* points */
        if (kind == 0) {
            double tn = cur[0], td = cur[1];
            it[0] = float_or_none(td > 0 ? tn / td : 0, !(td > 0));
            it[1] = PyLong_FromDouble(cur[2]);
            it[3] = PyFloat_FromDouble(tn);
            it[4] = PyFloat_FromDouble(td);
            it[5] = view(o_out, m + kept - k, m + kept);
            it[6] = view(o_out, 2 * m + kept - k, 2 * m + kept);
            it[7] = Py_NewRef(Py_None), it[8] = Py_NewRef(Py_None);
        } else if (kind == 1) {
            it[0] = float_or_none(cur[0], isnan(cur[0]));
            it[1] = PyLong_FromDouble(cur[1]);
            it[3] = PyFloat_FromDouble(0.0);
            it[4] = PyFloat_FromDouble(0.0);
            it[5] = Py_NewRef(Py_None), it[6] = Py_NewRef(Py_None);
            it[7] = Py_NewRef(o_les);
            it[8] = view(o_rows, m - size, m);
        } else {
            it[0] = float_or_none(cur[0], cur[1] == 0);
            it[1] = PyLong_FromDouble(cur[1]);
            if (per != 1) {  /* rates / per, a copy of its own like numpy's division */
                double *dst = out + m * (1 + s);
                for (long long i = 0; i < k; i++) dst[i] = out[kept - k + i] / (double)per;
                it[2] = view(o_out, m * (1 + s), m * (1 + s) + k);
            }
            it[3] = PyFloat_FromDouble(cur[5]);
            it[4] = PyFloat_FromDouble((double)one);
            for (int i = 5; i < SAMPLE_FIELDS; i++) it[i] = Py_NewRef(Py_None);
        }
        if (!(prev = make_sample(cls, it))) goto fail;
        PyList_SET_ITEM(res, s, prev);
        memcpy(pv, cur, sizeof pv);
    }
    goto done;
fail:
    Py_CLEAR(res);
done:
    PyMem_Free(sp);
    Py_XDECREF(spf);
    rel(&bseen);
    span_args_free(&a);
    return res;
}

#endif
