/* Helpers shared by the source_oci (and source_hdarctl) unit tests: build
 * tar archives and gzip streams in memory, so that every hostile layout is
 * written byte by byte instead of trusting a tar tool to produce it. */
#ifndef OCI_TEST_UTIL_H
#define OCI_TEST_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "oci.h"

struct tbuf {
    uint8_t *p;
    size_t n, cap;
};

static inline void tb_put(struct tbuf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        if (!b->p)
            abort();
        b->cap = cap;
    }
    if (d)
        memcpy(b->p + b->n, d, n);
    else
        memset(b->p + b->n, 0, n);
    b->n += n;
}

static inline void tb_free(struct tbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* Octal, zero-padded to n-1 digits and NUL-terminated (tar numbers). */
static inline void t_octal(uint8_t *f, size_t n, unsigned long long v)
{
    f[n - 1] = '\0';
    for (size_t i = n - 1; i-- > 0; v >>= 3)
        f[i] = (uint8_t)('0' + (v & 7));
}

static inline void t_copy(uint8_t *dst, const char *src, size_t max)
{
    for (size_t i = 0; i < max && src[i]; i++)
        dst[i] = (uint8_t)src[i];
}

/* One ustar member; `name` may exceed 100 characters only through
 * `prefix`. */
static inline void tar_entry_p(struct tbuf *b, const char *prefix,
                               const char *name, char type, const char *link,
                               const void *data, size_t size)
{
    uint8_t h[512];
    memset(h, 0, sizeof h);
    t_copy(h, name, 100);
    t_octal(h + 100, 8, type == '5' ? 0755 : 0644);
    t_octal(h + 108, 8, 0);
    t_octal(h + 116, 8, 0);
    t_octal(h + 124, 12, size);
    t_octal(h + 136, 12, 0);
    h[156] = (uint8_t)type;
    if (link)
        t_copy(h + 157, link, 100);
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    if (prefix)
        t_copy(h + 345, prefix, 155);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += h[i];
    t_octal(h + 148, 7, sum); /* six digits, NUL, then the space */
    tb_put(b, h, sizeof h);
    if (size) {
        tb_put(b, data, size);
        size_t pad = (512 - size % 512) % 512;
        tb_put(b, NULL, pad);
    }
}

static inline void tar_entry(struct tbuf *b, const char *name, char type,
                             const char *link, const void *data, size_t size)
{
    tar_entry_p(b, NULL, name, type, link, data, size);
}

static inline void tar_file(struct tbuf *b, const char *name, const char *text)
{
    tar_entry(b, name, '0', NULL, text, strlen(text));
}

static inline void tar_end(struct tbuf *b)
{
    tb_put(b, NULL, 1024);
}

/* gzip of `in` (level 9, so zeros compress as a bomb would). */
static inline uint8_t *gz(const void *in, size_t n, size_t *out_n)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 9,
                     Z_DEFAULT_STRATEGY) != Z_OK)
        abort();
    size_t cap = deflateBound(&z, (uLong)n) + 64;
    uint8_t *out = malloc(cap);
    if (!out)
        abort();
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END)
        abort();
    *out_n = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

static inline struct smo__oci_limits test_limits(void)
{
    struct smo__oci_limits l = {
        .max_bytes = 64u << 20,
        .max_files = 100,
        .max_ratio = 200,
        .max_yaml = 1u << 20,
    };
    return l;
}

#endif
