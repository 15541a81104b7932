/* Rules mode "file": a rules file that SMO owns, one group per graph
 * ("smo/<project>/<graph>"). A change reads the file, replaces the graph's
 * group, writes the whole file atomically (temporary file, fsync, rename,
 * fsync of the directory) and asks Prometheus to reload.
 *
 * Prometheus refuses a reload when a rule does not parse (a bad promQuery
 * in a descriptor) and then keeps its old rules, and would refuse every
 * later reload too while the file stays broken: so a refused reload puts
 * the previous file back and fails the step. A Prometheus that cannot be
 * reached is different: the file is right and Prometheus reads it when it
 * starts, so the step succeeds and the reload is retried in the
 * background. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prom.h"

/* ------------------------------------------------- thread-pool side -- */

static void read_work(void *arg)
{
    struct smo__prom_job *j = arg;
    const char *path = j->p->rules_path;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT) {
            j->rc = SMO_EIO;
            snprintf(j->err, sizeof j->err, "%s: %s", path, strerror(errno));
        }
        return;
    }
    j->old_exists = true;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (len + 1 >= cap) {
            if (cap >= (64u << 20)) {
                j->rc = SMO_ETOOBIG;
                snprintf(j->err, sizeof j->err, "%s: larger than 64 MiB", path);
                break;
            }
            cap *= 2;
            buf = realloc(buf, cap);
        }
        ssize_t r = read(fd, buf + len, cap - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            j->rc = SMO_EIO;
            snprintf(j->err, sizeof j->err, "%s: %s", path, strerror(errno));
            break;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    j->old_text = buf;
    j->old_len = len;
}

static int mkdirs(char *dir)
{
    struct stat sb;
    if (!stat(dir, &sb))
        return S_ISDIR(sb.st_mode) ? 0 : -1;
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        int r = mkdirs(dir);
        *slash = '/';
        if (r)
            return r;
    }
    return mkdir(dir, 0755) && errno != EEXIST ? -1 : 0;
}

