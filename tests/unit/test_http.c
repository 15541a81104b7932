/* The asynchronous HTTP client against a real local server (plain HTTP and
 * TLS with a client certificate): methods, headers, bodies, auth, limits,
 * timeouts, refused connections and TLS failures. */
#include "smo_test.h"

#include <signal.h>

#include "smo_rt.h"

static struct smo_rt *rt;
static const struct smo_host *H;
static char *certs;
static pid_t plain_pid, tls_pid;
static int plain_port, tls_port;

static pid_t start_server(const char *const *argv, int *port)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    char line[64] = "";
    if (!fgets(line, sizeof line, f) || sscanf(line, "PORT %d", port) != 1)
        fail_msg("test server did not start");
    fclose(f);
    return pid;
}

static int setup(void **state)
{
    (void)state;
    certs = t_mkdtemp();
    const char *gen[] = {"sh", SMO_TEST_SRC_DIR "/fixtures/gen_certs.sh", certs,
                         NULL};
    pid_t g = fork();
    if (g == 0) {
        execvp("sh", (char *const *)gen);
        _exit(127);
    }
    int st;
    waitpid(g, &st, 0);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    const char *plain[] = {"python3", SMO_TEST_SRC_DIR "/fixtures/httpd.py",
                           NULL};
    plain_pid = start_server(plain, &plain_port);
    char cert[512], key[512], ca[512];
    snprintf(cert, sizeof cert, "%s/server.pem", certs);
    snprintf(key, sizeof key, "%s/server.key", certs);
    snprintf(ca, sizeof ca, "%s/ca.pem", certs);
    const char *tls[] = {"python3", SMO_TEST_SRC_DIR "/fixtures/httpd.py",
                         "--tls",   cert,
                         key,       ca,
                         NULL};
    tls_pid = start_server(tls, &tls_port);
    rt = smo__rt_new(NULL, "/nonexistent", "/tmp");
    H = &rt->host;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    smo__rt_free(rt);
    kill(plain_pid, SIGTERM);
    kill(tls_pid, SIGTERM);
    waitpid(plain_pid, NULL, 0);
    waitpid(tls_pid, NULL, 0);
    t_rm_rf(certs);
    free(certs);
    return 0;
}

struct res {
    bool done;
    int code;
    long status;
    char msg[512];
    char *body;
    json_t *headers;
};

static void on_resp(void *arg, const smo_status *st,
                    const struct smo_http_response *r)
{
    struct res *o = arg;
    o->done = true;
    o->code = st->code;
    snprintf(o->msg, sizeof o->msg, "%s", st->msg);
    if (r) {
        o->status = r->status;
        o->body = strndup(r->body, r->body_len);
        o->headers = json_deep_copy(r->headers);
    }
}

static void res_free(struct res *o)
{
    free(o->body);
    json_decref(o->headers);
    memset(o, 0, sizeof *o);
}

static void do_req(struct smo_http_request *rq, struct res *o)
{
    memset(o, 0, sizeof *o);
    rq->size = sizeof *rq;
    smo_status st;
    smo_status_clear(&st);
    smo_http_call *c = H->http_request(&rt->core, rq, on_resp, o, &st);
    if (!c)
        fail_msg("request refused: %s", st.msg);
    assert_false(o->done);
    assert_true(t_run_until(rt->loop, &o->done, 10000));
}

static char *url(bool tls, const char *path)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "%s://127.0.0.1:%d%s", tls ? "https" : "http",
             tls ? tls_port : plain_port, path);
    return buf;
}

static void test_get_post(void **state)
{
    (void)state;
    struct smo_http_request rq;
    struct res o;
    memset(&rq, 0, sizeof rq);
    rq.url = url(false, "/hello");
    do_req(&rq, &o);
    assert_int_equal(o.code, 0);
    assert_int_equal(o.status, 200);
    assert_string_equal(o.body, "hello");
    assert_string_equal(json_string_value(json_object_get(o.headers, "x-test")),
                        "yes");
    res_free(&o);

    const char *hdrs[] = {"Content-Type: application/json", "X-Custom: 42",
                          NULL};
    memset(&rq, 0, sizeof rq);
    rq.method = "PATCH";
    rq.url = url(false, "/echo");
    rq.headers = hdrs;
    rq.body = "{\"spec\":{\"replicas\":3}}";
    rq.body_len = strlen(rq.body);
    rq.bearer_token = "tok123";
    do_req(&rq, &o);
    assert_int_equal(o.status, 200);
    json_t *j = json_loads(o.body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "method")),
                        "PATCH");
    assert_string_equal(json_string_value(json_object_get(j, "body")),
                        "{\"spec\":{\"replicas\":3}}");
    assert_string_equal(json_string_value(json_object_get(j, "x_custom")),
                        "42");
    assert_string_equal(json_string_value(json_object_get(j, "authorization")),
                        "Bearer tok123");
    json_decref(j);
    res_free(&o);

    memset(&rq, 0, sizeof rq);
    rq.url = url(false, "/basic");
    rq.basic_user = "alice";
    rq.basic_password = "s3cret";
    do_req(&rq, &o);
    assert_int_equal(o.status, 200);
    res_free(&o);

    /* HTTP errors are responses, not failures. */
    memset(&rq, 0, sizeof rq);
    rq.url = url(false, "/status/503");
    do_req(&rq, &o);
    assert_int_equal(o.code, 0);
    assert_int_equal(o.status, 503);
    res_free(&o);
}

