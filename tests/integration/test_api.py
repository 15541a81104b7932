"""End to end over HTTP: the real smod with the REST API, the SQLite store
and simulated clusters. Lifecycle of the example graphs over both route
generations, deploy body formats, the Helm values contract, alerts, plans,
every error code, authentication, failure injection, resume after kill -9,
the OpenAPI document against the route table, and the JSON shapes the
original SMO's clients read."""
import http.client
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import apilib  # noqa: E402
import smolib  # noqa: E402
from apilib import Smo, example, read  # noqa: E402

ADMIN = "admin-token-0123456789abcdef"
READER = "read-token-0123456789abcdef"
ALERTS = "alerts-token-0123456789abcdef"


def canonical(path):
    """The canonical JSON descriptor, from smod validate."""
    r = smolib.run(["validate", "--conf", os.path.join(smolib.SOURCE,
                                                      "conf.d"),
                    "-o", "json", path])
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["descriptor"]


class Base(unittest.TestCase):
    sim = ""
    api = "      max_body: 256Ki\n      request_timeout: 2s\n"

    def setUp(self):
        self.smo = Smo(self, sim=self.sim, api=self.api).start()

    def tearDown(self):
        self.smo.cleanup()

    def problem(self, r, status, needle=None):
        self.assertEqual(r.status, status, r)
        self.assertTrue(r.ctype.startswith("application/problem+json"), r)
        p = r.json()
        self.assertEqual(p["status"], status)
        self.assertIn("title", p)
        if needle:
            self.assertIn(needle, p["detail"])
        return p


