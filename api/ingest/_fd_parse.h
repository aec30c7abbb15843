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
static int parse_series_v1_full(Call *c, Str msg, size_t *nl_out) {
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
    *nl_out = nl;
    return emit_series(c, nl, ns);
bad:
    c->err = "malformed TimeSeries";
    return -1;
}

/* A series whose labels are cached: walk the fields after them. Returns 1 (and changes
 * nothing) for anything unusual (a label after the samples, a malformed field), so the
 * full path handles it, with its own error messages. */
static int emit_cached(Call *c, const SEnt *ent, const uint8_t *p, const uint8_t *e) {
    size_t ns = 0; int64_t hist = 0; uint64_t key; Str sub;
    while (p < e) {
        if (rd_varint(&p, e, &key)) return 1;
        int f = (int)(key >> 3), wt = (int)(key & 7);
        if (f >= 1 && f <= 4) {
            if (f == 1 || wt != 2 || rd_len(&p, e, &sub)) return 1;
            if (f == 2) {
                const char *err = c->err;
                if (parse_sample(c, sub, ns)) {
                    if (c->err == err) return -1;   /* out of memory */
                    c->err = err;
                    return 1;
                }
                ns++;
            } else if (f == 4) hist++;
        } else if (skip_field(&p, e, wt)) return 1;
    }
    c->hist += hist;
    if (ns == 0) return 0;
    if (!ent->kept) { c->dropped += (int64_t)ns; return 0; }
    Bucket *k = app_bucket(c, sent_app(ent));
    Buf *b = k ? series_buf(c, k) : NULL;
    if (!b) return -1;
    buf_put(b, sent_prefix(ent), ent->plen);
    return emit_samples(c, k, b, ns);
}

/* Remember a fully parsed series for the cache (added under the GIL after the request). */
static void cache_later(Call *c, Str key, uint64_t h) {
    SEnt *ent;
    if (c->em_kept == 1) {
        Bucket *k = c->em_b;
        ent = sent_new(key, k->app, k->json.p + c->em_off0, c->em_off1 - c->em_off0, 1);
    } else ent = sent_new(key, (Str){0, 0}, NULL, 0, 0);
    if (!ent) return;   /* out of memory here only means not cached */
    if (c->npend == c->cappend) {
        size_t nc = c->cappend ? c->cappend * 2 : 64;
        SEnt **np = realloc(c->pend, nc * sizeof(SEnt *));
        uint64_t *nh = np ? realloc(c->pendh, nc * sizeof(uint64_t)) : NULL;
        if (np) c->pend = np;
        if (!nh) { free(ent); return; }
        c->pendh = nh; c->cappend = nc;
    }
    c->pend[c->npend] = ent; c->pendh[c->npend++] = h;
}

/* A 1.0 series: from the cache when its leading run of labels was seen before. */
static int parse_series_v1(Call *c, Str msg) {
    if (!c->st) { size_t nl; return parse_series_v1_full(c, msg, &nl); }
    const uint8_t *p = msg.p, *e = msg.p + msg.n;
    const SEnt *next = sent_follows(c->prev_hit, msg);
    c->prev_hit = NULL;
    if (next) {   /* the series that followed the previous one last time, again */
        int rc = emit_cached(c, next, msg.p + next->klen, e);
        if (rc != 1) { c->prev_hit = next; c->hits++; return rc; }
    }
    size_t nlead = 0; uint64_t key; Str sub;
    while (p < e) {   /* the key: raw bytes of the labels before any other field */
        const uint8_t *q = p;
        if (rd_varint(&q, e, &key) || key != ((1 << 3) | 2) || rd_len(&q, e, &sub)) break;
        p = q; nlead++;
    }
    Str k = {msg.p, (size_t)(p - msg.p)};
    uint64_t h = nlead ? str_hash(k) : 0;
    if (nlead) {
        const SEnt *ent = stab_find(c->st, h, k);
        if (ent) {
            int rc = emit_cached(c, ent, p, e);
            if (rc != 1) { c->prev_hit = ent; c->hits++; return rc; }
        }
    }
    size_t nl = 0;
    c->em_kept = -1;
    int rc = parse_series_v1_full(c, msg, &nl);
    if (rc == 0 && nlead && nl == nlead && c->em_kept >= 0) cache_later(c, k, h);
    return rc;
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
