#!/usr/bin/env python3
"""Load: N concurrent clients mixing deploys, reads, stops, starts,
re-placements and removals against a real smod on the simulated executor
(docs/reliability.md, Load; docs/benchmarks.md).

Each client has a project of its own (lcNN) and at most one graph of each
of the three example HDAGs (packaging/examples/hdag/, their ids suffixed
with the client's number so that GET /graphs/{name} is unambiguous). It
keeps one keep-alive HTTP/1.1 connection and loops over a seeded random
mix; every lifecycle action uses ?wait= so it has ended when it answers.
The client knows which of its graphs exist and in which status, and
checks every read against that: GET /graphs/{name} (status, project),
GET /project/{p}/graphs (exactly its graphs), GET /operations/{id}.
A few requests expect an error on purpose: deploying a graph that exists
(409), reading one that does not (404), stopping a stopped one (409).

At the end (clients stopped, nothing in flight):
* GET /graphs equals the union of what the clients believe, status for
  status (no lost graph, no ghost);
* no operation is unfinished, every operation a client started exists
  and succeeded, and no other operation exists for its graphs;
* the simulated executor's releases equal the store's Deployed services,
  cluster for cluster;
* the same after a clean restart of smod (SIGTERM, exit status 0, no
  sanitizer report in its log).

smod's RSS is sampled every 10 s; the series is printed with a verdict
(the second half's maximum against the first half's). Latencies (p50,
p95, p99, max) per request type are printed; nothing timing-related is
asserted. The exit status is 1 on a correctness failure (an unexpected
answer, a failed operation, a lost or ghost graph, a mismatch, smod not
exiting cleanly), else 0.

The store is SQLite (shipped conf.d/), or PostgreSQL with
SMO_TEST_STORE=postgres under tests/fixtures/pg/pg-harness.sh run.

usage: SMO_BUILD_DIR=build/loadrel bench_load.py [--clients 50]
           [--seconds 300] [--seed 1] [--json FILE] [--keep-log FILE]
"""
import argparse
import http.client
import json
import os
import random
import re
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
os.environ.setdefault("SMO_SOURCE_DIR", os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import smolib  # noqa: E402
from apilib import Smo, example, read  # noqa: E402

# Large enough for every graph of every client at once: capacity never
# refuses a deploy (GPUs too: image-detection keeps its GPU service).
BIG = """
      - {name: a, cpu: 100000, memory: 100Ti, gpu: 10000}
      - {name: b, cpu: 100000, memory: 100Ti, gpu: 10000}
      - {name: c, cpu: 100000, memory: 100Ti, gpu: 10000}
"""
# Installs and uninstalls take a little simulated time, so operations of
# different clients overlap inside their steps.
SIM = "      install_latency: 5ms\n      uninstall_latency: 2ms\n"

# The example graphs: one service; three with one event-triggered (and a
# GPU, a WOT virtual object); three with one event-triggered.
TEMPLATES = [("hello-world.yaml", "hello-world-graph", 1),
             ("image-detection.yaml", "image-detection-graph", 3),
             ("my-webapp.yaml", "my-webapp-graph", 3)]

# Relative weights of the actions of the mix.
MIX = [("get_graph", 28), ("list_project", 18), ("list_all", 2),
       ("get_op", 5), ("deploy", 17), ("remove", 12), ("stop", 5),
       ("start", 5), ("place", 3), ("deploy_conflict", 2),
       ("get_missing", 2), ("stop_stopped", 1)]

WAIT = 60              # ?wait= of every lifecycle action (seconds)
REQUEST_TIMEOUT = 120  # socket timeout of a client's connection
SAMPLE_EVERY = 10.0    # RSS sampling period (seconds)


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            text = f.read()
    except OSError:
        return None
    m = re.search(r"VmRSS:\s+(\d+)", text)
    return int(m.group(1)) if m else None


def percentile(sorted_vals, p):
    """Nearest-rank percentile of an ascending list (p in 0..100)."""
    if not sorted_vals:
        return 0.0
    k = max(0, min(len(sorted_vals) - 1,
                   int(-(-p * len(sorted_vals) // 100)) - 1))
    return sorted_vals[k]


class Problems:
    """Correctness failures (fail the run) and warnings (reported only),
    shared by every thread; the first few of each kind keep their detail."""

    KEEP = 20

    def __init__(self):
        self.lock = threading.Lock()
        self.failures = []
        self.nfail = 0
        self.warnings = []
        self.nwarn = 0

    def fail(self, msg):
        with self.lock:
            self.nfail += 1
            if len(self.failures) < self.KEEP:
                self.failures.append(msg)

    def warn(self, msg):
        with self.lock:
            self.nwarn += 1
            if len(self.warnings) < self.KEEP:
                self.warnings.append(msg)


class Client(threading.Thread):
    def __init__(self, idx, port, seed, deadline, hard_deadline, problems,
                 bodies):
        super().__init__(name="client-%d" % idx, daemon=True)
        self.idx = idx
        self.port = port
        self.rnd = random.Random("%s/%d" % (seed, idx))
        self.deadline = deadline
        self.hard_deadline = hard_deadline
        self.problems = problems
        self.project = "lc%02d" % idx
        self.names = [tid.replace("-graph", "-c%02d" % idx)
                      for _, tid, _ in TEMPLATES]
        self.bodies = [b.replace(tid, n) for b, (_, tid, _), n in
                       zip(bodies, TEMPLATES, self.names)]
        # What this client believes: slot -> status ("Running",
        # "Stopped"); absent slots are graphs that do not exist.
        self.graphs = {}
        self.ops = {}          # operation id -> (action, slot)
        self.lat = {}          # request type -> [seconds]
        self.errors = {}       # request type -> unexpected answers
        self.expected = {}     # request type -> expected non-2xx answers
        self.conn = None
        self.reconnects = 0
        self.actions = 0

    # -- HTTP -------------------------------------------------------------
    def _connect(self):
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                               timeout=REQUEST_TIMEOUT)

    def call(self, kind, method, path, body=None, ctype=None):
        """One request on the keep-alive connection; (status, body) or
        (None, error text) on a transport error, which is recorded."""
        if self.conn is None:
            self._connect()
        h = {}
        if body is not None:
            body = body.encode()
            h["Content-Type"] = ctype or "application/json"
        t0 = time.perf_counter()
        try:
            self.conn.request(method, path, body=body, headers=h)
            r = self.conn.getresponse()
            data = r.read()
            status = r.status
            if r.getheader("connection", "").lower() == "close":
                self.conn.close()
                self.conn = None
                self.reconnects += 1
        except (OSError, http.client.HTTPException) as e:
            dt = time.perf_counter() - t0
            self.lat.setdefault(kind, []).append(dt)
            self.conn.close()
            self.conn = None
            self.reconnects += 1
            self.error(kind, "%s %s: transport error %r" % (method, path, e))
            return None, repr(e)
        self.lat.setdefault(kind, []).append(time.perf_counter() - t0)
        return status, data.decode("utf-8", "replace")

    def error(self, kind, msg):
        self.errors[kind] = self.errors.get(kind, 0) + 1
        self.problems.fail("client %d: %s" % (self.idx, msg))

    def mismatch(self, kind, msg):
        self.errors[kind] = self.errors.get(kind, 0) + 1
        self.problems.fail("client %d: %s: %s" % (self.idx, kind, msg))

    def expect(self, kind, status, want, method, path, text):
        """True when status is `want`; a 2xx other than want, or any other
        non-2xx, is an error."""
        if status == want:
            if not 200 <= want < 300:
                self.expected[kind] = self.expected.get(kind, 0) + 1
            return True
        if status is not None:
            self.error(kind, "%s %s: %d, expected %d: %s"
                       % (method, path, status, want, text[:300]))
        return False

    # -- lifecycle --------------------------------------------------------
    def finish_op(self, kind, status, text, method, path):
        """The answer of a lifecycle action with ?wait: the operation,
        ended. A 202 (the wait expired) is a warning: the operation is
        then awaited (bounded) before the client goes on. Returns the
        final operation or None."""
        if status not in (200, 202):
            if status is not None:
                self.error(kind, "%s %s: %d: %s" % (method, path, status,
                                                     text[:300]))
            return None
        try:
            op = json.loads(text)
        except ValueError:
            self.error(kind, "%s %s: not JSON: %r" % (method, path,
                                                        text[:200]))
            return None
        if status == 202 or op.get("state") == "running":
            self.problems.warn("client %d: %s %s: wait of %d s expired"
                               % (self.idx, method, path, WAIT))
            end = min(time.monotonic() + 600, self.hard_deadline)
            while op.get("state") == "running" and time.monotonic() < end:
                st, t = self.call("await_op", "GET", "/operations/%s?wait=%d"
                                  % (op["id"], WAIT))
                if st != 200:
                    self.error("await_op", "GET /operations/%s: %s %s"
                               % (op["id"], st, t[:200]))
                    return None
                op = json.loads(t)
        if op.get("state") != "succeeded":
            self.error(kind, "%s %s: operation %s %s: %s"
                       % (method, path, op.get("id"), op.get("state"),
                          op.get("error")))
            return op
        return op

    def settle(self, slot):
        """After an action that did not succeed (already recorded as an
        error): learn the graph's real state, awaiting an operation still
        in flight and removing the graph when it is Failed, so that the
        client's belief stays exact for the final checks."""
        name = self.names[slot]
        for _ in range(5):
            st, t = self.call("reconcile", "GET", "/graphs/%s" % name)
            if st != 200:
                if st != 404:
                    self.error("reconcile", "GET /graphs/%s: %s %s"
                               % (name, st, t[:200]))
                self.graphs.pop(slot, None)
                return
            g = json.loads(t)
            running = (g.get("operation") or {}).get("id")
            if running:
                self.ops.setdefault(running, ("unknown", slot))
                st, t = self.call("reconcile", "GET", "/operations/%s?wait=%d"
                                  % (running, WAIT))
                continue
            if g.get("status") in ("Running", "Stopped"):
                self.graphs[slot] = g["status"]
                return
            path = "/graphs/%s?wait=%d" % (name, WAIT)
            st, t = self.call("reconcile", "DELETE", path)
            op = self.finish_op("reconcile", st, t, "DELETE", path)
            if op and "id" in op:
                self.ops[op["id"]] = ("remove", slot)
        self.error("reconcile", "graph %s did not settle" % name)
        self.graphs.pop(slot, None)

    def lifecycle(self, kind, slot, method, path, body=None, ctype=None,
                  after=None):
        st, t = self.call(kind, method, path, body, ctype)
        op = self.finish_op(kind, st, t, method, path)
        if op is not None and "id" in op:
            self.ops[op["id"]] = (kind, slot)
        if op is not None and op.get("state") == "succeeded":
            if after is None:
                self.graphs.pop(slot, None)
            else:
                self.graphs[slot] = after
        else:
            self.settle(slot)

    # -- the mix ----------------------------------------------------------
    def pick(self, states):
        slots = [s for s in range(len(TEMPLATES))
                 if self.graphs.get(s) in states]
        return self.rnd.choice(slots) if slots else None

    def step(self):
        actions, weights = zip(*MIX)
        for _ in range(10):
            a = self.rnd.choices(actions, weights)[0]
            if self.act(a):
                return
        self.act("list_project")

    def act(self, a):
        p = self.project
        if a == "deploy":
            s = self.pick((None,))
            if s is None:
                return False
            self.lifecycle(a, s, "POST", "/project/%s/graphs?wait=%d"
                           % (p, WAIT), self.bodies[s], "application/x-yaml",
                           after="Running")
        elif a == "remove":
            s = self.pick(("Running", "Stopped"))
            if s is None:
                return False
            self.lifecycle(a, s, "DELETE", "/graphs/%s?wait=%d"
                           % (self.names[s], WAIT))
        elif a in ("stop", "start", "place"):
            s = self.pick({"stop": ("Running",), "start": ("Stopped",),
                           "place": ("Running", "Stopped")}[a])
            if s is None:
                return False
            after = {"stop": "Stopped", "start": "Running",
                     "place": self.graphs[s]}[a]
            self.lifecycle(a, s, "POST", "/graphs/%s/%s?project=%s&wait=%d"
                           % (self.names[s], "placement" if a == "place"
                              else a, p, WAIT), after=after)
        elif a == "get_graph":
            s = self.pick(("Running", "Stopped"))
            if s is None:
                return False
            path = "/graphs/%s" % self.names[s]
            st, t = self.call(a, "GET", path)
            if self.expect(a, st, 200, "GET", path, t):
                g = json.loads(t)
                want = (self.names[s], p, self.graphs[s],
                        TEMPLATES[s][2])
                got = (g.get("name"), g.get("project"), g.get("status"),
                       len(g.get("services", [])))
                if got != want or "operation" in g:
                    self.mismatch(a, "%s: got %r (operation %r), expected %r"
                                  % (path, got, g.get("operation"), want))
        elif a == "list_project":
            path = "/project/%s/graphs" % p
            st, t = self.call(a, "GET", path)
            if self.expect(a, st, 200, "GET", path, t):
                got = sorted((g["name"], g["status"]) for g in json.loads(t))
                want = sorted((self.names[s], v)
                              for s, v in self.graphs.items())
                if got != want:
                    self.mismatch(a, "%s: got %r, expected %r"
                                  % (path, got, want))
        elif a == "list_all":
            st, t = self.call(a, "GET", "/graphs")
            if self.expect(a, st, 200, "GET", "/graphs", t):
                mine = sorted((g["name"], g["status"]) for g in json.loads(t)
                              if g.get("project") == p)
                want = sorted((self.names[s], v)
                              for s, v in self.graphs.items())
                if mine != want:
                    self.mismatch(a, "/graphs, project %s: got %r, expected "
                                  "%r" % (p, mine, want))
        elif a == "get_op":
            if not self.ops:
                return False
            op_id = self.rnd.choice(list(self.ops))
            path = "/operations/%s" % op_id
            st, t = self.call(a, "GET", path)
            if self.expect(a, st, 200, "GET", path, t):
                op = json.loads(t)
                if op.get("state") != "succeeded":
                    self.mismatch(a, "%s: state %r" % (path, op.get("state")))
        elif a == "deploy_conflict":
            s = self.pick(("Running", "Stopped"))
            if s is None:
                return False
            path = "/project/%s/graphs?wait=%d" % (p, WAIT)
            st, t = self.call(a, "POST", path, self.bodies[s],
                              "application/x-yaml")
            self.expect(a, st, 409, "POST", path, t)
        elif a == "get_missing":
            s = self.pick((None,))
            if s is None:
                return False
            path = "/graphs/%s" % self.names[s]
            st, t = self.call(a, "GET", path)
            self.expect(a, st, 404, "GET", path, t)
        elif a == "stop_stopped":
            s = self.pick(("Stopped",))
            if s is None:
                return False
            path = "/graphs/%s/stop?wait=%d" % (self.names[s], WAIT)
            st, t = self.call(a, "POST", path)
            self.expect(a, st, 409, "POST", path, t)
        return True

    def run(self):
        try:
            n = 0
            while (time.monotonic() < self.deadline
                   and time.monotonic() < self.hard_deadline
                   and n < 10_000_000):
                self.step()
                n += 1
            self.actions = n
        except Exception as e:  # a bug of this script or a bad answer
            self.problems.fail("client %d: %r" % (self.idx, e))
        finally:
            if self.conn:
                self.conn.close()


def stats_table(clients):
    """Per request type: count, unexpected, expected errors, latencies."""
    kinds = sorted({k for c in clients for k in c.lat})
    rows = []
    for k in kinds:
        vals = sorted(v for c in clients for v in c.lat.get(k, []))
        rows.append({
            "type": k, "count": len(vals),
            "errors": sum(c.errors.get(k, 0) for c in clients),
            "expected": sum(c.expected.get(k, 0) for c in clients),
            "p50_ms": 1000 * percentile(vals, 50),
            "p95_ms": 1000 * percentile(vals, 95),
            "p99_ms": 1000 * percentile(vals, 99),
            "max_ms": 1000 * (vals[-1] if vals else 0)})
    return rows


def check_final(s, clients, problems, out, label):
    """The store, the operations and the executor against what the
    clients believe. Returns a summary dict."""
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=300)

    def get(path):
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read().decode("utf-8", "replace")
        if r.status != 200:
            problems.fail("%s: GET %s: %d %s" % (label, path, r.status,
                                                  body[:300]))
            return None
        return json.loads(body)

    # Nothing should be in flight: every action was awaited.
    unfinished = None
    end = time.monotonic() + 30
    while time.monotonic() < end:
        unfinished = get("/operations?unfinished=true")
        if not unfinished:
            break
        time.sleep(0.2)
    if unfinished:
        problems.fail("%s: %d operations unfinished: %s"
                      % (label, len(unfinished),
                         [o.get("id") for o in unfinished[:5]]))

    graphs = get("/graphs") or []
    got = {(g["project"], g["name"]): g["status"] for g in graphs}
    want = {}
    for c in clients:
        for slot, status in c.graphs.items():
            want[(c.project, c.names[slot])] = status
    lost = sorted(set(want) - set(got))
    ghost = sorted(set(got) - set(want))
    wrong = sorted(k for k in set(got) & set(want) if got[k] != want[k])
    if lost:
        problems.fail("%s: %d lost graphs: %s" % (label, len(lost), lost[:10]))
    if ghost:
        problems.fail("%s: %d ghost graphs: %s" % (label, len(ghost),
                                                    ghost[:10]))
    if wrong:
        problems.fail("%s: %d graphs in another status: %s"
                      % (label, len(wrong),
                         [(k, got[k], want[k]) for k in wrong[:10]]))
    for g in graphs:
        if "operation" in g:
            problems.fail("%s: %s/%s still has an operation"
                          % (label, g["project"], g["name"]))

    # The executor holds exactly the store's Deployed services.
    expected = {}
    for g in graphs:
        for svc in g.get("services", []):
            if svc["status"] == "Deployed":
                expected["%s/%s" % (g["project"], svc["name"])] = \
                    svc["cluster_affinity"]
    rel = {k: v["cluster"] for k, v in s.sim_releases().items()}
    if rel != expected:
        extra = sorted(set(rel) - set(expected))
        missing = sorted(set(expected) - set(rel))
        moved = sorted(k for k in set(rel) & set(expected)
                       if rel[k] != expected[k])
        problems.fail("%s: executor and store disagree: %d orphan releases "
                      "%s, %d missing %s, %d on another cluster %s"
                      % (label, len(extra), extra[:5], len(missing),
                         missing[:5], len(moved), moved[:5]))

    # Every operation the clients started exists and succeeded; no other
    # operation touched their graphs.
    nops = 0
    started = {}
    for c in clients:
        started.update(c.ops)
    seen = set()
    for c in clients:
        for name in c.names:
            ops = get("/operations?graph=%s/%s" % (c.project, name)) or []
            for op in ops:
                nops += 1
                seen.add(op["id"])
                if op["state"] != "succeeded":
                    problems.fail("%s: operation %s (%s %s) %s: %s"
                                  % (label, op["id"], op.get("action"),
                                     op.get("graph"), op["state"],
                                     op.get("error")))
                if op["id"] not in started:
                    problems.fail("%s: operation %s (%s %s) was started by "
                                  "no client" % (label, op["id"],
                                                 op.get("action"),
                                                 op.get("graph")))
    missing_ops = sorted(set(started) - seen)
    if missing_ops:
        problems.fail("%s: %d operations the clients started are not "
                      "listed: %s" % (label, len(missing_ops),
                                      missing_ops[:5]))
    conn.close()
    nsvc = sum(len(g.get("services", [])) for g in graphs)
    out("%s: %d graphs (%d Running, %d Stopped), %d services, %d releases "
        "on the executor, %d operations checked; lost %d, ghost %d, "
        "status differs %d, unfinished %d"
        % (label, len(graphs), sum(v == "Running" for v in got.values()),
           sum(v == "Stopped" for v in got.values()), nsvc, len(rel), nops,
           len(lost), len(ghost), len(wrong), len(unfinished or [])))
    return {"graphs": len(graphs), "services": nsvc, "releases": len(rel),
            "operations": nops, "lost": len(lost), "ghost": len(ghost),
            "wrong_status": len(wrong), "unfinished": len(unfinished or [])}


SANITIZER = re.compile(r"ERROR: (Address|Leak|Thread|Memory)Sanitizer|"
                       r"runtime error:|SUMMARY: \w+Sanitizer")


def stop_and_check_log(s, problems, out, keep_log=None):
    """SIGTERM smod; its exit status must be 0 and its log free of
    sanitizer reports. Returns (exit status, log size in bytes)."""
    d = s.daemon
    rc = s.stop()
    text = d.logs() if d else ""
    if keep_log:
        with open(keep_log, "a") as f:
            f.write(text)
    if rc != 0:
        problems.fail("smod exited with %r; the end of its log:\n%s"
                      % (rc, text[-4000:]))
    m = SANITIZER.search(text)
    if m:
        i = m.start()
        problems.fail("sanitizer report in smod's log:\n%s"
                      % text[max(0, i - 200):i + 4000])
    # Warnings and errors (syslog priorities 0-4) are shown, not failed on.
    bad = [x for x in text.split("\n") if re.match(r"<[0-4]>", x)]
    out("smod stopped: exit status %r, log %d bytes, %d warning or error "
        "lines, sanitizer reports: %s"
        % (rc, len(text), len(bad), "yes" if m else "none"))
    for x in bad[:10]:
        out("  " + x[:300])
    return rc, len(text)


def run_load(s, clients=50, seconds=300, seed=1, out=print,
             sample_every=SAMPLE_EVERY, keep_log=None, grace=600):
    """Runs the load against a started Smo `s`, then the final checks,
    a clean restart and the checks again, then stops smod. Returns
    (result dict, Problems)."""
    problems = Problems()
    pid = s.daemon.proc.pid
    bodies = [read(example(f)) for f, _, _ in TEMPLATES]
    rss = [(0.0, rss_kb(pid))]
    t0 = time.monotonic()
    deadline = t0 + seconds
    hard = deadline + grace  # no client goes on after this
    cs = [Client(i, s.port, seed, deadline, hard, problems, bodies)
          for i in range(clients)]
    for c in cs:
        c.start()
    next_sample = t0 + sample_every
    while time.monotonic() < deadline:
        time.sleep(max(0.0, min(next_sample, deadline) - time.monotonic()))
        if time.monotonic() >= next_sample:
            rss.append((time.monotonic() - t0, rss_kb(pid)))
            next_sample += sample_every
    for c in cs:
        c.join(max(1.0, hard + REQUEST_TIMEOUT - time.monotonic()))
    elapsed = time.monotonic() - t0
    alive = [c.idx for c in cs if c.is_alive()]
    if alive:
        problems.fail("clients %s still running %.0f s after the end"
                      % (alive, elapsed - seconds))
    rss.append((elapsed, rss_kb(pid)))

    rows = stats_table(cs)
    total = sum(r["count"] for r in rows)
    out("%d clients, %.0f s of load (%.1f s with the last answers), seed %s,"
        " store %s" % (clients, seconds, elapsed, seed,
                       os.environ.get("SMO_TEST_STORE") or "sqlite"))
    out("%-16s %8s %7s %8s %9s %9s %9s %9s"
        % ("request", "count", "errors", "expected", "p50 ms", "p95 ms",
           "p99 ms", "max ms"))
    for r in rows:
        out("%-16s %8d %7d %8d %9.2f %9.2f %9.2f %9.1f"
            % (r["type"], r["count"], r["errors"], r["expected"],
               r["p50_ms"], r["p95_ms"], r["p99_ms"], r["max_ms"]))
    out("%-16s %8d %7d %8d   (%.0f requests/s)"
        % ("total", total, sum(r["errors"] for r in rows),
           sum(r["expected"] for r in rows), total / max(elapsed, 1e-9)))
    out("reconnects: %d" % sum(c.reconnects for c in cs))

    # RSS: the samples taken under load (not the one before the clients
    # started), split in halves.
    out("smod RSS, KiB, every %.0f s: %s" % (
        sample_every, " ".join("%s:%s" % ("%.0fs" % t if i < len(rss) - 1
                                          else "end", v)
                               for i, (t, v) in enumerate(rss))))
    load = [v for t, v in rss[1:] if v is not None]
    verdict = {"series": rss}
    if len(load) >= 2:
        half = len(load) // 2
        first, second = max(load[:half]), max(load[half:])
        growth = 100.0 * (second - first) / first
        flat = growth <= 10.0
        out("RSS first half max %d KiB, second half max %d KiB (%+.1f%%): "
            "%s" % (first, second, growth,
                    "flat" if flat else "GROWING (not asserted)"))
        verdict.update(first_half_max=first, second_half_max=second,
                       growth_pct=growth, flat=flat)
    else:
        out("RSS: too few samples for a verdict")

    summary = check_final(s, cs, problems, out, "after the load")
    stop_and_check_log(s, problems, out, keep_log)
    # The same after a clean restart: what the clients were told is durable.
    s.start()
    summary_restart = check_final(s, cs, problems, out, "after a restart")
    rc, _ = stop_and_check_log(s, problems, out, keep_log)

    if problems.nwarn:
        out("warnings: %d" % problems.nwarn)
        for w in problems.warnings:
            out("  " + w)
    if problems.nfail:
        out("CORRECTNESS FAILURES: %d" % problems.nfail)
        for f in problems.failures:
            out("  " + f)
    else:
        out("correctness: no unexpected answer, no failed operation, no lost"
            " or ghost graph, executor and store agree")
    result = {"clients": clients, "seconds": seconds, "elapsed": elapsed,
              "seed": seed,
              "store": os.environ.get("SMO_TEST_STORE") or "sqlite",
              "requests": rows, "total": total,
              "reconnects": sum(c.reconnects for c in cs),
              "actions": sum(c.actions for c in cs),
              "rss": verdict, "final": summary, "restart": summary_restart,
              "failures": problems.nfail, "failure_samples": problems.failures,
              "warnings": problems.nwarn,
              "warning_samples": problems.warnings, "smod_exit": rc}
    return result, problems


class Check:
    """The assertion methods apilib expects from a test case."""

    def assertEqual(self, a, b, msg=None):
        if a != b:
            raise SystemExit("%r != %r: %s" % (a, b, msg))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--seed", default="1")
    ap.add_argument("--json", help="write the figures to this file")
    ap.add_argument("--keep-log", help="append smod's log to this file")
    a = ap.parse_args()
    if not 1 <= a.clients <= 99:
        ap.error("--clients: 1 to 99")
    if not 0 < a.seconds <= 24 * 3600:
        ap.error("--seconds: up to a day")

    print("smod: %s" % smolib.SMOD)
    s = Smo(Check(), clusters=BIG, sim=SIM).start()
    try:
        result, problems = run_load(s, a.clients, a.seconds, a.seed,
                                    keep_log=a.keep_log)
    finally:
        if s.daemon:
            s.stop()
        smolib.rmtree(s.root)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=1)
    sys.exit(1 if problems.nfail else 0)


if __name__ == "__main__":
    main()
