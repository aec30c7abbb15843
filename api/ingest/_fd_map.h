/* Mapper state, metric-name verdict cache, per-app buckets, and series -> JSON (see _fastdecode.c). */
#ifndef SMARTDEPLOY_FD_MAP_H
#define SMARTDEPLOY_FD_MAP_H

#include "_fd_cache.h"

/* ---------- the Mapper type: configuration + its two caches ---------- */
/* Encodes of one Mapper run in parallel (decode threads). Both caches are tables of
 * _fd_cache.h, read without locks and added to under the GIL: metric name -> allow-list
 * verdict (entry.kept), and label bytes -> series verdict and JSON prefix. A request
 * holds a reference to each table it reads, so a full table can be replaced meanwhile. */
typedef struct {
    PyObject_HEAD
    Str lab[4];               /* app, version, track, deployment_id (owned copies) */
    PyObject *allow;          /* callable(str) -> bool, asked once per new metric name */
    STab *names;              /* metric-name verdicts */
    size_t max_chunk;
    STab *stab;               /* series cache; NULL = disabled */
    unsigned long long hits;  /* series encoded from the cache (added under the GIL) */
} Mapper;

enum { L_APP, L_VERSION, L_TRACK, L_DEP };

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
    int64_t kept, dropped, hist, hits;
    const char *err;
    PyThreadState **save;                 /* to take the GIL back for a cache miss */
    Str last_name; int last_ok;           /* neighbouring series mostly share name and app */
    Str last_app; size_t last_bucket;     /* index + 1 into b, 0 = none */
    STab *nt;                             /* name table this request reads */
    STab *st;                             /* series cache table this request reads */
    const SEnt *prev_hit;                 /* cache entry of the previous series, if any */
    SEnt **pend; uint64_t *pendh; size_t npend, cappend;  /* entries to add (GIL) */
    int em_kept; Bucket *em_b; size_t em_off0, em_off1;   /* what emit_series decided */
} Call;

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap * 2 : 64;
    while (nc < need) nc *= 2;
    void *np = realloc(*p, nc * elem);
    if (!np) { NOMEM(); return -1; }
    *p = np; *cap = nc;
    return 0;
}

static void call_free(Call *c) {
    for (size_t i = 0; i < c->nb; i++) {
        free(c->b[i].json.p); free(c->b[i].cut);
        free(c->b[i].samples); free(c->b[i].maxts);
    }
    free(c->b); free(c->slot); free(c->ln); free(c->lv);
    free(c->ts); free(c->vs);
    for (size_t i = 0; i < c->npend; i++) free(c->pend[i]);
    free(c->pend); free(c->pendh);
}

static int bucket_close_chunk(Bucket *k) {
    size_t need = k->nch + 1;
    if (need > k->capch) {
        size_t nc = k->capch ? k->capch * 2 : 4;
        size_t *cut = realloc(k->cut, nc * sizeof(size_t));
        if (!cut) { NOMEM(); return -1; }
        k->cut = cut;
        int64_t *s = realloc(k->samples, nc * sizeof(int64_t));
        if (!s) { NOMEM(); return -1; }
        k->samples = s;
        int64_t *t = realloc(k->maxts, nc * sizeof(int64_t));
        if (!t) { NOMEM(); return -1; }
        k->maxts = t; k->capch = nc;
    }
    k->cut[k->nch] = k->json.len; k->samples[k->nch] = k->cur_samples;
    k->maxts[k->nch] = k->cur_maxts; k->nch++;
    k->chunk_start = k->json.len; k->cur_samples = 0; k->cur_maxts = INT64_MIN;
    return 0;
}

