/* Reading hdarctl's output directory. hdarctl is an external program and
 * the artifact is untrusted, so the directory is walked with *at() calls
 * and O_NOFOLLOW: a symlink planted by the archive (or by an hdarctl that
 * extracted it) is refused rather than followed, and every byte counts
 * against the same limits as a pull by source_oci. Runs on the thread
 * pool: no host calls. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hdarctl.h"

#define MAX_DEPTH 32
#define PEEK      512 /* enough for the gzip magic and a tar header */

/* Read up to `n` bytes (all of the file when n is its size). */
static int read_fd(int fd, uint8_t *buf, size_t n, size_t *got)
{
    *got = 0;
    while (*got < n) {
        ssize_t r = read(fd, buf + *got, n - *got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            break;
        *got += (size_t)r;
    }
    return 0;
}

static uint64_t budget_left(const struct smo__oci_files *f,
                            const struct smo__oci_limits *l)
{
    return l->max_bytes > f->inflated ? l->max_bytes - f->inflated : 0;
}

static int read_file(int dfd, const char *name, const char *rel, uint64_t size,
                     const struct smo__oci_limits *l,
                     struct smo__oci_files *files, smo_status *st)
{
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return smo_status_set(st, SMO_EIO, "%.200s: %s", rel, strerror(errno));
    uint8_t peek[PEEK];
    size_t got;
    int r = read_fd(fd, peek, sizeof peek, &got);
    if (r) {
        close(fd);
        return smo_status_set(st, SMO_EIO, "%.200s: %s", rel, strerror(-r));
    }
    bool archive = smo__oci_is_gzip(peek, got) || smo__oci_is_tar(peek, got);
    bool yaml = smo__oci_is_yaml_name(rel) && size <= l->max_yaml;
    if (!archive && !yaml) {
        /* Charts, READMEs...: listed and counted, never read. */
        close(fd);
        if (size > budget_left(files, l))
            return smo_status_set(st, SMO_ETOOBIG,
                                  "the artifact holds more than %llu bytes "
                                  "(max_extracted_bytes)",
                                  (unsigned long long)l->max_bytes);
        files->inflated += size;
        return smo__oci_files_add(files, rel, NULL, size, l, st);
    }
    if (size > budget_left(files, l)) {
        close(fd);
        return smo_status_set(st, SMO_ETOOBIG,
                              "%.200s: %llu bytes, more than the artifact "
                              "may hold (max_extracted_bytes)",
                              rel, (unsigned long long)size);
    }
    uint8_t *data = malloc(size ? (size_t)size : 1);
    if (!data) {
        close(fd);
        return smo_status_set(st, SMO_ENOMEM, "out of memory");
    }
    memcpy(data, peek, got);
    size_t more = 0;
    if (got < size)
        r = read_fd(fd, data + got, (size_t)size - got, &more);
    close(fd);
    if (r || got + more != size) {
        free(data);
        return smo_status_set(st, SMO_EIO, "%.200s: changed while read", rel);
    }
    if (archive) {
        /* layer_read charges the expanded size to files->inflated. */
        r = smo__oci_layer_read(data, (size_t)size, rel, l, files, st);
    } else {
        files->inflated += size;
        r = smo__oci_files_add(files, rel, data, size, l, st);
    }
    free(data);
    return r;
}

static int walk(int dfd, const char *rel, int depth,
                const struct smo__oci_limits *l, struct smo__oci_files *files,
                smo_status *st)
{
    if (depth > MAX_DEPTH) {
        close(dfd);
        return smo_status_set(st, SMO_ETOOBIG,
                              "%.200s: directories nested deeper than %d", rel,
                              MAX_DEPTH);
    }
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return smo_status_set(st, SMO_EIO, "%.200s: %s", rel[0] ? rel : ".",
                              strerror(errno));
    }
    int r = SMO_OK;
    struct dirent *e;
    char path[SMO__OCI_MAX_PATH + 1];
    while (!r && (e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        int n = snprintf(path, sizeof path, "%s%s%s", rel, rel[0] ? "/" : "",
                         e->d_name);
        if (n < 0 || (size_t)n >= sizeof path) {
            r = smo_status_set(st, SMO_EINVAL,
                               "a path is longer than %d characters",
                               SMO__OCI_MAX_PATH);
            break;
        }
        /* The same name rules as tar members (control characters...). */
        char clean[SMO__OCI_MAX_PATH + 1];
        r = smo__oci_path_clean(path, (size_t)n, clean, sizeof clean, st);
        if (r)
            break;
        struct stat sb;
        if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
            r = smo_status_set(st, SMO_EIO, "%.200s: %s", path,
                               strerror(errno));
        } else if (S_ISDIR(sb.st_mode)) {
            r = smo__oci_files_count(files, l, st);
            if (!r) {
                int sub =
                    openat(dirfd(d), e->d_name,
                           O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sub < 0)
                    r = smo_status_set(st, SMO_EIO, "%.200s: %s", path,
                                       strerror(errno));
                else
                    r = walk(sub, clean, depth + 1, l, files, st);
            }
        } else if (S_ISREG(sb.st_mode)) {
            r = read_file(dirfd(d), e->d_name, clean, (uint64_t)sb.st_size, l,
                          files, st);
        } else if (S_ISLNK(sb.st_mode)) {
            r = smo_status_set(st, SMO_EINVAL,
                               "%.200s: links are not allowed in an artifact",
                               path);
        } else {
            r = smo_status_set(st, SMO_EINVAL,
                               "%.200s: devices, FIFOs and sockets are not "
                               "allowed in an artifact",
                               path);
        }
    }
    closedir(d);
    return r;
}

int smo__hdarctl_read_dir(const char *dir, const struct smo__oci_limits *l,
                          struct smo__oci_files *files, smo_status *st)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return smo_status_set(st, SMO_EIO, "%.200s: %s", dir, strerror(errno));
    int r = walk(fd, "", 0, l, files, st);
    if (!r)
        r = smo__oci_files_finish(files, st);
    return r;
}

static int rm_one(const char *p, const struct stat *sb, int flag,
                  struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    /* Unreadable directories are made readable once so that their
     * contents can go too (an archive may set mode 000). */
    if (flag == FTW_DNR && chmod(p, 0700) == 0)
        return 1; /* walk again */
    remove(p);
    return 0;
}

int smo__hdarctl_rm_rf(const char *dir)
{
    for (int pass = 0; pass < 3; pass++) {
        int r = nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        if (r == 0 || access(dir, F_OK) != 0)
            break;
    }
    return access(dir, F_OK) == 0 ? SMO_EIO : SMO_OK;
}