class Lifecycle(Base):
    def test_examples_full_lifecycle_v3(self):
        s = self.smo
        for f, name in (("hello-world.yaml", "hello-world-graph"),
                        ("image-detection.yaml", "image-detection-graph"),
                        ("my-webapp.yaml", "my-webapp-graph")):
            r = s.deploy("demo", example(f))
            op = r.json()
            self.assertEqual(op["state"], "succeeded", op)
            self.assertEqual(r.headers["location"], "/operations/" + op["id"])
            g = s.graph(name)
            self.assertEqual(g["status"], "Running")
            rel = s.sim_releases()
            for svc in g["services"]:
                self.assertEqual(g["placement"][svc["name"]],
                                 svc["cluster_affinity"])
                key = "demo/" + svc["name"]
                if svc["trigger"] == "event":
                    self.assertEqual(svc["status"], "Pending")
                    self.assertNotIn(key, rel)
                else:
                    self.assertEqual(svc["status"], "Deployed")
                    self.assertEqual(rel[key]["cluster"],
                                     svc["cluster_affinity"])
            # stop -> Stopped, releases gone; stop again is a conflict
            r = s.post("/graphs/%s/stop?wait=30" % name)
            self.assertEqual(r.status, 200, r)
            g = s.graph(name)
            self.assertEqual(g["status"], "Stopped")
            self.assertTrue(all(x["status"] == "Not deployed"
                                for x in g["services"]), g["services"])
            self.assertFalse([k for k, v in s.sim_releases().items()
                              if v["graph"] == name])
            self.problem(s.post("/graphs/%s/stop" % name), 409,
                     "already stopped")
            r = s.post("/graphs/%s/start?wait=30" % name)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(s.graph(name)["status"], "Running")
            self.problem(s.post("/graphs/%s/start" % name), 409)
            r = s.post("/graphs/%s/placement?wait=30" % name)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["state"], "succeeded")
        names = sorted(g["name"] for g in s.get("/graphs").json())
        self.assertEqual(names, ["hello-world-graph", "image-detection-graph",
                                 "my-webapp-graph"])
        for name in names:
            r = s.request("DELETE", "/graphs/%s?wait=30" % name)
            self.assertEqual(r.status, 200, r)
            self.problem(s.get("/graphs/" + name), 404)
        self.assertEqual(s.sim_releases(), {})
        self.assertEqual(s.get("/project/demo/graphs").json(), [])

    def test_v2_get_actions_and_async_operations(self):
        s = self.smo
        r = s.post("/project/p/graphs", read(example("hello-world.yaml")),
                   ctype="application/x-yaml")
        self.assertEqual(r.status, 202, r)
        op = s.wait_op(r.json()["id"])
        self.assertEqual(op["state"], "succeeded")
        self.assertEqual(op["progress"]["done"], op["progress"]["total"])
        for action, status in (("stop", "Stopped"), ("start", "Running"),
                               ("placement", "Running")):
            r = s.get("/graphs/hello-world-graph/" + action)
            self.assertEqual(r.status, 202, r)
            self.assertTrue(r.headers["location"].startswith("/operations/"))
            self.assertEqual(s.wait_op(r.json()["id"])["state"], "succeeded")
            self.assertEqual(s.graph("hello-world-graph")["status"], status)
        ops = s.get("/operations?graph=p/hello-world-graph").json()
        self.assertEqual(len(ops), 4, ops)
        # Pages in id order: the same four, two and two, then none.
        ids = sorted(o["id"] for o in ops)
        page1 = s.get("/operations?graph=p/hello-world-graph&limit=2").json()
        self.assertEqual([o["id"] for o in page1], ids[:2])
        page2 = s.get("/operations?graph=p/hello-world-graph&limit=2"
                      "&start_after=" + ids[1]).json()
        self.assertEqual([o["id"] for o in page2], ids[2:])
        self.assertEqual(s.get("/operations?graph=p/hello-world-graph&"
                               "limit=2&start_after=" + ids[3]).json(), [])
        self.problem(s.get("/operations?limit=two"), 400)
        ev = s.get("/events?graph=p/hello-world-graph").json()
        self.assertTrue(any(e["type"].startswith("operation") for e in ev),
                        ev)

    def test_deploy_body_formats(self):
        s = self.smo
        text = read(example("hello-world.yaml"))
        bodies = [
            ("json-object", canonical(example("hello-world.yaml")),
             "application/json"),
            ("json-string", json.dumps(text), "application/json"),
            ("yaml", text, "application/x-yaml"),
            ("no-ctype", text, None),
            ("artifact", {"artifact": example("hello-world.yaml")},
             "application/json"),
        ]
        for project, body, ctype in bodies:
            r = s.post("/project/%s/graphs?wait=30" % project, body,
                       ctype=ctype)
            self.assertEqual(r.status, 200, (project, r))
            g = s.graph("hello-world-graph", project)
            self.assertEqual(g["status"], "Running", project)
            self.assertEqual(g["services"][0]["name"], "hello-world")
        r = s.get("/graphs/hello-world-graph")
        self.problem(r, 409, "several projects")
        self.assertEqual(len(s.get("/graphs").json()), len(bodies))

    def test_values_contract_and_capacity(self):
        s = self.smo
        s.deploy("p", example("image-detection.yaml"))
        g = s.graph("image-detection-graph")
        by = {x["name"]: x for x in g["services"]}
        # WOT: placement keys under voChartOverwrite, nothing at the top.
        vo = by["image-compression-vo"]["values_overwrite"]
        self.assertNotIn("clustersAffinity", vo)
        self.assertEqual(vo["voChartOverwrite"]["clustersAffinity"],
                         [by["image-compression-vo"]["cluster_affinity"]])
        # noise-reduction is listed by image-compression-vo: it imports
        # from that service's cluster.
        nr = by["noise-reduction"]["values_overwrite"]
        self.assertEqual(nr["clustersAffinity"],
                         [by["noise-reduction"]["cluster_affinity"]])
        self.assertEqual(nr["serviceImportClusters"],
                         [by["image-compression-vo"]["cluster_affinity"]])
        det = by["image-detection"]
        self.assertEqual(det["values_overwrite"]["replicaCount"], 2)
        self.assertEqual(det["gpu"], 1)
        # The sim got exactly these values.
        rel = s.sim_releases()["p/noise-reduction"]
        self.assertEqual(rel["values"], nr)
        # Capacity of earlier deploys counts: GPUs run out after 5 copies
        # (edge-b 1 + central 4, 2 replicas of 1 GPU each per copy -> 2).
        clusters = {c["name"]: c for c in s.get("/clusters").json()}
        used = clusters[det["cluster_affinity"]]["gpu"]["allocated"]
        self.assertEqual(used, 2)
        s.deploy("q", example("image-detection.yaml"))
        r = s.deploy("r", example("image-detection.yaml"), expect=200)
        op = r.json()
        self.assertEqual(op["state"], "failed", op)
        self.assertIn("GPU", json.dumps(op))
        g = s.graph("image-detection-graph", "r")
        self.assertEqual(g["status"], "Failed")
        total_gpu = sum(c["gpu"]["allocated"]
                        for c in s.get("/clusters").json())
        self.assertLessEqual(total_gpu, 5)

    def test_alert_deploys_pending_service(self):
        s = self.smo
        s.deploy("shop", example("my-webapp.yaml"))
        g = s.graph("my-webapp-graph")
        db = [x for x in g["services"] if x["name"] == "user-db"][0]
        self.assertEqual(db["status"], "Pending")
        with open(os.path.join(apilib.FIXTURES,
                               "alertmanager-webhook.json")) as f:
            hook = json.load(f)
        hook["alerts"][0]["labels"]["service"] = "user-db"
        r = s.post("/alerts?wait=30", hook)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["message"], "Alert processed")
        g = s.graph("my-webapp-graph")
        db = [x for x in g["services"] if x["name"] == "user-db"][0]
        self.assertEqual(db["status"], "Deployed", g)
        self.assertIn("shop/user-db", s.sim_releases())
        # Repeated notifications change nothing; resolved ones are logged.
        r = s.post("/alerts?wait=30", hook)
        self.assertEqual(r.status, 200, r)
        hook["alerts"][0]["status"] = "resolved"
        self.assertEqual(s.post("/alerts", hook).status, 200)
        # An alert for a service no graph has pending is ignored.
        hook["alerts"][0]["status"] = "firing"
        hook["alerts"][0]["labels"]["service"] = "unknown-svc"
        r = s.post("/alerts", hook)
        self.assertEqual(r.status, 200, r)
        self.assertIn("ignored", r.body)

    def test_resolved_alert_undeploys_when_asked(self):
        """trigger.event.undeployOnResolved: a resolved alert (with graph
        and project labels, as SMO's rules carry them) uninstalls the
        service, which waits for its alert again; without the flag, or
        when not deployed, nothing changes."""
        s = self.smo
        body = read(example("my-webapp.yaml")).replace(
            "condition: AND", "condition: AND\n            undeployOnResolved: true")
        self.assertIn("undeployOnResolved", body)
        r = s.post("/project/shop/graphs?wait=30", body,
                   ctype="application/x-yaml")
        self.assertEqual(r.status, 200, r)
        with open(os.path.join(apilib.FIXTURES,
                               "alertmanager-webhook.json")) as f:
            hook = json.load(f)
        labels = hook["alerts"][0]["labels"]
        labels.update(service="user-db", graph="my-webapp-graph",
                      project="shop")

        def db():
            g = s.graph("my-webapp-graph", "shop")
            return [x for x in g["services"] if x["name"] == "user-db"][0]
        hook["alerts"][0]["status"] = "firing"
        self.assertEqual(s.post("/alerts?wait=30", hook).status, 200)
        self.assertEqual(db()["status"], "Deployed")
        self.assertIn("shop/user-db", s.sim_releases())
        hook["alerts"][0]["status"] = "resolved"
        r = s.post("/alerts?wait=30", hook)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(db()["status"], "Pending")
        self.assertNotIn("shop/user-db", s.sim_releases())
        self.assertIn("shop/api-backend", s.sim_releases())
        g = s.graph("my-webapp-graph", "shop")
        self.assertEqual(g["status"], "Running")
        ops = [o for o in s.get("/operations").json()
               if o["action"] == "alert_resolved"]
        self.assertEqual(len(ops), 1)
        self.assertEqual(ops[0]["state"], "succeeded")
        # Resolved again: unchanged; firing again: deployed again.
        r = s.post("/alerts?wait=30", hook)
        self.assertIn("unchanged", r.body)
        hook["alerts"][0]["status"] = "firing"
        self.assertEqual(s.post("/alerts?wait=30", hook).status, 200)
        self.assertEqual(db()["status"], "Deployed")
        # Without the flag (the other test's graph), resolved only records.
        self.assertEqual(len([o for o in s.get("/operations").json()
                              if o["action"] == "alert_resolved"]), 1)

    def test_read_cache_etags_and_freshness(self):
        s = self.smo
        s.deploy("p", example("hello-world.yaml"))
        for path in ("/graphs/hello-world-graph", "/project/p/graphs"):
            a, b = s.get(path), s.get(path)
            self.assertEqual(a.body, b.body)
            tag = b.headers["etag"]
            self.assertEqual(a.headers["etag"], tag)
            self.assertNotIn("_etag", a.body)
            r = s.get(path, headers={"If-None-Match": tag})
            self.assertEqual(r.status, 304, r)
            self.assertEqual(r.body, "")
        # A write makes every kept answer stale at once.
        r = s.post("/graphs/hello-world-graph/stop?wait=30")
        self.assertEqual(r.status, 200, r)
        r = s.get("/graphs/hello-world-graph", headers={"If-None-Match": tag})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["status"], "Stopped")
        self.assertEqual(s.get("/project/p/graphs").json()[0]["status"],
                         "Stopped")
        # While an operation runs, reads show it (never a kept answer).
        r = s.post("/graphs/hello-world-graph/start")
        g = s.get("/graphs/hello-world-graph").json()
        self.assertIn(g["status"], ("Starting", "Running"))
        s.wait_op(r.json()["id"])
        self.assertEqual(s.graph("hello-world-graph")["status"], "Running")

    def test_read_burst_on_a_cold_cache_reads_the_store_once(self):
        s = self.smo
        s.deploy("p", example("hello-world.yaml"))
        s.deploy("p", example("my-webapp.yaml"))

        def store_lists():
            m = re.search(r'smo_store_calls_total\{op="list",result="ok"\} '
                          r'(\d+)', s.get("/metrics").body)
            return int(m.group(1)) if m else 0

        host, port = s.url().split("//")[1].rsplit(":", 1)

        def burst(tags, before_send=None):
            """One GET of the list per tag (None: no If-None-Match), all
            sent before any answer is read: [(status, etag, body)]."""
            conns = [http.client.HTTPConnection(host, int(port), timeout=30)
                     for _ in tags]
            for c in conns:
                c.connect()
            if before_send:
                before_send()
            for c, t in zip(conns, tags):
                c.request("GET", "/project/p/graphs",
                          headers={"If-None-Match": t} if t else {})
            out = []
            for c in conns:
                r = c.getresponse()
                out.append((r.status, r.getheader("etag"), r.read()))
                c.close()
            return out

        # A write empties the caches; then 24 clients ask at once.
        self.assertEqual(
            s.post("/graphs/hello-world-graph/stop?wait=30").status, 200)
        before = store_lists()
        answers = burst([None] * 24)
        self.assertEqual({a[0] for a in answers}, {200})
        self.assertEqual(len({a[1] for a in answers}), 1)
        self.assertEqual(len({a[2] for a in answers}), 1)
        graphs = json.loads(answers[0][2])
        self.assertEqual(sorted(g["name"] for g in graphs),
                         ["hello-world-graph", "my-webapp-graph"])
        self.assertEqual([g["status"] for g in graphs
                          if g["name"] == "hello-world-graph"], ["Stopped"])
        # One store read served them all (a few more are allowed when the
        # requests straddle loop turns, never one per client).
        self.assertLess(store_lists() - before, 6)
        # Most waited on another's read in the API itself: one answer
        # serialised, no copy per client.
        joined = re.search(r'smo_api_reads_joined_total (\d+)',
                           s.get("/metrics").body)
        self.assertIsNotNone(joined, "no read waited on another")
        self.assertGreaterEqual(int(joined.group(1)), 12)
        # A burst after a write from clients holding the tag it made stale
        # (or another): the new body for all. Then one holding the new
        # tag: 304 for all.
        tag = answers[0][1]
        again = burst([tag, '"x"'] * 8, lambda: self.assertEqual(
            s.post("/graphs/hello-world-graph/start?wait=30").status, 200))
        self.assertEqual({a[0] for a in again}, {200})
        self.assertEqual(len({a[1] for a in again}), 1)
        self.assertNotEqual(again[0][1], tag)
        self.assertEqual([g["status"] for g in json.loads(again[0][2])
                          if g["name"] == "hello-world-graph"], ["Running"])
        self.assertEqual({(a[0], a[2]) for a in burst([again[0][1]] * 16)},
                         {(304, b"")})

    def test_plan_is_a_dry_run(self):
        s = self.smo
        r = s.post("/graphs/plan", read(example("image-detection.yaml")),
                   ctype="application/x-yaml")
        self.assertEqual(r.status, 200, r)
        plan = r.json()
        self.assertEqual(set(plan["placement"]), {
            "image-compression-vo", "noise-reduction", "image-detection"})
        # image-detection needs a GPU: edge-a has none and says so.
        self.assertTrue(plan["feasible"])
        self.assertIn(plan["detail"]["status"], ("optimal", "feasible"))
        why = plan["detail"]["services"]["image-detection"]["excluded"]
        self.assertIn("edge-a", why)
        self.assertIn("GPU", why["edge-a"])
        self.assertEqual(s.get("/graphs").json(), [])
        self.assertEqual(s.sim_releases(), {})