static void test_failures(void **state)
{
    (void)state;
    struct smo_http_request rq;
    struct res o;
    memset(&rq, 0, sizeof rq);
    rq.url = url(false, "/slow");
    rq.timeout_ms = 300;
    do_req(&rq, &o);
    assert_int_equal(o.code, SMO_ETIMEDOUT);
    res_free(&o);

    memset(&rq, 0, sizeof rq);
    rq.url = url(false, "/big");
    rq.max_response_bytes = 1024;
    do_req(&rq, &o);
    assert_int_equal(o.code, SMO_ETOOBIG);
    assert_non_null(strstr(o.msg, "response larger than 1024 bytes"));
    res_free(&o);

    memset(&rq, 0, sizeof rq);
    rq.url = "http://127.0.0.1:1/";
    do_req(&rq, &o);
    assert_int_equal(o.code, SMO_EUNAVAIL);
    res_free(&o);

    /* Only http and https. */
    memset(&rq, 0, sizeof rq);
    rq.size = sizeof rq;
    rq.url = "file:///etc/passwd";
    smo_status st;
    assert_null(H->http_request(&rt->core, &rq, on_resp, &o, &st));
    assert_int_equal(st.code, SMO_EINVAL);

    /* Header injection is refused. */
    const char *bad[] = {"X-A: 1\r\nX-B: 2", NULL};
    memset(&rq, 0, sizeof rq);
    rq.size = sizeof rq;
    rq.url = url(false, "/hello");
    rq.headers = bad;
    assert_null(H->http_request(&rt->core, &rq, on_resp, &o, &st));
    assert_string_equal(st.msg, "HTTP header contains a line break");
}

static void test_tls(void **state)
{
    (void)state;
    char ca[512], cert[512], key[512];
    snprintf(ca, sizeof ca, "%s/ca.pem", certs);
    snprintf(cert, sizeof cert, "%s/client.pem", certs);
    snprintf(key, sizeof key, "%s/client.key", certs);
    struct smo_http_request rq;
    struct res o;

    memset(&rq, 0, sizeof rq);
    rq.url = url(true, "/echo");
    rq.ca_file = ca;
    rq.client_cert_file = cert;
    rq.client_key_file = key;
    do_req(&rq, &o);
    assert_int_equal(o.code, 0);
    assert_int_equal(o.status, 200);
    json_t *j = json_loads(o.body, 0, NULL);
    assert_true(json_is_true(json_object_get(j, "client_cert")));
    json_decref(j);
    res_free(&o);

    /* The same from memory (kubeconfig *-data fields). */
    char *ca_pem = NULL, *cert_pem = NULL, *key_pem = NULL;
    FILE *f;
    size_t n;
    f = fopen(ca, "r");
    getdelim(&ca_pem, &n, '\0', f);
    fclose(f);
    f = fopen(cert, "r");
    getdelim(&cert_pem, &n, '\0', f);
    fclose(f);
    f = fopen(key, "r");
    getdelim(&key_pem, &n, '\0', f);
    fclose(f);
    memset(&rq, 0, sizeof rq);
    rq.url = url(true, "/hello");
    rq.ca_pem = ca_pem;
    rq.client_cert_pem = cert_pem;
    rq.client_key_pem = key_pem;
    do_req(&rq, &o);
    assert_int_equal(o.code, 0);
    assert_int_equal(o.status, 200);
    res_free(&o);
    free(ca_pem);
    free(cert_pem);
    free(key_pem);

    /* Unknown CA: refused. */
    memset(&rq, 0, sizeof rq);
    rq.url = url(true, "/hello");
    rq.client_cert_file = cert;
    rq.client_key_file = key;
    do_req(&rq, &o);
    assert_int_equal(o.code, SMO_EPROTO);
    res_free(&o);

    /* No client certificate: the server refuses the handshake. */
    memset(&rq, 0, sizeof rq);
    rq.url = url(true, "/hello");
    rq.ca_file = ca;
    do_req(&rq, &o);
    assert_true(o.code == SMO_EPROTO || o.code == SMO_EUNAVAIL);
    res_free(&o);

    /* insecure_skip_verify accepts the unknown CA. */
    memset(&rq, 0, sizeof rq);
    rq.url = url(true, "/hello");
    rq.insecure_skip_verify = true;
    rq.client_cert_file = cert;
    rq.client_key_file = key;
    do_req(&rq, &o);
    assert_int_equal(o.code, 0);
    res_free(&o);
}

static void test_concurrency_and_cancel(void **state)
{
    (void)state;
    enum { N = 20 };
    struct res o[N];
    struct smo_http_request rq;
    memset(&rq, 0, sizeof rq);
    rq.size = sizeof rq;
    rq.url = url(false, "/hello");
    smo_status st;
    for (int i = 0; i < N; i++) {
        memset(&o[i], 0, sizeof o[i]);
        assert_non_null(H->http_request(&rt->core, &rq, on_resp, &o[i], &st));
    }
    struct res slow = {0};
    rq.url = url(false, "/slow");
    smo_http_call *c = H->http_request(&rt->core, &rq, on_resp, &slow, &st);
    H->http_cancel(c); /* no callback after an explicit cancel */
    uint64_t end = uv_hrtime() + 10000 * 1000000ull;
    for (;;) {
        int done = 0;
        for (int i = 0; i < N; i++)
            done += o[i].done;
        if (done == N || uv_hrtime() > end)
            break;
        uv_run(rt->loop, UV_RUN_ONCE);
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(o[i].status, 200);
        res_free(&o[i]);
    }
    assert_false(slow.done);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_post),
        cmocka_unit_test(test_failures),
        cmocka_unit_test(test_tls),
        cmocka_unit_test(test_concurrency_and_cancel),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
