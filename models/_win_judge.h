/* _win_judge.h: a screen in front of the canary judge (models/canary.py): "no test can fire".
 *
 * Why: every analysis tick judges each KPI of a canary over up to five nested spans, and a
 * healthy canary (nearly every look) ends each judge call with no breach after ~40 small
 * numpy calls. Each of the judge's tests fires only when an effect-size condition holds
 * first: the shift test needs the median up by more than the tolerance; the spread test
 * needs the step-to-step variation up by ``spread_ratio``; the counts and tail tests need
 * the event rate up by the tolerance. This screen computes those effect sizes in one call
 * and answers 1 ("clear") only when none can hold. Then ``judge`` returns its no-breach
 * result without running; otherwise (0) the Python judge runs as before, so a clear is
 * never a guess and the judge's results are unchanged (tests/kpi/test_judge_screen.py).
 *
 * Exactness: medians and step-to-step differences are the same floating-point operations
 * as the judge's, so those conditions are decided exactly. Where the judge's result
 * depends on numpy's summation order or on how argsort breaks ties (the two "worst
 * buckets" left out), the screen uses bounds: IEEE rounding is monotone, so a sum over
 * the worst candidate pair bounds the true one; sums whose order differs get a relative
 * slack (SLACK) far above their rounding error. In doubt (NaN, non-contiguous arrays,
 * a quantile bucket on the edge) the answer is 0: the judge runs.
 *
 * judge_clear(subject, reference, up, tolerance, floor, spread_ratio, min_points,
 *             counts, ratio_kpi, quantile_or_None) -> bool
 *   subject, reference: models.kpi.KpiSample tuples (points, num, den, num_points,
 *   den_points, bounds, hist at items 2..8); the other arguments as models.canary.judge.
 */
#ifndef WIN_JUDGE_H
#define WIN_JUDGE_H
#include "_win_common.h"

#define SLACK 1e-9 /* relative; summation-order error here is < 1e-13 */

typedef struct {
    const double *v;
    Py_ssize_t n, cols; /* rows and columns (cols 1 for a 1-D array) */
    Buf b;
} Arr;

/* A float64 C-contiguous array of ``ndim`` dims: 1 ok, 0 None, -1 unusable (no error set). */
static int arr_get(PyObject *o, Arr *a, int ndim) {
    a->v = NULL;
    a->n = a->cols = 0;
    a->b.held = 0;
    if (o == Py_None) return 0;
    if (get_buf(o, &a->b, "d", 8, 0) < 0 || a->b.b.ndim != ndim) {
        PyErr_Clear();
        rel(&a->b);
        return -1;
    }
    a->v = (const double *)a->b.b.buf;
    a->n = ndim ? a->b.b.shape[0] : 1;
    a->cols = ndim == 2 ? a->b.b.shape[1] : 1;
    return 1;
}

/* Rearranges s[0..n) so that s[k] holds the value a sort would put there, with nothing
 * larger before it (quickselect, median-of-three pivot; the values are finite). */
static void select_kth(double *s, Py_ssize_t n, Py_ssize_t k) {
    Py_ssize_t lo = 0, hi = n - 1;
    while (hi > lo) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        double a = s[lo], b = s[mid], c = s[hi];
        double pivot = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
        Py_ssize_t i = lo, j = hi;
        while (i <= j) {
            while (s[i] < pivot) i++;
            while (s[j] > pivot) j--;
            if (i <= j) { double t = s[i]; s[i++] = s[j]; s[j--] = t; }
        }
        if (k <= j) hi = j;
        else if (k >= i) lo = i;
        else return; /* j < k < i: s[k] equals the pivot, in place */
    }
}

/* np.median of n >= 1 finite values, reordering ``s`` (mean of the middle pair). Selection
 * finds the same middle values a sort would, so the result is the judge's to the bit. */
static double median_inplace(double *s, Py_ssize_t n) {
    Py_ssize_t m = n / 2;
    select_kth(s, n, m);
    if (n % 2) return s[m];
    double below = s[0];
    for (Py_ssize_t i = 1; i < m; i++)
        if (s[i] > below) below = s[i];
    return (below + s[m]) / 2.0;
}

