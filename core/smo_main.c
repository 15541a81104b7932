/* smod: the SMO daemon and its offline commands. */
#define _GNU_SOURCE
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <uv.h>

#include "smo_conf.h"
#include "smo_daemon.h"
#include "smo_loader.h"
#include "smo_offline.h"
#include "smo_log.h"
#include "smo_rt.h"
#include "smo_schema.h"

/* `smod plan` (core/smo_plan_cmd.c) parses its own options. */
int smo__cmd_plan(int argc, char **argv);

#ifndef SMO_CONFDIR
#define SMO_CONFDIR "/etc/smo/conf.d"
#endif
#ifndef SMO_DATADIR
#define SMO_DATADIR "/var/lib/smo"
#endif

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: smod COMMAND [OPTIONS]\n"
        "\n"
        "Commands:\n"
        "  run            run the daemon in the foreground\n"
        "  check-config   validate the configuration without starting\n"
        "  plugins        list the plugins found and their settings\n"
        "  validate REF   check a descriptor (file path, oci://, http(s)://)"
        "\n"
        "                 and show its translated services\n"
        "  plan REF --inventory CLUSTERS.json\n"
        "                 place a descriptor on a Karmada ClusterList without"
        "\n"
        "                 deploying (smod plan --help)\n"
        "  version        print the version\n"
        "\n"
        "Options:\n"
        "  -c, --conf DIR        configuration directory (default "
        "$SMO_CONF_DIR or %s)\n"
        "  -d, --data DIR        data directory (default $SMO_DATA_DIR, "
        "engine.data_dir or %s)\n"
        "  -p, --plugin-dir DIR  search DIR for plugins first "
        "(repeatable)\n"
        "  -l, --log-level LVL   error|warning|notice|info|debug\n"
        "  -o, --output FMT      table|json (validate also: yaml, the\n"
        "                        canonical descriptor)\n"
        "  -h, --help            this help\n",
        SMO_CONFDIR, SMO_DATADIR);
}

struct opts {
    const char *conf;
    const char *data;
    const char *output;
    int log_level;
    const char *args[4]; /* positional arguments */
    int n_args;
};

