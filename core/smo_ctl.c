/* smoctl: the command-line client of the SMO API.
 *
 * Exit status: 0 success; 1 the operation failed or the server erred;
 * 2 usage; 3 not found; 4 conflict (exists, busy, wrong state);
 * 5 server unreachable or unavailable; 6 invalid input; 7 authentication
 * or permission. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "smo_ctl_http.h"
#include "smo_units.h"
#include "smo_yaml.h"

enum {
    EX_OK = 0,
    EX_FAILED,
    EX_USAGE,
    EX_NOTFOUND,
    EX_CONFLICT,
    EX_UNAVAIL,
    EX_INVALID,
    EX_AUTH
};

static struct smo__ctl C;
static const char *out_fmt = "table";
static const char *project;
static double wait_s = -1; /* -1: no wait */
static const char *opt_area, *opt_vim, *opt_workers;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: smoctl [OPTIONS] COMMAND ...\n"
            "\n"
            "  graph deploy -p PROJECT FILE|oci://...|http(s)://... [--wait]\n"
            "  graph list [-p PROJECT]\n"
            "  graph get NAME [-p PROJECT]\n"
            "  graph plan FILE\n"
            "  graph start|stop|place|remove NAME [-p PROJECT] [--wait]\n"
            "  cluster list | cluster sync\n"
            "  cluster create --vim NAME --area N [--workers N]\n"
            "  cluster scale-out ID [--workers N] | cluster delete ID\n"
            "  cluster provisioned [--area N]\n"
            "  vim list [--area N] | vim sync | vim delete NAME|ID\n"
            "  vim register FILE   (JSON or YAML; vim_password from the file "
            "or $SMO_VIM_PASSWORD)\n"
            "  operation get ID [--wait]\n"
            "  events [--graph PROJECT/NAME] [--limit N]\n"
            "  version | health\n"
            "\n"
            "Options:\n"
            "  -u, --url URL        server (default $SMO_URL, the config file, "
            "or http://127.0.0.1:8000)\n"
            "  -t, --token TOKEN    bearer token (default $SMO_TOKEN or the "
            "config file)\n"
            "  -p, --project NAME   project\n"
            "  -w, --wait[=SECONDS] wait for the operation (default 600 s)\n"
            "  -o, --output FMT     table (default), json or yaml\n"
            "      --cacert FILE    CA bundle for https\n"
            "      --insecure       do not verify the server certificate\n"
            "\n"
            "Config file: ~/.config/smo/config.yaml with url, token or "
            "token_file.\n"
            "Exit status: 0 ok, 1 failed, 2 usage, 3 not found, 4 conflict, "
            "5 unavailable, 6 invalid, 7 auth.\n");
}

/* --------------------------------------------------------- settings -- */

static char *read_all(const char *path, size_t *len, size_t max)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct stat sb;
    if (fstat(fileno(f), &sb) || (size_t)sb.st_size > max) {
        fclose(f);
        errno = EFBIG;
        return NULL;
    }
    char *buf = malloc((size_t)sb.st_size + 1);
    size_t n = fread(buf, 1, (size_t)sb.st_size, f);
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

static void load_config(void)
{
    const char *home = getenv("HOME");
    const char *xdg = getenv("XDG_CONFIG_HOME");
    char path[1024];
    if (xdg && *xdg)
        snprintf(path, sizeof path, "%s/smo/config.yaml", xdg);
    else if (home)
        snprintf(path, sizeof path, "%s/.config/smo/config.yaml", home);
    else
        return;
    size_t len;
    char *text = read_all(path, &len, 1 << 20);
    if (!text)
        return;
    json_t *doc = NULL;
    smo_status st;
    if (smo__yaml_parse(text, len, NULL, &doc, &st) == 0 &&
        json_is_object(doc)) {
        const char *u = json_string_value(json_object_get(doc, "url"));
        const char *t = json_string_value(json_object_get(doc, "token"));
        const char *tf = json_string_value(json_object_get(doc, "token_file"));
        if (u && !C.url)
            C.url = strdup(u);
        if (t && !C.token)
            C.token = strdup(t);
        if (tf && !C.token) {
            char *tok = read_all(tf, NULL, 4096);
            if (tok) {
                tok[strcspn(tok, "\r\n")] = '\0';
                C.token = tok;
            }
        }
    } else
        fprintf(stderr, "smoctl: %s: %s (ignored)\n", path,
                st.msg[0] ? st.msg : "not a mapping");
    json_decref(doc);
    free(text);
}

