/* Helpers shared by the unit tests (header-only: each test is one file). */
#ifndef SMO_TEST_H
#define SMO_TEST_H

#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <uv.h>

/* A fresh private directory under $TMPDIR; removed by rm_rf. */
static inline char *t_mkdtemp(void)
{
    const char *base = getenv("TMPDIR");
    char *tmpl = NULL;
    if (asprintf(&tmpl, "%s/smo-test-XXXXXX", base ? base : "/tmp") < 0)
        return NULL;
    if (!mkdtemp(tmpl)) {
        free(tmpl);
        return NULL;
    }
    return tmpl;
}

static inline void t_write(const char *dir, const char *name,
                           const char *content)
{
    char *p = NULL;
    assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
    free(p);
}

static inline void t_rm_rf(const char *dir)
{
    if (!dir || strlen(dir) < 8)
        return;
    const char *argv[] = {"rm", "-rf", "--", dir, NULL};
    pid_t pid = fork();
    if (pid == 0) {
        execvp("rm", (char *const *)argv);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
}

/* Run `loop` until *flag becomes true or `ms` elapse. */
static inline bool t_run_until(uv_loop_t *loop, volatile bool *flag,
                               uint64_t ms)
{
    uint64_t end = uv_hrtime() + ms * 1000000ull;
    while (!*flag && uv_hrtime() < end)
        uv_run(loop, UV_RUN_ONCE);
    return *flag;
}

#endif
