"""Monitoring end to end: a REAL Prometheus and Alertmanager on 127.0.0.1
(Debian's prometheus and prometheus-alertmanager), a scrape target the test
controls and smod with monitor/prometheus writing its alert rules to a file
that Prometheus's rule_files glob reads.

The chain under test: SMO writes the rules of event-triggered services ->
Prometheus evaluates them against the target's request rate -> the alert
fires and goes to Alertmanager -> Alertmanager's webhook (with an
alerts-role bearer token) calls smod's POST /alerts -> the pending service
is installed on the simulated executor. Repeated notifications do not
reinstall, an AND over two events needs both, a rule Prometheus refuses
is rolled back, and removing a graph removes its rules only.

The PrometheusRule mode runs against a fake Kubernetes API server that
speaks the wire format (tests/fixtures/prometheus/fake_kube.py).

Every wait is bounded; there are no timing thresholds."""
import json
import os
import re
import shutil
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request

import apilib
import smolib

sys.path.insert(0, os.path.join(smolib.SOURCE, "tests", "fixtures",
                                "prometheus"))
import fake_kube  # noqa: E402
import fake_target  # noqa: E402

PROMETHEUS = shutil.which("prometheus")
ALERTMANAGER = shutil.which("prometheus-alertmanager")
ADMIN = "admin-token-0123456789abcdef"
ALERTS = "alerts-token-0123456789abcdef"
API_TOKENS = ("      tokens:\n"
              "        - {name: ops, role: admin, token: %s}\n"
              "        - {name: alertmanager, role: alerts, token: %s}\n"
              % (ADMIN, ALERTS))

# A second graph: `cache` waits for BOTH of its events (one always true,
# one on the target's request rate); `never` waits for an impossible one.
CACHE_GRAPH = """
hdaGraph:
  id: cache-graph
  services:
    - id: cache-front
      artifact:
        ociImage: oci://registry.example.com/p/front:1.0.0
        ociConfig: { implementer: Helm, type: Application }
        valuesOverwrite: {}
      deployment:
        intent:
          compute: { cpu: light, ram: small, storage: none, gpu: { enabled: 'False' } }
          connectionPoints: [ cache ]
        trigger: { type: standard }
    - id: cache
      artifact:
        ociImage: oci://registry.example.com/p/cache:1.0.0
        ociConfig: { implementer: Helm, type: Application }
        valuesOverwrite: {}
      deployment:
        intent:
          compute: { cpu: light, ram: small, storage: none, gpu: { enabled: 'False' } }
          connectionPoints: []
        trigger:
          type: event
          event:
            condition: AND
            events:
              - id: load-high
                source: prometheus
                condition:
                  promQuery: 'sum(rate(http_requests_total{job="api-backend"}[1m])) > 10'
                  gracePeriod: 2s
                  description: backend busy
              - id: always
                source: prometheus
                condition:
                  promQuery: 'vector(1) > 0'
                  gracePeriod: 1s
                  description: always true
    - id: never
      artifact:
        ociImage: oci://registry.example.com/p/never:1.0.0
        ociConfig: { implementer: Helm, type: Application }
        valuesOverwrite: {}
      deployment:
        intent:
          compute: { cpu: light, ram: small, storage: none, gpu: { enabled: 'False' } }
          connectionPoints: []
        trigger:
          type: event
          event:
            condition: ANY
            events:
              - id: impossible
                source: prometheus
                condition: { promQuery: 'vector(0) > 1', gracePeriod: 0s }
"""


def webapp(grace="2s", query=None):
    """The shipped example, with a short grace period for the test."""
    text = apilib.read(apilib.example("my-webapp.yaml"))
    text = text.replace("gracePeriod: '1m'", "gracePeriod: '%s'" % grace)
    if query is not None:
        text = re.sub(r"promQuery: '.*'", "promQuery: '%s'" % query, text)
    return text


def wait_until(fn, timeout, what, interval=0.2):
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("%s: not within %ds (last: %r)" % (what, timeout,
                                                            last))


def http_json(url, method="GET", data=None, timeout=5):
    req = urllib.request.Request(url, method=method, data=data)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read() or b"null")


