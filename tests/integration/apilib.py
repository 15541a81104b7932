"""A real smod with the REST API on a free port, simulated clusters and
the SQLite store, plus an HTTP client and the smoctl runner.

The configuration is the shipped conf.d/ (engine, sources, translators,
store, solvers) with the executor and the API replaced by test versions.
Every wait is bounded."""
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import time

import smolib

SMOCTL = os.path.join(smolib.BUILD, "bin", "smoctl")
EXAMPLES = os.path.join(smolib.SOURCE, "packaging", "examples", "hdag")
FIXTURES = os.path.join(smolib.SOURCE, "tests", "fixtures")

CLUSTERS = """
      - {name: edge-a, cpu: 8, memory: 16Gi, gpu: 0,
         labels: {smo.io/cost-per-core: "2"}}
      - {name: edge-b, cpu: 16, memory: 32Gi, gpu: 1,
         labels: {smo.io/cost-per-core: "1.5"}}
      - {name: central, cpu: 64, memory: 256Gi, gpu: 4,
         allocated_cpu: 16, allocated_memory: 64Gi,
         labels: {smo.io/cost-per-core: "1"}}
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def example(name):
    return os.path.join(EXAMPLES, name)


def read(path):
    with open(path) as f:
        return f.read()


def read_sim_releases(path):
    """executor_sim's file: a snapshot line, then put/del change lines;
    an unterminated last line that does not parse is a write cut short
    (never acknowledged), as smod itself treats it."""
    with open(path) as f:
        data = f.read()
    lines = data.split("\n")
    rel = json.loads(lines[0])["releases"]
    for i, line in enumerate(lines[1:], 1):
        if not line:
            continue
        try:
            c = json.loads(line)
        except ValueError:
            if i == len(lines) - 1:  # the unterminated tail
                break
            raise
        if "put" in c:
            rel[c["put"]] = c["release"]
        else:
            rel.pop(c["del"], None)
    return rel


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body
        self.ctype = headers.get("content-type", "")

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<%d %s %r>" % (self.status, self.ctype, self.body[:300])


class Smo:
    """smod with the API. `sim` adds executor settings (YAML lines under
    config:), `api` adds API settings. `executor`, when given, is the whole
    text of 40-executor.yaml instead of the simulated clusters. `store`
    adds store settings (on SQLite or, with SMO_TEST_STORE=postgres, on
    PostgreSQL)."""

    def __init__(self, test, sim="", api="", engine="", root=None,
                 clusters=CLUSTERS, executor=None, store=""):
        self.test = test
        self.root = root or smolib.tmpdir()
        self.conf = os.path.join(self.root, "conf.d")
        self.data = os.path.join(self.root, "data")
        self.port = free_port()
        os.makedirs(self.conf, exist_ok=True)
        src = os.path.join(smolib.SOURCE, "conf.d")
        for f in sorted(os.listdir(src)):
            if f.endswith(".yaml") and not f.startswith(("40-", "90-")):
                shutil.copy(os.path.join(src, f), self.conf)
        smolib.write(os.path.join(self.conf, "40-executor.yaml"),
                     executor if executor is not None else
                     "instances:\n  - kind: executor\n    plugin: sim\n"
                     "    name: clusters\n    config:\n      clusters:"
                     + clusters + sim)
        smolib.write(os.path.join(self.conf, "90-api.yaml"),
                     "instances:\n  - kind: api\n    plugin: http\n"
                     "    name: api\n    config:\n"
                     "      listen: 127.0.0.1:%d\n" % self.port + api)
        if os.environ.get("SMO_TEST_STORE") == "postgres":
            # The same test on PostgreSQL (tests/fixtures/pg/pg-harness.sh
            # run exports the server); a schema of its own per daemon.
            smolib.write(os.path.join(self.conf, "20-store.yaml"),
                         "instances:\n  - kind: store\n    plugin: postgres\n"
                         "    name: store\n    config:\n"
                         "      conninfo: %s\n"
                         "      password_file: %s\n"
                         "      schema: t_%s\n" % (
                             json.dumps(os.environ["SMO_TEST_PG"]),
                             json.dumps(
                                 os.environ["SMO_TEST_PG_PASSWORD_FILE"]),
                             os.urandom(6).hex()) + store)
        elif store:
            smolib.write(os.path.join(self.conf, "20-store.yaml"),
                         "instances:\n  - kind: store\n    plugin: sqlite\n"
                         "    name: store\n    config:\n" + store)
        smolib.write(os.path.join(self.conf, "95-test.yaml"),
                     "engine:\n  shutdown_timeout: 5s\n" + engine)
        self.daemon = None
        self.token = None

    def start(self):
        self.daemon = smolib.Daemon(self.conf, self.data)
        self.daemon.notify.wait_for("READY=1")
        return self

    def stop(self):
        rc = self.daemon.stop() if self.daemon else 0
        self.daemon = None
        return rc

    def kill9(self):
        self.daemon.proc.kill()
        self.daemon.proc.wait(10)
        self.daemon.log.close()
        self.daemon.notify.close()
        self.daemon = None

    def cleanup(self):
        d = self.daemon
        rc = self.stop()
        if d and rc not in (0, None):
            # A crash or sanitizer report: show it before the files go.
            print("smod exited with %s; its log:\n%s" % (rc, d.logs()[-20000:]),
                  file=sys.stderr)
        smolib.rmtree(self.root)
        if d:
            self.test.assertEqual(rc, 0, "smod did not exit cleanly")

    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def request(self, method, path, body=None, ctype=None, token=None,
                headers=None, timeout=30):
        c = http.client.HTTPConnection("127.0.0.1", self.port,
                                       timeout=timeout)
        h = dict(headers or {})
        tok = token if token is not None else self.token
        if tok:
            h["Authorization"] = "Bearer " + tok
        if body is not None:
            if not isinstance(body, (bytes, str)):
                body = json.dumps(body)
                ctype = ctype or "application/json"
            if isinstance(body, str):
                body = body.encode()
            if ctype:
                h["Content-Type"] = ctype
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        out = Resp(r.status, {k.lower(): v for k, v in r.getheaders()},
                   r.read().decode("utf-8", "replace"))
        c.close()
        return out

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def deploy(self, project, path, wait=30, expect=200):
        r = self.post("/project/%s/graphs?wait=%d" % (project, wait),
                      read(path), ctype="application/x-yaml")
        self.test.assertEqual(r.status, expect, r)
        return r

    def graph(self, name, project=None):
        q = "?project=" + project if project else ""
        r = self.get("/graphs/%s%s" % (name, q))
        self.test.assertEqual(r.status, 200, r)
        return r.json()

    def wait_op(self, op_id, timeout=30):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            r = self.get("/operations/" + op_id)
            if r.status == 200 and r.json()["state"] in (
                    "succeeded", "failed"):
                return r.json()
            time.sleep(0.05)
        raise AssertionError("operation %s did not finish" % op_id)

    def sim_releases(self):
        path = os.path.join(self.data, "executor-sim-clusters.json")
        if not os.path.exists(path):
            return {}
        return read_sim_releases(path)

    def smoctl(self, *args, token=None, env=None, timeout=60):
        e = dict(os.environ)
        e["SMO_URL"] = self.url()
        e.pop("SMO_TOKEN", None)
        e["HOME"] = self.root  # no user config file leaks in
        if token or self.token:
            e["SMO_TOKEN"] = token or self.token
        e.update(env or {})
        return subprocess.run([SMOCTL] + list(args), capture_output=True,
                              text=True, env=e, timeout=timeout)