static int write_atomic(const char *path, const char *data, size_t len,
                        char *err, size_t n)
{
    char *d = strdup(path), *b = strdup(path);
    char *dir = dirname(d);
    char *tmp = NULL;
    int rc = -1, fd = -1;
    /* A hidden name with another extension: a rule_files glob over the
     * directory's .yml files never matches the half-written file. */
    if (asprintf(&tmp, "%s/.%s.tmp", dir, basename(b)) < 0) {
        tmp = NULL;
        goto out;
    }
    if (mkdirs(dir)) {
        snprintf(err, n, "%s: %s", dir, strerror(errno));
        goto out;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, n, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            snprintf(err, n, "%s: %s", tmp, strerror(errno));
            goto out;
        }
        off += (size_t)w;
    }
    /* Prometheus may run as another user: the file must be readable. */
    if (fchmod(fd, 0644) || fsync(fd)) {
        snprintf(err, n, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    close(fd);
    fd = -1;
    if (rename(tmp, path)) {
        snprintf(err, n, "%s: %s", path, strerror(errno));
        goto out;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    rc = 0;
out:
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    free(tmp);
    free(d);
    free(b);
    return rc;
}

static void write_work(void *arg)
{
    struct smo__prom_job *j = arg;
    const char *path = j->p->rules_path;
    if (j->rolling_back && !j->old_exists) {
        if (unlink(path) && errno != ENOENT) {
            j->rc = SMO_EIO;
            snprintf(j->err, sizeof j->err, "%s: %s", path, strerror(errno));
        }
        return;
    }
    const char *text = j->rolling_back ? j->old_text : j->new_text;
    size_t len = j->rolling_back ? j->old_len : j->new_len;
    if (write_atomic(path, text, len, j->err, sizeof j->err))
        j->rc = SMO_EIO;
}

/* ------------------------------------------------------- loop side -- */

static void write_done(void *arg, int status);

static void finish_ok(struct smo__prom_job *j, bool reloaded, const char *note)
{
    json_object_set_new(j->detail, "reloaded", json_boolean(reloaded));
    if (note)
        json_object_set_new(j->detail, "note", json_string(note));
    smo__prom_job_done(j, 0, NULL);
}

static void rollback_reloaded(void *arg, const smo_status *st,
                              const struct smo_http_response *resp)
{
    struct smo__prom_job *j = arg;
    (void)resp;
    if (st->code)
        smo__prom_reload_later(j->p);
    smo__prom_job_done(j, SMO_EINVAL, "%s", j->err);
}

static void reloaded(void *arg, const smo_status *st,
                     const struct smo_http_response *resp)
{
    struct smo__prom_job *j = arg;
    struct smo__prom *p = j->p;
    if (st->code == SMO_ECANCELED) {
        smo__prom_job_done(j, st->code, "%s", st->msg);
        return;
    }
    if (st->code) {
        smo__prom_count(p, p->m_reloads, "unreachable", NULL);
        SMO_LOG_W(p->host, p->self,
                  "rules written to %s but Prometheus could not be told: %s; "
                  "retrying every %llds",
                  p->rules_path, st->msg,
                  (long long)(p->cfg->reload_retry_ms / 1000));
        p->host->event_emit(
            p->self, "monitor.reload_failed", j->project, j->graph,
            json_pack("{s:s, s:s}", "file", p->rules_path, "error", st->msg));
        smo__prom_reload_later(p);
        char note[sizeof st->msg + 128];
        snprintf(note, sizeof note,
                 "Prometheus unreachable (%s): it loads the file when it "
                 "starts; reload retried in the background",
                 st->msg);
        finish_ok(j, false, note);
        return;
    }
    if (resp->status >= 200 && resp->status < 300) {
        smo__prom_count(p, p->m_reloads, "ok", NULL);
        p->reload_pending = false;
        if (p->reload_timer) {
            p->host->timer_stop(p->reload_timer);
            p->reload_timer = NULL;
        }
        finish_ok(j, true, NULL);
        return;
    }
    /* Refused: put the previous rules back so that Prometheus, and every
     * other graph's rules, keep working. */
    smo__prom_count(p, p->m_reloads, "rejected", NULL);
    size_t bl = resp->body_len;
    while (bl && strchr(" \r\n", resp->body[bl - 1]))
        bl--;
    snprintf(j->err, sizeof j->err,
             "Prometheus refused the rules (HTTP %ld: %.*s); the previous "
             "rules file was restored",
             resp->status, (int)(bl > 300 ? 300 : bl), resp->body);
    j->rolling_back = true;
    j->rc = 0;
    smo__prom_hold(p);
    if (p->host->queue_work(p->self, write_work, write_done, j)) {
        smo__prom_release(p);
        smo__prom_job_done(j, SMO_EINVAL, "%s", j->err);
    }
}

static void write_done(void *arg, int status)
{
    struct smo__prom_job *j = arg;
    struct smo__prom *p = j->p;
    smo__prom_release(p);
    if (status) {
        smo__prom_job_done(j, SMO_ECANCELED, "canceled");
        return;
    }
    if (j->rolling_back) {
        char msg[sizeof j->err];
        memcpy(msg, j->err, sizeof msg);
        if (j->rc) {
            SMO_LOG_E(p->host, p->self, "cannot restore %s: %s", p->rules_path,
                      j->err);
            smo__prom_job_done(j, SMO_EIO, "%s", msg);
            return;
        }
        smo_status st;
        smo_status_clear(&st);
        if (smo__prom_reload(p, rollback_reloaded, j, &st))
            smo__prom_job_done(j, SMO_EINVAL, "%s", msg);
        return;
    }
    if (j->rc) {
        smo__prom_job_done(j, j->rc, "cannot write the rules file: %s", j->err);
        return;
    }
    if (!p->cfg->reload) {
        finish_ok(j, false,
                  "rules.reload is off: Prometheus reads the file "
                  "at its next reload");
        return;
    }
    smo_status st;
    smo_status_clear(&st);
    if (smo__prom_reload(p, reloaded, j, &st)) {
        smo_status_set(&st, st.code ? st.code : SMO_EIO, "%s", st.msg);
        reloaded(j, &st, NULL);
    }
}

static void read_done(void *arg, int status)
{
    struct smo__prom_job *j = arg;
    struct smo__prom *p = j->p;
    smo__prom_release(p);
    if (status) {
        smo__prom_job_done(j, SMO_ECANCELED, "canceled");
        return;
    }
    if (j->rc) {
        smo__prom_job_done(j, j->rc, "cannot read the rules file: %s", j->err);
        return;
    }
    json_t *doc = NULL;
    smo_status st;
    smo_status_clear(&st);
    bool blank =
        !j->old_exists || j->old_text[strspn(j->old_text, " \t\r\n")] == '\0';
    if (blank)
        doc = json_pack("{s:[]}", "groups");
    else if (p->host->yaml_parse(j->old_text, j->old_len, &doc, &st)) {
        smo__prom_job_done(j, SMO_EPROTO,
                           "%s: %s (SMO owns this file: fix or remove it)",
                           p->rules_path, st.msg);
        return;
    }
    char *group = smo__prom_group_name(j->project, j->graph);
    bool changed = false;
    if (smo__prom_file_apply(doc, group, j->rules, p->cfg->group_interval_ms,
                             &changed, &st)) {
        json_decref(doc);
        free(group);
        smo__prom_job_done(j, st.code, "%s: %s", p->rules_path, st.msg);
        return;
    }
    j->detail =
        json_pack("{s:s, s:s, s:s, s:I, s:b}", "mode", "file", "file",
                  p->rules_path, "group", group, "rules",
                  (json_int_t)json_array_size(j->rules), "changed", changed);
    free(group);
    if (!changed && j->old_exists) {
        json_decref(doc);
        /* Nothing to write; a reload still owed from an earlier change is
         * the background retry's business. */
        json_object_set_new(j->detail, "reloaded", json_false());
        smo__prom_job_done(j, 0, NULL);
        return;
    }
    /* JSON is YAML whose every string is quoted: no value can turn into
     * a boolean or a number on Prometheus's side. */
    j->new_text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (!j->new_text) {
        smo__prom_job_done(j, SMO_ENOMEM, "cannot serialise the rules");
        return;
    }
    size_t n = strlen(j->new_text);
    j->new_text = realloc(j->new_text, n + 2);
    j->new_text[n] = '\n';
    j->new_text[n + 1] = '\0';
    j->new_len = n + 1;
    j->changed = true;
    smo__prom_hold(p);
    if (p->host->queue_work(p->self, write_work, write_done, j)) {
        smo__prom_release(p);
        smo__prom_job_done(j, SMO_EIO, "cannot queue the write");
    }
}

void smo__prom_file_run(struct smo__prom_job *j)
{
    struct smo__prom *p = j->p;
    if (!p->rules_path) {
        smo__prom_job_done(j, SMO_ENOMEM, "no rules file path");
        return;
    }
    smo__prom_hold(p);
    if (p->host->queue_work(p->self, read_work, read_done, j)) {
        smo__prom_release(p);
        smo__prom_job_done(j, SMO_EIO, "cannot queue the read");
    }
}
