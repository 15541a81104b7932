"""The scaling loop end to end: a REAL Prometheus (Debian's prometheus) on
127.0.0.1 scraping a target the test controls, smod with monitor/prometheus
(queries only), the CBC solver's scale operation and the simulated
executor, whose replica counts the test reads from its state file.

The target exposes a gauge smo_test_requests{service, graph}: the request
rate the loop reads through its query templates (one from the descriptor's
requestRate metric, one from engine.scaling.query), so every rate the loop
sees is exact and every decision is the model's, not a rate() estimate's.

Checked: replicas follow the rate up and down within [min, max]; nothing
is set when nothing differs; demand above max replicas is reported as
unmet; a change within min_change_interval is held; Prometheus going down
makes cycles fail (metrics, one event, API) while smod stays up, and the
loop recovers when Prometheus is back. Every wait is bounded; there are
no timing thresholds."""
import json
import os
import shutil
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import apilib
import smolib
import test_monitoring as tm

PROMETHEUS = shutil.which("prometheus")

GRAPH = """
hdaGraph:
  id: shop
  hdaGraphIntent:
    scaling: { enabled: true }
  services:
    - id: web
      artifact:
        ociImage: oci://registry.example.com/p/web:1.0.0
        ociConfig: { implementer: Helm, type: Application }
        valuesOverwrite: {}
      deployment:
        intent:
          compute: { cpu: light, ram: small, storage: none, gpu: { enabled: false } }
          connectionPoints: [ api ]
          metrics:
            - type: requestRate
              promQuery: 'sum(smo_test_requests{service=$service, graph=$graph})'
              alpha: 10
              beta: 0
              minReplicas: 1
              maxReplicas: 4
        trigger: { type: standard }
    - id: api
      artifact:
        ociImage: oci://registry.example.com/p/api:1.0.0
        ociConfig: { implementer: Helm, type: Application }
        valuesOverwrite: {}
      deployment:
        intent:
          compute: { cpu: light, ram: small, storage: none, gpu: { enabled: false } }
          connectionPoints: []
        trigger: { type: standard }
"""


class Gauge:
    """GET /metrics: smo_test_requests{service=..., graph="shop"} per
    service, values set by the test."""

    def __init__(self):
        self.lock = threading.Lock()
        self.values = {}
        target = self

        class H(BaseHTTPRequestHandler):
            def do_GET(self):
                with target.lock:
                    lines = ["# TYPE smo_test_requests gauge"]
                    for s, v in sorted(target.values.items()):
                        lines.append('smo_test_requests{service="%s",'
                                     'graph="shop"} %g' % (s, v))
                body = ("\n".join(lines) + "\n").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.port = self.server.server_address[1]

    def set(self, **rates):
        with self.lock:
            self.values.update(rates)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class Stack:
    def __init__(self, test, min_change="0s", extra="", executor=None):
        self.test = test
        self.root = smolib.tmpdir()
        self.gauge = Gauge()
        self.prom_port = apilib.free_port()
        self.prom = "http://127.0.0.1:%d" % self.prom_port
        self.prom_proc = None
        kw = {"executor": executor} if executor else {}
        self.smo = apilib.Smo(
            test, root=os.path.join(self.root, "smo"), **kw,
            engine="  scaling:\n"
                   "    interval: 1s\n"
                   "    min_change_interval: %s\n"
                   "    query_timeout: 2s\n"
                   "    query: 'sum(smo_test_requests{service=$service})'\n"
                   "    max_replicas: 5\n"
                   "    fit: {min_samples: 3}\n"
                   "    services:\n"
                   "      api: {alpha: 5, max_replicas: 3}\n" % min_change
                   + extra)
        smolib.write(os.path.join(self.smo.conf, "50-monitoring.yaml"),
                     "instances:\n"
                     "  - kind: monitor\n"
                     "    plugin: prometheus\n"
                     "    name: prometheus\n"
                     "    config:\n"
                     "      url: %s\n"
                     "      rules: {mode: none}\n" % self.prom)

    def start_prometheus(self):
        yml = os.path.join(self.root, "prometheus.yml")
        smolib.write(yml, """
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: shop
    honor_labels: true
    static_configs: [{targets: ['127.0.0.1:%d']}]
""" % self.gauge.port)
        self.prom_proc = tm.Proc(
            [PROMETHEUS, "--config.file=" + yml,
             "--storage.tsdb.path=" + os.path.join(self.root, "prom-data"),
             "--web.listen-address=127.0.0.1:%d" % self.prom_port,
             "--storage.tsdb.retention.time=2h"],
            os.path.join(self.root, "prometheus.log"))
        tm.wait_until(lambda: tm.Stack.ready(self.prom + "/-/ready",
                                             self.prom_proc), 60, "prometheus")
        tm.wait_until(self.scraped, 60, "first scrape of the gauge")

    def scraped(self):
        t = tm.http_json(self.prom + "/api/v1/targets")["data"]
        t = t["activeTargets"]
        return bool(t) and t[0]["health"] == "up"

    def stop_prometheus(self):
        if self.prom_proc:
            self.prom_proc.stop()
            self.prom_proc = None

    def start(self):
        self.start_prometheus()
        self.smo.start()

    def cleanup(self):
        self.stop_prometheus()
        self.gauge.stop()
        self.smo.cleanup()
        smolib.rmtree(self.root)

    # ---- views ---------------------------------------------------------

    def replicas(self):
        out = {}
        for k, r in self.smo.sim_releases().items():
            out[k.split("/")[-1]] = r.get("replicas")
        return out

    def scaling(self):
        r = self.smo.get("/graphs/shop/scaling?project=p")
        self.test.assertEqual(r.status, 200, r)
        return r.json()

    def metric(self, name, **labels):
        total = 0.0
        for line in self.smo.get("/metrics").body.splitlines():
            if not line.startswith(name) or line.startswith("#"):
                continue
            head, val = line.rsplit(" ", 1)
            rest = head[len(name):]
            if rest and not rest.startswith("{"):
                continue
            if all('%s="%s"' % kv in rest for kv in labels.items()):
                total += float(val)
        return total

    def events(self, kind):
        r = self.smo.get("/events?graph=p/shop")
        self.test.assertEqual(r.status, 200, r)
        body = r.json()
        evs = body.get("events", body) if isinstance(body, dict) else body
        return [e for e in evs if e.get("type") == kind]

    def wait_replicas(self, want, timeout=60):
        def ok():
            cur = self.replicas()
            return cur if all(cur.get(k) == v for k, v in want.items()) \
                else None
        return tm.wait_until(ok, timeout, "replicas %r" % want, 0.1)

    def wait_cycles(self, n, timeout=60):
        """n more complete cycles of the graph (each is counted when it
        starts: n + 1 starts mean n whole ones)."""
        start = self.scaling()["cycles"]
        tm.wait_until(lambda: self.scaling()["cycles"] >= start + n + 1,
                      timeout, "%d scaling cycles" % n, 0.1)