/* --------------------------------------------------------- printing -- */

static void print_json(json_t *j)
{
    if (!strcmp(out_fmt, "yaml")) {
        char *y = NULL;
        size_t n = 0;
        smo_status st;
        if (smo__yaml_emit(j, &y, &n, &st) == 0)
            fwrite(y, 1, n, stdout);
        free(y);
        return;
    }
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_ENCODE_ANY);
    printf("%s\n", s ? s : "null");
    free(s);
}

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "-";
}

static void fmt_bytes(const json_t *v, char *buf, size_t n)
{
    if (!json_is_number(v)) {
        snprintf(buf, n, "-");
        return;
    }
    smo__format_bytes((uint64_t)json_number_value(v), buf, n);
}

static void print_graph(const json_t *g)
{
    printf("graph %s (project %s): %s\n", str(g, "name"), str(g, "project"),
           str(g, "status"));
    if (json_object_get(g, "last_error"))
        printf("last error: %s\n", str(g, "last_error"));
    printf("%-24s %-13s %-18s %6s %8s %4s %8s\n", "SERVICE", "STATUS",
           "CLUSTER", "CPU", "MEMORY", "GPU", "REPLICAS");
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(g, "services"), i, s)
    {
        char mem[32];
        fmt_bytes(json_object_get(s, "memory"), mem, sizeof mem);
        printf("%-24s %-13s %-18s %6g %8s %4lld %8lld\n", str(s, "name"),
               str(s, "status"), str(s, "cluster_affinity"),
               json_number_value(json_object_get(s, "cpu")), mem,
               (long long)json_integer_value(json_object_get(s, "gpu")),
               (long long)json_integer_value(json_object_get(s, "replicas")));
    }
}

static void print_graphs(const json_t *arr)
{
    if (!json_array_size(arr)) {
        printf("No graphs found%s%s.\n", project ? " in project " : "",
               project ? project : "");
        return;
    }
    printf("%-32s %-16s %-10s %s\n", "NAME", "PROJECT", "STATUS", "SERVICES");
    size_t i;
    json_t *g;
    json_array_foreach(arr, i, g) printf(
        "%-32s %-16s %-10s %zu\n", str(g, "name"), str(g, "project"),
        str(g, "status"), json_array_size(json_object_get(g, "services")));
}

static void print_clusters(const json_t *arr)
{
    printf("%-20s %-9s %-15s %-19s %-9s %s\n", "NAME", "READY", "CPU FREE",
           "MEMORY FREE", "GPU FREE", "REGION");
    size_t i;
    json_t *c;
    json_array_foreach(arr, i, c)
    {
        const json_t *cpu = json_object_get(c, "cpu");
        const json_t *mem = json_object_get(c, "memory");
        const json_t *gpu = json_object_get(c, "gpu");
        double ca = json_number_value(json_object_get(cpu, "allocatable"));
        double cf = json_number_value(json_object_get(c, "available_cpu"));
        char mf[32], ma[32], cpus[40], mems[72], gpus[40];
        fmt_bytes(json_object_get(c, "available_ram"), mf, sizeof mf);
        fmt_bytes(json_object_get(mem, "allocatable"), ma, sizeof ma);
        snprintf(cpus, sizeof cpus, "%g/%g", cf, ca);
        snprintf(mems, sizeof mems, "%s/%s", mf, ma);
        double ga = json_number_value(json_object_get(gpu, "allocatable"));
        snprintf(gpus, sizeof gpus, "%g/%g",
                 ga - json_number_value(json_object_get(gpu, "allocated")), ga);
        printf("%-20s %-9s %-15s %-19s %-9s %s\n", str(c, "name"),
               json_is_true(json_object_get(c, "gone"))    ? "gone"
               : json_is_true(json_object_get(c, "ready")) ? "Ready"
                                                           : "Not Ready",
               cpus, mems, gpus, str(c, "location"));
    }
}

