/* _win_spans.h: window reads of one analysis tick, in C: a (track, KPI) over several nested spans.
 *
 * Why C: a tick reads every KPI of both tracks over up to five spans of a few dozen
 * buckets. The numbers are tiny; in numpy the cost was ~20 array calls per (track, KPI)
 * (~100 us), which made the tick, not the samples, the guard's bottleneck. Here one call
 * reads the bucket ring in place and does every per-span sum and per-bucket value.
 *
 * The reference is models/kpi.py (evaluate_spans, hist_quantile): same quantities, the
 * same order of floating-point operations (per-span totals are sums from the newest
 * bucket backwards, like numpy's cumsum of the reversed rows), so results are equal,
 * not close; tests/kpi/test_windows_native.py checks that on random windows.
 *
 * spans(kind, sums, counts, epoch, end_bucket, cols, sizes, out, q, les)
 *   sums, counts: the store's (n_slots x capacity) float64 buckets, C order
 *   epoch: int64[n_slots], the absolute bucket each slot holds
 *   end_bucket: newest bucket of every span; a span of s rows ends there
 *   cols: int64 store columns (ratio: num, den; quantile: by ascending le; else one)
 *   sizes: rows per span (a list of ints), each 1..n_slots
 *   out: float64 scratch the per-bucket arrays are written to (see below), m = max(sizes)
 *   q, les: quantile and its ascending bounds (quantile only)
 * Returns (a, b, c, d, kept): lists per span, and the number of per-bucket values kept.
 *   ratio    (0): a=num totals, b=den totals, c=samples, d=buckets with requests;
 *                 out[0:kept]=num/den, out[m:m+kept]=num, out[2m:2m+kept]=den
 *   quantile (1): a=quantile per span (NaN: none), b=samples, c=kept per span, d=None;
 *                 out[0:kept]=per-bucket quantiles, out[m:m+m*k]=rows (m x k, by le)
 *   counter  (2): a=totals, b=samples, c=kept per span, d=rows from the first filled
 *                 bucket to the end (-1: none); out[0:kept]=bucket sums (not yet / res)
 *   mean     (3): a=samples, b=kept per span, c=d=None; out[0:kept]=bucket means
 */
#ifndef WIN_SPANS_H
#define WIN_SPANS_H
#include "_win_common.h"


/* Quantile of one row of per-bound counts (ascending les, last = +Inf), like PromQL. */
static double row_quantile(double q, const double *les, const double *row, Py_ssize_t k,
                           double *cum, double top) {
    double run = row[0];
    cum[0] = run;
    for (Py_ssize_t j = 1; j < k; j++) {
        if (row[j] > run || isnan(row[j])) run = row[j];
        cum[j] = run;
    }
    double total = cum[k - 1];
    double rank = q * total;
    Py_ssize_t idx = 0;
    for (Py_ssize_t j = 0; j < k; j++) {
        if (cum[j] >= rank) { idx = j; break; }
    }
    double upper = les[idx];
    double lower = idx > 0 ? les[idx - 1] : 0.0;
    double below = idx > 0 ? cum[idx - 1] : 0.0;
    double inside = cum[idx] - below;
    double frac = inside > 0 ? (rank - below) / inside : 1.0;
    double out = lower + (upper - lower) * frac;
    if (isinf(upper)) out = top;
    return total > 0 ? out : NAN;
}


/* Per span s: the running value acc[] (index i = rows from the newest, 0-based) at s-1. */
#define AT(acc, s) ((acc)[(s) - 1])

/* The checked arguments of a spans read (see above); released by span_args_free. */
typedef struct {
    Buf bs, bc, be, bcol, bo, bl;
    int64_t *sizes;
    Py_ssize_t n, ns, nc, cap, m, k;
} SpanArgs;

static void span_args_free(SpanArgs *a) {
    PyMem_Free(a->sizes);
    rel(&a->bs); rel(&a->bc); rel(&a->be); rel(&a->bcol); rel(&a->bo); rel(&a->bl);
}

