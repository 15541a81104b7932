/* Internal interfaces of source_oci, split by concern:
 *   oci_sha256.c   - SHA-256 and "sha256:<hex>" digests
 *   oci_ref.c      - oci:// and http(s):// artifact references
 *   oci_auth.c     - WWW-Authenticate challenges and token responses
 *   oci_manifest.c - image manifests and indexes
 *   oci_files.c    - the extracted file list, member name rules
 *   oci_tar.c      - gzip (with bomb limits) and a strict tar reader
 *   oci_select.c   - which extracted file is the HDAG descriptor
 *   oci_registry.c - the distribution API client (HTTP, auth, digests)
 *   source_oci.c   - the plugin: configuration, accepts, resolve
 * oci_ref.c, oci_files.c and oci_select.c are shared with source_hdarctl,
 * and everything but the plugin glue is pure so that unit tests and the
 * fuzz target can call it directly. */
#ifndef SMO_OCI_H
#define SMO_OCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <smo/smo.h>

/* ------------------------------------------------------------ sha256 -- */

struct smo__sha256 {
    uint32_t h[8];
    uint64_t len; /* bytes hashed so far */
    uint8_t buf[64];
    size_t n; /* bytes waiting in buf */
};

void smo__sha256_init(struct smo__sha256 *c);
void smo__sha256_update(struct smo__sha256 *c, const void *p, size_t n);
void smo__sha256_final(struct smo__sha256 *c, uint8_t out[32]);
/** "sha256:" followed by 64 lower-case hex digits of `p`. */
void smo__sha256_digest(const void *p, size_t n, char out[72]);
/** True for "sha256:<64 lower-case hex>", the only algorithm accepted. */
bool smo__oci_digest_valid(const char *d);
/** SMO_OK when `p` hashes to `digest`; else EINVAL with `got` filled. */
int smo__oci_digest_check(const char *digest, const void *p, size_t n,
                          char got[72]);

/* -------------------------------------------------------- references -- */

struct smo__oci_ref {
    bool plain_http; /* http:// was written */
    bool tls;        /* https:// was written */
    char host[262];  /* host[:port] as written, the registry's key */
    char repo[256];  /* "project/graph" */
    char tag[129];   /* "" when a digest is given and no tag */
    char digest[72]; /* "" or "sha256:..." */
};

/** Parse `oci://host[:port]/repo[:tag][@digest]` or
 *  `http(s)://host[:port]/repo[:tag][@digest]`. SMO_SKIP for another
 *  scheme (or http(s) when `http_urls` is false), EINVAL with the reason
 *  when the reference is ours but malformed. The tag defaults to
 *  "latest" when neither tag nor digest is given. */
int smo__oci_ref_parse(const char *ref, bool http_urls,
                       struct smo__oci_ref *out, smo_status *st);
/** "host/repo:tag" or "host/repo@digest", for messages. */
void smo__oci_ref_str(const struct smo__oci_ref *r, char *buf, size_t n);

/* -------------------------------------------------------------- auth -- */

struct smo__oci_challenge {
    bool bearer; /* else basic */
    char realm[1024];
    char service[256];
    char scope[512];
};

/** Parse one WWW-Authenticate value ("Bearer realm=\"...\",service=..."
 *  or "Basic realm=..."). EPROTO when it is neither or malformed. */
int smo__oci_challenge_parse(const char *h, struct smo__oci_challenge *c,
                             smo_status *st);
/** The token from a token endpoint's JSON answer ("token", else
 *  "access_token"), copied into `out`. EPROTO when absent. */
int smo__oci_token_parse(const char *body, size_t len, char **out,
                         smo_status *st);
/** Percent-encode `s` for a query string (unreserved characters kept). */
char *smo__oci_urlencode(const char *s);

/* ---------------------------------------------------------- manifests -- */

#define SMO__OCI_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define SMO__OCI_MT_OCI_INDEX    "application/vnd.oci.image.index.v1+json"
#define SMO__OCI_MT_DOCKER_MANIFEST                                            \
    "application/vnd.docker.distribution.manifest.v2+json"