static void print_operation(const json_t *o)
{
    const json_t *p = json_object_get(o, "progress");
    printf("operation %s: %s %s, %s (%lld/%lld steps)\n", str(o, "id"),
           str(o, "action"), str(o, "graph"), str(o, "state"),
           (long long)json_integer_value(json_object_get(p, "done")),
           (long long)json_integer_value(json_object_get(p, "total")));
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(o, "steps"), i, s)
    {
        printf("  %-28s %-8s %s\n", str(s, "name"), str(s, "state"),
               json_object_get(s, "error")  ? str(s, "error")
               : json_object_get(s, "note") ? str(s, "note")
                                            : "");
    }
    if (json_object_get(o, "error"))
        printf("error: %s\n", str(o, "error"));
}

/* ----------------------------------------------------------- calls -- */

static int exit_for(long status)
{
    if (status >= 200 && status < 300)
        return EX_OK;
    switch (status) {
    case 0:
    case 502:
    case 503:
    case 504:
        return EX_UNAVAIL;
    case 401:
    case 403:
        return EX_AUTH;
    case 404:
        return EX_NOTFOUND;
    case 409:
        return EX_CONFLICT;
    case 400:
    case 413:
    case 415:
    case 422:
        return EX_INVALID;
    default:
        return EX_FAILED;
    }
}

/* Report a failed call on stderr (problem details) and return the exit. */
static int report(struct smo__ctl_resp *r)
{
    if (!r->status) {
        fprintf(stderr, "smoctl: %s\n", r->error);
        return EX_UNAVAIL;
    }
    const char *detail = json_string_value(json_object_get(r->json, "detail"));
    fprintf(stderr, "smoctl: %ld %s\n", r->status,
            detail ? detail : (r->body ? r->body : ""));
    size_t i;
    json_t *e;
    const json_t *errs = json_object_get(r->json, "errors");
    json_array_foreach(errs, i, e)
    {
        json_int_t line = json_integer_value(json_object_get(e, "line"));
        if (line)
            fprintf(stderr, "  line %lld: %s: %s\n", (long long)line,
                    json_string_value(json_object_get(e, "path")),
                    json_string_value(json_object_get(e, "message")));
        else
            fprintf(stderr, "  %s: %s\n",
                    json_string_value(json_object_get(e, "path")),
                    json_string_value(json_object_get(e, "message")));
    }
    return exit_for(r->status);
}

static int call(const char *method, const char *path, const char *body,
                size_t len, const char *ctype, struct smo__ctl_resp *r)
{
    smo__ctl_request(&C, method, path, body, len, ctype, r);
    return r->status >= 200 && r->status < 300 ? 0 : report(r);
}

static char *escape(const char *s)
{
    CURL *e = curl_easy_init();
    char *x = curl_easy_escape(e, s, 0);
    char *out = strdup(x ? x : "");
    curl_free(x);
    curl_easy_cleanup(e);
    return out;
}

static char *graph_path(const char *name, const char *suffix)
{
    char *n = escape(name), *p = NULL, *pr = project ? escape(project) : NULL;
    if (asprintf(&p, "/graphs/%s%s%s%s", n, suffix, pr ? "?project=" : "",
                 pr ? pr : "") < 0)
        p = NULL;
    free(n);
    free(pr);
    return p;
}

