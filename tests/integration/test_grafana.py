"""monitor_grafana end to end: smod publishes graph, service and cluster
dashboards to a fake Grafana that validates every dashboard it receives
(tests/fixtures/grafana/fake_grafana.py), stores their links in the graph
(GET /graphs/NAME answers them), survives Grafana being down (the deploy
succeeds, publication is retried in the background) and removes a graph's
dashboards with the graph. Every wait is bounded."""
import json
import os
import shutil
import subprocess
import sys
import time
import unittest

import apilib
import smolib

sys.path.insert(0, os.path.join(smolib.SOURCE, "tests", "fixtures",
                                "grafana"))
import fake_grafana  # noqa: E402

WEBAPP_SERVICES = ["web-frontend", "api-backend", "user-db"]


def wait_until(fn, timeout, what, interval=0.1):
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("%s: not within %ds (last: %r)" % (what, timeout,
                                                            last))


class Dashboards(unittest.TestCase):
    def setUp(self):
        self.graf = fake_grafana.Grafana(user="admin",
                                         password="prom-operator").start()
        self.addCleanup(self.graf.stop)
        self.smo = apilib.Smo(self)
        smolib.write(os.path.join(self.smo.conf, "50-monitoring.yaml"), """
instances:
  - kind: monitor
    plugin: grafana
    name: grafana
    config:
      url: %s
      public_url: https://grafana.example.com/
      basic_user: admin
      basic_password: prom-operator
      request_timeout: 2s
      retry_interval: 200ms
      retry_max_interval: 1s
""" % self.graf.url)
        self.smo.start()
        self.addCleanup(self.smo.cleanup)

    def step(self, op, name):
        return [s for s in op["steps"] if s["name"] == name][0]

    def dash(self, uid):
        with self.graf.lock:
            d = self.graf.dashboards.get(uid)
        return d["dashboard"] if d else None

    def uids_of(self, op):
        return {(d["kind"], d["name"]): d["uid"]
                for d in self.step(op, "dashboards")["detail"]["dashboards"]}

    def promql_parses(self):
        """Every panel query is PromQL that Prometheus itself accepts."""
        promtool = shutil.which("promtool")
        if not promtool:
            return
        with self.graf.lock:
            dashes = [d["dashboard"] for d in self.graf.dashboards.values()]
        rules = [{"record": "smo:test:%d" % i,
                  "expr": t["expr"].replace("$service", "some-service")}
                 for i, t in enumerate(t for d in dashes
                                       for p in d["panels"]
                                       for t in p["targets"])]
        path = os.path.join(self.smo.root, "panels.json")
        with open(path, "w") as f:
            json.dump({"groups": [{"name": "panels", "rules": rules}]}, f)
        r = subprocess.run([promtool, "check", "rules", path],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_publish_links_and_removal(self):
        s = self.smo
        op = s.deploy("shop", apilib.example("my-webapp.yaml")).json()
        self.assertEqual(op["state"], "succeeded", op)
        st = self.step(op, "dashboards")
        self.assertEqual(st["state"], "done", st)
        dl = st["detail"]["dashboards"]
        self.assertTrue(all(d["published"] for d in dl), dl)
        self.assertEqual(self.graf.invalid, [])
        self.assertEqual(self.graf.clobbered, [])
        uids = self.uids_of(op)
        g = s.graph("my-webapp-graph")
        clusters = sorted(set(g["placement"].values()))
        self.assertEqual(sorted(k for k in uids if k[0] == "cluster"),
                         [("cluster", c) for c in clusters])
        # Every uid is valid, unique and short enough for Grafana.
        self.assertEqual(len(set(uids.values())), len(uids))
        for u in uids.values():
            self.assertRegex(u, r"^[a-z0-9-]{1,39}$")
        # Basic auth on every request.
        self.assertTrue(all(r["auth"].startswith("Basic ")
                            for r in self.graf.requests))

        # The links are stored and returned by the API.
        gu = uids[("graph", "my-webapp-graph")]
        self.assertEqual(g["grafana"], "https://grafana.example.com/d/" + gu)
        for sv in g["services"]:
            self.assertEqual(sv["grafana"], "https://grafana.example.com/d/"
                             + uids[("service", sv["name"])])

        # The graph dashboard: the four panels per $service, one variable
        # listing every service.
        gd = self.dash(gu)
        self.assertEqual(gd["title"], "SMO shop/my-webapp-graph")
        self.assertEqual(len(gd["panels"]), 4)
        self.assertTrue(all(p["repeat"] == "service" for p in gd["panels"]))
        tl = gd["templating"]["list"]
        self.assertEqual(len(tl), 1)
        self.assertEqual(tl[0]["query"], ", ".join(WEBAPP_SERVICES))
        self.assertEqual([o["value"] for o in tl[0]["options"]],
                         WEBAPP_SERVICES)
        # A service dashboard: four timeseries named after the service.
        sd = self.dash(uids[("service", "user-db")])
        self.assertEqual([p["type"] for p in sd["panels"]],
                         ["timeseries"] * 4)
        self.assertTrue(all(p["title"].startswith("user-db ")
                            for p in sd["panels"]), sd["panels"])
        self.assertIn('deployment="user-db"',
                      sd["panels"][0]["targets"][0]["expr"])
        self.assertIn('pod=~"user-db.*"',
                      sd["panels"][1]["targets"][0]["expr"])
        # A cluster dashboard: nine panels filtered on the cluster.
        cd = self.dash(uids[("cluster", clusters[0])])
        self.assertEqual(len(cd["panels"]), 9)
        self.assertEqual({p["type"] for p in cd["panels"]},
                         {"timeseries", "stat", "gauge"})
        self.assertTrue(all('source="%s"' % clusters[0] in t["expr"]
                            for p in cd["panels"] for t in p["targets"]))

        self.promql_parses()

        # The same graph in another project: its own dashboards, nothing
        # overwritten; the cluster dashboards are shared.
        text = apilib.read(apilib.example("my-webapp.yaml"))
        op2 = s.post("/project/shop2/graphs?wait=30", text,
                     ctype="application/x-yaml").json()
        self.assertEqual(op2["state"], "succeeded", op2)
        uids2 = self.uids_of(op2)
        own = {k: v for k, v in uids.items() if k[0] != "cluster"}
        own2 = {k: v for k, v in uids2.items() if k[0] != "cluster"}
        self.assertFalse(set(own.values()) & set(own2.values()))
        self.assertEqual(self.graf.clobbered, [])
        self.assertEqual(self.graf.invalid, [])

        # Removing a graph removes its own dashboards only.
        r = s.request("DELETE", "/graphs/my-webapp-graph?project=shop&wait=30")
        op = r.json()
        self.assertEqual(op["state"], "succeeded", op)
        rm = self.step(op, "dashboards_remove")
        self.assertEqual(rm["state"], "done", rm)
        for k, u in own.items():
            self.assertIsNone(self.dash(u), k)
        for u in own2.values():
            self.assertIsNotNone(self.dash(u))
        for k, u in uids.items():
            if k[0] == "cluster":
                self.assertIsNotNone(self.dash(u))

    def test_credentials_stay_with_grafana(self):
        s = self.smo
        op = s.deploy("p", apilib.example("hello-world.yaml")).json()
        self.assertEqual(op["state"], "succeeded", op)
        answers = (s.get("/graphs").body + s.get("/operations").body +
                   s.get("/events?limit=1000").body + s.get("/metrics").body)
        self.assertNotIn("prom-operator", answers)
        self.assertNotIn("prom-operator", s.daemon.logs())
        # ...and Grafana did get them (basic auth on every request).
        self.assertTrue(any(r["auth"] and r["auth"].startswith("Basic ")
                            for r in self.graf.requests))

    def test_grafana_down_never_fails_a_deploy(self):
        s = self.smo
        self.graf.down()
        op = s.deploy("p", apilib.example("hello-world.yaml")).json()
        self.assertEqual(op["state"], "succeeded", op)
        st = self.step(op, "dashboards")
        self.assertEqual(st["state"], "done", st)
        dl = st["detail"]["dashboards"]
        self.assertTrue(all(not d["published"] and d["retrying"]
                            for d in dl), dl)
        uids = self.uids_of(op)
        # The link is known before the dashboard exists.
        g = s.graph("hello-world-graph")
        self.assertTrue(g["grafana"].endswith(
            "/d/" + uids[("graph", "hello-world-graph")]))
        events = s.get("/events?limit=200").json()
        events = events["events"] if isinstance(events, dict) else events
        self.assertIn("monitor.dashboard_failed",
                      [e["type"] for e in events])
        # Grafana comes back: the retries publish everything.
        self.graf.up()
        wait_until(lambda: all(self.dash(u) for u in uids.values()), 30,
                   "dashboards published after Grafana came back")
        self.assertEqual(self.graf.invalid, [])
        wait_until(lambda: 'smo_monitor_dashboards_pending{monitor="grafana"} 0'
                   in s.get("/metrics").body, 30, "retry queue drained")

        # Down again during the removal: the graph goes, the dashboards
        # follow when Grafana is back.
        self.graf.down()
        r = s.request("DELETE", "/graphs/hello-world-graph?wait=30")
        self.assertEqual(r.json()["state"], "succeeded", r)
        self.graf.up()
        own = [u for k, u in uids.items() if k[0] != "cluster"]
        wait_until(lambda: not any(self.dash(u) for u in own), 30,
                   "dashboards removed after Grafana came back")

    def test_slow_or_garbage_grafana_never_fails_a_deploy(self):
        """Grafana answering after the request timeout, or with a body that
        is not JSON: the deploy succeeds, the dashboards are retried, and
        published once Grafana behaves again."""
        s = self.smo
        for fault, project in (("garbage", "g1"), ("slow", "g2")):
            with self.subTest(fault=fault):
                self.graf.fault = fault
                op = s.deploy(project, apilib.example("hello-world.yaml"),
                              wait=60).json()
                self.assertEqual(op["state"], "succeeded", op)
                st = self.step(op, "dashboards")
                dl = st["detail"]["dashboards"]
                self.assertTrue(all(not d["published"] and d["retrying"]
                                    for d in dl), dl)
                self.assertEqual(s.get("/healthz").status, 200)
                self.graf.fault = None
                uids = self.uids_of(op)
                wait_until(lambda: all(self.dash(u) for u in uids.values()),
                           60, "dashboards published after the %s" % fault)
                # Both deploys' graphs share a name: clean up before the next.
                r = s.request("DELETE",
                              "/graphs/hello-world-graph?project=%s&wait=30"
                              % project)
                self.assertEqual(r.json()["state"], "succeeded", r)


class Uids(unittest.TestCase):
    """Long names still give valid uids; a rejected dashboard is reported
    by name, and the deploy goes on."""

    def test_long_names_and_token_auth(self):
        graf = fake_grafana.Grafana(token="glsa_0123456789").start()
        self.addCleanup(graf.stop)
        smo = apilib.Smo(self)
        smolib.write(os.path.join(smo.conf, "50-monitoring.yaml"), """
instances:
  - kind: monitor
    plugin: grafana
    name: grafana
    config: {url: %s, token: glsa_0123456789, dashboards: {cluster: false}}
""" % graf.url)
        smo.start()
        self.addCleanup(smo.cleanup)
        long_graph = "g" * 63
        long_svc = "s" * 53
        text = apilib.read(apilib.example("hello-world.yaml"))
        text = text.replace("hello-world-graph", long_graph)
        svc = [ln.split("id:")[1].strip() for ln in text.splitlines()
               if ln.strip().startswith("- id:")][0]
        text = text.replace(svc, long_svc)
        r = smo.post("/project/%s/graphs?wait=30" % ("p" * 63), text,
                     ctype="application/x-yaml")
        op = r.json()
        self.assertEqual(op["state"], "succeeded", op)
        dl = [s for s in op["steps"] if s["name"] == "dashboards"][0]
        dl = dl["detail"]["dashboards"]
        kinds = {d["kind"]: d for d in dl}
        self.assertEqual(kinds["cluster"]["skipped"],
                         "cluster dashboards are off (dashboards.cluster)")
        for d in dl:
            if d["kind"] != "cluster":
                self.assertTrue(d["published"], d)
                self.assertLess(len(d["uid"]), 40)
        self.assertEqual(graf.invalid, [])
        self.assertTrue(all(r["auth"] == "Bearer glsa_0123456789"
                            for r in graf.requests))


if __name__ == "__main__":
    unittest.main(verbosity=2)