class Proc:
    """A background program with its output in a log file."""

    def __init__(self, argv, log):
        self.log_path = log
        self.log = open(log, "w")
        self.proc = subprocess.Popen(argv, stdout=self.log,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

    def alive(self):
        return self.proc.poll() is None

    def tail(self):
        with open(self.log_path) as f:
            return f.read()[-3000:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


class Stack:
    """Target, Alertmanager, Prometheus and smod, wired together."""

    def __init__(self, test):
        self.root = smolib.tmpdir()
        self.procs = []
        self.target = fake_target.Target(0).start()
        self.smo = apilib.Smo(test, api=API_TOKENS,
                              root=os.path.join(self.root, "smo"))
        self.smo.token = ADMIN
        self.prom_port = apilib.free_port()
        self.am_port = apilib.free_port()
        self.prom = "http://127.0.0.1:%d" % self.prom_port
        self.am = "http://127.0.0.1:%d" % self.am_port
        self.rules_dir = os.path.join(self.root, "rules")
        self.rules_file = os.path.join(self.rules_dir, "smo-rules.yml")
        os.makedirs(self.rules_dir)
        smolib.write(os.path.join(self.smo.conf, "50-monitoring.yaml"),
                     "instances:\n"
                     "  - kind: monitor\n"
                     "    plugin: prometheus\n"
                     "    name: prometheus\n"
                     "    config:\n"
                     "      url: %s\n"
                     "      rules:\n"
                     "        file: %s\n"
                     "        labels: {severity: critical}\n"
                     % (self.prom, self.rules_file))

    def start(self):
        am_yml = os.path.join(self.root, "alertmanager.yml")
        smolib.write(am_yml, """
route:
  receiver: smo
  group_by: [alertname, graph, project]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 2s
receivers:
  - name: smo
    webhook_configs:
      - url: http://127.0.0.1:%d/alerts
        send_resolved: true
        http_config:
          authorization: {credentials: %s}
""" % (self.smo.port, ALERTS))
        prom_yml = os.path.join(self.root, "prometheus.yml")
        smolib.write(prom_yml, """
global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: ['%s/*.yml']
alerting:
  alertmanagers: [{static_configs: [{targets: ['127.0.0.1:%d']}]}]
scrape_configs:
  - job_name: api-backend
    honor_labels: true
    static_configs: [{targets: ['127.0.0.1:%d']}]
""" % (self.rules_dir, self.am_port, self.target.port))
        self.am_proc = Proc(
            [ALERTMANAGER, "--config.file=" + am_yml,
             "--storage.path=" + os.path.join(self.root, "am-data"),
             "--web.listen-address=127.0.0.1:%d" % self.am_port,
             "--web.external-url=" + self.am + "/",
             "--cluster.listen-address="],
            os.path.join(self.root, "alertmanager.log"))
        self.procs.append(self.am_proc)
        self.prom_proc = Proc(
            [PROMETHEUS, "--config.file=" + prom_yml,
             "--storage.tsdb.path=" + os.path.join(self.root, "prom-data"),
             "--web.listen-address=127.0.0.1:%d" % self.prom_port,
             "--web.external-url=" + self.prom + "/",
             "--web.enable-lifecycle", "--rules.alert.resend-delay=1s",
             "--storage.tsdb.retention.time=2h"],
            os.path.join(self.root, "prometheus.log"))
        self.procs.append(self.prom_proc)
        self.smo.start()
        for url, p in ((self.am + "/-/ready", self.am_proc),
                       (self.prom + "/-/ready", self.prom_proc)):
            wait_until(lambda: self.ready(url, p), 30, url)
        # Prometheus's first scrape comes a few seconds after it starts.
        wait_until(self.target_up, 60, "first scrape of the target")

    @staticmethod
    def ready(url, proc):
        if not proc.alive():
            raise AssertionError("%s died:\n%s" % (url, proc.tail()))
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return True
        except (urllib.error.URLError, OSError):
            return False

    def target_up(self):
        t = http_json(self.prom + "/api/v1/targets")["data"]["activeTargets"]
        return bool(t) and t[0]["health"] == "up"

    def stop(self):
        for p in reversed(self.procs):
            p.stop()
        self.target.stop()

    def cleanup(self):
        self.stop()
        self.smo.cleanup()
        smolib.rmtree(self.root)

    # ---- views -------------------------------------------------------

    def rule_groups(self):
        """Prometheus's loaded rule groups: {name: [rule...]}."""
        d = http_json(self.prom + "/api/v1/rules")["data"]["groups"]
        return {g["name"]: g["rules"] for g in d}

    def alerts(self):
        """Prometheus's active alerts: {alertname: state}."""
        d = http_json(self.prom + "/api/v1/alerts")["data"]["alerts"]
        return {a["labels"]["alertname"]: a["state"] for a in d}

    def rules_file_groups(self):
        with open(self.rules_file) as f:
            return {g["name"]: g for g in json.load(f)["groups"]}

    def alert_posts(self):
        """Webhook calls smod answered (its own request counter)."""
        text = self.smo.get("/metrics").body
        n = 0
        for line in text.splitlines():
            if line.startswith('smo_api_requests_total{route="/alerts"') \
                    and 'method="POST"' in line:
                n += int(float(line.rsplit(" ", 1)[1]))
        return n

    def service(self, graph, project, name):
        g = self.smo.graph(graph, project)
        return [s for s in g["services"] if s["name"] == name][0]

    def deploy_text(self, project, text, wait=30):
        r = self.smo.post("/project/%s/graphs?wait=%d" % (project, wait),
                          text, ctype="application/x-yaml")
        self.smo.test.assertEqual(r.status, 200, r)
        return r.json()

    def remove(self, graph, project):
        r = self.smo.request("DELETE", "/graphs/%s?project=%s&wait=30"
                             % (graph, project))
        self.smo.test.assertEqual(r.status, 200, r)
        self.smo.test.assertEqual(r.json()["state"], "succeeded", r)


@unittest.skipUnless(PROMETHEUS and ALERTMANAGER,
                     "needs Debian's prometheus and prometheus-alertmanager "
                     "(packaging/dev/install-deps.sh --test)")
class RealPrometheus(unittest.TestCase):
    def setUp(self):
        self.st = Stack(self)
        self.addCleanup(self.st.cleanup)
        self.st.start()

    def step(self, op, name):
        return [s for s in op["steps"] if s["name"] == name][0]

    def test_alert_chain_deploys_once_and_removal_is_per_graph(self):
        st = self.st
        op = st.deploy_text("shop", webapp())
        self.assertEqual(op["state"], "succeeded", op)
        rules = self.step(op, "rules")
        self.assertEqual(rules["state"], "done", rules)
        self.assertTrue(rules["detail"]["reloaded"], rules)
        op = st.deploy_text("other", CACHE_GRAPH)
        self.assertEqual(op["state"], "succeeded", op)

        # The rules SMO wrote: one group per graph, names per graph,
        # service and event, labels carrying graph, project and service.
        groups = st.rule_groups()
        web = {r["name"]: r for r in groups["smo/shop/my-webapp-graph"]}
        self.assertEqual(list(web), ["my-webapp-graph-user-db-backend-high-load"])
        r = web["my-webapp-graph-user-db-backend-high-load"]
        self.assertEqual(r["labels"]["graph"], "my-webapp-graph")
        self.assertEqual(r["labels"]["project"], "shop")
        self.assertEqual(r["labels"]["service"], "user-db")
        self.assertEqual(r["labels"]["severity"], "critical")
        self.assertEqual(r["duration"], 2)
        # Evaluated without error once Prometheus got to it.
        wait_until(lambda: all(
            x["health"] == "ok" for g, rs in st.rule_groups().items()
            if g.startswith("smo/") for x in rs), 30, "rules evaluated")
        cache = {r["name"]: r for r in groups["smo/other/cache-graph"]}
        self.assertEqual(sorted(cache), [
            "cache-graph-cache-all", "cache-graph-cache-always",
            "cache-graph-cache-load-high", "cache-graph-never-impossible"])
        # The conditions of an AND deploy nothing by themselves.
        self.assertNotIn("service", cache["cache-graph-cache-always"]["labels"])
        self.assertEqual(cache["cache-graph-cache-all"]["labels"]["service"],
                         "cache")
        self.assertEqual(sorted(st.rules_file_groups()),
                         ["smo/other/cache-graph", "smo/shop/my-webapp-graph"])

        # One of the two conditions fires and reaches smod; `cache` waits.
        wait_until(lambda: st.alerts().get("cache-graph-cache-always")
                   == "firing", 60, "the always-true condition firing")
        n = st.alert_posts()
        wait_until(lambda: st.alert_posts() >= n + 2, 60,
                   "Alertmanager notifying smod")
        self.assertNotIn("cache-graph-cache-all", st.alerts())
        self.assertEqual(st.service("cache-graph", "other", "cache")["status"],
                         "Pending")
        self.assertEqual(
            st.service("my-webapp-graph", "shop", "user-db")["status"],
            "Pending")

        # The backend gets busy: Prometheus -> Alertmanager -> SMO.
        st.target.set_rate(200)
        wait_until(lambda: st.service("my-webapp-graph", "shop",
                                      "user-db")["status"] == "Deployed",
                   120, "user-db deployed by the alert")
        wait_until(lambda: st.service("cache-graph", "other",
                                      "cache")["status"] == "Deployed",
                   120, "cache deployed when both events fired")
        rel = self.smo_releases()
        self.assertEqual(rel["shop/user-db"]["revision"], 1)
        self.assertEqual(rel["other/cache"]["revision"], 1)
        self.assertNotIn("other/never", rel)

        # Alertmanager keeps repeating the firing alerts: nothing changes.
        n = st.alert_posts()
        wait_until(lambda: st.alert_posts() >= n + 4, 60,
                   "repeated notifications")
        rel = self.smo_releases()
        self.assertEqual(rel["shop/user-db"]["revision"], 1)
        self.assertEqual(rel["other/cache"]["revision"], 1)
        ops = st.smo.get("/operations?graph=shop/my-webapp-graph").json()
        ops = ops["operations"] if isinstance(ops, dict) else ops
        self.assertEqual(len([o for o in ops if o["action"] == "alert"]), 1,
                         ops)

        # Removing one graph removes its rules and nobody else's.
        st.remove("cache-graph", "other")
        self.assertEqual(list(st.rules_file_groups()),
                         ["smo/shop/my-webapp-graph"])
        groups = st.rule_groups()
        self.assertNotIn("smo/other/cache-graph", groups)
        self.assertEqual([r["name"] for r in
                          groups["smo/shop/my-webapp-graph"]],
                         ["my-webapp-graph-user-db-backend-high-load"])
        st.remove("my-webapp-graph", "shop")
        self.assertEqual(st.rules_file_groups(), {})
        self.assertEqual([g for g in st.rule_groups() if g.startswith("smo/")],
                         [])

    def smo_releases(self):
        return self.st.smo.sim_releases()

    def test_refused_rules_are_rolled_back(self):
        st = self.st
        op = st.deploy_text("good", webapp())
        self.assertEqual(op["state"], "succeeded", op)
        with open(st.rules_file) as f:
            before = f.read()
        # A promQuery that does not parse: Prometheus refuses the reload.
        op = st.deploy_text("bad", webapp(query="sum(rate("))
        self.assertEqual(op["state"], "failed", op)
        rules = self.step(op, "rules")
        self.assertEqual(rules["state"], "failed", rules)
        self.assertIn("refused", op["error"])
        # The previous file is back and Prometheus still evaluates it.
        with open(st.rules_file) as f:
            self.assertEqual(f.read(), before)
        urllib.request.urlopen(urllib.request.Request(
            st.prom + "/-/reload", method="POST"), timeout=5).read()
        self.assertEqual(list(g for g in st.rule_groups()
                              if g.startswith("smo/")),
                         ["smo/good/my-webapp-graph"])
        # The failed graph can be removed; the good one is untouched.
        st.remove("my-webapp-graph", "bad")
        self.assertEqual(list(st.rules_file_groups()),
                         ["smo/good/my-webapp-graph"])
        # Prometheus down: the rules are written (it reads them when it
        # starts), the step succeeds and says so.
        st.prom_proc.stop()
        op = st.deploy_text("later", CACHE_GRAPH)
        self.assertEqual(op["state"], "succeeded", op)
        rules = self.step(op, "rules")
        self.assertFalse(rules["detail"]["reloaded"], rules)
        self.assertIn("unreachable", rules["detail"]["note"])
        self.assertIn("smo/later/cache-graph", st.rules_file_groups())


class PrometheusRuleMode(unittest.TestCase):
    """Rules in a PrometheusRule object, against a fake Kubernetes API."""

    NS, NAME, GROUP = "monitoring", "kube-prometheus-stack-smo", "smo-alerts"

    def setUp(self):
        self.kube = fake_kube.Kube("kube-token-0123456789").start()
        self.addCleanup(self.kube.stop)
        # Someone else's rules live in the object already: another group,
        # and a rule of their own inside SMO's group.
        self.kube.put_object(self.NS, self.NAME, {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PrometheusRule",
            "metadata": {"labels": {"release": "kube-prometheus-stack"}},
            "spec": {"groups": [
                {"name": "node", "rules": [
                    {"alert": "NodeDown", "expr": "up == 0", "for": "5m"}]},
                {"name": self.GROUP, "rules": [
                    {"alert": "Foreign", "expr": "vector(1)",
                     "labels": {"team": "x"}}]}]}})
        self.smo = apilib.Smo(self)
        tok = os.path.join(self.smo.root, "token")
        smolib.write(tok, "kube-token-0123456789\n")
        smolib.write(os.path.join(self.smo.conf, "50-monitoring.yaml"), """
instances:
  - kind: monitor
    plugin: prometheus
    name: prometheus
    config:
      rules: {mode: prometheusrule}
      prometheusrule:
        api_url: %s
        token_file: %s
        namespace: %s
        name: %s
        group: %s
        conflict_retries: 3
""" % (self.kube.url, tok, self.NS, self.NAME, self.GROUP))
        self.smo.start()
        self.addCleanup(self.smo.cleanup)

    def obj(self):
        return self.kube.get_object(self.NS, self.NAME)

    def smo_rules(self):
        g = [g for g in self.obj()["spec"]["groups"]
             if g["name"] == self.GROUP][0]
        return [r["alert"] for r in g["rules"]]

    def rules_step(self, op):
        return [s for s in op["steps"] if s["name"].startswith("rules")][0]

    def test_read_modify_write_with_conflicts(self):
        s = self.smo
        op = s.deploy("shop", apilib.example("my-webapp.yaml")).json()
        self.assertEqual(op["state"], "succeeded", op)
        self.assertEqual(self.smo_rules(), [
            "Foreign", "my-webapp-graph-user-db-backend-high-load"])
        # Two other writers win the race before SMO's PUT: SMO reads again.
        self.kube.conflicts = 2
        r = s.post("/project/other/graphs?wait=30", CACHE_GRAPH,
                   ctype="application/x-yaml")
        op = r.json()
        self.assertEqual(op["state"], "succeeded", op)
        self.assertEqual(self.rules_step(op)["detail"]["attempts"], 3)
        self.assertEqual(self.smo_rules(), [
            "Foreign", "my-webapp-graph-user-db-backend-high-load",
            "cache-graph-cache-load-high", "cache-graph-cache-always",
            "cache-graph-cache-all", "cache-graph-never-impossible"])
        rule = [r for g in self.obj()["spec"]["groups"] for r in g["rules"]
                if r["alert"] == "my-webapp-graph-user-db-backend-high-load"][0]
        self.assertEqual(rule["for"], "1m")
        self.assertEqual({k: rule["labels"][k] for k in
                          ("graph", "project", "service")},
                         {"graph": "my-webapp-graph", "project": "shop",
                          "service": "user-db"})
        puts = [q for q in self.kube.requests if q["method"] == "PUT"]
        self.assertTrue(all(q["auth"] == "Bearer kube-token-0123456789"
                            for q in self.kube.requests))
        self.assertEqual(len(puts), 4)  # 1 + 2 conflicts + 1

        # More conflicts than retries: the step fails and says why.
        self.kube.conflicts = 10
        r = s.request("DELETE", "/graphs/cache-graph?project=other&wait=30")
        op = r.json()
        self.assertEqual(op["state"], "failed", op)
        self.assertIn("conflict", op["error"])
        self.kube.conflicts = 0
        # Removing again converges; only that graph's rules go.
        r = s.request("DELETE", "/graphs/cache-graph?project=other&wait=30")
        self.assertEqual(r.json()["state"], "succeeded", r)
        self.assertEqual(self.smo_rules(), [
            "Foreign", "my-webapp-graph-user-db-backend-high-load"])
        groups = [g["name"] for g in self.obj()["spec"]["groups"]]
        self.assertEqual(groups, ["node", self.GROUP])
        # The labels of the object are someone else's too.
        self.assertEqual(self.obj()["metadata"]["labels"],
                         {"release": "kube-prometheus-stack"})
        r = s.request("DELETE", "/graphs/my-webapp-graph?project=shop&wait=30")
        self.assertEqual(r.json()["state"], "succeeded", r)
        self.assertEqual(self.smo_rules(), ["Foreign"])

    def test_creates_the_object_when_missing(self):
        with self.kube.lock:
            self.kube.objects.clear()
        op = self.smo.deploy("shop", apilib.example("my-webapp.yaml")).json()
        self.assertEqual(op["state"], "succeeded", op)
        self.assertEqual(self.obj()["spec"]["groups"][0]["name"], self.GROUP)
        self.assertEqual(self.smo_rules(),
                         ["my-webapp-graph-user-db-backend-high-load"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