/* Follow an operation, printing each step once it is recorded. */
static int follow(const char *id, double seconds)
{
    uint64_t end = (uint64_t)time(NULL) + (uint64_t)seconds;
    size_t shown = 0;
    bool table = !strcmp(out_fmt, "table");
    for (;;) {
        char path[256];
        double left = (double)end - (double)time(NULL);
        snprintf(path, sizeof path, "/operations/%s?wait=%g", id,
                 left > 2   ? 2.0
                 : left > 0 ? left
                            : 0);
        struct smo__ctl_resp r;
        int rc = call("GET", path, NULL, 0, NULL, &r);
        if (rc) {
            smo__ctl_resp_free(&r);
            return rc;
        }
        json_t *steps = json_object_get(r.json, "steps");
        for (; table && shown < json_array_size(steps); shown++) {
            json_t *s = json_array_get(steps, shown);
            const char *state = str(s, "state");
            if (!strcmp(state, "pending") || !strcmp(state, "running"))
                break;
            printf("  %-28s %s%s%s\n", str(s, "name"), state,
                   json_object_get(s, "error") || json_object_get(s, "note")
                       ? ": "
                       : "",
                   json_object_get(s, "error")  ? str(s, "error")
                   : json_object_get(s, "note") ? str(s, "note")
                                                : "");
            fflush(stdout);
        }
        const char *state = str(r.json, "state");
        if (strcmp(state, "running")) {
            if (!table)
                print_json(r.json);
            else if (!strcmp(state, "failed"))
                fprintf(stderr, "smoctl: operation %s failed: %s\n", id,
                        str(r.json, "error"));
            int ok = !strcmp(state, "succeeded");
            smo__ctl_resp_free(&r);
            return ok ? EX_OK : EX_FAILED;
        }
        smo__ctl_resp_free(&r);
        if ((uint64_t)time(NULL) >= end) {
            fprintf(stderr, "smoctl: operation %s still running after %g s\n",
                    id, seconds);
            return EX_FAILED;
        }
    }
}

static int show_graph(const char *name)
{
    char *path = graph_path(name, "");
    struct smo__ctl_resp r;
    int rc = call("GET", path, NULL, 0, NULL, &r);
    free(path);
    if (!rc) {
        if (!strcmp(out_fmt, "table"))
            print_graph(r.json);
        else
            print_json(r.json);
    }
    smo__ctl_resp_free(&r);
    return rc;
}

/* An accepted operation: follow it when asked, then show the graph. */
static int after_op(struct smo__ctl_resp *r, const char *graph, bool show)
{
    const char *id = json_string_value(json_object_get(r->json, "id"));
    if (!id) {
        print_json(r->json);
        return EX_OK;
    }
    if (wait_s < 0) {
        if (!strcmp(out_fmt, "table"))
            printf("operation %s %s (smoctl operation get %s --wait)\n", id,
                   str(r->json, "state"), id);
        else
            print_json(r->json);
        return EX_OK;
    }
    if (!strcmp(out_fmt, "table"))
        printf("operation %s: %s %s\n", id, str(r->json, "action"),
               str(r->json, "graph"));
    char idc[64];
    snprintf(idc, sizeof idc, "%s", id);
    int rc = follow(idc, wait_s);
    if (show && !strcmp(out_fmt, "table") && graph) {
        int r2 = show_graph(graph);
        if (!rc)
            rc = r2;
    }
    return rc;
}