static int all_finite(const double *v, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return 0;
    return 1;
}

static double rate_ratio_c(double rate, double ref) {
    return ref > 0 ? rate / ref : (rate > 0 ? INFINITY : 1.0);
}

/* The two largest of v[0..n) by value, and an upper (lower) bound of w summed over any
 * pair of indexes argsort could pick as those two: the largest (smallest) two w among
 * indexes whose v is at least the second largest (w read every ``ws`` doubles). Returns
 * v1 + v2 as numpy adds them. */
static double worst_pair(const double *v, const double *w, Py_ssize_t ws, Py_ssize_t n,
                         double *w_hi, double *w_lo) {
    double v1 = -INFINITY, v2 = -INFINITY;
    for (Py_ssize_t i = 0; i < n; i++) {
        double x = v[i];
        if (x > v1) { v2 = v1; v1 = x; }
        else if (x > v2) v2 = x;
    }
    double h1 = -INFINITY, h2 = -INFINITY, l1 = INFINITY, l2 = INFINITY;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (v[i] < v2) continue;
        double x = w[i * ws];
        if (x > h1) { h2 = h1; h1 = x; } else if (x > h2) h2 = x;
        if (x < l1) { l2 = l1; l1 = x; } else if (x < l2) l2 = x;
    }
    *w_hi = h1 + h2;
    *w_lo = l1 + l2;
    return v2 + v1;
}

/* One form of the counts test: clear unless ``num`` events over an exposure in
 * [den_lo, den_hi] could be a rate beyond both the tolerance and the floor. */
static int counts_form_clear(double num, double den_lo, double den_hi, double rate_b,
                             double tol, double floor_) {
    if (den_hi <= 0 || num <= 2.5) return 1; /* den <= 0, or int(round(num)) < 3 */
    if (den_lo <= 0) return 0;
    double rate_c = num / den_lo; /* num > 0: the largest rate the exposure allows */
    return rate_ratio_c(rate_c, rate_b) <= 1.0 + tol || rate_c - rate_b <= floor_;
}

/* models.canary._counts_test returns None (1), or may not (0). */
static int counts_clear(const Arr *x, const Arr *y, double num_s, double den_s, double num_r,
                        double den_r, PyObject *nums_o, PyObject *dens_o, double tol,
                        double floor_) {
    Py_ssize_t occ = 0, occ_r = 0;
    for (Py_ssize_t i = 0; i < x->n; i++) occ += x->v[i] > 0;
    if (occ < 3) return 1;
    for (Py_ssize_t i = 0; i < y->n; i++) occ_r += y->v[i] > 0;
    double rate_b = num_r / den_r;
    if (occ >= occ_r + 2 && !counts_form_clear(num_s, den_s, den_s, rate_b, tol, floor_))
        return 0;
    Arr nums, dens;
    int hn = arr_get(nums_o, &nums, 1), hd = arr_get(dens_o, &dens, 1), ok = 1;
    if (hn < 0 || hd < 0) ok = 0;
    else if (hn && hd && nums.n == dens.n && nums.n > 2) {
        if (!all_finite(nums.v, nums.n) || !all_finite(dens.v, dens.n)) ok = 0;
        else {
            double w_hi, w_lo;
            double left = worst_pair(nums.v, dens.v, 1, nums.n, &w_hi, &w_lo);
            ok = counts_form_clear(num_s - left, den_s - w_hi, den_s - w_lo, rate_b, tol,
                                   floor_);
        }
    }
    rel(&nums.b); rel(&dens.b);
    return ok;
}

/* models.canary_tail.tail_test gives no breach (1), or may (0). Counts are taken as
 * non-negative sums, bounded with SLACK where numpy's order of addition differs. */
