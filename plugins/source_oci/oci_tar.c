/* Layer contents, in memory: gzip with absolute and ratio limits (a small
 * blob must not be able to exhaust memory), and a deliberately narrow tar
 * reader. Nothing is ever written to disk, so "extraction" is a list of
 * paths with their bytes; the checks still refuse everything that would be
 * dangerous on disk (absolute paths, "..", links, devices), because such an
 * archive is malformed or hostile and the operator should hear about it.
 * Runs on the thread pool: no host calls here. */
#define _GNU_SOURCE
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <zlib.h>

#include "oci.h"

#define BLK            512
#define MAX_PATH_LEN   SMO__OCI_MAX_PATH
#define MAX_META_BYTES (64u * 1024u) /* pax and GNU long-name headers */

/* -------------------------------------------------------------- gzip -- */

bool smo__oci_is_gzip(const void *p, size_t n)
{
    const unsigned char *b = p;
    return n >= 3 && b[0] == 0x1f && b[1] == 0x8b && b[2] == 8;
}

int smo__oci_gunzip(const void *in, size_t n, const struct smo__oci_limits *l,
                    uint64_t already, uint8_t **out, size_t *out_len,
                    smo_status *st)
{
    *out = NULL;
    *out_len = 0;
    uint64_t budget = l->max_bytes > already ? l->max_bytes - already : 0;
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        return smo_status_set(st, SMO_ENOMEM, "cannot start gunzip");
    const uint8_t *src = in;
    size_t in_left = n, len = 0;
    size_t cap = n < 4096 ? 16384 : (n > SIZE_MAX / 4 ? n : n * 4);
    if (cap > budget + 1)
        cap = (size_t)budget + 1;
    uint8_t *buf = malloc(cap ? cap : 1);
    int r = SMO_OK;
    if (!buf) {
        inflateEnd(&z);
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    }
    for (;;) {
        if (len == cap) {
            if (cap > budget) {
                r = smo_status_set(st, SMO_ETOOBIG,
                                   "the layer expands past %llu bytes "
                                   "(max_extracted_bytes): refused as a "
                                   "possible gzip bomb",
                                   (unsigned long long)l->max_bytes);
                break;
            }
            size_t ncap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
            if (ncap > budget + 1)
                ncap = (size_t)budget + 1;
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) {
                r = smo_status_set(st, SMO_ENOMEM, "out of memory");
                break;
            }
            buf = nb;
            cap = ncap;
        }
        /* zlib counts in uInt: feed and drain at most 1 GiB at a time. */
        size_t in_chunk = in_left > (1u << 30) ? (1u << 30) : in_left;
        size_t out_chunk = cap - len > (1u << 30) ? (1u << 30) : cap - len;
        z.next_in = (Bytef *)(uintptr_t)src;
        z.avail_in = (uInt)in_chunk;
        z.next_out = buf + len;
        z.avail_out = (uInt)out_chunk;
        int zr = inflate(&z, Z_NO_FLUSH);
        size_t used_in = in_chunk - z.avail_in;
        src += used_in;
        in_left -= used_in;
        len += out_chunk - z.avail_out;
        uint64_t consumed = (uint64_t)(n - in_left);
        if (len > budget) {
            r = smo_status_set(st, SMO_ETOOBIG,
                               "the layer expands past %llu bytes "
                               "(max_extracted_bytes): refused as a possible "
                               "gzip bomb",
                               (unsigned long long)l->max_bytes);
            break;
        }
        if (len > SMO__OCI_RATIO_FLOOR && consumed &&
            (uint64_t)len / consumed > l->max_ratio) {
            r = smo_status_set(st, SMO_ETOOBIG,
                               "the layer expands more than %llu times "
                               "(max_gzip_ratio): refused as a gzip bomb",
                               (unsigned long long)l->max_ratio);
            break;
        }
        if (zr == Z_STREAM_END) {
            if (!in_left)
                break;
            /* Concatenated members are valid gzip; anything else is not. */
            if (!smo__oci_is_gzip(src, in_left)) {
                r = smo_status_set(st, SMO_EINVAL,
                                   "%zu bytes of garbage after the gzip "
                                   "stream",
                                   in_left);
                break;
            }
            inflateReset(&z);
            continue;
        }
        if (zr == Z_OK)
            continue;
        if (zr == Z_BUF_ERROR && z.avail_out == 0)
            continue; /* output full: grow */
        if (zr == Z_BUF_ERROR && !in_left) {
            r = smo_status_set(st, SMO_EINVAL, "the gzip stream is truncated");
            break;
        }
        r = smo_status_set(st, SMO_EINVAL, "corrupt gzip data: %s",
                           z.msg ? z.msg : "inflate failed");
        break;
    }
    inflateEnd(&z);
    if (r) {
        free(buf);
        return r;
    }
    *out = buf;
    *out_len = len;
    return SMO_OK;
}