#define SMO__OCI_MT_DOCKER_LIST                                                \
    "application/vnd.docker.distribution.manifest.list.v2+json"
/** What the client sends as Accept for manifests (Distribution 2.8 answers
 *  404 to an OCI manifest unless its type is listed). */
#define SMO__OCI_ACCEPT                                                        \
    "Accept: " SMO__OCI_MT_OCI_MANIFEST ", " SMO__OCI_MT_DOCKER_MANIFEST       \
    ", " SMO__OCI_MT_OCI_INDEX ", " SMO__OCI_MT_DOCKER_LIST

struct smo__oci_layer {
    char digest[72];
    char media_type[128];
    char title[256]; /* org.opencontainers.image.title, or "" */
    uint64_t size;
};

struct smo__oci_manifest {
    bool is_index; /* then `next` is the one manifest it lists */
    char next[72]; /* index: digest of the manifest to follow */
    size_t n_layers;
    struct smo__oci_layer *layers; /* malloc'd */
};

/** Parse a manifest body. `content_type` is the response's (may be NULL);
 *  the body's own mediaType wins when present. Layers beyond `max_layers`
 *  or larger than `max_layer_bytes` are refused (ETOOBIG); an index must
 *  list exactly one manifest. EINVAL names what is wrong. */
int smo__oci_manifest_parse(const char *body, size_t len,
                            const char *content_type, size_t max_layers,
                            uint64_t max_layer_bytes,
                            struct smo__oci_manifest *m, smo_status *st);
void smo__oci_manifest_free(struct smo__oci_manifest *m);

/* ------------------------------------------------ files, gzip and tar -- */

struct smo__oci_limits {
    uint64_t max_bytes; /* uncompressed bytes, all layers together */
    uint64_t max_files; /* entries (files and directories) */
    uint64_t max_ratio; /* uncompressed / compressed, past ratio_floor */
    uint64_t max_yaml;  /* largest YAML file kept (the descriptor) */
};

/** Below this much output the ratio is not checked: small tarballs are
 *  mostly zero padding and compress far better than any bomb threshold. */
#define SMO__OCI_RATIO_FLOOR (1024u * 1024u)

struct smo__oci_file {
    char *path; /* normalised, relative: "demo-app/hdag.yaml" */
    uint64_t size;
    char *data;     /* NUL-terminated copy for YAML files; NULL otherwise */
    bool hdag_hint; /* YAML that mentions "hdaGraph" (checked later) */
};

struct smo__oci_files {
    struct smo__oci_file *v;
    size_t n, cap;
    uint64_t entries;  /* files and directories seen, for max_files */
    uint64_t inflated; /* archive bytes read (all layers), for max_bytes */
};

#define SMO__OCI_MAX_PATH 4096

void smo__oci_files_free(struct smo__oci_files *f);
/** Count one entry (a directory, or a file through files_add); ETOOBIG past
 *  max_files. */
int smo__oci_files_count(struct smo__oci_files *f,
                         const struct smo__oci_limits *l, smo_status *st);
/** ".yaml" or ".yml", any case. */
bool smo__oci_is_yaml_name(const char *p);
/** Add a regular file (path already normalised). Copies YAML contents.
 *  EINVAL on a duplicate path, ETOOBIG past the limits. */
int smo__oci_files_add(struct smo__oci_files *f, const char *path,
                       const void *data, uint64_t size,
                       const struct smo__oci_limits *l, smo_status *st);
/** Sort the files by path and refuse duplicates (EINVAL naming one), so
 *  that a later layer or member cannot silently replace an earlier one. */
int smo__oci_files_finish(struct smo__oci_files *f, smo_status *st);
/** Normalise a member name: strips "./" and repeated slashes; EINVAL for
 *  absolute paths, "..", control characters or backslashes. An empty
 *  result ("./") sets *out to an empty string. */
int smo__oci_path_clean(const char *name, size_t len, char *out, size_t cap,
                        smo_status *st);