class Errors(Base):
    def test_400_invalid_descriptor_names_the_field(self):
        bad = read(example("hello-world.yaml")).replace("cpu: small",
                                                        "cpu: huge")
        r = self.smo.post("/project/p/graphs", bad,
                          ctype="application/x-yaml")
        p = self.problem(r, 400)
        self.assertTrue(any(e["path"].endswith("intent.compute.cpu") and
                            "huge" in e["message"] for e in p["errors"]),
                        p)
        self.assertEqual(self.smo.get("/graphs").json(), [])

    def test_400_other_bad_requests(self):
        s = self.smo
        self.problem(s.post("/project/p/graphs", "{not json",
                            ctype="application/json"), 400, "JSON")
        self.problem(s.post("/project/p/graphs", "",
                            ctype="application/json"), 400)
        self.problem(s.post("/project/p/graphs", "[1,2]",
                            ctype="application/json"), 400)
        self.problem(s.post("/project/p/graphs?wait=abc",
                            read(example("hello-world.yaml")),
                            ctype="application/x-yaml"), 400, "wait")
        self.problem(s.post("/project/Bad_Project!/graphs",
                            read(example("hello-world.yaml")),
                            ctype="application/x-yaml"), 400)
        self.problem(s.post("/alerts", {"receiver": "x"}), 400, "alerts")

    def test_traversal_and_flag_injection_refused(self):
        """Names that would climb out of a directory or read as a helm
        flag never get past the API: 400 naming them, nothing stored."""
        s = self.smo
        hello = read(example("hello-world.yaml"))
        for project in ("..", "-rf", "--kubeconfig=x", "a.b", "%2e%2e"):
            with self.subTest(project=project):
                r = s.post("/project/%s/graphs" % project, hello,
                           ctype="application/x-yaml")
                self.assertIn(r.status, (400, 404), r)
                self.assertTrue(r.ctype.startswith("application/problem"), r)
        bad = {
            "service id read as a flag": ("id: hello-world\n", "id: --set\n"),
            "graph id climbing": ("id: hello-world-graph", "id: ../../etc"),
            "chart read as a flag": ("oci://", "--post-renderer=/bin/sh oci://"),
        }
        for what, (a, b) in bad.items():
            with self.subTest(what=what):
                text = hello.replace(a, b, 1)
                self.assertNotEqual(text, hello)
                r = s.post("/project/p/graphs", text,
                           ctype="application/x-yaml")
                self.problem(r, 400)
        self.assertEqual(s.get("/graphs").json(), [])
        self.assertEqual(s.sim_releases(), {})

    def test_messages_cut_inside_a_character(self):
        """Error messages are cut to the core's buffer, possibly inside a
        UTF-8 character: the answer still comes (it crashed smod), and a
        webhook's alerts each get their result."""
        s = self.smo
        r = s.post("/project/p/graphs", {"artifact": "oci://x" + "é" * 300})
        self.assertGreaterEqual(r.status, 400, r)
        self.assertTrue(r.ctype.startswith("application/problem+json"), r)
        self.assertTrue(r.json()["detail"])
        self.assertEqual(s.get("/healthz").status, 200)
        with open(os.path.join(apilib.FIXTURES,
                               "alertmanager-webhook.json")) as f:
            hook = json.load(f)
        a = hook["alerts"][0]
        a["labels"].update(service="user-db", graph="é" * 300,
                           project="shop")
        hook["alerts"].append(json.loads(json.dumps(a)))
        hook["alerts"][1]["labels"]["graph"] = "missing-graph"
        r = s.post("/alerts?wait=10", hook)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(r.json()["results"]), 2, r.json())
        self.assertEqual(s.get("/healthz").status, 200)

    def test_404_405_409_413_415(self):
        s = self.smo
        self.problem(s.get("/graphs/nope"), 404, "nope")
        self.problem(s.get("/no/such/route"), 404)
        self.problem(s.post("/graphs/nope/stop"), 404)
        self.problem(s.request("DELETE", "/graphs/nope"), 404)
        p = self.problem(s.request("PUT", "/graphs/x"), 405)
        self.assertIn("GET", s.request("PUT", "/graphs/x").headers["allow"])
        self.assertTrue(p)
        s.deploy("p", example("hello-world.yaml"))
        self.problem(s.post("/project/p/graphs",
                            read(example("hello-world.yaml")),
                            ctype="application/x-yaml"), 409, "exists")
        big = "x" * (300 * 1024)
        self.problem(s.post("/project/p/graphs", big,
                            ctype="application/x-yaml"), 413)
        self.problem(s.post("/project/p/graphs", "<xml/>",
                            ctype="application/xml"), 415)

    def test_slow_and_oversized_clients(self):
        # A client that never finishes its headers is dropped after
        # request_timeout (2 s here) while others are served meanwhile.
        slow = socket.create_connection(("127.0.0.1", self.smo.port),
                                        timeout=10)
        slow.sendall(b"GET /graphs HTTP/1.1\r\nHost: x\r\n")
        self.assertEqual(self.smo.get("/healthz").status, 200)
        try:
            data = slow.recv(4096)  # the server closes: b"" or a 4xx
        except socket.timeout:
            self.fail("a client that never finished its request was kept")
        except OSError:
            data = b""
        self.assertNotIn(b"200 OK", data)
        slow.close()
        # Header fields beyond max_headers: refused, the daemon stays up.
        r = self.smo.get("/graphs", headers={"X-Big": "a" * 70000})
        self.problem(r, 431)
        self.assertEqual(self.smo.get("/healthz").status, 200)

    def test_errors_keep_the_connection_alive(self):
        """An error answer has a Content-Length and leaves the keep-alive
        connection open (clients did reconnect after every 4xx)."""
        port = int(self.smo.url().rsplit(":", 1)[1])
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            for path, status in (("/graphs/nope", 404), ("/healthz", 200),
                                 ("/project/p/graphs", 400)):
                if status == 400:
                    c.request("POST", path, body="{bad",
                              headers={"Content-Type": "application/json"})
                else:
                    c.request("GET", path)
                r = c.getresponse()
                body = r.read()
                self.assertEqual(r.status, status)
                self.assertEqual(int(r.getheader("content-length")),
                                 len(body))
                self.assertNotEqual(r.getheader("connection"), "close")
                self.assertIsNotNone(c.sock)  # the same socket goes on
        finally:
            c.close()

    def test_garbage_on_the_wire_never_crashes(self):
        for raw in (b"\x00\xff\xfe garbage\r\n\r\n",
                    b"GET /graphs HTTP/1.1\r\nHost: x\r\nContent-Length: "
                    b"-1\r\n\r\n",
                    b"POST /project/p/graphs HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Length: 5\r\n\r\n",
                    b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n"):
            c = socket.create_connection(("127.0.0.1", self.smo.port),
                                         timeout=5)
            c.sendall(raw)
            c.shutdown(socket.SHUT_WR)
            try:
                while c.recv(65536):
                    pass
            except OSError:
                pass
            c.close()
        r = self.smo.get("/healthz")
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(self.smo.daemon.proc.poll())


class Unavailable(unittest.TestCase):
    def test_503_without_executor(self):
        s = Smo(self)
        os.unlink(os.path.join(s.conf, "40-executor.yaml"))
        s.start()
        try:
            r = s.post("/project/p/graphs", read(example("hello-world.yaml")),
                       ctype="application/x-yaml")
            self.assertEqual(r.status, 503, r)
            self.assertTrue(r.ctype.startswith("application/problem+json"))
            self.assertIn("executor", r.json()["detail"])
        finally:
            s.cleanup()


class Retention(unittest.TestCase):
    """engine.operations.retention: finished operations past it are
    deleted, each graph's newest kept."""

    def setUp(self):
        self.smo = Smo(self, engine="  operations:\n    retention: 1s\n"
                                    "    prune_interval: 1s\n").start()

    def tearDown(self):
        self.smo.cleanup()

    def test_old_operations_are_pruned_but_each_graphs_newest_kept(self):
        s = self.smo
        ids = [s.deploy("p", example("hello-world.yaml")).json()["id"]]
        for action in ("stop", "start"):
            r = s.post("/graphs/hello-world-graph/%s?wait=30" % action)
            self.assertEqual(r.status, 200, r)
            ids.append(r.json()["id"])
        ids.append(s.deploy("p", example("my-webapp.yaml")).json()["id"])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            left = sorted(o["id"] for o in s.get("/operations").json())
            if len(left) <= 2:
                break
            time.sleep(0.2)
        self.assertEqual(left, sorted([ids[2], ids[3]]))
        self.assertEqual(s.get("/operations/" + ids[0]).status, 404)
        self.assertEqual(s.get("/operations/" + ids[2]).json()["state"],
                         "succeeded")
        self.assertEqual(s.graph("hello-world-graph")["status"], "Running")
        # The journal still drives new work.
        r = s.post("/graphs/hello-world-graph/stop?wait=30")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(s.graph("hello-world-graph")["status"], "Stopped")


class EventRetention(unittest.TestCase):
    """The store's events_retention: events past it are deleted at a later
    commit, newer ones kept."""

    def setUp(self):
        self.smo = Smo(self, store="      events_retention: 1s\n").start()

    def tearDown(self):
        self.smo.cleanup()

    def events(self, graph):
        r = self.smo.get("/events?graph=" + graph)
        self.assertEqual(r.status, 200, r)
        return r.json()

    def test_old_events_are_deleted_new_ones_kept(self):
        s = self.smo
        s.deploy("p", example("hello-world.yaml"))
        old = self.events("p/hello-world-graph")
        self.assertTrue(old, "a deploy records events")
        last_old = max(e["time_ms"] for e in old)
        time.sleep(1.2)
        # A commit after the retention deletes them (bounded: a few
        # actions, each a handful of commits and events).
        for i in range(6):
            r = s.post("/graphs/hello-world-graph/%s?wait=30"
                       % ("stop" if i % 2 == 0 else "start"))
            self.assertEqual(r.status, 200, r)
            now = self.events("p/hello-world-graph")
            if all(e["time_ms"] > last_old for e in now):
                break
        self.assertLess(len(now), 40, "no window hides the old events")
        self.assertTrue(all(e["time_ms"] > last_old for e in now), now)
        self.assertIn("graph.stopped", [e["type"] for e in now],
                      "the latest action's events are kept")


class Auth(Base):
    api = ("      tokens:\n"
           "        - {name: ops, role: admin, token: %s}\n"
           "        - {name: viewer, role: read, token: %s}\n"
           "        - {name: alertmanager, role: alerts, token: %s}\n"
           % (ADMIN, READER, ALERTS))

    def test_roles(self):
        s = self.smo
        y = read(example("hello-world.yaml"))
        r = s.get("/graphs")
        self.problem(r, 401)
        self.assertIn("Bearer", r.headers["www-authenticate"])
        self.problem(s.get("/graphs", token="wrong-token-0123456789"), 401)
        self.assertEqual(s.get("/healthz").status, 200)
        self.assertEqual(s.get("/openapi.json").status, 200)
        self.assertEqual(s.get("/graphs", token=READER).status, 200)
        self.problem(s.post("/project/p/graphs", y, ctype="application/x-yaml",
                            token=READER), 403)
        self.problem(s.get("/graphs", token=ALERTS), 403)
        self.problem(s.post("/alerts", {"alerts": []}, token=READER), 403)
        self.assertEqual(s.post("/alerts", {"alerts": []},
                                token=ALERTS).status, 200)
        r = s.post("/project/p/graphs?wait=30", y, ctype="application/x-yaml",
                   token=ADMIN)
        self.assertEqual(r.status, 200, r)
        self.problem(s.get("/graphs/hello-world-graph/stop", token=READER),
                     403)
        self.assertEqual(s.get("/metrics", token=READER).status, 200)
        # smoctl: token from the environment, then from the config file.
        self.assertEqual(s.smoctl("graph", "list").returncode, 7)
        r = s.smoctl("graph", "list", token=READER)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("hello-world-graph", r.stdout)
        smolib.write(os.path.join(s.root, ".config", "smo", "config.yaml"),
                     "url: %s\ntoken: %s\n" % (s.url(), READER))
        r = s.smoctl("graph", "list", env={"SMO_URL": ""})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(s.smoctl("graph", "stop", "hello-world-graph",
                                  env={"SMO_URL": ""}).returncode, 7)

    def test_secrets_absent_from_logs_and_answers(self):
        s = self.smo
        s.get("/graphs", token=ADMIN)
        s.get("/graphs", token="wrong-token-0123456789")
        s.post("/alerts", {"alerts": []}, token=ALERTS)
        s.post("/v1/reload", token=ADMIN)
        for path in ("/metrics", "/version", "/openapi.json", "/clusters",
                     "/events"):
            body = s.get(path, token=ADMIN).body
            for secret in (ADMIN, READER, ALERTS):
                self.assertNotIn(secret, body, path)
        logs = s.daemon.logs()
        self.assertIn("by ops", logs)  # the holder's name, not the token
        for secret in (ADMIN, READER, ALERTS, "wrong-token-0123456789"):
            self.assertNotIn(secret, logs)

    def test_public_bind_without_tokens_refused(self):
        d = smolib.tmpdir()
        try:
            conf = os.path.join(d, "conf.d")
            smolib.write(os.path.join(conf, "90-api.yaml"),
                         "instances:\n  - kind: api\n    plugin: http\n"
                         "    name: api\n    config:\n"
                         "      listen: 0.0.0.0:%d\n" % apilib.free_port())
            r = smolib.run(["run", "--conf", conf, "--data",
                            os.path.join(d, "data")], timeout=30)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("tokens", r.stderr)
        finally:
            smolib.rmtree(d)


class Tls(unittest.TestCase):
    def test_https_with_tokens(self):
        d = smolib.tmpdir()
        certs = os.path.join(d, "certs")
        subprocess.run(["sh", os.path.join(apilib.FIXTURES, "gen_certs.sh"),
                        certs], check=True, timeout=60)
        api = ("      tokens:\n"
               "        - {name: ops, role: admin, token: %s}\n"
               "      tls: {cert_file: %s, key_file: %s}\n"
               % (ADMIN, os.path.join(certs, "server.pem"),
                  os.path.join(certs, "server.key")))
        s = Smo(self, api=api, root=d)
        s.start()
        try:
            ctx = ssl.create_default_context(
                cafile=os.path.join(certs, "ca.pem"))
            c = http.client.HTTPSConnection("127.0.0.1", s.port, context=ctx,
                                            timeout=10)
            c.request("GET", "/graphs",
                      headers={"Authorization": "Bearer " + ADMIN})
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            self.assertEqual(json.loads(r.read()), [])
            c.close()
            url = {"SMO_URL": "https://127.0.0.1:%d" % s.port}
            r = s.smoctl("--cacert", os.path.join(certs, "ca.pem"),
                         "graph", "deploy", "-p", "p",
                         example("hello-world.yaml"), "--wait", token=ADMIN,
                         env=url)
            self.assertEqual(r.returncode, 0, r.stderr)
            # Without the CA the certificate is refused.
            r = s.smoctl("graph", "list", token=ADMIN, env=url)
            self.assertEqual(r.returncode, 5, r.stderr)
            # Plain HTTP on the TLS port gets nothing useful.
            with self.assertRaises(Exception):
                s.get("/graphs", token=ADMIN, timeout=3).json()
        finally:
            s.cleanup()


class Faults(unittest.TestCase):
    def test_failure_mid_deploy_then_converge(self):
        s = Smo(self, sim="      fail_releases: [p/image-detection]\n")
        s.start()
        try:
            r = s.deploy("p", example("image-detection.yaml"))
            op = r.json()
            self.assertEqual(op["state"], "failed", op)
            failed = [x for x in op["steps"] if x["state"] == "failed"]
            self.assertEqual(failed[0]["name"], "install:image-detection")
            self.assertIn("injected failure", json.dumps(op))
            g = s.graph("image-detection-graph")
            self.assertEqual(g["status"], "Failed")
            self.assertIn("injected", g.get("reason", "") + json.dumps(g))
            by = {x["name"]: x["status"] for x in g["services"]}
            self.assertEqual(by["noise-reduction"], "Deployed")
            self.assertEqual(by["image-detection"], "Failed")
            self.assertIn("p/noise-reduction", s.sim_releases())
            # Remove the injection, reload, re-run the deploy: converges.
            smolib.write(os.path.join(s.conf, "40-executor.yaml"),
                         "instances:\n  - kind: executor\n    plugin: sim\n"
                         "    name: clusters\n    config:\n      clusters:"
                         + apilib.CLUSTERS)
            s.daemon.signal(signal.SIGHUP)
            s.daemon.wait_log("reload done")
            r = s.deploy("p", example("image-detection.yaml"))
            self.assertEqual(r.json()["state"], "succeeded", r.json())
            g = s.graph("image-detection-graph")
            self.assertEqual(g["status"], "Running")
            rel = s.sim_releases()
            self.assertEqual(sorted(rel), ["p/image-detection",
                                           "p/noise-reduction"])
        finally:
            s.cleanup()

    def test_kill9_mid_deploy_resumes(self):
        s = Smo(self, sim="      install_latency: 600ms\n")
        s.start()
        try:
            r = s.post("/project/p/graphs", read(example("my-webapp.yaml")),
                       ctype="application/x-yaml")
            self.assertEqual(r.status, 202, r)
            op_id = r.json()["id"]
            end = time.monotonic() + 20
            while time.monotonic() < end:
                steps = s.get("/operations/" + op_id).json()["steps"]
                if any(x["name"].startswith("install:") and
                       x["state"] == "done" for x in steps):
                    break
                time.sleep(0.05)
            s.kill9()
            s.start()
            op = s.wait_op(op_id)
            self.assertEqual(op["state"], "succeeded", op)
            g = s.graph("my-webapp-graph")
            self.assertEqual(g["status"], "Running")
            want = sorted("p/" + x["name"] for x in g["services"]
                          if x["status"] == "Deployed")
            self.assertEqual(sorted(s.sim_releases()), want)
            self.assertEqual(len(want), 2)
            # Remove, kill -9 mid-way, restart: nothing is left behind.
            s.stop()
            smolib.write(os.path.join(s.conf, "96-slow.yaml"), "")
            s.start()
            r = s.request("DELETE", "/graphs/my-webapp-graph")
            self.assertEqual(r.status, 202, r)
            time.sleep(0.3)
            s.kill9()
            s.start()
            s.wait_op(r.json()["id"])
            self.assertEqual(s.get("/graphs/my-webapp-graph").status, 404)
            self.assertEqual(s.sim_releases(), {})
        finally:
            s.cleanup()


class Documents(Base):
    def routes(self):
        src = read(os.path.join(smolib.SOURCE, "plugins", "api_http",
                                "routes.c"))
        table = src[src.index("smo__api_routes[] = {"):src.index("};")]
        out = set()
        for methods, path in re.findall(r'\{"([A-Z|]+)", "([^"]+)"', table):
            for m in methods.split("|"):
                out.add((m.lower(), path))
        return out

    def test_openapi_matches_routes(self):
        doc = self.smo.get("/openapi.json").json()
        self.assertTrue(doc["openapi"].startswith("3."))
        verbs = ("get", "post", "delete", "put", "patch")
        documented = {(m, p) for p, ops in doc["paths"].items()
                      for m in ops if m in verbs}
        self.assertEqual(documented, self.routes())
        for p, ops in doc["paths"].items():
            for m, op in ops.items():
                if m in verbs:
                    self.assertIn("responses", op, (m, p))
        with open(os.path.join(smolib.SOURCE, "plugins", "api_http",
                               "openapi.json")) as f:
            self.assertEqual(json.load(f), doc)

    def test_docs_health_metrics(self):
        s = self.smo
        r = s.get("/docs")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.ctype.startswith("text/html"))
        self.assertEqual(s.get("/healthz").json(), {"status": "ok"})
        self.assertEqual(s.get("/readyz").status, 200)
        s.deploy("p", example("hello-world.yaml"))
        m = s.get("/metrics")
        self.assertEqual(m.status, 200)
        self.assertTrue(m.ctype.startswith("text/plain"))
        for line in ('smo_api_requests_total{route="/project/{project}/graphs"'
                     ',method="POST",code="200"} 1',
                     'smo_operations_total{action="deploy",'
                     'result="succeeded"} 1',
                     "smo_placement_solve_seconds_count 1",
                     "smo_api_request_duration_seconds_bucket",
                     'smo_instance_up{kind="executor",instance="clusters",'
                     'plugin="sim"} 1'):
            self.assertIn(line, m.body)

    def test_contract_of_original_clients(self):
        """The fields the original SMO's clients and SDK read."""
        s = self.smo
        s.deploy("p", example("image-detection.yaml"))
        graphs = s.get("/project/p/graphs").json()
        self.assertIsInstance(graphs, list)
        for g in graphs + [s.graph("image-detection-graph")]:
            for k, t in (("name", str), ("status", str), ("project", str),
                         ("hdaGraph", dict), ("services", list),
                         ("placement", dict)):
                self.assertIsInstance(g[k], t, k)
            self.assertIn("grafana", g)
            for svc in g["services"]:
                for k, t in (("name", str), ("status", str),
                             ("values_overwrite", dict),
                             ("artifact_ref", str), ("artifact_type", str),
                             ("artifact_implementer", str)):
                    self.assertIsInstance(svc[k], t, k)
                for k in ("cpu", "memory", "storage", "gpu"):
                    self.assertIsInstance(svc[k], (int, float), k)
                self.assertIn("cluster_affinity", svc)
                self.assertIn("grafana", svc)
        clusters = s.get("/clusters/").json()
        for c in clusters:
            for k in ("name", "location", "available_cpu", "available_ram",
                      "availability", "acceleration"):
                self.assertIn(k, c)