static int span_args(SpanArgs *a, int kind, PyObject *o_sums, PyObject *o_counts, PyObject *o_epoch,
                     PyObject *o_cols, PyObject *o_sizes, PyObject *o_out, PyObject *o_les) {
    PyObject *szf = NULL;
    int rc = -1;
    memset(a, 0, sizeof(*a));
    if (get_buf(o_sums, &a->bs, "d", 8, 0) || get_buf(o_counts, &a->bc, "d", 8, 0) ||
        get_buf(o_epoch, &a->be, "lq", 8, 0) || get_buf(o_cols, &a->bcol, "lq", 8, 0) ||
        get_buf(o_out, &a->bo, "d", 8, 1))
        goto done;
    if (kind == 1 && get_buf(o_les, &a->bl, "d", 8, 0)) goto done;
    if (!(szf = PySequence_Fast(o_sizes, "spans: sizes must be a sequence"))) goto done;
    Py_ssize_t n = a->be.b.len / 8, ns = PySequence_Fast_GET_SIZE(szf), nc = a->bcol.b.len / 8;
    if (!(a->sizes = PyMem_Malloc(sizeof(int64_t) * (size_t)(ns + 1)))) { PyErr_NoMemory(); goto done; }
    for (Py_ssize_t s = 0; s < ns; s++) {
        a->sizes[s] = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(szf, s));
        if (a->sizes[s] == -1 && PyErr_Occurred()) goto done;
    }
    Py_buffer *bs = &a->bs.b, *bc = &a->bc.b;
    Py_ssize_t cap = bs->ndim == 2 ? bs->shape[1] : 0;
    if (bs->ndim != 2 || bc->ndim != 2 || bs->shape[0] != n || bc->shape[0] != n ||
        bc->shape[1] != cap || n == 0 || ns == 0 || nc == 0 || kind < 0 || kind > 3 ||
        (kind == 0 && nc < 2) || (kind == 1 && a->bl.b.len / 8 != nc)) {
        PyErr_SetString(PyExc_ValueError, "spans: inconsistent shapes");
        goto done;
    }
    const int64_t *cols = a->bcol.b.buf;
    Py_ssize_t m = 0;
    for (Py_ssize_t s = 0; s < ns; s++) {
        if (a->sizes[s] < 1 || a->sizes[s] > n) {
            PyErr_SetString(PyExc_ValueError, "spans: span size outside the ring");
            goto done;
        }
        if (a->sizes[s] > m) m = a->sizes[s];
    }
    for (Py_ssize_t j = 0; j < nc; j++) {
        if (cols[j] < 0 || cols[j] >= cap) {
            PyErr_SetString(PyExc_ValueError, "spans: column outside the store");
            goto done;
        }
    }
    Py_ssize_t k = kind == 1 ? nc : 1;
    Py_ssize_t need = kind == 0 ? 3 * m : kind == 1 ? m + m * k : m;
    if (a->bo.b.len / 8 < need) {
        PyErr_SetString(PyExc_ValueError, "spans: out is too small");
        goto done;
    }
    a->n = n, a->ns = ns, a->nc = nc, a->cap = cap, a->m = m, a->k = k;
    rc = 0;
done:
    Py_XDECREF(szf);
    return rc;
}

/* Per-span results of span_kernel: SPAN_RESULTS(ns) doubles, three per span (a, b, c as
 * documented above), then two long longs per span at SPAN_INTS (c, d as integers). */
#define SPAN_RESULTS(ns) (5 * (ns))
#define SPAN_INTS(sp, ns) ((long long *)((sp) + 3 * (ns)))

/* The read itself: writes out (as documented above) and the per-span results to sp.
 * Returns the number of per-bucket values kept, or -1 (out of memory). */