/* --------------------------------------------------------------- tar -- */

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

/* Octal number field: optional leading spaces, digits, then NUL/space
 * padding only. Base-256 (GNU, for huge values) is refused as too big. */
static int octal(const uint8_t *f, size_t n, uint64_t *v)
{
    size_t i = 0;
    *v = 0;
    if (n && (f[0] & 0x80))
        return SMO_ETOOBIG;
    while (i < n && f[i] == ' ')
        i++;
    size_t digits = 0;
    for (; i < n && f[i] >= '0' && f[i] <= '7'; i++, digits++) {
        if (*v > (UINT64_MAX >> 3))
            return SMO_ETOOBIG;
        *v = (*v << 3) | (uint64_t)(f[i] - '0');
    }
    if (!digits)
        return SMO_EINVAL;
    for (; i < n; i++)
        if (f[i] != ' ' && f[i] != '\0')
            return SMO_EINVAL;
    return SMO_OK;
}

static bool checksum_ok(const uint8_t *h)
{
    uint64_t want;
    if (octal(h + 148, 8, &want))
        return false;
    /* The field counts as spaces; historic writers summed signed chars. */
    uint64_t u = 0;
    int64_t s = 0;
    for (size_t i = 0; i < BLK; i++) {
        uint8_t c = (i >= 148 && i < 156) ? ' ' : h[i];
        u += c;
        s += (signed char)c;
    }
    return want == u || (int64_t)want == s;
}

static bool magic_posix(const uint8_t *h)
{
    return memcmp(h + 257, "ustar\0", 6) == 0;
}

static bool magic_gnu(const uint8_t *h)
{
    return memcmp(h + 257, "ustar  \0", 8) == 0;
}

bool smo__oci_is_tar(const void *p, size_t n)
{
    const uint8_t *h = p;
    return n >= BLK && (magic_posix(h) || magic_gnu(h)) && checksum_ok(h);
}

/* pax extended header records: "<len> <key>=<value>\n". Only path and size
 * matter; linkpath is irrelevant because links are refused anyway. */
