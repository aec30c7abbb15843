/* _win_ingest.h: a routed batch of series into one window set's counters and buckets.
 *
 * Why C: a deployment's batch is a few hundred samples; in numpy, counter increases, the
 * (series, KPI column) expansion and the bucket sums were ~40 array calls (~0.5 ms), more
 * than the samples themselves. The reference is WindowSet.ingest_batch's numpy path
 * (models/windows.py, counter_increases in models/kpi.py, Store.add): the same results,
 * including the order of floating-point additions into a bucket (this batch's values are
 * summed from zero, then added to the bucket, like Store.add's bincount).
 *
 * ingest(R, L, T, V, r_nt, r_off, r_counter, r_csid, r_track, t_counter, t_col, t_ring,
 *        c_known, c_ts, c_val, seen, epoch, sums, counts, res_ms, n_tracks)
 *   R, L: int64 route id and sample count per series; T, V: its samples, concatenated.
 *   The rest are the RouteTable's and Store's arrays (models/window_routes.py), updated
 *   in place, and the bucket width.
 * Returns (status, max_ts, ...). Nothing is changed unless status is DONE:
 *   SLOTS, [route ids]: these counter routes need counter state first (in this order)
 *   COLS, [target ids]: these targets got data but have no store column yet
 *   DUP: one counter series twice in the batch: ingest it series by series
 *   DONE, used, dropped_series, dropped_samples, [newest ts per track code]
 */
#ifndef WIN_INGEST_H
#define WIN_INGEST_H
#include "_win_common.h"

enum { ING_DONE = 0, ING_SLOTS = 1, ING_COLS = 2, ING_DUP = 3, ING_NBUF = 19 };

