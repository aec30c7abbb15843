/* The native decoder's caches: lock-free tables of byte-keyed entries (see _fd_map.h).
 * Header-only (static functions): compiled as part of _fastdecode.c, never on its own.
 *
 * Two tables per Mapper: metric name -> allow-list verdict (``kept``, no app or
 * prefix), and the series cache described here.
 *
 * Why the series cache: Prometheus sends the same series in every request, with labels encoded the same
 * way, and mapping plus JSON-escaping those labels was about two thirds of the encode
 * time. A 1.0 TimeSeries whose labels come first in one run is keyed by those raw
 * label bytes; the entry holds what the labels decide (kept or dropped, the app) and the
 * series' JSON up to its timestamps array, so a hit only parses and writes the samples.
 * Equal bytes give equal labels, so a hit gives exactly what the full path would.
 *
 * Concurrency: lookups run without the GIL and without locks (entry pointer written
 * first, hash published last with a release store); entries are added only with the
 * GIL held (series: in one go at the end of a request), after a last lookup with no
 * Python code between it and the insert.
 * Bounded by entries and bytes: when a table is full a fresh one replaces it (pod churn
 * leaves dead series behind, so "stop adding" would end up caching nothing useful). A
 * request holds a reference to the table it started with, taken and dropped under the
 * GIL, so a replaced table is freed by whoever drops its last reference. */
#ifndef SMARTDEPLOY_FD_CACHE_H
#define SMARTDEPLOY_FD_CACHE_H

#include "_fd_json.h"

typedef struct SEnt {
    struct SEnt *next;        /* the series after this one when both were cached: a hint */
    size_t klen, alen, plen;  /* data = key bytes | app | JSON prefix */
    int kept;                 /* 0: dropped (no app, unknown track, name not allowed) */
    uint8_t data[];
} SEnt;

typedef struct { uint64_t h; SEnt *e; } SSlot;

#define NO_BYTE_LIMIT ((size_t)1 << 40)

typedef struct {
    SSlot *slot;
    size_t cap, count, max, bytes, max_bytes;
    int refs;       /* requests using it + 1 while it is the Mapper's current table (GIL) */
} STab;

static STab *stab_new(size_t max, size_t max_bytes) {
    STab *t = calloc(1, sizeof(STab));
    if (!t) return NULL;
    t->cap = 64;
    while (t->cap < max * 2) t->cap *= 2;
    t->slot = calloc(t->cap, sizeof(SSlot));
    if (!t->slot) { free(t); return NULL; }
    t->max = max; t->max_bytes = max_bytes; t->refs = 1;
    return t;
}

static void stab_unref(STab *t) {   /* GIL held */
    if (!t || --t->refs > 0) return;
    for (size_t i = 0; i < t->cap; i++) free(t->slot[i].e);
    free(t->slot);
    free(t);
}

/* The entry for these label bytes, or NULL. Safe without the GIL. */
static const SEnt *stab_find(const STab *t, uint64_t h, Str key) {
    size_t mask = t->cap - 1, i = (size_t)h & mask;
    uint64_t eh;
    while ((eh = __atomic_load_n(&t->slot[i].h, __ATOMIC_ACQUIRE)) != 0) {
        const SEnt *e = t->slot[i].e;
        if (eh == h && e->klen == key.n && memcmp(e->data, key.p, key.n) == 0) return e;
        i = (i + 1) & mask;
    }
    return NULL;
}

/* A new entry (no GIL needed); NULL when out of memory. */
static SEnt *sent_new(Str key, Str app, const char *prefix, size_t plen, int kept) {
    SEnt *e = malloc(sizeof(SEnt) + key.n + app.n + plen);
    if (!e) return NULL;
    e->next = NULL; e->klen = key.n; e->alen = app.n; e->plen = plen; e->kept = kept;
    memcpy(e->data, key.p, key.n);
    if (app.n) memcpy(e->data + key.n, app.p, app.n);
    if (plen) memcpy(e->data + key.n + app.n, prefix, plen);
    return e;
}

static inline Str sent_app(const SEnt *e) { return (Str){e->data + e->klen, e->alen}; }
static inline const char *sent_prefix(const SEnt *e) {
    return (const char *)e->data + e->klen + e->alen;
}

/* Add an entry to the current table (GIL held); takes ownership of `e`. A full table
 * is replaced by an empty one; `*cur` is the Mapper's pointer to its current table.
 * Returns the table `e` went into, or NULL when it was not added (and freed). */
static STab *stab_add(STab **cur, SEnt *e, uint64_t h) {
    STab *t = *cur;
    Str key = {e->data, e->klen};
    size_t size = sizeof(SEnt) + e->klen + e->alen + e->plen;
    if (stab_find(t, h, key)) { free(e); return NULL; }   /* another request added it */
    if (t->count >= t->max || t->bytes + size > t->max_bytes) {
        STab *nt = stab_new(t->max, t->max_bytes);
        if (!nt) { free(e); return NULL; }
        *cur = nt;
        stab_unref(t);            /* freed now, or by the last request still reading it */
        t = nt;
        if (size > t->max_bytes) { free(e); return NULL; }
    }
    size_t mask = t->cap - 1, i = (size_t)h & mask;
    while (t->slot[i].h) i = (i + 1) & mask;
    t->slot[i].e = e;
    __atomic_store_n(&t->slot[i].h, h, __ATOMIC_RELEASE);
    t->count++;
    t->bytes += size;
    return t;
}

/* Add a request's new entries in order, linking each to the one after it (same table
 * only: a table frees its own entries), so the next request finds them without hashing. */
static void stab_add_all(STab **cur, SEnt **ents, const uint64_t *hs, size_t n) {
    SEnt *prev = NULL; STab *prevt = NULL;
    for (size_t i = 0; i < n; i++) {
        STab *t = stab_add(cur, ents[i], hs[i]);
        if (t && prev && t == prevt) __atomic_store_n(&prev->next, ents[i], __ATOMIC_RELEASE);
        prev = t ? ents[i] : NULL; prevt = t;
    }
}

/* The hinted entry when `msg` starts with its label bytes (then no hash and no probe).
 * A label right after them means a longer label set: emit_cached refuses any label
 * after the key, so that series takes the full path. Safe without the GIL. */
static const SEnt *sent_follows(const SEnt *prev, Str msg) {
    const SEnt *e = prev ? __atomic_load_n(&prev->next, __ATOMIC_ACQUIRE) : NULL;
    if (!e || e->klen > msg.n || memcmp(e->data, msg.p, e->klen) != 0) return NULL;
    return e;
}

#endif