static int cmd_deploy(const char *ref)
{
    if (!project) {
        fprintf(stderr, "smoctl: graph deploy needs -p PROJECT\n");
        return EX_USAGE;
    }
    char *body = NULL;
    size_t len = 0;
    const char *ctype;
    if (strstr(ref, "://")) {
        json_t *j = json_pack("{s:s}", "artifact", ref);
        body = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        len = strlen(body);
        ctype = "application/json";
    } else {
        body = read_all(ref, &len, 64u << 20);
        if (!body) {
            fprintf(stderr, "smoctl: %s: %s\n", ref, strerror(errno));
            return EX_INVALID;
        }
        size_t l = strlen(ref);
        ctype = l > 5 && !strcmp(ref + l - 5, ".json") ? "application/json"
                                                       : "application/x-yaml";
    }
    char *pr = escape(project), path[512];
    snprintf(path, sizeof path, "/project/%s/graphs", pr);
    free(pr);
    struct smo__ctl_resp r;
    int rc = call("POST", path, body, len, ctype, &r);
    free(body);
    if (!rc) {
        /* The graph's name is in the operation ("project/name"). */
        const char *g = str(r.json, "graph");
        const char *slash = strchr(g, '/');
        char name[256];
        snprintf(name, sizeof name, "%s", slash ? slash + 1 : g);
        rc = after_op(&r, name, true);
    }
    smo__ctl_resp_free(&r);
    return rc;
}

static int cmd_action(const char *action, const char *name)
{
    const char *suffix = !strcmp(action, "start")   ? "/start"
                         : !strcmp(action, "stop")  ? "/stop"
                         : !strcmp(action, "place") ? "/placement"
                                                    : "";
    const char *method = !strcmp(action, "remove") ? "DELETE" : "POST";
    char *path = graph_path(name, suffix);
    struct smo__ctl_resp r;
    int rc = call(method, path, NULL, 0, NULL, &r);
    free(path);
    if (!rc)
        rc = after_op(&r, name, strcmp(action, "remove") != 0);
    smo__ctl_resp_free(&r);
    return rc;
}

static int cmd_plan(const char *ref)
{
    size_t len;
    char *body = read_all(ref, &len, 64u << 20);
    if (!body) {
        fprintf(stderr, "smoctl: %s: %s\n", ref, strerror(errno));
        return EX_INVALID;
    }
    struct smo__ctl_resp r;
    int rc = call("POST", "/graphs/plan", body, len, "application/x-yaml", &r);
    free(body);
    if (!rc) {
        if (strcmp(out_fmt, "table"))
            print_json(r.json);
        else if (!json_is_true(json_object_get(r.json, "feasible"))) {
            printf("graph %s: no placement: %s\n", str(r.json, "graph"),
                   str(r.json, "reason"));
            rc = EX_FAILED;
        } else {
            json_t *d = json_object_get(r.json, "detail");
            printf("graph %s: %s placement by %s, objective %g, %.2f ms\n",
                   str(r.json, "graph"), str(d, "status"), str(d, "solver"),
                   json_number_value(json_object_get(d, "objective")),
                   json_number_value(json_object_get(d, "solve_ms")));
            printf("%-24s %s\n", "SERVICE", "CLUSTER");
            const char *k;
            json_t *v;
            json_object_foreach(json_object_get(r.json, "placement"), k, v)
                printf("%-24s %s\n", k, json_string_value(v));
        }
    }
    smo__ctl_resp_free(&r);
    return rc;
}

static int cmd_get(const char *path, void (*table)(const json_t *))
{
    struct smo__ctl_resp r;
    int rc = call(!strcmp(path, "/clusters/sync") ? "POST" : "GET", path, NULL,
                  0, NULL, &r);
    if (!rc) {
        if (!strcmp(out_fmt, "table") && table)
            table(r.json);
        else
            print_json(r.json);
    }
    smo__ctl_resp_free(&r);
    return rc;
}

/* ------------------------------------------------ VIMs, provisioning -- */

static void print_vims(const json_t *res)
{
    const json_t *arr = json_object_get(res, "vims");
    printf("%-4s %-20s %-5s %-32s %s\n", "ID", "NAME", "AREA", "URL",
           "NETWORKS (mgmt, service)");
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        printf("%-4lld %-20s %-5lld %-32s %s, %s\n",
               (long long)json_integer_value(json_object_get(v, "id")),
               str(v, "name"),
               (long long)json_integer_value(json_object_get(v, "area")),
               str(v, "url"), str(v, "mgmt_network"),
               str(v, "service_network"));
    }
}