static void add_plugin_dir(const char *d)
{
    const char *cur = getenv("SMO_PLUGIN_PATH");
    char *v = NULL;
    if (asprintf(&v, "%s%s%s", d, cur && *cur ? ":" : "", cur ? cur : "") < 0)
        return;
    setenv("SMO_PLUGIN_PATH", v, 1);
    free(v);
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
    static const struct option longopts[] = {
        {"conf", required_argument, NULL, 'c'},
        {"data", required_argument, NULL, 'd'},
        {"plugin-dir", required_argument, NULL, 'p'},
        {"log-level", required_argument, NULL, 'l'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0}};
    int c;
    o->log_level = -1;
    while ((c = getopt_long(argc, argv, "c:d:p:l:o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->conf = optarg;
            break;
        case 'd':
            o->data = optarg;
            break;
        case 'p':
            add_plugin_dir(optarg);
            break;
        case 'l':
            o->log_level = smo__log_level_parse(optarg);
            if (o->log_level < 0) {
                fprintf(stderr,
                        "smod: --log-level: unknown level \"%s\" "
                        "(error, warning, notice, info, debug)\n",
                        optarg);
                return -1;
            }
            break;
        case 'o':
            if (strcmp(optarg, "json") && strcmp(optarg, "table") &&
                strcmp(optarg, "yaml")) {
                fprintf(stderr,
                        "smod: --output: expected table, json or yaml, "
                        "found \"%s\"\n",
                        optarg);
                return -1;
            }
            o->output = optarg;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    while (optind < argc) {
        if (o->n_args == 4) {
            fprintf(stderr, "smod: unexpected argument \"%s\"\n", argv[optind]);
            return -1;
        }
        o->args[o->n_args++] = argv[optind++];
    }
    if (!o->conf)
        o->conf = getenv("SMO_CONF_DIR");
    if (!o->conf)
        o->conf = SMO_CONFDIR;
    return 0;
}

static const char *resolve_data_dir(const struct opts *o)
{
    if (o->data)
        return o->data;
    const char *e = getenv("SMO_DATA_DIR");
    if (e && *e)
        return e;
    static char from_conf[4096];
    struct smo__errlist errs;
    smo__errlist_init(&errs, 1);
    struct smo__conf *c = NULL;
    if (smo__conf_load(o->conf, &c, &errs) == 0 && c->ecfg.data_dir) {
        snprintf(from_conf, sizeof from_conf, "%s", c->ecfg.data_dir);
        smo__conf_free(c);
        smo__errlist_free(&errs);
        return from_conf;
    }
    smo__conf_free(c);
    smo__errlist_free(&errs);
    return SMO_DATADIR;
}

static int cmd_check(const struct opts *o)
{
    struct smo_rt *rt = smo__rt_new(NULL, o->conf, resolve_data_dir(o));
    struct smo__errlist errs;
    smo__errlist_init(&errs, 200);
    int r = smo__rt_check_config(rt, &errs);
    bool json = o->output && strcmp(o->output, "json") == 0;
    if (json) {
        json_t *lines = json_array();
        for (size_t i = 0; i < errs.n; i++)
            json_array_append_new(lines, json_string(errs.lines[i]));
        json_t *out = json_pack("{s:s, s:b, s:o}", "conf_dir", o->conf, "ok",
                                r == 0, "errors", lines);
        char *s = json_dumps(out, JSON_INDENT(2));
        printf("%s\n", s);
        free(s);
        json_decref(out);
    } else if (r) {
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "%s\n", errs.lines[i]);
        if (errs.dropped)
            fprintf(stderr, "... and %zu more problems\n", errs.dropped);
        fprintf(stderr,
                "smod: configuration in %s is invalid (%zu problem%s)\n",
                o->conf, smo__errlist_count(&errs),
                smo__errlist_count(&errs) == 1 ? "" : "s");
    } else {
        struct smo__conf *c = NULL;
        struct smo__errlist e2;
        smo__errlist_init(&e2, 1);
        smo__conf_load(o->conf, &c, &e2);
        printf("configuration in %s is valid: %zu file%s, %zu instance%s\n",
               o->conf, c ? json_array_size(c->files) : 0,
               c && json_array_size(c->files) == 1 ? "" : "s",
               c ? c->n_inst : 0, c && c->n_inst == 1 ? "" : "s");
        for (size_t i = 0; c && i < c->n_inst; i++)
            printf("  %-11s %-20s plugin %s\n", smo__kind_name(c->inst[i].kind),
                   c->inst[i].name, c->inst[i].plugin);
        smo__conf_free(c);
        smo__errlist_free(&e2);
    }
    smo__errlist_free(&errs);
    smo__rt_free(rt);
    return r ? 1 : 0;
}

static void print_fields(json_t *fields, int indent)
{
    size_t i;
    json_t *f;
    json_array_foreach(fields, i, f)
    {
        const char *def = json_string_value(json_object_get(f, "default"));
        const char *desc = json_string_value(json_object_get(f, "description"));
        json_t *vals = json_object_get(f, "values");
        char type[160];
        snprintf(type, sizeof type, "%s",
                 json_string_value(json_object_get(f, "type")));
        if (vals) {
            char *v = json_dumps(vals, JSON_COMPACT);
            snprintf(type + strlen(type), sizeof type - strlen(type), " %s",
                     v ? v : "");
            free(v);
        }
        printf("%*s%-22s %-18s %s%s%s%s%s\n", indent, "",
               json_string_value(json_object_get(f, "key")), type,
               json_is_true(json_object_get(f, "required")) ? "required. " : "",
               def ? "default " : "", def ? def : "", def ? ". " : "",
               desc ? desc : "");
        json_t *sub = json_object_get(f, "fields");
        if (sub)
            print_fields(sub, indent + 2);
        json_t *el = json_object_get(f, "element");
        if (el)
            print_fields(el, indent + 2);
    }
}

static int cmd_plugins(const struct opts *o)
{
    struct smo__loader l;
    struct smo__errlist errs;
    smo__errlist_init(&errs, 1);
    struct smo__conf *c = NULL;
    /* The configuration may add directories; an invalid one is ignored. */
    if (o->conf)
        smo__conf_load(o->conf, &c, &errs);
    smo__loader_init(&l, c ? c->ecfg.plugin_path : NULL);
    json_t *list = smo__loader_scan(&l);
    json_t *engine = smo__schema_describe(smo__engine_schema());
    if (o->output && strcmp(o->output, "json") == 0) {
        json_t *out =
            json_pack("{s:o, s:o}", "plugins", list, "engine", engine);
        char *s = json_dumps(out, JSON_INDENT(2));
        printf("%s\n", s);
        free(s);
        json_decref(out);
    } else {
        printf("Plugin directories:");
        for (size_t i = 0; i < l.n_dirs; i++)
            printf(" %s", l.dirs[i]);
        printf("\n\n");
        size_t i;
        json_t *p;
        json_array_foreach(list, i, p)
        {
            const char *err = json_string_value(json_object_get(p, "error"));
            if (err) {
                printf("%s\n  not loadable: %s\n\n",
                       json_string_value(json_object_get(p, "file")), err);
                continue;
            }
            printf("%s %s %s (ABI %s)\n  %s\n  file: %s\n",
                   json_string_value(json_object_get(p, "kind")),
                   json_string_value(json_object_get(p, "name")),
                   json_string_value(json_object_get(p, "version")),
                   json_string_value(json_object_get(p, "abi")),
                   json_string_value(json_object_get(p, "description"))
                       ? json_string_value(json_object_get(p, "description"))
                       : "",
                   json_string_value(json_object_get(p, "file")));
            json_t *cfg = json_object_get(p, "config");
            if (json_array_size(cfg)) {
                printf("  config:\n");
                print_fields(cfg, 4);
            } else
                printf("  config: (none)\n");
            printf("\n");
        }
        printf("engine section (every conf.d file may set it):\n");
        print_fields(engine, 2);
        json_decref(list);
        json_decref(engine);
    }
    smo__loader_fini(&l);
    smo__conf_free(c);
    smo__errlist_free(&errs);
    return 0;
}

int main(int argc, char **argv)
{
    uint64_t t0 = uv_hrtime();
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 ||
        strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("smod %s (plugin ABI %u.%u)\n", SMO_VERSION, SMO_ABI_MAJOR,
               SMO_ABI_MINOR);
        return 0;
    }
    if (strcmp(cmd, "plan") == 0)
        return smo__cmd_plan(argc - 1, argv + 1);
    /* The thread pool's arenas otherwise hand their free tops back to the
     * kernel after nearly every store commit (madvise was 7% of a
     * deploy's CPU); 8 MiB kept per arena bounds what this costs. An
     * operator's MALLOC_TRIM_THRESHOLD_ still wins. */
    if (!getenv("MALLOC_TRIM_THRESHOLD_"))
        mallopt(M_TRIM_THRESHOLD, 8 << 20);
    struct opts o;
    memset(&o, 0, sizeof o);
    optind = 2;
    if (parse_opts(argc, argv, &o))
        return 2;
    if (o.log_level >= 0)
        smo__log_setup(-1, o.log_level);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int want = strcmp(cmd, "validate") == 0 ? 1 : 0;
    if (o.n_args != want) {
        fprintf(stderr, "smod %s: %s\n", cmd,
                want ? "expected one descriptor reference"
                     : "takes no positional argument");
        return 2;
    }
    int rc;
    if (strcmp(cmd, "run") == 0) {
        struct smo__daemon_opts d;
        memset(&d, 0, sizeof d);
        d.conf_dir = o.conf;
        d.data_dir = resolve_data_dir(&o);
        d.log_level = o.log_level;
        d.start_ns = t0;
        rc = smo__daemon_run(&d);
    } else if (strcmp(cmd, "check-config") == 0)
        rc = cmd_check(&o);
    else if (strcmp(cmd, "plugins") == 0)
        rc = cmd_plugins(&o);
    else if (strcmp(cmd, "validate") == 0)
        rc = smo__cmd_validate(o.conf, o.args[0], o.output, o.log_level);
    else {
        fprintf(stderr, "smod: unknown command \"%s\"\n", cmd);
        usage(stderr);
        rc = 2;
    }
    curl_global_cleanup();
    return rc;
}