static long long floordiv(long long a, long long b) {
    long long q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static PyObject *ingest(PyObject *self, PyObject *args) {
    PyObject *o[ING_NBUF];
    long long res_ms;
    Py_ssize_t n_tracks;
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOOOOOOOOOOLn", &o[0], &o[1], &o[2], &o[3], &o[4],
                          &o[5], &o[6], &o[7], &o[8], &o[9], &o[10], &o[11], &o[12], &o[13],
                          &o[14], &o[15], &o[16], &o[17], &o[18], &res_ms, &n_tracks))
        return NULL;
    /* R L T V r_nt r_off r_counter r_csid r_track t_counter t_col t_ring c_known c_ts c_val
       seen epoch sums counts; writable: c_*, seen, epoch, sums, counts */
    static const char *fmt[ING_NBUF] = {"lq", "lq", "lq", "d", "lq", "lq", "?", "lq", "lq", "?",
                                        "lq", "lq", "?", "lq", "d", "lq", "lq", "d", "d"};
    Buf b[ING_NBUF];
    memset(b, 0, sizeof b);
    PyObject *res = NULL;
    char *mem = NULL;
    for (int i = 0; i < ING_NBUF; i++) {
        Py_ssize_t size = fmt[i][0] == '?' ? 1 : 8;
        if (get_buf(o[i], &b[i], fmt[i], size, i >= 12)) goto done;
    }
    const int64_t *R = b[0].b.buf, *L = b[1].b.buf, *T = b[2].b.buf;
    const double *V = b[3].b.buf;
    const int64_t *r_nt = b[4].b.buf, *r_off = b[5].b.buf, *r_csid = b[7].b.buf;
    const int64_t *r_track = b[8].b.buf, *t_col = b[10].b.buf, *t_ring = b[11].b.buf;
    const char *r_counter = b[6].b.buf, *t_counter = b[9].b.buf;
    char *c_known = b[12].b.buf;
    int64_t *c_ts = b[13].b.buf, *seen = b[15].b.buf, *epoch = b[16].b.buf;
    double *c_val = b[14].b.buf, *sums = b[17].b.buf, *counts = b[18].b.buf;
    Py_ssize_t nseg = b[0].b.len / 8, nsamp = b[2].b.len / 8, n_routes = b[4].b.len / 8;
    Py_ssize_t n_targets = b[10].b.len / 8, n_cs = b[13].b.len / 8, n = b[16].b.len / 8;
    Py_ssize_t seen_cap = b[15].b.ndim == 2 ? b[15].b.shape[1] : 0;
    Py_ssize_t seen_rows = b[15].b.ndim == 2 ? b[15].b.shape[0] : 0;
    Py_ssize_t cap = b[17].b.ndim == 2 ? b[17].b.shape[1] : 0;
    long long total = 0;
    for (Py_ssize_t i = 0; i < nseg; i++) total += L[i];
    if (b[1].b.len / 8 != nseg || b[3].b.len / 8 != nsamp || total != nsamp || res_ms <= 0 ||
        n == 0 || b[17].b.ndim != 2 || b[17].b.shape[0] != n || b[18].b.len != b[17].b.len ||
        n_tracks < 0 || b[6].b.len != n_routes || b[7].b.len / 8 != n_routes ||
        b[8].b.len / 8 != n_routes || b[9].b.len != n_targets || b[11].b.len / 8 != n_targets ||
        b[12].b.len != n_cs || b[14].b.len / 8 != n_cs) {
        PyErr_SetString(PyExc_ValueError, "ingest: inconsistent shapes");
        goto done;
    }
    long long tmax = LLONG_MIN;
    for (Py_ssize_t j = 0; j < nsamp; j++) if (T[j] > tmax) tmax = T[j];
    /* scratch: per sample inc + has_inc; per segment start, live, new counter state */
    size_t sz = (size_t)nsamp * 9 + (size_t)nseg * 26 + (size_t)n_cs + (size_t)n * cap * 16 +
                (size_t)n * 8 + (size_t)n_tracks * 8 + 64;
    mem = PyMem_Calloc(1, sz);
    if (!mem) { PyErr_NoMemory(); goto done; }
    double *inc = (double *)mem, *tmp_s = inc + nsamp, *tmp_c = tmp_s + n * cap;
    long long *start = (long long *)(tmp_c + n * cap), *st_ts = start + nseg;
    double *st_val = (double *)(st_ts + nseg);
    long long *newest = (long long *)(st_val + nseg), *trk = newest + n;
    char *has_inc = (char *)(trk + n_tracks), *live = has_inc + nsamp, *mark = live + nseg;
    char *st_set = mark + n_cs;
    PyObject *need = NULL;
    long long at = 0, used = 0, dropped_series = 0, dropped = 0;
    for (Py_ssize_t i = 0; i < nseg; i++) {
        start[i] = at;
        long long rid = R[i];
        if (rid < 0 || rid >= n_routes || r_off[rid] < 0 || r_off[rid] + r_nt[rid] > n_targets ||
            r_track[rid] < 0) {
            PyErr_SetString(PyExc_ValueError, "ingest: route id outside the table");
            goto done;
        }
        for (long long j = at; j < at + L[i] && rid > 0; j++) if (isfinite(V[j])) live[i] = 1;
        at += L[i];
        if (live[i] && r_counter[rid] && r_csid[rid] == -2) {
            if (!need && !(need = PyList_New(0))) goto done;
            PyObject *x = PyLong_FromLongLong(rid);
            if (!x || PyList_Append(need, x)) { Py_XDECREF(x); goto fail_need; }
            Py_DECREF(x);
        }
    }
    if (need) { res = Py_BuildValue("(iLN)", ING_SLOTS, tmax, need); goto done; }
    for (Py_ssize_t i = 0; i < nseg; i++) {  /* counter increases, state kept aside */
        long long rid = R[i], cs = r_csid[rid];
        if (!live[i] || !r_counter[rid]) continue;
        if (cs < 0) { dropped_series++; continue; }
        if (cs >= n_cs) { PyErr_SetString(PyExc_ValueError, "ingest: counter state"); goto done; }
        if (mark[cs]) { res = Py_BuildValue("(iL)", ING_DUP, tmax); goto done; }
        mark[cs] = 1;
        int known = c_known[cs], first = 1, started = 0;
        double prev = c_val[cs];
        for (long long j = start[i]; j < start[i] + L[i]; j++) {
            if (!isfinite(V[j])) continue;
            int keep = known ? T[j] > c_ts[cs] : !first;
            int chain = keep || (first && !known);
            first = 0;
            if (!chain) continue;
            if (keep) {
                double d = V[j] - prev;
                inc[j] = d >= 0 ? d : V[j];
                has_inc[j] = 1;
            }
            prev = V[j];
            st_ts[i] = T[j]; st_val[i] = V[j]; started = 1;
        }
        st_set[i] = (char)started;
    }
    for (Py_ssize_t i = 0; i < nseg; i++) {  /* targets that get data but have no column */
        long long rid = R[i];
        if (!live[i]) continue;
        for (long long t = r_off[rid]; t < r_off[rid] + r_nt[rid]; t++) {
            if (t_col[t] >= 0) continue;
            int any = 0;
            for (long long j = start[i]; j < start[i] + L[i] && !any; j++)
                any = t_counter[t] ? has_inc[j] : isfinite(V[j]);
            if (!any) continue;
            if (!need && !(need = PyList_New(0))) goto done;
            PyObject *x = PyLong_FromLongLong(t);
            if (!x || PyList_Append(need, x)) { Py_XDECREF(x); goto fail_need; }
            Py_DECREF(x);
        }
    }
    if (need) { res = Py_BuildValue("(iLN)", ING_COLS, tmax, need); goto done; }
    /* commit: counter state, newest bucket per slot, bucket sums, last-fed times */
    for (Py_ssize_t i = 0; i < nseg; i++) {
        long long cs = r_csid[R[i]];
        if (!st_set[i]) continue;
        c_ts[cs] = st_ts[i]; c_val[cs] = st_val[i]; c_known[cs] = 1;
    }
    for (Py_ssize_t s = 0; s < n; s++) newest[s] = epoch[s];
    for (int pass = 0; pass < 2; pass++) {
        for (Py_ssize_t i = 0; i < nseg; i++) {
            long long rid = R[i];
            if (!live[i]) continue;
            for (long long t = r_off[rid]; t < r_off[rid] + r_nt[rid]; t++) {
                long long col = t_col[t], last = LLONG_MIN;
                if (pass == 1 && (col >= cap || t_ring[t] < 0 || t_ring[t] >= seen_rows ||
                                  rid >= seen_cap)) {
                    PyErr_SetString(PyExc_ValueError, "ingest: target outside the store");
                    goto done;
                }
                for (long long j = start[i]; j < start[i] + L[i]; j++) {
                    int valid = t_counter[t] ? has_inc[j] : isfinite(V[j]);
                    if (!valid) continue;
                    long long bucket = floordiv(T[j], res_ms);
                    long long slot = ((bucket % n) + n) % n;
                    if (pass == 0) {
                        if (bucket > newest[slot]) newest[slot] = bucket;
                        continue;
                    }
                    last = T[j];
                    if (epoch[slot] != bucket) { dropped++; continue; }
                    if (col < 0) {
                        PyErr_SetString(PyExc_ValueError, "ingest: data for a missing column");
                        goto done;
                    }
                    tmp_s[slot * cap + col] += t_counter[t] ? inc[j] : V[j];
                    tmp_c[slot * cap + col] += 1.0;
                }
                if (pass == 1 && last != LLONG_MIN) seen[t_ring[t] * seen_cap + rid] = last;
            }
        }
        if (pass == 0) {
            for (Py_ssize_t s = 0; s < n; s++) {
                if (newest[s] == epoch[s]) continue;
                memset(sums + s * cap, 0, sizeof(double) * (size_t)cap);
                memset(counts + s * cap, 0, sizeof(double) * (size_t)cap);
                epoch[s] = newest[s];
            }
        }
    }
    for (Py_ssize_t c = 0; c < n * cap; c++) {
        if (tmp_c[c] == 0.0) continue;
        sums[c] += tmp_s[c];
        counts[c] += tmp_c[c];
    }
    for (Py_ssize_t t = 0; t < n_tracks; t++) trk[t] = LLONG_MIN;
    for (Py_ssize_t i = 0; i < nseg; i++) {
        if (!live[i]) continue;
        long long code = r_track[R[i]];
        for (long long j = start[i]; j < start[i] + L[i]; j++) {
            used += isfinite(V[j]) != 0;
            if (code < n_tracks && T[j] > trk[code]) trk[code] = T[j];
        }
    }
    res = Py_BuildValue("(iLLLLN)", ING_DONE, tmax, used, dropped_series, dropped,
                        list_i(trk, n_tracks));
    goto done;
fail_need:
    Py_DECREF(need);
done:
    PyMem_Free(mem);
    for (int i = 0; i < ING_NBUF; i++) rel(&b[i]);
    return res;
}
#endif