static void print_provisioned(const json_t *arr)
{
    printf("%-22s %-10s %-5s %-12s %-8s %s\n", "SMO_ID", "BLUEPRINT", "AREA",
           "VIM", "WORKERS", "STATUS");
    size_t i;
    json_t *c;
    json_array_foreach(arr, i, c)
    {
        printf("%-22s %-10s %-5lld %-12s %-8lld %s\n", str(c, "smo_id"),
               str(c, "nfvcl_id"),
               (long long)json_integer_value(json_object_get(c, "area")),
               str(c, "vim_name"),
               (long long)json_integer_value(
                   json_object_get(c, "running_workers")),
               str(c, "status"));
    }
}

/* Print the answer's message (table) or the whole answer. */
static int send_and_show(const char *method, const char *path, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    struct smo__ctl_resp r;
    int rc = call(method, path, text, text ? strlen(text) : 0,
                  text ? "application/json" : NULL, &r);
    if (text) {
        explicit_bzero(text, strlen(text)); /* may hold a VIM password */
        free(text);
    }
    if (!rc) {
        const char *m = json_string_value(json_object_get(r.json, "message"));
        if (!strcmp(out_fmt, "table") && m) {
            const char *id =
                json_string_value(json_object_get(r.json, "smo_id"));
            printf("%s%s%s\n", m, id ? ": " : "", id ? id : "");
        } else
            print_json(r.json);
    }
    smo__ctl_resp_free(&r);
    return rc;
}

static bool is_count(const char *s)
{
    return s && *s && strlen(s) < 10 && strspn(s, "0123456789") == strlen(s);
}

static int cmd_vim_register(const char *file)
{
    size_t len = 0;
    char *text = read_all(file, &len, 1 << 20);
    if (!text) {
        fprintf(stderr, "smoctl: %s: cannot read\n", file);
        return EX_INVALID;
    }
    struct smo__yaml_opts o = {0};
    json_t *doc = NULL;
    smo_status st;
    smo_status_clear(&st);
    int r = smo__yaml_parse(text, len, &o, &doc, &st);
    explicit_bzero(text, len);
    free(text);
    if (r || !json_is_object(doc)) {
        fprintf(stderr, "smoctl: %s: %s\n", file, r ? st.msg : "not a mapping");
        json_decref(doc);
        return EX_INVALID;
    }
    /* Keep the password off the command line (ps shows argv). */
    const char *pw = getenv("SMO_VIM_PASSWORD");
    if (!json_object_get(doc, "vim_password") && pw && *pw)
        json_object_set_new(doc, "vim_password", json_string(pw));
    int rc = send_and_show("POST", "/vims/smo_vims", doc);
    json_decref(doc);
    return rc;
}

static int cmd_vim(int n, char **a)
{
    char path[300];
    if (n == 2 && !strcmp(a[1], "list")) {
        if (opt_area && !is_count(opt_area)) {
            fprintf(stderr, "smoctl: --area: a non-negative integer\n");
            return EX_USAGE;
        }
        snprintf(path, sizeof path, "/vims/smo_vims%s%s",
                 opt_area ? "?pop_area=" : "", opt_area ? opt_area : "");
        return cmd_get(path, print_vims);
    }
    if (n == 2 && !strcmp(a[1], "sync"))
        return cmd_get("/vims/sync/nfvcl_vims", print_vims);
    if (n == 3 && !strcmp(a[1], "register"))
        return cmd_vim_register(a[2]);
    if (n == 3 && !strcmp(a[1], "delete")) {
        char *id = escape(a[2]);
        snprintf(path, sizeof path, "/vims/smo_vims/%s", id);
        free(id);
        return send_and_show("DELETE", path, NULL);
    }
    usage(stderr);
    return EX_USAGE;
}