/** True when the data starts with the gzip magic. */
bool smo__oci_is_gzip(const void *p, size_t n);
/** Inflate one or more gzip members into a malloc'd buffer. ETOOBIG when
 *  the output passes `l->max_bytes` - `already` or the ratio limit;
 *  EINVAL for corrupt data or trailing garbage. */
int smo__oci_gunzip(const void *in, size_t n, const struct smo__oci_limits *l,
                    uint64_t already, uint8_t **out, size_t *out_len,
                    smo_status *st);
/** True when the data starts with a ustar header (POSIX or GNU magic). */
bool smo__oci_is_tar(const void *p, size_t n);
/** Read a tar archive into `files`: regular files and directories only;
 *  links, devices, absolute paths and ".." are refused (EINVAL), so are
 *  truncated archives and bad checksums; limits give ETOOBIG. */
int smo__oci_untar(const void *tar, size_t n, const struct smo__oci_limits *l,
                   struct smo__oci_files *files, smo_status *st);
/** One layer blob: gzip'd tar, plain tar, or a single YAML file named by
 *  `title` (an artifact pushed as a bare file). */
int smo__oci_layer_read(const void *blob, size_t n, const char *title,
                        const struct smo__oci_limits *l,
                        struct smo__oci_files *files, smo_status *st);

/* ---------------------------------------------------- registry client -- */

/** How to talk to one registry (from the `registries` map). Strings are
 *  borrowed from the plugin state and outlive every pull. */
struct smo__oci_registry {
    bool plain_http;
    const char *username;
    const char *password; /* never logged */
    const char *ca_file;
    const char *client_cert_file;
    const char *client_key_file;
    bool insecure_skip_verify;
};

struct smo__oci_pull_opts {
    int64_t timeout_ms;
    int64_t connect_timeout_ms;
    uint64_t max_manifest_bytes;
    uint64_t max_layer_bytes;
    uint64_t max_total_bytes; /* all layers, compressed */
    size_t max_layers;
};

struct smo__oci_blob {
    char digest[72];
    char title[256];
    uint8_t *data; /* malloc'd; verified later, on the thread pool */
    size_t len;
};

/** What a pull hands over: the manifest's digest and every layer's bytes
 *  (not yet verified: hashing is CPU work for the thread pool). */
struct smo__oci_pulled {
    char manifest_digest[72];
    struct smo__oci_blob *blobs;
    size_t n;
};

void smo__oci_pulled_free(struct smo__oci_pulled *p);

/** On success `pulled` is handed over (free it with smo__oci_pulled_free);
 *  on failure it is NULL and `st` says why. */
typedef void (*smo__oci_pull_cb)(void *arg, const smo_status *st,
                                 struct smo__oci_pulled *pulled);

/** Fetch the manifest (verified against the reference's digest and the
 *  registry's Docker-Content-Digest) and every layer, answering Bearer and
 *  Basic challenges. The callback runs exactly once unless this returns an
 *  error. */
int smo__oci_pull(const struct smo_host *host, smo_instance *self,
                  const struct smo__oci_ref *ref,
                  const struct smo__oci_registry *reg,
                  const struct smo__oci_pull_opts *opts, smo__oci_pull_cb cb,
                  void *arg, smo_status *st);

/* --------------------------------------------------------- selection -- */

/** Does this YAML text hold a top-level `hdaGraph` key? */
typedef bool (*smo__oci_is_hdag_fn)(void *ctx, const char *text, size_t len);

/** The usual predicate: `ctx` is the plugin's `const struct smo_host *`,
 *  whose yaml_parse is safe on a worker thread. */
bool smo__oci_is_hdag(void *ctx, const char *text, size_t len);

/** Pick the descriptor: the shallowest file named hdag.yaml/hdag.yml, else
 *  the single YAML with an `hdaGraph` key. EINVAL naming the candidates
 *  when several tie, or listing what the artifact holds when none fits. */
int smo__oci_select(const struct smo__oci_files *f, smo__oci_is_hdag_fn fn,
                    void *ctx, size_t *chosen, smo_status *st);

#endif /* SMO_OCI_H */