static Py_ssize_t span_kernel(const SpanArgs *a, int kind, long long end_bucket, double q,
                              double *sp) {
    const double *S = a->bs.b.buf, *C = a->bc.b.buf;
    const int64_t *E = a->be.b.buf, *cols = a->bcol.b.buf, *sizes = a->sizes;
    double *out = a->bo.b.buf;
    Py_ssize_t n = a->n, ns = a->ns, cap = a->cap, m = a->m, k = a->k;
    double *work = PyMem_Malloc(sizeof(double) * (size_t)(8 * m + 2 * k + ns * k) +
                                sizeof(Py_ssize_t) * (size_t)m);
    if (!work) { PyErr_NoMemory(); return -1; }
    double *acc1 = work, *acc2 = work + m, *acc3 = work + 2 * m, *keep = work + 3 * m;
    double *vals = work + 4 * m, *cum = work + 8 * m, *qrow = cum + k;
    double *tails = qrow + k;  /* quantile: per span, per bound, the newest rows' sum */
    Py_ssize_t *off = (Py_ssize_t *)(tails + ns * k);
    /* row r (0 = oldest of the m rows): its slot's offset into S/C, or -1 when absent */
    for (Py_ssize_t r = 0; r < m; r++) {
        long long b = end_bucket - m + 1 + r;
        long long slot = ((b % n) + n) % n;
        off[r] = E[slot] == b ? (Py_ssize_t)slot * cap : -1;
    }
#define V(arr, r, c) (off[r] < 0 ? 0.0 : (arr)[off[r] + (c)])
    long long *sp_i = SPAN_INTS(sp, ns);
    Py_ssize_t kept = 0;
    if (kind == 0) {
        int64_t cn = cols[0], cd = cols[1];
        double a1 = 0, a2 = 0, a3 = 0, a4 = 0;
        for (Py_ssize_t i = 0; i < m; i++) {  /* newest first */
            Py_ssize_t r = m - 1 - i;
            double num = V(S, r, cn), den = V(S, r, cd);
            a1 += num; a2 += den; a3 += V(C, r, cd); a4 += den > 0;
            acc1[i] = a1; acc2[i] = a2; acc3[i] = a3; keep[i] = a4;
        }
        for (Py_ssize_t r = 0; r < m; r++) {
            double num = V(S, r, cn), den = V(S, r, cd);
            if (den > 0) {
                out[kept] = num / den; out[m + kept] = num; out[2 * m + kept] = den;
                kept++;
            }
        }
        for (Py_ssize_t s = 0; s < ns; s++) {
            sp[s] = AT(acc1, sizes[s]); sp[ns + s] = AT(acc2, sizes[s]);
            sp[2 * ns + s] = AT(acc3, sizes[s]); sp_i[s] = (long long)AT(keep, sizes[s]);
        }
    } else if (kind == 1) {
        const double *les = a->bl.b.buf;
        double top = NAN;
        for (Py_ssize_t j = k - 1; j >= 0; j--) {
            if (isfinite(les[j])) { top = les[j]; break; }
        }
        double *rows = out + m;
        for (Py_ssize_t r = 0; r < m; r++)
            for (Py_ssize_t j = 0; j < k; j++) rows[r * k + j] = V(S, r, cols[j]);
        double a3 = 0, a4 = 0;
        for (Py_ssize_t j = 0; j < k; j++) qrow[j] = 0.0;
        for (Py_ssize_t i = 0; i < m; i++) {
            Py_ssize_t r = m - 1 - i;
            for (Py_ssize_t j = 0; j < k; j++) qrow[j] += rows[r * k + j];
            double pq = row_quantile(q, les, rows + r * k, k, cum, top);
            vals[r] = pq;
            a3 += V(C, r, cols[k - 1]); a4 += !isnan(pq);
            acc3[i] = a3; keep[i] = a4;
            for (Py_ssize_t s = 0; s < ns; s++)
                if (sizes[s] == i + 1) memcpy(tails + s * k, qrow, sizeof(double) * (size_t)k);
        }
        for (Py_ssize_t s = 0; s < ns; s++) {
            sp[s] = row_quantile(q, les, tails + s * k, k, cum, top);
            sp[ns + s] = AT(acc3, sizes[s]); sp_i[s] = (long long)AT(keep, sizes[s]);
        }
        for (Py_ssize_t r = 0; r < m; r++)
            if (!isnan(vals[r])) out[kept++] = vals[r];
    } else {
        int64_t c0 = cols[0];
        double a1 = 0, a3 = 0, a4 = 0;
        for (Py_ssize_t i = 0; i < m; i++) {
            Py_ssize_t r = m - 1 - i;
            double sum = V(S, r, c0), cnt = V(C, r, c0);
            int ok = cnt > 0 && (kind == 2 || !isnan(sum / cnt));
            a1 += sum; a3 += cnt; a4 += ok;
            acc1[i] = a1; acc3[i] = a3; keep[i] = a4;
            acc2[i] = cnt > 0 ? (double)(r) : (i > 0 ? acc2[i - 1] : -1.0);  /* oldest filled */
        }
        for (Py_ssize_t r = 0; r < m; r++) {
            double sum = V(S, r, c0), cnt = V(C, r, c0);
            if (cnt > 0 && kind == 2) out[kept++] = sum;
            else if (cnt > 0 && !isnan(sum / cnt)) out[kept++] = sum / cnt;
        }
        for (Py_ssize_t s = 0; s < ns; s++) {
            sp[s] = AT(acc1, sizes[s]); sp[ns + s] = AT(acc3, sizes[s]);
            sp_i[s] = (long long)AT(keep, sizes[s]);
            double first = AT(acc2, sizes[s]);
            sp_i[ns + s] = first < 0 ? -1 : (long long)(m - (Py_ssize_t)first);
        }
    }
#undef V
    PyMem_Free(work);
    return kept;
}

