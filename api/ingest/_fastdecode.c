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
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

typedef struct { const uint8_t *p; size_t n; } Str;

/* ---------- growable byte buffer with a sticky out-of-memory flag ---------- */
typedef struct { char *p; size_t len, cap; int oom, bad_utf8; } Buf;

static int buf_reserve(Buf *b, size_t need) {
    if (b->oom) return -1;
    if (b->len + need <= b->cap) return 0;
    size_t nc = b->cap ? b->cap * 2 : 8192;
    while (nc < b->len + need) nc *= 2;
    char *np = PyMem_Realloc(b->p, nc);
    if (!np) { b->oom = 1; return -1; }
    b->p = np; b->cap = nc;
    return 0;
}
static inline void buf_put(Buf *b, const void *s, size_t n) {
    if (buf_reserve(b, n) == 0) { memcpy(b->p + b->len, s, n); b->len += n; }
}
#define PUT_LIT(b, s) buf_put((b), (s), sizeof(s) - 1)
static inline void buf_ch(Buf *b, char c) {
    if (buf_reserve(b, 1) == 0) b->p[b->len++] = c;
}

/* UTF-8 sequence length at p (validated), or 0 when invalid */
static size_t utf8_seq(const uint8_t *p, const uint8_t *e) {
    uint8_t c = *p; size_t n; uint32_t cp;
    if ((c & 0xE0) == 0xC0) { n = 1; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { n = 2; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { n = 3; cp = c & 0x07; }
    else return 0;
    if ((size_t)(e - p) <= n) return 0;
    for (size_t k = 1; k <= n; k++) {
        if ((p[k] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (p[k] & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n + 1;
}

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL
/* 8 bytes that need neither escaping nor UTF-8 checks (ASCII >= 0x20, no '"' or '\\') */
static inline int plain8(uint64_t x) {
    if (x & HIGHS) return 0;
    if ((x - 0x20 * ONES) & ~x & HIGHS) return 0;
    uint64_t q = x ^ (0x22 * ONES), bs = x ^ (0x5C * ONES);
    return !(((q - ONES) & ~q & HIGHS) | ((bs - ONES) & ~bs & HIGHS));
}

/* JSON string; also the UTF-8 check of everything we output (sets b->bad_utf8) */
static void put_json_str(Buf *b, Str s) {
    static const char hex[] = "0123456789abcdef";
    if (buf_reserve(b, s.n * 6 + 2) != 0) return;   /* worst case: every byte \u00XX */
    char *o = b->p + b->len;
    const uint8_t *p = s.p, *e = s.p + s.n;
    *o++ = '"';
    while (p < e) {
        uint64_t x;
        if (e - p >= 8) {
            memcpy(&x, p, 8);
            if (plain8(x)) { memcpy(o, &x, 8); o += 8; p += 8; continue; }
        }
        uint8_t c = *p;
        if (c >= 0x80) {
            size_t n = utf8_seq(p, e);
            if (!n) { b->bad_utf8 = 1; return; }
            memcpy(o, p, n); o += n; p += n;
        } else if (c == '"' || c == '\\') { *o++ = '\\'; *o++ = (char)c; p++; }
        else if (c < 0x20) {
            *o++ = '\\'; *o++ = 'u'; *o++ = '0'; *o++ = '0';
            *o++ = hex[c >> 4]; *o++ = hex[c & 15]; p++;
        } else { *o++ = (char)c; p++; }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->p);
}

static void put_i64(Buf *b, int64_t v) {
    char tmp[24]; int i = 24; uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do { tmp[--i] = (char)('0' + u % 10); u /= 10; } while (u);
    if (v < 0) tmp[--i] = '-';
    buf_put(b, tmp + i, (size_t)(24 - i));
}

static const double POW10[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};

/* Round-trip-exact decimal: values with <= 9 decimals take a fast fixed-point path
 * (m / 10^k is correctly rounded, so when it equals v, "m.10^-k" parses back to v);
 * others go through Python's shortest repr. */
static void put_double(Buf *b, double v) {
    if (!isfinite(v)) { PUT_LIT(b, "null"); return; }   /* NaN, staleness marker, +-Inf */
    double a = fabs(v);
    if (a < 1e15) {
        for (int k = 0; k < 10; k++) {
            double sc = a * POW10[k];
            if (sc >= 9007199254740992.0) break;        /* 2^53: no longer exact */
            int64_t m = (int64_t)(sc + 0.5);
            if ((double)m / POW10[k] != a) continue;
            char tmp[40]; int i = 40, digits = 0;
            uint64_t u = (uint64_t)m;
            if (k == 0) { tmp[--i] = '0'; tmp[--i] = '.'; }
            do {
                tmp[--i] = (char)('0' + u % 10); u /= 10;
                if (++digits == k) tmp[--i] = '.';
            } while (u || digits < k);
            if (tmp[i] == '.') tmp[--i] = '0';
            if (v < 0) tmp[--i] = '-';
            buf_put(b, tmp + i, (size_t)(40 - i));
            return;
        }
    }
    char *s = PyOS_double_to_string(v, 'r', 0, 0, NULL);
    if (!s) { b->oom = 1; return; }
    buf_put(b, s, strlen(s));
    PyMem_Free(s);
}

static inline uint64_t fnv1a(Str s) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < s.n; i++) { h ^= s.p[i]; h *= 1099511628211ULL; }
    return h | 1;   /* 0 marks an empty slot */
}
static inline int str_eq(Str a, Str b) {
    return a.n == b.n && (a.n == 0 || (a.p[0] == b.p[0] && memcmp(a.p, b.p, a.n) == 0));
}

/* ---------- protobuf wire primitives ---------- */
static inline int rd_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out) {
    const uint8_t *p = *pp; uint64_t v = 0;
    for (int shift = 0; p < end && shift < 64; shift += 7) {
        uint8_t c = *p++;
        v |= (uint64_t)(c & 0x7F) << shift;
        if (!(c & 0x80)) { *pp = p; *out = v; return 0; }
    }
    return -1;
}
static inline int rd_len(const uint8_t **pp, const uint8_t *end, Str *out) {
    uint64_t n;
    if (rd_varint(pp, end, &n) || n > (uint64_t)(end - *pp)) return -1;
    out->p = *pp; out->n = (size_t)n; *pp += n;
    return 0;
}
static int skip_field(const uint8_t **pp, const uint8_t *end, int wt) {
    uint64_t v; Str s;
    switch (wt) {
    case 0: return rd_varint(pp, end, &v);
    case 1: if (end - *pp < 8) return -1; *pp += 8; return 0;
    case 2: return rd_len(pp, end, &s);
    case 5: if (end - *pp < 4) return -1; *pp += 4; return 0;
    default: return -1;   /* groups (3/4) and invalid wire types */
    }
}

/* ---------- the Mapper type: configuration + metric-name verdict cache ---------- */
typedef struct { uint64_t h; char *s; size_t n; int allowed; } NameEnt;

typedef struct {
    PyObject_HEAD
    Str lab[4];               /* app, version, track, deployment_id (owned copies) */
    PyObject *allow;          /* callable(str) -> bool, asked once per new metric name */
    NameEnt *tab; size_t tcap, tcount, tmax;
    size_t max_chunk;
} Mapper;

enum { L_APP, L_VERSION, L_TRACK, L_DEP };

static int name_allowed(Mapper *m, Str name) {
    uint64_t h = fnv1a(name);
    size_t mask = m->tcap - 1, i = (size_t)h & mask;
    while (m->tab[i].h) {
        if (m->tab[i].h == h && m->tab[i].n == name.n && memcmp(m->tab[i].s, name.p, name.n) == 0)
            return m->tab[i].allowed;
        i = (i + 1) & mask;
    }
    PyObject *u = PyUnicode_DecodeUTF8((const char *)name.p, (Py_ssize_t)name.n, "strict");
    if (!u) return -1;
    PyObject *r = PyObject_CallOneArg(m->allow, u);
    Py_DECREF(u);
    if (!r) return -1;
    int ok = PyObject_IsTrue(r);
    Py_DECREF(r);
    if (ok < 0) return -1;
    if (m->tcount < m->tmax) {   /* bounded: a flood of unique names cannot grow memory */
        char *copy = PyMem_Malloc(name.n ? name.n : 1);
        if (!copy) { PyErr_NoMemory(); return -1; }
        memcpy(copy, name.p, name.n);
        m->tab[i].h = h; m->tab[i].s = copy; m->tab[i].n = name.n; m->tab[i].allowed = ok;
        m->tcount++;
    }
    return ok;
}

/* ---------- per-call state ---------- */
typedef struct {
    Str app; uint64_t h;
    Buf json;                 /* "{series},{series}," ... chunks separated by cuts */
    size_t chunk_start;       /* offset where the current chunk began */
    size_t nch, capch;
    size_t *cut;              /* end offset of each finished chunk */
    int64_t *samples, *maxts; /* per chunk */
    int64_t cur_samples, cur_maxts;
} Bucket;

typedef struct {
    Mapper *m;
    Bucket *b; size_t nb, capb;
    size_t *slot; size_t scap;            /* hash: index+1 into b, 0 = empty */
    Str *ln, *lv; size_t lcap;            /* label scratch of one series */
    int64_t *ts; double *vs; size_t vcap; /* sample scratch of one series */
    int64_t kept, dropped, hist;
    const char *err;
} Call;

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap * 2 : 64;
    while (nc < need) nc *= 2;
    void *np = PyMem_Realloc(*p, nc * elem);
    if (!np) { PyErr_NoMemory(); return -1; }
    *p = np; *cap = nc;
    return 0;
}

static void call_free(Call *c) {
    for (size_t i = 0; i < c->nb; i++) {
        PyMem_Free(c->b[i].json.p); PyMem_Free(c->b[i].cut);
        PyMem_Free(c->b[i].samples); PyMem_Free(c->b[i].maxts);
    }
    PyMem_Free(c->b); PyMem_Free(c->slot); PyMem_Free(c->ln); PyMem_Free(c->lv);
    PyMem_Free(c->ts); PyMem_Free(c->vs);
}

static int bucket_close_chunk(Bucket *k) {
    size_t need = k->nch + 1;
    if (need > k->capch) {
        size_t nc = k->capch ? k->capch * 2 : 4;
        size_t *cut = PyMem_Realloc(k->cut, nc * sizeof(size_t));
        if (!cut) { PyErr_NoMemory(); return -1; }
        k->cut = cut;
        int64_t *s = PyMem_Realloc(k->samples, nc * sizeof(int64_t));
        if (!s) { PyErr_NoMemory(); return -1; }
        k->samples = s;
        int64_t *t = PyMem_Realloc(k->maxts, nc * sizeof(int64_t));
        if (!t) { PyErr_NoMemory(); return -1; }
        k->maxts = t; k->capch = nc;
    }
    k->cut[k->nch] = k->json.len; k->samples[k->nch] = k->cur_samples;
    k->maxts[k->nch] = k->cur_maxts; k->nch++;
    k->chunk_start = k->json.len; k->cur_samples = 0; k->cur_maxts = INT64_MIN;
    return 0;
}

static Bucket *get_bucket(Call *c, Str app) {
    uint64_t h = fnv1a(app);
    if (c->nb * 2 >= c->scap) {                  /* rehash at load 1/2 */
        size_t nc = c->scap ? c->scap * 2 : 64;
        size_t *ns = PyMem_Calloc(nc, sizeof(size_t));
        if (!ns) { PyErr_NoMemory(); return NULL; }
        for (size_t i = 0; i < c->nb; i++) {
            size_t j = (size_t)c->b[i].h & (nc - 1);
            while (ns[j]) j = (j + 1) & (nc - 1);
            ns[j] = i + 1;
        }
        PyMem_Free(c->slot); c->slot = ns; c->scap = nc;
    }
    size_t j = (size_t)h & (c->scap - 1);
    while (c->slot[j]) {
        Bucket *k = &c->b[c->slot[j] - 1];
        if (k->h == h && str_eq(k->app, app)) return k;
        j = (j + 1) & (c->scap - 1);
    }
    if (grow((void **)&c->b, &c->capb, c->nb + 1, sizeof(Bucket))) return NULL;
    Bucket *k = &c->b[c->nb];
    memset(k, 0, sizeof(*k));
    k->app = app; k->h = h; k->cur_maxts = INT64_MIN;
    c->slot[j] = ++c->nb;
    return k;
}

static const Str TRACKS[3] = {{(const uint8_t *)"stable", 6}, {(const uint8_t *)"canary", 6},
                              {(const uint8_t *)"baseline", 8}};
static const Str NAME_LABEL = {(const uint8_t *)"__name__", 8};

/* Map, filter and JSON-encode one decoded series (labels in c->ln/lv, samples in ts/vs). */
static int emit_series(Call *c, size_t nl, size_t ns) {
    if (ns == 0) return 0;
    Mapper *m = c->m;
    Str name = {0, 0}, lab[4] = {{0, 0}, {0, 0}, {0, 0}, {0, 0}};
    int have_name = 0;
    uint64_t special = 0;   /* bit i: label i is __name__ or a mapped label (not copied) */
    for (size_t i = 0; i < nl; i++) {
        Str ln = c->ln[i];
        if (str_eq(ln, NAME_LABEL)) { name = c->lv[i]; have_name = 1; }
        else if (str_eq(ln, m->lab[L_APP])) lab[L_APP] = c->lv[i];
        else if (str_eq(ln, m->lab[L_VERSION])) lab[L_VERSION] = c->lv[i];
        else if (str_eq(ln, m->lab[L_TRACK])) lab[L_TRACK] = c->lv[i];
        else if (str_eq(ln, m->lab[L_DEP])) lab[L_DEP] = c->lv[i];
        else continue;
        if (i < 64) special |= (uint64_t)1 << i;
    }
    if (!have_name || name.n == 0 || lab[L_APP].n == 0) { c->dropped += (int64_t)ns; return 0; }
    int ok = name_allowed(m, name);
    if (ok < 0) return -1;
    if (!ok) { c->dropped += (int64_t)ns; return 0; }
    Str track = TRACKS[0];
    if (lab[L_TRACK].n) {
        int found = 0;
        for (int t = 0; t < 3; t++)
            if (str_eq(lab[L_TRACK], TRACKS[t])) { track = TRACKS[t]; found = 1; }
        if (!found) { c->dropped += (int64_t)ns; return 0; }   /* not a track we can compare */
    }
    Bucket *k = get_bucket(c, lab[L_APP]);
    if (!k) return -1;
    if (k->json.len > k->chunk_start && k->json.len - k->chunk_start >= m->max_chunk)
        if (bucket_close_chunk(k)) return -1;
    Buf *b = &k->json;
    PUT_LIT(b, "{\"name\":");
    put_json_str(b, name);
    PUT_LIT(b, ",\"labels\":{");
    int first = 1;
    for (size_t i = 0; i < nl; i++) {
        Str ln = c->ln[i];
        if (i < 64 ? (special >> i) & 1
                   : (str_eq(ln, NAME_LABEL) || str_eq(ln, m->lab[0]) || str_eq(ln, m->lab[1]) ||
                      str_eq(ln, m->lab[2]) || str_eq(ln, m->lab[3])))
            continue;
        if (!first) buf_ch(b, ',');
        first = 0;
        put_json_str(b, ln);
        buf_ch(b, ':');
        put_json_str(b, c->lv[i]);
    }
    PUT_LIT(b, "},\"deployment_id\":");
    if (lab[L_DEP].n) put_json_str(b, lab[L_DEP]); else PUT_LIT(b, "null");
    PUT_LIT(b, ",\"version\":");
    if (lab[L_VERSION].n) put_json_str(b, lab[L_VERSION]); else PUT_LIT(b, "null");
    PUT_LIT(b, ",\"track\":");
    put_json_str(b, track);
    PUT_LIT(b, ",\"timestamps_ms\":[");
    for (size_t i = 0; i < ns; i++) {
        if (i) buf_ch(b, ',');
        put_i64(b, c->ts[i]);
        if (c->ts[i] > k->cur_maxts) k->cur_maxts = c->ts[i];
    }
    PUT_LIT(b, "],\"values\":[");
    for (size_t i = 0; i < ns; i++) {
        if (i) buf_ch(b, ',');
        put_double(b, c->vs[i]);
    }
    PUT_LIT(b, "]},");
    if (b->oom) { PyErr_NoMemory(); return -1; }
    if (b->bad_utf8) { c->err = "label name or value is not valid UTF-8"; return -1; }
    k->cur_samples += (int64_t)ns;
    c->kept += (int64_t)ns;
    return 0;
}

/* label / sample scratch arrays grow in pairs (one capacity for both arrays) */
static int grow_labels(Call *c, size_t need) {
    if (need <= c->lcap) return 0;
    size_t nc = c->lcap ? c->lcap * 2 : 32;
    while (nc < need) nc *= 2;
    Str *a = PyMem_Realloc(c->ln, nc * sizeof(Str));
    if (!a) { PyErr_NoMemory(); return -1; }
    c->ln = a;
    Str *b = PyMem_Realloc(c->lv, nc * sizeof(Str));
    if (!b) { PyErr_NoMemory(); return -1; }
    c->lv = b; c->lcap = nc;
    return 0;
}
static int grow_samples(Call *c, size_t need) {
    if (need <= c->vcap) return 0;
    size_t nc = c->vcap ? c->vcap * 2 : 16;
    while (nc < need) nc *= 2;
    int64_t *a = PyMem_Realloc(c->ts, nc * sizeof(int64_t));
    if (!a) { PyErr_NoMemory(); return -1; }
    c->ts = a;
    double *b = PyMem_Realloc(c->vs, nc * sizeof(double));
    if (!b) { PyErr_NoMemory(); return -1; }
    c->vs = b; c->vcap = nc;
    return 0;
}

/* Sample { double value = 1; int64 timestamp = 2; } (same numbers in 1.0 and 2.0) */
static int parse_sample(Call *c, Str msg, size_t idx) {
    const uint8_t *p = msg.p, *e = msg.p + msg.n;
    double v = 0.0; int64_t t = 0; uint64_t key, u;
    while (p < e) {
        if (rd_varint(&p, e, &key)) goto bad;
        int f = (int)(key >> 3), wt = (int)(key & 7);
        if (f == 1 && wt == 1) {
            if (e - p < 8) goto bad;
            memcpy(&v, p, 8); p += 8;   /* little-endian hosts only (x86-64, arm64) */
        } else if (f == 2 && wt == 0) {
            if (rd_varint(&p, e, &u)) goto bad;
            t = (int64_t)u;
        } else if ((f == 1 || f == 2) || skip_field(&p, e, wt)) goto bad;
    }
    if (grow_samples(c, idx + 1)) return -1;
    c->ts[idx] = t; c->vs[idx] = v;
    return 0;
bad:
    c->err = "malformed Sample";
    return -1;
}

/* 1.0: Label { string name = 1; string value = 2; } */
static int parse_label_v1(Call *c, Str msg, size_t idx) {
    const uint8_t *p = msg.p, *e = msg.p + msg.n;
    Str name = {(const uint8_t *)"", 0}, value = {(const uint8_t *)"", 0};
    uint64_t key;
    while (p < e) {
        if (rd_varint(&p, e, &key)) goto bad;
        int f = (int)(key >> 3), wt = (int)(key & 7);
        if (f == 1 && wt == 2) { if (rd_len(&p, e, &name)) goto bad; }
        else if (f == 2 && wt == 2) { if (rd_len(&p, e, &value)) goto bad; }
        else if ((f == 1 || f == 2) || skip_field(&p, e, wt)) goto bad;
    }
    if (grow_labels(c, idx + 1)) return -1;
    c->ln[idx] = name; c->lv[idx] = value;
    return 0;
bad:
    c->err = "malformed Label";
    return -1;
}

/* 1.0: TimeSeries { labels = 1; samples = 2; exemplars = 3; histograms = 4; } */
static int parse_series_v1(Call *c, Str msg) {
    const uint8_t *p = msg.p, *e = msg.p + msg.n;
    size_t nl = 0, ns = 0; uint64_t key; Str sub;
    while (p < e) {
        if (rd_varint(&p, e, &key)) goto bad;
        int f = (int)(key >> 3), wt = (int)(key & 7);
        if (f >= 1 && f <= 4) {
            if (wt != 2 || rd_len(&p, e, &sub)) goto bad;
            if (f == 1) { if (parse_label_v1(c, sub, nl++)) return -1; }
            else if (f == 2) { if (parse_sample(c, sub, ns++)) return -1; }
            else if (f == 4) c->hist++;
        } else if (skip_field(&p, e, wt)) goto bad;
    }
    return emit_series(c, nl, ns);
bad:
    c->err = "malformed TimeSeries";
    return -1;
}

static int parse_v1(Call *c, const uint8_t *p, const uint8_t *e) {
    uint64_t key; Str sub;
    while (p < e) {
        if (rd_varint(&p, e, &key)) goto bad;
        int f = (int)(key >> 3), wt = (int)(key & 7);
        if (f == 1) {
            if (wt != 2 || rd_len(&p, e, &sub)) goto bad;
            if (parse_series_v1(c, sub)) return -1;
        } else if (skip_field(&p, e, wt)) goto bad;   /* metadata (3) and unknown fields */
    }
    return 0;
bad:
    c->err = "malformed WriteRequest";
    return -1;
}

/* 2.0: TimeSeries { labels_refs = 1 (packed uint32); samples = 2; histograms = 3; ... } */
static int parse_series_v2(Call *c, Str msg, const Str *sym, size_t nsym) {
    const uint8_t *p = msg.p, *e = msg.p + msg.n;
    size_t nrefs = 0, ns = 0; uint64_t key, ref; Str sub;
    while (p < e) {
        if (rd_varint(&p, e, &key)) goto bad;
        int f = (int)(key >> 3), wt = (int)(key & 7);
        if (f == 1 && (wt == 2 || wt == 0)) {
            const uint8_t *q, *qe;
            if (wt == 2) { if (rd_len(&p, e, &sub)) goto bad; q = sub.p; qe = sub.p + sub.n; }
            else { q = p; qe = e; }
            do {
                if (rd_varint(&q, qe, &ref)) goto bad;
                if (ref >= nsym) { c->err = "labels_refs points outside the symbols table"; return -1; }
                if (grow_labels(c, nrefs / 2 + 1)) return -1;
                if (nrefs % 2 == 0) c->ln[nrefs / 2] = sym[ref]; else c->lv[nrefs / 2] = sym[ref];
                nrefs++;
            } while (wt == 2 && q < qe);
            if (wt == 0) p = q;
        } else if (f == 2) {
            if (wt != 2 || rd_len(&p, e, &sub)) goto bad;
            if (parse_sample(c, sub, ns++)) return -1;
        } else if (f == 3) {
            if (wt != 2 || rd_len(&p, e, &sub)) goto bad;
            c->hist++;
        } else if (skip_field(&p, e, wt)) goto bad;
    }
    if (nrefs % 2) { c->err = "labels_refs has an odd length"; return -1; }
    return emit_series(c, nrefs / 2, ns);
bad:
    c->err = "malformed TimeSeries (2.0)";
    return -1;
}

/* 2.0: Request { reserved 1 to 3; repeated string symbols = 4; repeated TimeSeries timeseries = 5; } */
static int parse_v2(Call *c, const uint8_t *p0, const uint8_t *e) {
    const uint8_t *p = p0; uint64_t key; Str sub;
    Str *sym = NULL; size_t nsym = 0, capsym = 0;
    int rc = -1;
    while (p < e) {   /* pass 1: the symbols table (fields may come in any order) */
        if (rd_varint(&p, e, &key)) goto bad;
        int f = (int)(key >> 3), wt = (int)(key & 7);
        if (f == 4) {
            if (wt != 2 || rd_len(&p, e, &sub)) goto bad;
            if (grow((void **)&sym, &capsym, nsym + 1, sizeof(Str))) goto out;
            sym[nsym++] = sub;
        } else if (f >= 1 && f <= 3) {
            c->err = "fields 1-3 are reserved in io.prometheus.write.v2.Request "
                     "(a 1.0 WriteRequest sent with the 2.0 content type?)";
            goto out;
        } else if (skip_field(&p, e, wt)) goto bad;
    }
    if (nsym && sym[0].n != 0) { c->err = "symbols[0] must be the empty string"; goto out; }
    p = p0;
    while (p < e) {   /* pass 2: the series */
        if (rd_varint(&p, e, &key)) goto bad;
        int f = (int)(key >> 3), wt = (int)(key & 7);
        if (f == 5) {
            if (wt != 2 || rd_len(&p, e, &sub)) goto bad;
            if (parse_series_v2(c, sub, sym, nsym)) goto out;
        } else if (skip_field(&p, e, wt)) goto bad;
    }
    rc = 0;
    goto out;
bad:
    c->err = "malformed io.prometheus.write.v2.Request";
out:
    PyMem_Free(sym);
    return rc;
}

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
    int rc = version == 1 ? parse_v1(&c, p, e) : parse_v2(&c, p, e);
    PyObject *res = NULL;
    if (rc == 0) res = build_result(&c);
    else if (!PyErr_Occurred())
        PyErr_SetString(PyExc_ValueError, c.err ? c.err : "malformed protobuf");
    call_free(&c);
    PyBuffer_Release(&view);
    return res;
}

static int copy_label(Str *dst, PyObject *s) {
    Py_ssize_t n; const char *u = PyUnicode_AsUTF8AndSize(s, &n);
    if (!u) return -1;
    char *d = PyMem_Malloc(n ? (size_t)n : 1);
    if (!d) { PyErr_NoMemory(); return -1; }
    memcpy(d, u, (size_t)n);
    dst->p = (const uint8_t *)d; dst->n = (size_t)n;
    return 0;
}

static int Mapper_init(Mapper *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"label_app", "label_version", "label_track", "label_deployment_id",
                             "allow", "max_chunk_bytes", "name_cache_size", NULL};
    PyObject *ls[4], *allow; Py_ssize_t max_chunk = 900000, cache = 65536;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "UUUUO|nn", kwlist, &ls[0], &ls[1], &ls[2], &ls[3],
                                     &allow, &max_chunk, &cache))
        return -1;
    if (!PyCallable_Check(allow)) { PyErr_SetString(PyExc_TypeError, "allow must be callable"); return -1; }
    if (max_chunk < 1 || cache < 1) { PyErr_SetString(PyExc_ValueError, "sizes must be >= 1"); return -1; }
    if (self->tab) { PyErr_SetString(PyExc_RuntimeError, "Mapper already initialised"); return -1; }
    for (int i = 0; i < 4; i++) if (copy_label(&self->lab[i], ls[i])) return -1;
    Py_INCREF(allow); self->allow = allow;
    self->max_chunk = (size_t)max_chunk;
    self->tmax = (size_t)cache;
    self->tcap = 64;
    while (self->tcap < self->tmax * 2) self->tcap *= 2;
    self->tab = PyMem_Calloc(self->tcap, sizeof(NameEnt));
    if (!self->tab) { PyErr_NoMemory(); return -1; }
    return 0;
}

static void Mapper_dealloc(Mapper *self) {
    for (int i = 0; i < 4; i++) PyMem_Free((void *)self->lab[i].p);
    if (self->tab)
        for (size_t i = 0; i < self->tcap; i++) PyMem_Free(self->tab[i].s);
    PyMem_Free(self->tab);
    Py_XDECREF(self->allow);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Mapper_cached(Mapper *self, PyObject *unused) {
    return PyLong_FromSize_t(self->tcount);
}

static PyMethodDef Mapper_methods[] = {
    {"encode", (PyCFunction)Mapper_encode, METH_VARARGS,
     "encode(data, version) -> (chunks, kept_samples, dropped_samples, histograms)"},
    {"cached_names", (PyCFunction)Mapper_cached, METH_NOARGS, "metric names with a cached verdict"},
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

static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "_fastdecode",
                                    "Native remote-write decoder (see api/ingest/decode.py).", -1,
                                    NULL, NULL, NULL, NULL, NULL};

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