static int pax_parse(const uint8_t *p, size_t n, char **path, uint64_t *size,
                     bool *has_size, smo_status *st)
{
    size_t i = 0;
    while (i < n) {
        size_t len = 0, j = i;
        while (j < n && p[j] >= '0' && p[j] <= '9' && len < MAX_META_BYTES)
            len = len * 10 + (size_t)(p[j++] - '0');
        if (j == i || j >= n || p[j] != ' ' || len <= j - i + 1 ||
            len > n - i || p[i + len - 1] != '\n')
            return smo_status_set(st, SMO_EINVAL,
                                  "malformed pax extended header");
        const uint8_t *kv = p + j + 1, *end = p + i + len - 1;
        const uint8_t *eq = memchr(kv, '=', (size_t)(end - kv));
        if (!eq)
            return smo_status_set(st, SMO_EINVAL,
                                  "malformed pax extended header");
        size_t kl = (size_t)(eq - kv), vl = (size_t)(end - eq - 1);
        if (kl == 4 && memcmp(kv, "path", 4) == 0) {
            free(*path);
            *path = strndup((const char *)eq + 1, vl);
            if (!*path)
                return smo_status_set(st, SMO_ENOMEM, "out of memory");
            if (strlen(*path) != vl)
                return smo_status_set(st, SMO_EINVAL,
                                      "pax path contains a NUL byte");
        } else if (kl == 4 && memcmp(kv, "size", 4) == 0) {
            uint64_t v = 0;
            if (!vl || vl > 19)
                return smo_status_set(st, SMO_EINVAL, "malformed pax size");
            for (size_t k = 0; k < vl; k++) {
                if (eq[1 + k] < '0' || eq[1 + k] > '9')
                    return smo_status_set(st, SMO_EINVAL, "malformed pax size");
                v = v * 10 + (uint64_t)(eq[1 + k] - '0');
            }
            *size = v;
            *has_size = true;
        }
        i += len;
    }
    return SMO_OK;
}

int smo__oci_untar(const void *tar, size_t n, const struct smo__oci_limits *l,
                   struct smo__oci_files *files, smo_status *st)
{
    const uint8_t *base = tar;
    size_t off = 0;
    char *long_name = NULL; /* from a pax 'x' or GNU 'L' header */
    uint64_t pax_size = 0;
    bool has_pax_size = false;
    char clean[MAX_PATH_LEN + 1], raw[BLK];
    int r = SMO_OK;
    for (;;) {
        if (off == n) /* no end-of-archive blocks: the digest already */
            break;    /* vouched for the bytes, so accept the end */
        if (n - off < BLK) {
            r = smo_status_set(st, SMO_EINVAL, "the tar archive is truncated");
            break;
        }
        const uint8_t *h = base + off;
        if (all_zero(h, BLK)) {
            if (!all_zero(h, n - off))
                r = smo_status_set(st, SMO_EINVAL,
                                   "data after the tar end-of-archive "
                                   "marker");
            break;
        }
        if (!checksum_ok(h)) {
            r = smo_status_set(st, SMO_EINVAL,
                               "tar header at offset %zu: bad checksum (not "
                               "a tar archive, or corrupt)",
                               off);
            break;
        }
        if (!magic_posix(h) && !magic_gnu(h)) {
            r = smo_status_set(st, SMO_EINVAL,
                               "tar header at offset %zu: not a ustar header "
                               "(pre-POSIX archives are not read)",
                               off);
            break;
        }
        uint64_t size;
        int e = octal(h + 124, 12, &size);
        if (e) {
            r = smo_status_set(st, e, "tar header at offset %zu: %s size", off,
                               e == SMO_ETOOBIG ? "too large a" : "malformed");
            break;
        }
        char type = (char)h[156];
        if (has_pax_size && type != 'x' && type != 'g' && type != 'L') {
            size = pax_size;
            has_pax_size = false;
        }
        if (size > n - off - BLK) {
            r = smo_status_set(st, SMO_EINVAL, "the tar archive is truncated");
            break;
        }
        const uint8_t *data = h + BLK;
        uint64_t padded = (size + BLK - 1) / BLK * BLK;
        if (padded > n - off - BLK)
            padded = n - off - BLK; /* the last member's padding may be cut */
        /* The member's name as written, for messages and cleaning. */
        const char *name;
        size_t name_len;
        if (long_name) {
            name = long_name;
            name_len = strlen(long_name);
        } else {
            size_t nl = strnlen((const char *)h, 100);
            size_t pl =
                magic_posix(h) ? strnlen((const char *)h + 345, 155) : 0;
            if (pl) {
                memcpy(raw, h + 345, pl);
                raw[pl] = '/';
                memcpy(raw + pl + 1, h, nl);
                name_len = pl + 1 + nl;
            } else {
                memcpy(raw, h, nl);
                name_len = nl;
            }
            raw[name_len] = '\0';
            name = raw;
        }
        switch (type) {
        case 'x':
        case 'g':
        case 'L':
            if (size > MAX_META_BYTES) {
                r = smo_status_set(st, SMO_ETOOBIG,
                                   "tar extended header larger than %u "
                                   "bytes",
                                   MAX_META_BYTES);
                break;
            }
            if (type == 'x') {
                r = pax_parse(data, (size_t)size, &long_name, &pax_size,
                              &has_pax_size, st);
            } else if (type == 'L') {
                free(long_name);
                long_name = strndup((const char *)data, (size_t)size);
                if (!long_name)
                    r = smo_status_set(st, SMO_ENOMEM, "out of memory");
            } /* 'g': global defaults (mtime, uname...), nothing we use */
            off += BLK + (size_t)padded;
            if (r)
                goto out;
            continue;
        case '0':
        case '\0':
        case '7': /* contiguous file: a regular file everywhere else */
        case '5': {
            bool dir = type == '5' ||
                       (type == '\0' && name_len && name[name_len - 1] == '/');
            r = smo__oci_path_clean(name, name_len, clean, sizeof clean, st);
            if (r)
                break;
            if (dir) {
                r = smo__oci_files_count(files, l, st);
            } else if (!clean[0]) {
                r = smo_status_set(st, SMO_EINVAL,
                                   "tar member at offset %zu has no name", off);
            } else {
                r = smo__oci_files_add(files, clean, data, size, l, st);
            }
            break;
        }
        case '1':
        case '2':
        case 'K':
            r = smo_status_set(st, SMO_EINVAL,
                               "%.200s: links are not allowed in an artifact",
                               name);
            break;
        case '3':
        case '4':
        case '6':
            r = smo_status_set(st, SMO_EINVAL,
                               "%.200s: devices and FIFOs are not allowed in "
                               "an artifact",
                               name);
            break;
        default:
            r = smo_status_set(st, SMO_EINVAL,
                               "%.200s: unsupported tar entry type '%c'", name,
                               type >= 0x20 && type < 0x7f ? type : '?');
            break;
        }
        if (r)
            break;
        free(long_name);
        long_name = NULL;
        off += BLK + (size_t)padded;
    }
out:
    free(long_name);
    return r;
}