static int cmd_provision(int n, char **a)
{
    char path[300];
    if ((opt_area && !is_count(opt_area)) ||
        (opt_workers && (!is_count(opt_workers) || !atoi(opt_workers)))) {
        fprintf(stderr, "smoctl: --area and --workers: integers\n");
        return EX_USAGE;
    }
    if (n == 2 && !strcmp(a[1], "create")) {
        if (!opt_vim || !opt_area) {
            fprintf(stderr, "smoctl: cluster create: --vim and --area are "
                            "required\n");
            return EX_USAGE;
        }
        json_t *b = json_pack("{s:s, s:I}", "vim_name", opt_vim, "pop_area",
                              (json_int_t)atoll(opt_area));
        if (opt_workers)
            json_object_set_new(b, "workers", json_integer(atoll(opt_workers)));
        int rc = send_and_show("POST", "/os_k8s/clusters", b);
        json_decref(b);
        return rc;
    }
    if (n == 3 && !strcmp(a[1], "scale-out")) {
        char *id = escape(a[2]);
        snprintf(path, sizeof path, "/os_k8s/scale-out/%s", id);
        free(id);
        json_t *b =
            json_pack("{s:I}", "workers",
                      (json_int_t)(opt_workers ? atoll(opt_workers) : 1));
        int rc = send_and_show("POST", path, b);
        json_decref(b);
        return rc;
    }
    if (n == 3 && !strcmp(a[1], "delete")) {
        char *id = escape(a[2]);
        snprintf(path, sizeof path, "/os_k8s/cluster/%s", id);
        free(id);
        return send_and_show("DELETE", path, NULL);
    }
    if (n == 2 && !strcmp(a[1], "provisioned")) {
        snprintf(path, sizeof path, "/os_k8s/clusters%s%s",
                 opt_area ? "?pop_area=" : "", opt_area ? opt_area : "");
        return cmd_get(path, print_provisioned);
    }
    usage(stderr);
    return EX_USAGE;
}

static void print_events(const json_t *arr)
{
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e)
    {
        time_t t =
            (time_t)(json_integer_value(json_object_get(e, "time_ms")) / 1000);
        struct tm tm;
        char ts[32];
        gmtime_r(&t, &tm);
        strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
        char *d = json_dumps(json_object_get(e, "data"), JSON_COMPACT);
        printf("%s %-22s %-32s %s\n", ts, str(e, "type"), str(e, "graph"),
               d ? d : "");
        free(d);
    }
}

