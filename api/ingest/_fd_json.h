/* JSON writing and protobuf wire primitives of the native decoder (see _fastdecode.c).
 * Header-only (static functions): compiled as part of _fastdecode.c, never on its own. */
#ifndef SMARTDEPLOY_FD_JSON_H
#define SMARTDEPLOY_FD_JSON_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

typedef struct { const uint8_t *p; size_t n; } Str;

/* Decoding runs without the GIL: out-of-memory is flagged here and raised once the
 * GIL is back (PyErr_NoMemory needs it). */
static __thread int tl_oom;
#define NOMEM() (tl_oom = 1)

/* ---------- growable byte buffer with a sticky out-of-memory flag ---------- */
typedef struct { char *p; size_t len, cap; int oom, bad_utf8; } Buf;

static int buf_reserve(Buf *b, size_t need) {
    if (b->oom) return -1;
    if (b->len + need <= b->cap) return 0;
    size_t nc = b->cap ? b->cap * 2 : 8192;
    while (nc < b->len + need) nc *= 2;
    char *np = realloc(b->p, nc);
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
 * others take the shortest of %.15g / %.16g / %.17g that round-trips. */
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
    char tmp[40];
    for (int prec = 15; prec <= 17; prec++) {   /* shortest of these that round-trips */
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v) break;
    }
    buf_put(b, tmp, strlen(tmp));
}

/* Hash-table hash of a short string, 8 bytes per step (byte-wise FNV was a quarter of
 * the per-series cost). */
static inline uint64_t str_hash(Str s) {
    const uint8_t *p = s.p;
    size_t n = s.n;
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ n, w;
    for (; n >= 8; p += 8, n -= 8) {
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 29;
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

#endif