/* ------------------------------------------------------------ layers -- */

int smo__oci_layer_read(const void *blob, size_t n, const char *title,
                        const struct smo__oci_limits *l,
                        struct smo__oci_files *files, smo_status *st)
{
    const uint8_t *data = blob;
    size_t len = n;
    uint8_t *plain = NULL;
    int r;
    if (smo__oci_is_gzip(blob, n)) {
        r = smo__oci_gunzip(blob, n, l, files->inflated, &plain, &len, st);
        if (r)
            return r;
        data = plain;
    } else if ((uint64_t)n > l->max_bytes - (files->inflated < l->max_bytes
                                                 ? files->inflated
                                                 : l->max_bytes)) {
        return smo_status_set(st, SMO_ETOOBIG,
                              "the artifact holds more than %llu bytes "
                              "(max_extracted_bytes)",
                              (unsigned long long)l->max_bytes);
    }
    files->inflated += len;
    if (smo__oci_is_tar(data, len)) {
        r = smo__oci_untar(data, len, l, files, st);
    } else if (title && smo__oci_is_yaml_name(title)) {
        /* A descriptor pushed as a bare (possibly gzipped) file. */
        char clean[MAX_PATH_LEN + 1];
        r = smo__oci_path_clean(title, strlen(title), clean, sizeof clean, st);
        if (!r && !clean[0])
            r = smo_status_set(st, SMO_EINVAL, "empty layer title");
        if (!r)
            r = smo__oci_files_add(files, clean, data, len, l, st);
    } else {
        r = smo_status_set(st, SMO_EINVAL,
                           "a layer is neither a tar nor a tar.gz archive, "
                           "nor a YAML file named by its title annotation");
    }
    free(plain);
    return r;
}