static void print_version(const json_t *v)
{
    printf("server %s (plugin ABI %s), smoctl %s\n", str(v, "version"),
           str(v, "abi"), SMO_VERSION);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"url", required_argument, NULL, 'u'},
        {"token", required_argument, NULL, 't'},
        {"project", required_argument, NULL, 'p'},
        {"wait", optional_argument, NULL, 'w'},
        {"output", required_argument, NULL, 'o'},
        {"graph", required_argument, NULL, 'g'},
        {"limit", required_argument, NULL, 'l'},
        {"cacert", required_argument, NULL, 'C'},
        {"insecure", no_argument, NULL, 'k'},
        {"area", required_argument, NULL, 'A'},
        {"vim", required_argument, NULL, 'V'},
        {"workers", required_argument, NULL, 'W'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0}};
    const char *graph_filter = NULL, *limit = NULL;
    int c;
    /* Options may follow the command words, as scripts write them. */
    while ((c = getopt_long(argc, argv, "u:t:p:w::o:h", longopts, NULL)) !=
           -1) {
        switch (c) {
        case 'u':
            C.url = optarg;
            break;
        case 't':
            C.token = optarg;
            break;
        case 'p':
            project = optarg;
            break;
        case 'w':
            wait_s = optarg ? strtod(optarg, NULL) : 600;
            if (wait_s < 0)
                wait_s = 600;
            break;
        case 'o':
            if (strcmp(optarg, "table") && strcmp(optarg, "json") &&
                strcmp(optarg, "yaml")) {
                fprintf(stderr, "smoctl: --output: table, json or yaml\n");
                return EX_USAGE;
            }
            out_fmt = optarg;
            break;
        case 'g':
            graph_filter = optarg;
            break;
        case 'l':
            limit = optarg;
            break;
        case 'C':
            C.ca_file = optarg;
            break;
        case 'k':
            C.insecure = true;
            break;
        case 'A':
            opt_area = optarg;
            break;
        case 'V':
            opt_vim = optarg;
            break;
        case 'W':
            opt_workers = optarg;
            break;
        case 'h':
            usage(stdout);
            return EX_OK;
        default:
            usage(stderr);
            return EX_USAGE;
        }
    }
    if (!C.url && getenv("SMO_URL") && *getenv("SMO_URL"))
        C.url = getenv("SMO_URL");
    if (!C.token && getenv("SMO_TOKEN") && *getenv("SMO_TOKEN"))
        C.token = getenv("SMO_TOKEN");
    load_config();
    if (!C.url)
        C.url = "http://127.0.0.1:8000";
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int n = argc - optind;
    char **a = argv + optind;
    int rc = EX_USAGE;
    if (n >= 1 && !strcmp(a[0], "graph") && n >= 2) {
        if (!strcmp(a[1], "deploy") && n == 3)
            rc = cmd_deploy(a[2]);
        else if (!strcmp(a[1], "list") && n == 2) {
            char path[300] = "/graphs";
            if (project) {
                char *pr = escape(project);
                snprintf(path, sizeof path, "/project/%s/graphs", pr);
                free(pr);
            }
            rc = cmd_get(path, print_graphs);
        } else if (!strcmp(a[1], "get") && n == 3)
            rc = show_graph(a[2]);
        else if (!strcmp(a[1], "plan") && n == 3)
            rc = cmd_plan(a[2]);
        else if (n == 3 && (!strcmp(a[1], "start") || !strcmp(a[1], "stop") ||
                            !strcmp(a[1], "place") || !strcmp(a[1], "remove")))
            rc = cmd_action(a[1], a[2]);
        else
            usage(stderr);
    } else if (n == 2 && !strcmp(a[0], "cluster") && !strcmp(a[1], "list"))
        rc = cmd_get("/clusters", print_clusters);
    else if (n == 2 && !strcmp(a[0], "cluster") && !strcmp(a[1], "sync"))
        rc = cmd_get("/clusters/sync", print_clusters);
    else if (n >= 2 && !strcmp(a[0], "cluster"))
        rc = cmd_provision(n, a);
    else if (n >= 2 && !strcmp(a[0], "vim"))
        rc = cmd_vim(n, a);
    else if (n == 3 && !strcmp(a[0], "operation") && !strcmp(a[1], "get")) {
        if (wait_s >= 0)
            rc = follow(a[2], wait_s);
        else {
            char path[300];
            char *id = escape(a[2]);
            snprintf(path, sizeof path, "/operations/%s", id);
            free(id);
            rc = cmd_get(path, print_operation);
        }
    } else if (n == 1 && !strcmp(a[0], "events")) {
        char path[600] = "/events";
        char *g = graph_filter ? escape(graph_filter) : NULL;
        snprintf(path, sizeof path, "/events?limit=%s%s%s",
                 limit ? limit : "50", g ? "&graph=" : "", g ? g : "");
        free(g);
        rc = cmd_get(path, print_events);
    } else if (n == 1 && !strcmp(a[0], "version"))
        rc = cmd_get("/version", print_version);
    else if (n == 1 && !strcmp(a[0], "health"))
        rc = cmd_get("/healthz", NULL);
    else
        usage(stderr);
    curl_global_cleanup();
    return rc;
}