class Smoctl(Base):
    def test_cli(self):
        s = self.smo
        r = s.smoctl("graph", "deploy", "-p", "demo",
                     example("image-detection.yaml"), "--wait")
        self.assertEqual(r.returncode, 0, r.stderr)
        for needle in ("install:noise-reduction", "image-detection-graph",
                       "Running", "SERVICE", "CLUSTER"):
            self.assertIn(needle, r.stdout)
        g = s.graph("image-detection-graph")
        for svc in g["services"]:
            self.assertIn(svc["cluster_affinity"], r.stdout)
        r = s.smoctl("graph", "list")
        self.assertIn("image-detection-graph", r.stdout)
        r = s.smoctl("graph", "get", "image-detection-graph", "-o", "json")
        self.assertEqual(json.loads(r.stdout)["name"],
                         "image-detection-graph")
        r = s.smoctl("-o", "yaml", "graph", "get", "image-detection-graph")
        self.assertIn("name: image-detection-graph", r.stdout)
        r = s.smoctl("cluster", "list")
        self.assertEqual(r.returncode, 0)
        self.assertIn("edge-a", r.stdout)
        r = s.smoctl("graph", "plan", example("hello-world.yaml"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("hello-world", r.stdout)
        for action in ("stop", "start", "place"):
            r = s.smoctl("graph", action, "image-detection-graph", "--wait")
            self.assertEqual(r.returncode, 0, (action, r.stderr))
        ops = s.get("/operations").json()
        r = s.smoctl("operation", "get", ops[0]["id"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(ops[0]["id"], r.stdout)
        # Exit codes scripts rely on.
        self.assertEqual(s.smoctl("graph", "get", "nope").returncode, 3)
        self.assertEqual(s.smoctl("graph", "start", "image-detection-graph"
                                  ).returncode, 4)
        bad = os.path.join(s.root, "bad.yaml")
        smolib.write(bad, read(example("hello-world.yaml")).replace(
            "cpu: small", "cpu: huge"))
        r = s.smoctl("graph", "deploy", "-p", "demo", bad)
        self.assertEqual(r.returncode, 6)
        self.assertIn("huge", r.stderr)
        self.assertEqual(s.smoctl("graph").returncode, 2)
        self.assertEqual(s.smoctl("version", env={
            "SMO_URL": "http://127.0.0.1:%d" % apilib.free_port()
        }).returncode, 5)
        r = s.smoctl("graph", "remove", "image-detection-graph", "--wait")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(s.sim_releases(), {})


if __name__ == "__main__":
    unittest.main(verbosity=2)