static PyObject *spans(PyObject *self, PyObject *args) {
    int kind;
    long long end_bucket;
    double q;
    PyObject *o_sums, *o_counts, *o_epoch, *o_cols, *o_sizes, *o_out, *o_les, *res = NULL;
    if (!PyArg_ParseTuple(args, "iOOOLOOOdO", &kind, &o_sums, &o_counts, &o_epoch,
                          &end_bucket, &o_cols, &o_sizes, &o_out, &q, &o_les))
        return NULL;
    SpanArgs a;
    double *sp = NULL;
    if (span_args(&a, kind, o_sums, o_counts, o_epoch, o_cols, o_sizes, o_out, o_les)) goto done;
    Py_ssize_t ns = a.ns, kept;
    if (!(sp = PyMem_Malloc(sizeof(double) * (size_t)SPAN_RESULTS(ns)))) { PyErr_NoMemory(); goto done; }
    if ((kept = span_kernel(&a, kind, end_bucket, q, sp)) < 0) goto done;
    long long *sp_i = SPAN_INTS(sp, ns);
    if (kind == 0)
        res = Py_BuildValue("(NNNNn)", list_d(sp, ns), list_d(sp + ns, ns),
                            list_d(sp + 2 * ns, ns), list_i(sp_i, ns), kept);
    else if (kind == 1)
        res = Py_BuildValue("(NNNOn)", list_d(sp, ns), list_d(sp + ns, ns), list_i(sp_i, ns),
                            Py_None, kept);
    else if (kind == 2)
        res = Py_BuildValue("(NNNNn)", list_d(sp, ns), list_d(sp + ns, ns),
                            list_i(sp_i, ns), list_i(sp_i + ns, ns), kept);
    else
        res = Py_BuildValue("(NNOOn)", list_d(sp + ns, ns), list_i(sp_i, ns), Py_None,
                            Py_None, kept);
done:
    PyMem_Free(sp);
    span_args_free(&a);
    return res;
}

#endif