@unittest.skipUnless(PROMETHEUS, "needs Debian's prometheus "
                     "(packaging/dev/install-deps.sh --test)")
class Scaling(unittest.TestCase):
    def stack(self, **kw):
        st = Stack(self, **kw)
        self.addCleanup(st.cleanup)
        st.start()
        return st

    def deploy(self, st):
        r = st.smo.post("/project/p/graphs?wait=30", GRAPH,
                        ctype="application/x-yaml")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["state"], "succeeded", r)

    def test_replicas_follow_the_rate(self):
        st = self.stack()
        st.gauge.set(web=0, api=0)
        self.deploy(st)
        self.assertEqual(st.replicas(), {"web": 1, "api": 1})
        sc = st.scaling()
        self.assertTrue(sc["enabled"], sc)
        self.assertEqual(sc["enabled_by"], "descriptor")
        web, api = sc["services"]["web"], sc["services"]["api"]
        # The descriptor's template, with its label values quoted.
        self.assertEqual(web["query"],
                         'sum(smo_test_requests{service="web", '
                         'graph="shop"})')
        self.assertEqual(web["model"],
                         {"alpha": 10.0, "beta": 0.0, "source": "descriptor"})
        self.assertEqual((web["min_replicas"], web["max_replicas"]), (1, 4))
        # The configuration's template and per-service override.
        self.assertEqual(api["query"], 'sum(smo_test_requests{service="api"})')
        self.assertEqual(api["model"]["source"], "config.services")
        self.assertEqual(api["max_replicas"], 3)

        # Up: 35 req/s at 10 per replica -> 4; 12 at 5 -> 3.
        st.gauge.set(web=35, api=12)
        st.wait_replicas({"web": 4, "api": 3})
        # Down: 15 -> 2; api 3 -> 1.
        st.gauge.set(web=15, api=3)
        st.wait_replicas({"web": 2, "api": 1})
        # The decision's event is stored once the changes it made are
        # applied: it can come a moment after the replicas.
        dec = tm.wait_until(
            lambda: (lambda e: e if e and e[-1]["data"]["services"]["web"][
                "replicas"] == 2 else None)(st.events("scaling.decision")),
            30, "the event of the decision to scale down")
        d = dec[-1]["data"]["services"]
        self.assertEqual(d["web"]["replicas"], 2, dec[-1])
        self.assertEqual(d["web"]["applied"], "changed", dec[-1])

        # Nothing differs: cycles go on, nothing is set.
        st.wait_cycles(1)
        changes = st.metric("smo_scaling_replica_changes_total")
        unchanged = st.metric("smo_scaling_decisions_total",
                              result="unchanged")
        n_dec = len(st.events("scaling.decision"))
        st.wait_cycles(3)
        self.assertEqual(st.metric("smo_scaling_replica_changes_total"),
                         changes)
        self.assertGreaterEqual(
            st.metric("smo_scaling_decisions_total", result="unchanged"),
            unchanged + 3)
        self.assertEqual(len(st.events("scaling.decision")), n_dec)
        self.assertEqual(st.replicas(), {"web": 2, "api": 1})

        # Above what max replicas serve: max, and the rest is unmet.
        st.gauge.set(web=100)
        st.wait_replicas({"web": 4})
        sc = tm.wait_until(
            lambda: (lambda s: s if s["unmet_demand"] else None)(
                st.scaling()), 30, "unmet demand on the API")
        last = sc["last_decision"]["services"]["web"]
        self.assertEqual(last["replicas"], 4)
        self.assertAlmostEqual(last["unmet"], 60.0, places=3)
        ev = tm.wait_until(lambda: st.events("scaling.unmet_demand"), 30,
                           "unmet demand event")
        self.assertAlmostEqual(ev[0]["data"]["unmet"], 60.0, places=3)
        self.assertLessEqual(max(st.replicas().values()), 4)

        # To zero: the minimum, never below.
        st.gauge.set(web=0, api=0)
        st.wait_replicas({"web": 1, "api": 1})
        st.wait_cycles(1)
        self.assertFalse(st.scaling()["unmet_demand"])

        # The fit saw (replicas, rate) samples and reports them.
        fit = st.scaling()["services"]["web"]["fit"]
        self.assertGreater(fit["samples"], 3, fit)
        self.assertIn("usable", fit)

        # smod's own metrics for the loop.
        self.assertGreater(st.metric("smo_scaling_queries_total",
                                     result="ok"), 0)
        self.assertGreater(st.metric("smo_scaling_solve_seconds_count"), 0)
        self.assertGreaterEqual(st.metric("smo_scaling_replica_changes_total",
                                          direction="up", result="ok"), 3)
        self.assertGreaterEqual(st.metric("smo_scaling_replica_changes_total",
                                          direction="down", result="ok"), 3)
        self.assertGreater(st.metric("smo_scaling_decisions_total",
                                     result="changed"), 0)
        self.assertEqual(st.metric("smo_scaling_query_failures_total"), 0)

    def test_min_change_interval_holds(self):
        st = self.stack(min_change="1h")
        st.gauge.set(web=0, api=0)
        self.deploy(st)
        st.gauge.set(web=35)
        st.wait_replicas({"web": 4})  # the first change is free
        st.gauge.set(web=15)

        def held():
            d = st.scaling()["last_decision"] or {}
            w = d.get("services", {}).get("web", {})
            return w if w.get("applied") == "held" else None
        w = tm.wait_until(held, 30, "a held decision")
        self.assertEqual((w["current"], w["replicas"]), (4, 2))
        st.wait_cycles(2)
        self.assertEqual(st.replicas()["web"], 4)
        self.assertGreater(st.metric("smo_scaling_decisions_total",
                                     result="held"), 0)
        self.assertIn("last_change_ms", st.scaling()["services"]["web"])

    def test_prometheus_down_then_back(self):
        st = self.stack()
        st.gauge.set(web=25, api=0)
        self.deploy(st)
        st.wait_replicas({"web": 3})
        st.stop_prometheus()
        sc = tm.wait_until(
            lambda: (lambda s: s if s["failing"] else None)(st.scaling()),
            60, "cycles failing")
        self.assertTrue(sc["last_error"], sc)
        tm.wait_until(lambda: st.metric("smo_scaling_query_failures_total")
                      >= 2, 60, "failures counted")
        ev = tm.wait_until(lambda: st.events("scaling.failed"), 30,
                           "failure event")
        self.assertEqual(ev[0]["data"]["stage"], "query", ev)
        st.wait_cycles(2)
        self.assertEqual(len(st.events("scaling.failed")), 1)  # once
        self.assertEqual(st.smo.get("/healthz").status, 200)
        self.assertEqual(st.replicas()["web"], 3)  # nothing decided blind
        # Back: the loop recovers and follows the rate again.
        st.gauge.set(web=15)
        st.start_prometheus()
        st.wait_replicas({"web": 2})
        tm.wait_until(
            lambda: not st.scaling()["failing"], 30, "recovered")
        tm.wait_until(lambda: st.events("scaling.recovered"), 30,
                      "recovery event")

    def test_unmet_demand_replaces_the_graph(self):
        """replace_on_unmet: demand above what max replicas serve starts a
        re-placement (graph.place), at most once per max(interval,
        min_change_interval), and the graph stays Running."""
        st = self.stack(min_change="4s",
                        extra="    replace_on_unmet: true\n")
        st.gauge.set(web=0, api=0)
        self.deploy(st)
        t0 = time.monotonic()
        st.gauge.set(web=100)  # 4 replicas serve 40
        ev = tm.wait_until(lambda: st.events("scaling.replace"), 60,
                           "re-placement event")
        self.assertIn("demand exceeds", ev[0]["data"]["reason"])

        def places():
            ops = st.smo.get("/operations").json()
            return [o for o in ops if o["action"] == "place"
                    and o["graph"] == "p/shop"]
        ops = tm.wait_until(
            lambda: [o for o in places() if o["state"] == "succeeded"], 60,
            "a finished re-placement")
        self.assertTrue(ops)
        st.wait_cycles(3)
        elapsed = time.monotonic() - t0
        n = len(places())
        self.assertGreaterEqual(n, 1)
        # Rate-limited: one per 4 s at the most (plus the first).
        self.assertLessEqual(n, 1 + int(elapsed / 4) + 1, (n, elapsed))
        self.assertEqual(len(st.events("scaling.replace")), n)
        self.assertEqual(st.smo.get("/graphs/shop?project=p").json()["status"],
                         "Running")
        # Demand met again: no more re-placements.
        st.gauge.set(web=0)
        tm.wait_until(lambda: not st.scaling()["unmet_demand"], 60,
                      "demand met")
        n = len(places())
        st.wait_cycles(6)
        self.assertEqual(len(places()), n)

    def test_prometheus_slow_or_garbage_then_back(self):
        """A Prometheus (here a fake speaking its query API) that answers
        after query_timeout, then with bodies that are not its JSON: cycles
        fail visibly, nothing is decided, smod answers; when it answers
        properly again, replicas follow the rate."""
        fake = FakeProm()
        self.addCleanup(fake.stop)
        st = Stack(self)
        self.addCleanup(st.cleanup)
        smolib.write(os.path.join(st.smo.conf, "50-monitoring.yaml"),
                     "instances:\n  - kind: monitor\n    plugin: prometheus\n"
                     "    name: prometheus\n    config:\n"
                     "      url: %s\n      rules: {mode: none}\n" % fake.url)
        st.smo.start()
        fake.rate = 0
        self.deploy(st)
        self.assertEqual(st.replicas(), {"web": 1, "api": 1})
        for mode in ("slow", "garbage"):
            with self.subTest(mode=mode):
                fake.mode, fake.rate = mode, 35
                sc = tm.wait_until(
                    lambda: (lambda x: x if x["failing"] else None)(
                        st.scaling()), 60, "cycles failing (%s)" % mode)
                self.assertTrue(sc["last_error"], sc)
                t0 = time.monotonic()
                self.assertEqual(st.smo.get("/healthz").status, 200)
                self.assertLess(time.monotonic() - t0, 5)
                st.wait_cycles(1)
                self.assertEqual(st.replicas()["web"], 1)  # nothing blind
                fake.mode = "ok"
                tm.wait_until(lambda: not st.scaling()["failing"], 60,
                              "recovered from %s" % mode)
                st.wait_replicas({"web": 4})
                fake.rate = 0
                st.wait_replicas({"web": 1})
        self.assertGreater(st.metric("smo_scaling_query_failures_total"), 0)


class FakeProm:
    """/api/v1/query answering a vector of one sample (`rate`) when mode is
    "ok", after 5 s (past the 2 s query_timeout) when "slow", and with a
    body that is not JSON when "garbage"."""

    def __init__(self):
        self.mode, self.rate = "ok", 0.0
        fake = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(n)
                if fake.mode == "slow":
                    time.sleep(5)
                if fake.mode == "garbage":
                    body = b"<html>502 Bad Gateway</html>"
                else:
                    body = json.dumps({"status": "success", "data": {
                        "resultType": "vector", "result": [{
                            "metric": {}, "value": [time.time(),
                                                    str(fake.rate)]}]}}
                    ).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up (slow mode)

            do_GET = do_POST

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


if __name__ == "__main__":
    unittest.main()