static int tail_clear(PyObject *S, PyObject *R, double q, double tol) {
    Arr hs, hr, bs, br;
    int ok = 0;
    double *cum = NULL; /* the baseline's column sums, then the canary's counts above */
    int a = arr_get(PyTuple_GET_ITEM(S, 8), &hs, 2), b = arr_get(PyTuple_GET_ITEM(R, 8), &hr, 2);
    int c = arr_get(PyTuple_GET_ITEM(S, 7), &bs, 1), d = arr_get(PyTuple_GET_ITEM(R, 7), &br, 1);
    if (a < 0 || b < 0 || c < 0 || d < 0) goto done;
    ok = 1;
    if (!a || !b || !c || !d) goto done; /* tail_test: no histogram or bounds, no breach */
    if (hs.cols != hr.cols || bs.n != br.n) goto done;
    for (Py_ssize_t j = 0; j < bs.n; j++)
        if (!(bs.v[j] == br.v[j])) goto done; /* not np.array_equal: no breach */
    ok = 0;
    Py_ssize_t k = hs.cols, ns = hs.n, nr = hr.n;
    if (k < 2 || k != br.n || ns < 3 || !all_finite(hs.v, ns * k) || !all_finite(hr.v, nr * k))
        goto done;
    for (Py_ssize_t i = 0; i < ns * k; i++) if (hs.v[i] < 0) goto done;
    for (Py_ssize_t i = 0; i < nr * k; i++) if (hr.v[i] < 0) goto done;
    if (!(cum = PyMem_Malloc((size_t)(k + ns) * sizeof(double)))) goto done;
    double *above = cum + k;
    for (Py_ssize_t j = 0; j < k; j++) cum[j] = 0.0;
    for (Py_ssize_t i = 0; i < nr; i++)
        for (Py_ssize_t j = 0; j < k; j++) cum[j] += hr.v[i * k + j];
    double total_r = cum[k - 1], total_s = 0.0, kb = 0.0, sum_above = 0.0;
    for (Py_ssize_t i = 0; i < ns; i++) total_s += hs.v[i * k + k - 1];
    if (total_r == 0 || total_s == 0) { ok = 1; goto done; } /* zero in any order */
    /* the baseline's quantile bucket: the first column surely at or above q * total */
    double rank = q * total_r;
    Py_ssize_t idx = -1;
    for (Py_ssize_t j = 0; j < k && idx < 0; j++) {
        if (cum[j] >= rank * (1 + SLACK) + 1e-300) idx = j;
        else if (cum[j] >= rank * (1 - SLACK)) break; /* on the edge: undecided */
    }
    if (idx < 0 || idx >= k - 1) { ok = idx >= 0; goto done; } /* undecided; +Inf: none */
    for (Py_ssize_t i = 0; i < nr; i++) {
        double v = hr.v[i * k + k - 1] - hr.v[i * k + idx];
        kb += v > 0 ? v : 0.0;
    }
    for (Py_ssize_t i = 0; i < ns; i++) {
        double v = hs.v[i * k + k - 1] - hs.v[i * k + idx];
        above[i] = v > 0 ? v : 0.0;
        sum_above += above[i];
    }
    double w_hi, w_lo;
    double left = worst_pair(above, hs.v + k - 1, k, ns, &w_hi, &w_lo);
    double kc_hi = sum_above * (1 + SLACK) - left;
    double expo_lo = total_s * (1 - SLACK) - w_hi * (1 + SLACK);
    if (kc_hi <= 0) { ok = 1; goto done; } /* no slow requests left: ratio <= 1 */
    if (expo_lo <= 0) goto done;
    double rate_s = kc_hi / expo_lo * (1 + SLACK);
    double rate_r = kb * (1 - SLACK) / (total_r * (1 + SLACK));
    ok = rate_ratio_c(rate_s, rate_r) <= 1.0 + tol || rate_s <= 1.0 - q;
done:
    PyMem_Free(cum);
    rel(&hs.b); rel(&hr.b); rel(&bs.b); rel(&br.b);
    return ok;
}