static Bucket *get_bucket(Call *c, Str app) {
    uint64_t h = str_hash(app);
    if (c->nb * 2 >= c->scap) {                  /* rehash at load 1/2 */
        size_t nc = c->scap ? c->scap * 2 : 64;
        size_t *ns = calloc(nc, sizeof(size_t));
        if (!ns) { NOMEM(); return NULL; }
        for (size_t i = 0; i < c->nb; i++) {
            size_t j = (size_t)c->b[i].h & (nc - 1);
            while (ns[j]) j = (j + 1) & (nc - 1);
            ns[j] = i + 1;
        }
        free(c->slot); c->slot = ns; c->scap = nc;
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

/* Per-name verdict from the cache; on a miss, take the GIL back, ask Python and cache it
 * (stab_add re-checks for the name under the GIL, with no Python code in between: the
 * predicate may have let another thread cache it meanwhile). */
static int name_allowed(Call *c, Str name) {
    uint64_t h = str_hash(name);
    const SEnt *e = stab_find(c->nt, h, name);
    if (e) return e->kept;
    PyEval_RestoreThread(*c->save);
    e = stab_find(c->m->names, h, name);   /* another thread may have added it meanwhile */
    int ok = e ? e->kept : -1;
    if (!e) {
        PyObject *u = PyUnicode_DecodeUTF8((const char *)name.p, (Py_ssize_t)name.n, "strict");
        if (u) {
            PyObject *r = PyObject_CallOneArg(c->m->allow, u);
            Py_DECREF(u);
            if (r) { ok = PyObject_IsTrue(r); Py_DECREF(r); }
        }
        if (ok >= 0) {
            SEnt *ent = sent_new(name, (Str){NULL, 0}, NULL, 0, ok);
            if (!ent) { NOMEM(); ok = -1; }
            else stab_add(&c->m->names, ent, h);
        }
    }
    *c->save = PyEval_SaveThread();
    return ok;    /* -1: the Python error (or out-of-memory) stays set for this thread */
}

/* The request's bucket of an app (neighbouring series mostly share it). */
static Bucket *app_bucket(Call *c, Str app) {
    if (c->last_bucket && str_eq(app, c->last_app)) return &c->b[c->last_bucket - 1];
    Bucket *k = get_bucket(c, app);
    if (!k) return NULL;
    c->last_app = app; c->last_bucket = (size_t)(k - c->b) + 1;
    return k;
}

/* The buffer a new series of bucket k goes to (closing the chunk when it is full). */
static Buf *series_buf(Call *c, Bucket *k) {
    if (k->json.len > k->chunk_start && k->json.len - k->chunk_start >= c->m->max_chunk)
        if (bucket_close_chunk(k)) return NULL;
    return &k->json;
}

/* The rest of a series after its prefix: samples (c->ts/vs), then counters and checks. */
static int emit_samples(Call *c, Bucket *k, Buf *b, size_t ns) {
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
    if (b->oom) { NOMEM(); return -1; }
    if (b->bad_utf8) { c->err = "label name or value is not valid UTF-8"; return -1; }
    k->cur_samples += (int64_t)ns;
    c->kept += (int64_t)ns;
    return 0;
}

/* Map, filter and JSON-encode one decoded series (labels in c->ln/lv, samples in ts/vs).
 * Sets c->em_kept (and, when kept, where its prefix JSON is) for the series cache. */
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
    c->em_kept = 0;
    if (!have_name || name.n == 0 || lab[L_APP].n == 0) { c->dropped += (int64_t)ns; return 0; }
    int ok;
    if (c->last_name.p && str_eq(name, c->last_name)) ok = c->last_ok;
    else {
        ok = name_allowed(c, name);
        if (ok < 0) { c->em_kept = -1; return -1; }
        c->last_name = name; c->last_ok = ok;
    }
    if (!ok) { c->dropped += (int64_t)ns; return 0; }
    Str track = TRACKS[0];
    if (lab[L_TRACK].n) {
        int found = 0;
        for (int t = 0; t < 3; t++)
            if (str_eq(lab[L_TRACK], TRACKS[t])) { track = TRACKS[t]; found = 1; }
        if (!found) { c->dropped += (int64_t)ns; return 0; }   /* not a track we can compare */
    }
    c->em_kept = -1;
    Bucket *k = app_bucket(c, lab[L_APP]);
    Buf *b = k ? series_buf(c, k) : NULL;
    if (!b) return -1;
    size_t off0 = b->len;
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
    size_t off1 = b->len;
    if (emit_samples(c, k, b, ns)) return -1;
    c->em_kept = 1; c->em_b = k; c->em_off0 = off0; c->em_off1 = off1;
    return 0;
}

/* label / sample scratch arrays grow in pairs (one capacity for both arrays) */

#endif
