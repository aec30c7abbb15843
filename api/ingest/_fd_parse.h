/* Wire-format walkers of remote-write 1.0 and 2.0 messages (see _fastdecode.c). */
#ifndef SMARTDEPLOY_FD_PARSE_H
#define SMARTDEPLOY_FD_PARSE_H

#include "_fd_map.h"

static int grow_labels(Call *c, size_t need) {
    if (need <= c->lcap) return 0;
    size_t nc = c->lcap ? c->lcap * 2 : 32;
    while (nc < need) nc *= 2;
    Str *a = realloc(c->ln, nc * sizeof(Str));
    if (!a) { NOMEM(); return -1; }
    c->ln = a;
    Str *b = realloc(c->lv, nc * sizeof(Str));
    if (!b) { NOMEM(); return -1; }
    c->lv = b; c->lcap = nc;
    return 0;
}
static int grow_samples(Call *c, size_t need) {
    if (need <= c->vcap) return 0;
    size_t nc = c->vcap ? c->vcap * 2 : 16;
    while (nc < need) nc *= 2;
    int64_t *a = realloc(c->ts, nc * sizeof(int64_t));
    if (!a) { NOMEM(); return -1; }
    c->ts = a;
    double *b = realloc(c->vs, nc * sizeof(double));
    if (!b) { NOMEM(); return -1; }
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
    free(sym);
    return rc;
}

#endif