static int screen(PyObject *S, PyObject *R, const Arr *x, const Arr *y, int up, double tol,
                  double floor_, double spread_ratio, Py_ssize_t min_points, int counts,
                  int ratio_kpi, int has_q, double q, double num_s, double den_s,
                  double num_r, double den_r) {
    if (!(tol >= 0) || !isfinite(tol) || !isfinite(floor_) || !isfinite(spread_ratio) ||
        min_points < 2 || (has_q && !isfinite(q)))
        return 0;
    int enough = x->n >= min_points && y->n >= min_points;
    int tail = has_q && PyTuple_GET_ITEM(S, 8) != Py_None && PyTuple_GET_ITEM(R, 8) != Py_None;
    if (enough) {
        if (!all_finite(x->v, x->n) || !all_finite(y->v, y->n)) return 0;
        double *xs = PyMem_Malloc((size_t)(x->n + y->n) * sizeof(double));
        if (!xs) return 0;
        double *ys = xs + x->n, sign = up ? 1.0 : -1.0;
        memcpy(xs, x->v, (size_t)x->n * sizeof(double));
        memcpy(ys, y->v, (size_t)y->n * sizeof(double));
        double mx = median_inplace(xs, x->n), my = median_inplace(ys, y->n);
        double diff = sign * (mx - my);
        double rel = my != 0 ? diff / fabs(my) : (diff > 0 ? INFINITY : 0.0);
        int maybe = rel > tol && fabs(mx - my) > floor_; /* the shift test could run */
        if (!maybe && !tail) { /* the spread test's effect size */
            for (Py_ssize_t i = 0; i + 1 < x->n; i++) xs[i] = fabs(x->v[i + 1] - x->v[i]);
            for (Py_ssize_t i = 0; i + 1 < y->n; i++) ys[i] = fabs(y->v[i + 1] - y->v[i]);
            double noise = 1.0;
            if (ratio_kpi) {
                double ms = den_s / (double)x->n, mr = den_r / (double)y->n;
                if (ms > 0 && mr > ms) noise = sqrt(mr / ms);
            }
            double sx = median_inplace(xs, x->n - 1), sy = median_inplace(ys, y->n - 1) * noise;
            maybe = (sy > 0 || !ratio_kpi) && rate_ratio_c(sx, sy) > spread_ratio &&
                    sx - sy > floor_;
        }
        PyMem_Free(xs);
        if (maybe) return 0;
    }
    if (tail && up && !tail_clear(S, R, q, tol)) return 0;
    if (counts && up && den_s > 0 && den_r > 0 &&
        !counts_clear(x, y, num_s, den_s, num_r, den_r, PyTuple_GET_ITEM(S, 5),
                      PyTuple_GET_ITEM(S, 6), tol, floor_))
        return 0;
    return 1;
}

static PyObject *judge_clear(PyObject *self, PyObject *args) {
    PyObject *S, *R, *qo;
    int up, counts, ratio_kpi;
    double tol, floor_, spread_ratio, q = 0.0, f[4];
    Py_ssize_t min_points;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOpdddnppO", &S, &R, &up, &tol, &floor_, &spread_ratio,
                          &min_points, &counts, &ratio_kpi, &qo))
        return NULL;
    if (!PyTuple_Check(S) || !PyTuple_Check(R) || PyTuple_GET_SIZE(S) < 9 ||
        PyTuple_GET_SIZE(R) < 9) {
        PyErr_SetString(PyExc_TypeError, "judge_clear: subject and reference are KpiSamples");
        return NULL;
    }
    if (qo != Py_None && (q = PyFloat_AsDouble(qo)) == -1.0 && PyErr_Occurred()) return NULL;
    for (int i = 0; i < 4; i++) {
        f[i] = PyFloat_AsDouble(PyTuple_GET_ITEM(i < 2 ? S : R, 3 + i % 2));
        if (f[i] == -1.0 && PyErr_Occurred()) return NULL;
    }
    Arr x, y;
    int ax = arr_get(PyTuple_GET_ITEM(S, 2), &x, 1), ay = arr_get(PyTuple_GET_ITEM(R, 2), &y, 1);
    int clear = ax == 1 && ay == 1 &&
                screen(S, R, &x, &y, up, tol, floor_, spread_ratio, min_points, counts,
                       ratio_kpi, qo != Py_None, q, f[0], f[1], f[2], f[3]);
    rel(&x.b);
    rel(&y.b);
    return PyBool_FromLong(clear);
}
#endif
