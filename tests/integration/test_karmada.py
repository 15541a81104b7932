"""executor_karmada end to end: the real smod with the Karmada executor
against a fake Karmada API server (TLS, client certificates, bearer
tokens; tests/fixtures/karmada/fake_karmada.py) and a fake helm that
parses its argv like helm and records every call (fake_helm.py).

The example graphs go through deploy, alert, stop, start, placement and
remove over the REST API; the recorded helm calls and values must match
the documented contract (WOT nesting, serviceImportClusters), releases and
Deployments land in the project's namespace, a cluster going NotReady is
seen on GET /clusters (and re-placed when enabled), helm's failures fail
the operation with helm's message, API errors are retried or reported,
and the engine's scaling loop (rates from a real Prometheus) patches the
Deployments' /scale in the project's namespace. The fake API server is
checked against the real kubectl when there is one.
Every wait is bounded."""
import http.client
import json
import os
import select
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import apilib  # noqa: E402
import smolib  # noqa: E402
import test_nfvcl as tn  # noqa: E402
import test_scaling as ts  # noqa: E402
from apilib import Smo, example  # noqa: E402

KDIR = os.path.join(apilib.FIXTURES, "karmada")
FAKE_API = os.path.join(KDIR, "fake_karmada.py")
FAKE_HELM = os.path.join(KDIR, "fake_helm.py")
CLUSTERS = os.path.join(KDIR, "clusters.json")
SUBMARINER = os.path.join(KDIR, "submariner-clusters.json")
TOKEN = "karmada-test-token-0123456789"
CERTS = None  # made once per run (setUpModule)
# The fake's resource summary is fixed: it never counts what the fake helm
# installed, so the engine's reservations for releases it just installed
# (kept for pending_window with an executor whose inventory lags, as
# Karmada's does) would only ever shrink the free capacity. A stop then a
# start of the GPU service would not fit on member3 within that window.
ENGINE = ("  operations:\n    step_timeout: 90s\n"
          "    pending_window: 0s\n")


def setUpModule():
    global CERTS
    CERTS = smolib.tmpdir()
    for sub in ("ca", "other"):  # "other": a CA the server does not use
        subprocess.run(["sh", os.path.join(apilib.FIXTURES, "gen_certs.sh"),
                        os.path.join(CERTS, sub)], check=True, timeout=120)


def tearDownModule():
    smolib.rmtree(CERTS)


def b64(path):
    import base64
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


class FakeKarmada:
    """The fake API server process, its kubeconfigs and the fake helm's
    record directory."""

    def __init__(self, root, submariner=False):
        self.root = root
        self.helm_dir = os.path.join(root, "helm")
        os.makedirs(self.helm_dir)
        args = [sys.executable, FAKE_API, "--certs",
                os.path.join(CERTS, "ca"), "--clusters", CLUSTERS,
                "--token", TOKEN]
        if submariner:
            args += ["--submariner", SUBMARINER]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline() if ready else ""
        if not line.startswith("PORT "):
            self.stop()
            raise AssertionError("fake Karmada did not start: %r %s" % (
                line, self.proc.stderr.read() if self.proc.stderr else ""))
        w = line.split()
        self.port, self.cport = int(w[1]), int(w[3])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for f in (self.proc.stdout, self.proc.stderr):
            if f:
                f.close()

    def control(self, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.cport, timeout=10)
        c.request(method, path, body=json.dumps(body) if body is not None
                  else None, headers={"Content-Type": "application/json"})
        r = c.getresponse()
        data = json.loads(r.read() or b"null")
        c.close()
        assert r.status == 200, (path, r.status, data)
        return data

    def requests(self, path=None):
        return [r for r in self.control("GET", "/requests")
                if path is None or r["path"] == path]

    def state(self):
        return self.control("GET", "/state")

    def set_ready(self, cluster, ready):
        self.control("POST", "/clusters/%s/ready" % cluster, {"ready": ready})

    def kubeconfig(self, name="cert", ca="ca", token=None, token_file=None):
        """A kubeconfig for the fake: client certificate (inline data),
        an inline token or a token file, CA as a file."""
        if token is not None:
            user = "    token: %s\n" % token
        elif token_file is not None:
            user = "    tokenFile: %s\n" % token_file
        else:
            user = ("    client-certificate-data: %s\n"
                    "    client-key-data: %s\n"
                    % (b64(os.path.join(CERTS, "ca", "client.pem")),
                       b64(os.path.join(CERTS, "ca", "client.key"))))
        text = ("apiVersion: v1\nkind: Config\n"
                "current-context: karmada-apiserver\n"
                "clusters:\n- name: karmada\n  cluster:\n"
                "    server: https://127.0.0.1:%d\n"
                "    certificate-authority: %s\n"
                "users:\n- name: smo\n  user:\n%s"
                "contexts:\n- name: karmada-apiserver\n"
                "  context: {cluster: karmada, user: smo}\n"
                % (self.port, os.path.join(CERTS, ca, "ca.pem"), user))
        path = os.path.join(self.root, name + ".kubeconfig")
        smolib.write(path, text)
        os.chmod(path, 0o600)
        return path

    def helm_calls(self, sub=None):
        path = os.path.join(self.helm_dir, "calls.jsonl")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            calls = [json.loads(x) for x in f if x.strip()]
        return [c for c in calls if sub is None or c.get("subcommand") == sub]

    def helm_fail(self, rules):
        with open(os.path.join(self.helm_dir, "fail.json"), "w") as f:
            json.dump(rules, f)

    def executor(self, kubeconfig, extra="", sync="0s"):
        """40-executor.yaml text for smod."""
        return ("instances:\n  - kind: executor\n    plugin: karmada\n"
                "    name: karmada\n    config:\n"
                "      kubeconfig: %s\n"
                "      sync_interval: %s\n"
                "      retry: {attempts: 3, backoff: 20ms, "
                "max_backoff: 100ms}\n"
                "      helm:\n"
                "        binary: %s\n"
                "        plain_http: true\n"
                "        timeout: 60s\n"
                "        env: {FAKE_HELM_DIR: '%s', "
                "FAKE_KARMADA_CONTROL: 'http://127.0.0.1:%d'}\n"
                % (kubeconfig, sync, FAKE_HELM, self.helm_dir, self.cport)
                + extra)


class Base(unittest.TestCase):
    extra = ""
    sync = "0s"
    submariner = False
    kind = "cert"

    def setUp(self):
        self.root = smolib.tmpdir()
        self.fake = FakeKarmada(self.root, self.submariner)
        kc = (self.fake.kubeconfig() if self.kind == "cert" else
              self.fake.kubeconfig("token", token=TOKEN))
        try:
            self.smo = Smo(self, executor=self.fake.executor(
                kc, self.extra, self.sync),
                           engine=ENGINE)
            self.smo.start()
        except Exception:
            self.fake.stop()
            raise

    def tearDown(self):
        try:
            self.smo.cleanup()
        finally:
            self.fake.stop()
            smolib.rmtree(self.root)

    def clusters(self):
        r = self.smo.get("/clusters")
        self.assertEqual(r.status, 200, r)
        return {c["name"]: c for c in r.json()}

    def wait_for(self, what, pred, timeout=30):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            v = pred()
            if v:
                return v
            time.sleep(0.05)
        raise AssertionError("never happened: " + what)


def import_clusters(g):
    """serviceImportClusters per service by the documented algorithm: the
    clusters of the services listing it in their connectionPoints,
    de-duplicated, in descriptor order."""
    out = {s["id"]: [] for s in g["hdaGraph"]["services"]}
    for s in g["hdaGraph"]["services"]:
        src = g["placement"].get(s["id"])
        for t in s["deployment"]["intent"].get("connectionPoints", []):
            if src and t in out and src not in out[t]:
                out[t].append(src)
    return out


class Inventory(Base):
    def test_clusters_from_karmada(self):
        cl = self.clusters()
        self.assertEqual(sorted(cl), ["member1", "member2", "member3",
                                      "member4"])
        m1 = cl["member1"]
        self.assertTrue(m1["ready"])
        self.assertTrue(m1["availability"])
        self.assertEqual(m1["cpu"]["allocatable"], 24)
        self.assertAlmostEqual(m1["cpu"]["allocated"], 7.35)
        self.assertAlmostEqual(m1["cpu"]["allocating"], 0.5)
        self.assertAlmostEqual(m1["available_cpu"], 24 - 7.35 - 0.5)
        self.assertEqual(m1["memory"]["allocatable"], 94274980 * 1024)
        self.assertEqual(m1["memory"]["allocated"], 14848 * 1024 ** 2)
        self.assertEqual(m1["pods"]["allocatable"], 330)
        self.assertEqual(m1["provider"], "aws")
        self.assertEqual(m1["region"], "eu-west-1")
        self.assertEqual(m1["location"], "eu-west-1")
        self.assertEqual(m1["zones"], ["eu-west-1a", "eu-west-1b"])
        self.assertEqual(m1["labels"]["smo.io/cost-per-core"], "1.5")
        self.assertFalse(m1["acceleration"])
        self.assertEqual(cl["member3"]["gpu"]["allocatable"], 4)
        self.assertEqual(cl["member3"]["gpu"]["allocated"], 1)
        self.assertTrue(cl["member3"]["acceleration"])
        # Just joined, no resource summary: listed, not a target.
        m4 = cl["member4"]
        self.assertFalse(m4["available"])
        self.assertIn("no resourceSummary", m4["reason"])
        plan = self.smo.post("/graphs/plan",
                             apilib.read(example("hello-world.yaml")),
                             ctype="application/x-yaml").json()
        self.assertIn("no resourceSummary", json.dumps(plan["detail"]))
        # Authenticated by the client certificate, over TLS.
        reqs = self.fake.requests(
            "/apis/cluster.karmada.io/v1alpha1/clusters")
        self.assertTrue(reqs)
        self.assertTrue(all(r["auth"] == "cert:smo-test-client"
                            for r in reqs), reqs)

    def test_not_ready_is_seen(self):
        s = self.smo
        self.assertTrue(self.clusters()["member2"]["ready"])
        self.fake.set_ready("member2", False)
        m2 = self.clusters()["member2"]
        self.assertFalse(m2["ready"])
        self.assertFalse(m2["availability"])
        self.assertEqual(m2["reason"], "Ready=False: ClusterNotReachable: "
                                       "cluster is not reachable")
        s.daemon.wait_log("cluster member2 is NotReady: Ready=False")
        metrics = s.get("/metrics").body
        self.assertIn('smo_executor_karmada_cluster_ready{executor="karmada",'
                      'cluster="member2"} 0', metrics)
        self.assertIn('smo_executor_karmada_cluster_ready{executor="karmada",'
                      'cluster="member1"} 1', metrics)
        # Placement leaves it out, and says why.
        plan = s.post("/graphs/plan", apilib.read(example("hello-world.yaml")),
                      ctype="application/x-yaml").json()
        ex = plan["detail"]["services"]["hello-world"]["excluded"]
        self.assertEqual(ex["member2"], "not ready")
        self.fake.set_ready("member2", True)
        self.assertTrue(self.clusters()["member2"]["ready"])
        s.daemon.wait_log("cluster member2 is Ready again")

    def test_api_errors_and_retries(self):
        s = self.smo
        path = "/apis/cluster.karmada.io/v1alpha1/clusters"
        # The start-up sync is over: nothing else is on the wire.
        s.daemon.wait_log("cluster inventory: 4 clusters")
        self.fake.control("DELETE", "/requests")
        # Two 503s, then an answer: retried with backoff.
        self.fake.control("POST", "/fail", {"path": path, "status": 503,
                                            "count": 2, "message":
                                            "etcd leader changed"})
        r = s.post("/clusters/sync")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(self.fake.requests(path)), 3)
        # Always 503: the sync fails with the API's message; the list
        # falls back to what is stored.
        self.fake.control("POST", "/fail", {"path": path, "status": 503,
                                            "count": 100, "message":
                                            "etcd leader changed"})
        r = s.post("/clusters/sync")
        self.assertEqual(r.status, 503, r)
        self.assertIn("503 Service Unavailable: etcd leader changed (every "
                      "try failed)", r.json()["detail"])
        r = s.get("/clusters")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(r.json()), 4)
        self.fake.control("DELETE", "/fail")
        # 403 is not retried and names the RBAC fix.
        self.fake.control("DELETE", "/requests")
        self.fake.control("POST", "/fail", {"path": path, "status": 403,
                                            "count": 1})
        r = s.post("/clusters/sync")
        self.assertIn("403 Forbidden: User \"cert:smo-test-client\" cannot "
                      "get resource", r.json()["detail"])
        self.assertIn("docs/operations/karmada.md", r.json()["detail"])
        self.assertEqual(len(self.fake.requests(path)), 1)


class Credentials(unittest.TestCase):
    """Refused credentials, a foreign CA, a rotated token file: one smod
    each (the kubeconfig is read when the instance is created)."""

    def setUp(self):
        self.root = smolib.tmpdir()
        self.fake = FakeKarmada(self.root)

    def tearDown(self):
        self.fake.stop()
        smolib.rmtree(self.root)

    def sync_with(self, kc, then=None):
        smo = Smo(self, executor=self.fake.executor(kc), engine=ENGINE)
        try:
            smo.start()
            r = smo.post("/clusters/sync")
            r2 = then(smo) if then else None
        finally:
            smo.cleanup()
        return r, r2

    def test_refused_and_rotated_credentials(self):
        path = "/apis/cluster.karmada.io/v1alpha1/clusters"
        # A token the server does not know.
        r, _ = self.sync_with(self.fake.kubeconfig("bad", token="wrong"))
        self.assertIn("401 Unauthorized", r.json()["detail"])
        self.assertIn('credentials of user "smo"', r.json()["detail"])
        # A server certificate from another CA.
        r, _ = self.sync_with(self.fake.kubeconfig("otherca", ca="other"))
        self.assertIn("TLS or protocol failure", r.json()["detail"])
        # A token file rotated while smod runs: read again after a 401.
        tf = os.path.join(self.root, "sa.token")
        smolib.write(tf, "old-token\n")

        def rotate(smo):
            smolib.write(tf, TOKEN + "\n")
            return smo.post("/clusters/sync")
        r, r2 = self.sync_with(self.fake.kubeconfig("tf", token_file=tf),
                               rotate)
        self.assertIn("401 Unauthorized", r.json()["detail"])
        self.assertEqual(r2.status, 200, r2)
        self.assertEqual(self.fake.requests(path)[-1]["auth"], "token")


class Lifecycle(Base):
    kind = "token"

    def test_image_detection_lifecycle(self):
        s, fake = self.smo, self.fake
        r = s.deploy("demo", example("image-detection.yaml"), wait=60)
        op = r.json()
        self.assertEqual(op["state"], "succeeded", op)
        g = s.graph("image-detection-graph")
        self.assertEqual(g["status"], "Running")
        by = {x["name"]: x for x in g["services"]}
        calls = fake.helm_calls("upgrade")
        # The event-triggered VO waits for its alert: two installs.
        self.assertEqual(sorted(c["release"] for c in calls),
                         ["image-detection", "noise-reduction"])
        kc = os.path.join(self.root, "token.kubeconfig")
        for c in calls:
            svc = by[c["release"]]
            self.assertEqual(c["exit"], 0, c)
            # The documented command line, exactly.
            self.assertEqual(c["argv"], [
                "upgrade", "--install", c["release"], svc["artifact_ref"],
                "--namespace", "demo", "--create-namespace",
                "--kubeconfig", kc, "--values",
                c["values_files"][0]["path"], "--plain-http",
                "--wait=false"])
            self.assertEqual(c["values_files"][0]["mode"], "0600")
            self.assertTrue(c["values_files"][0]["path"].startswith(
                os.path.join(s.data, "karmada-karmada") + "/"))
            self.assertFalse(os.path.exists(c["values_files"][0]["path"]))
            # helm got the graph's values, nothing else.
            self.assertEqual(c["values"], svc["values_overwrite"])
            self.assertEqual(c["values"]["clustersAffinity"],
                             [g["placement"][c["release"]]])
        imports = import_clusters(g)
        nr = fake.helm_calls("upgrade")
        nr = {c["release"]: c["values"] for c in nr}
        self.assertEqual(nr["image-detection"]["serviceImportClusters"],
                         imports["image-detection"])
        self.assertEqual(nr["image-detection"]["serviceImportClusters"],
                         [g["placement"]["noise-reduction"]])
        self.assertEqual(nr["noise-reduction"]["serviceImportClusters"],
                         imports["noise-reduction"])
        self.assertEqual(nr["image-detection"]["replicaCount"], 2)
        # The GPU service went where GPUs are.
        self.assertEqual(g["placement"]["image-detection"], "member3")
        # Releases' workloads exist in the project's namespace.
        st = fake.state()
        self.assertIn("demo", st["namespaces"])
        self.assertIn("demo/image-detection", st["deployments"])
        self.assertEqual(
            st["deployments"]["demo/image-detection"]["spec"]["replicas"], 2)
        # The step records carry helm's output.
        steps = {x["name"]: x for x in op["steps"]}
        det = steps["install:noise-reduction"]["detail"]
        self.assertIn("STATUS: deployed", det["stdout"])
        self.assertEqual(det["revision"], 1)

        # The alert deploys the WOT virtual object: placement values nested
        # under voChartOverwrite, nothing at the top level.
        with open(os.path.join(apilib.FIXTURES,
                               "alertmanager-webhook.json")) as f:
            hook = json.load(f)
        hook["alerts"][0]["labels"]["service"] = "image-compression-vo"
        r = s.post("/alerts?wait=60", hook)
        self.assertEqual(r.status, 200, r)
        g = s.graph("image-detection-graph")
        vo = [c for c in fake.helm_calls("upgrade")
              if c["release"] == "image-compression-vo"]
        self.assertEqual(len(vo), 1, fake.helm_calls())
        v = vo[0]["values"]
        self.assertNotIn("clustersAffinity", v)
        self.assertNotIn("serviceImportClusters", v)
        self.assertEqual(v["voDescriptorOverwrite"], {})
        self.assertEqual(v["voChartOverwrite"]["clustersAffinity"],
                         [g["placement"]["image-compression-vo"]])
        self.assertEqual(v["voChartOverwrite"]["serviceImportClusters"],
                         import_clusters(g)["image-compression-vo"])
        self.assertEqual(vo[0]["namespace"], "demo")

        # stop: every installed release uninstalled, in the namespace.
        r = s.post("/graphs/image-detection-graph/stop?wait=60")
        self.assertEqual(r.json()["state"], "succeeded", r)
        un = fake.helm_calls("uninstall")
        self.assertEqual(sorted(c["release"] for c in un), [
            "image-compression-vo", "image-detection", "noise-reduction"])
        for c in un:
            self.assertEqual(c["argv"], ["uninstall", c["release"],
                                         "--namespace", "demo",
                                         "--kubeconfig", kc])
            self.assertEqual(c["exit"], 0, c)
        self.assertEqual(fake.state()["deployments"], {})
        self.assertEqual(s.graph("image-detection-graph")["status"],
                         "Stopped")

        # start: installed again; placement: nothing moves, no helm call.
        n = len(fake.helm_calls("upgrade"))
        r = s.post("/graphs/image-detection-graph/start?wait=60")
        self.assertEqual(r.json()["state"], "succeeded", r.json())
        self.assertEqual(len(fake.helm_calls("upgrade")), n + 2)
        n += 2
        # placement: only the services that move are upgraded, each with
        # its new cluster.
        before = s.graph("image-detection-graph")["placement"]
        r = s.post("/graphs/image-detection-graph/placement?wait=60")
        self.assertEqual(r.json()["state"], "succeeded", r)
        after = s.graph("image-detection-graph")["placement"]
        moved = sorted(k for k in ("noise-reduction", "image-detection")
                       if before[k] != after[k])
        up = fake.helm_calls("upgrade")[n:]
        self.assertEqual(sorted(c["release"] for c in up), moved)
        for c in up:
            self.assertEqual(c["values"]["clustersAffinity"],
                             [after[c["release"]]])

        # remove: uninstalled (the never-installed VO too: helm says "not
        # found", which is success) and the graph is gone.
        r = s.request("DELETE", "/graphs/image-detection-graph?wait=60")
        self.assertEqual(r.json()["state"], "succeeded", r)
        self.assertEqual(s.get("/graphs/image-detection-graph").status, 404)
        self.assertEqual(fake.state()["deployments"], {})
        last = fake.helm_calls("uninstall")[-3:]
        self.assertEqual(sorted((c["release"], c["exit"]) for c in last), [
            ("image-compression-vo", 1), ("image-detection", 0),
            ("noise-reduction", 0)])
        self.assertEqual(os.listdir(os.path.join(s.data, "karmada-karmada")),
                         [])

    def test_my_webapp_and_hello_world_namespaces(self):
        s, fake = self.smo, self.fake
        s.deploy("shop", example("my-webapp.yaml"), wait=60)
        s.deploy("demo", example("hello-world.yaml"), wait=60)
        calls = {c["release"]: c for c in fake.helm_calls("upgrade")}
        self.assertEqual(sorted(calls), ["api-backend", "hello-world",
                                         "web-frontend"])
        # Chart references go to helm as given (tag and all).
        self.assertEqual(calls["web-frontend"]["chart"],
                         "oci://registry.example.com/my-project/"
                         "frontend-chart:v1.2.0")
        self.assertEqual(calls["web-frontend"]["namespace"], "shop")
        self.assertEqual(calls["hello-world"]["namespace"], "demo")
        g = s.graph("my-webapp-graph")
        v = calls["web-frontend"]["values"]
        self.assertEqual(v["image"], {"tag": "latest"})
        self.assertEqual(v["serviceImportClusters"], [])
        self.assertEqual(calls["api-backend"]["values"]
                         ["serviceImportClusters"],
                         [g["placement"]["web-frontend"]])
        # The charts named their Deployments <release>-<chart>: found by
        # the release label in the project's namespace.
        st = fake.state()
        self.assertEqual(sorted(st["deployments"]), [
            "demo/hello-world", "shop/api-backend-backend-chart",
            "shop/web-frontend-frontend-chart"])
        r = s.request("DELETE", "/graphs/my-webapp-graph?wait=60")
        self.assertEqual(r.json()["state"], "succeeded", r)
        self.assertEqual(sorted(fake.state()["deployments"]),
                         ["demo/hello-world"])

    def test_helm_failure_fails_the_operation(self):
        s, fake = self.smo, self.fake
        err = ('Error: INSTALLATION FAILED: failed to authorize: failed to '
               'fetch anonymous token: unexpected status from GET request '
               'to https://registry.example.com/token: 401 Unauthorized\n')
        fake.helm_fail([{"subcommand": "upgrade", "release": "hello-world",
                         "exit": 1, "stderr": err}])
        r = s.deploy("demo", example("hello-world.yaml"), wait=60)
        op = r.json()
        self.assertEqual(op["state"], "failed", op)
        self.assertIn("install:hello-world: helm upgrade --install "
                      "demo/hello-world (namespace demo) failed (exit status "
                      "1): Error: INSTALLATION FAILED: failed to authorize",
                      op["error"])
        step = [x for x in op["steps"] if x["name"] == "install:hello-world"]
        self.assertEqual(step[0]["state"], "failed")
        self.assertEqual(step[0]["detail"]["stderr"], err)
        self.assertEqual(step[0]["detail"]["exit_status"], 1)
        g = s.graph("hello-world-graph")
        self.assertEqual(g["status"], "Failed")
        self.assertIn("401 Unauthorized", g["last_error"])
        # Fixed: deploying again converges.
        fake.helm_fail([])
        r = s.deploy("demo", example("hello-world.yaml"), wait=60)
        self.assertEqual(r.json()["state"], "succeeded", r.json())
        self.assertEqual(s.graph("hello-world-graph")["status"], "Running")


class ReplaceOnNotReady(Base):
    extra = "      replace_on_not_ready: true\n"

    def test_graph_moves_off_a_not_ready_cluster(self):
        s, fake = self.smo, self.fake
        s.deploy("demo", example("hello-world.yaml"), wait=60)
        before = s.graph("hello-world-graph")["placement"]["hello-world"]
        fake.set_ready(before, False)
        self.assertEqual(s.post("/clusters/sync").status, 200)

        def replaced():
            ops = s.get("/operations?graph=demo/hello-world-graph").json()
            done = [o for o in ops if o["action"] == "place"
                    and o["state"] in ("succeeded", "failed")]
            return done[0] if done else None
        op = self.wait_for("a re-placement", replaced)
        self.assertEqual(op["state"], "succeeded", op)
        after = s.graph("hello-world-graph")["placement"]["hello-world"]
        self.assertNotEqual(after, before)
        up = fake.helm_calls("upgrade")
        self.assertEqual(len(up), 2)
        self.assertEqual(up[-1]["values"]["clustersAffinity"], [after])
        s.daemon.wait_log("re-placing graph demo/hello-world-graph")


class Submariner(Base):
    submariner = True
    kind = "token"

    @property
    def extra(self):
        return ("      submariner:\n        kubeconfig: %s\n"
                % os.path.join(self.root, "token.kubeconfig"))

    def test_cidrs_on_clusters(self):
        cl = self.clusters()
        self.assertEqual(cl["member1"]["pod_cidr"], "10.244.0.0/16")
        self.assertEqual(cl["member1"]["service_cidr"], "10.96.0.0/16")
        self.assertEqual(cl["member3"]["pod_cidr"], "10.246.0.0/16")
        self.assertNotIn("pod_cidr", cl["member4"])
        self.assertTrue(self.fake.requests(
            "/apis/submariner.io/v1/namespaces/submariner-k8s-broker/"
            "clusters"))


class PeriodicSync(Base):
    sync = "1s"

    def test_sync_notices_changes_without_clients(self):
        s, fake = self.smo, self.fake
        # The start-up sync has seen all four Ready.
        s.daemon.wait_log("cluster inventory: 4 clusters")
        fake.set_ready("member1", False)
        # Nobody asks: the timer's sync notices, and again when it is back.
        s.daemon.wait_log("cluster member1 is NotReady", timeout=30)
        fake.set_ready("member1", True)
        s.daemon.wait_log("cluster member1 is Ready again", timeout=30)
        n = len(fake.requests("/apis/cluster.karmada.io/v1alpha1/clusters"))
        self.assertGreaterEqual(n, 3)


class Fakes(unittest.TestCase):
    """The fakes themselves: helm's flag parsing, and the API server
    against the real kubectl."""

    def setUp(self):
        self.root = smolib.tmpdir()

    def tearDown(self):
        smolib.rmtree(self.root)

    def helm(self, *args):
        env = dict(os.environ, FAKE_HELM_DIR=os.path.join(self.root, "h"))
        env.pop("FAKE_KARMADA_CONTROL", None)
        return subprocess.run([FAKE_HELM] + list(args), capture_output=True,
                              text=True, env=env, timeout=30)

    def test_fake_helm_parses_like_helm(self):
        kc = os.path.join(self.root, "kc")
        vf = os.path.join(self.root, "v.json")
        smolib.write(kc, "{}")
        smolib.write(vf, '{"a": 1}')
        base = ["upgrade", "--install", "rel", "oci://r/c", "--kubeconfig",
                kc, "--values", vf, "--create-namespace"]
        cases = [
            (["upgrade", "rel", "oci://r/c", "--bogus"],
             "Error: unknown flag: --bogus"),
            (["upgrade", "rel", "oci://r/c", "-z"],
             "Error: unknown shorthand flag: 'z' in -z"),
            (["upgrade", "rel", "oci://r/c", "--namespace"],
             "Error: flag needs an argument: --namespace"),
            (["upgrade", "rel"], '"helm upgrade" requires 2 arguments'),
            (["uninstall"], '"helm uninstall" requires at least 1 argument'),
            (base + ["--wait=maybe"],
             'invalid argument "maybe" for "--wait" flag'),
            (base + ["--timeout", "5 minutes"],
             'time: invalid duration "5 minutes"'),
            (["upgrade", "--install", "Bad_Name", "oci://r/c"],
             "invalid release name"),
            (["upgrade", "rel", "oci://r/c", "--kubeconfig", kc],
             '"rel" has no deployed releases'),
            (["upgrade", "-i", "rel", "oci://r/c", "-n", "x",
              "--kubeconfig", kc], 'namespaces "x" not found'),
            # --values is a string slice: a comma splits it.
            (base[:7] + [vf + ",x"], "Error: open x: no such file"),
            (["uninstall", "ghost", "--kubeconfig", kc],
             "Release not loaded: ghost: release: not found"),
        ]
        for argv, want in cases:
            r = self.helm(*argv)
            self.assertEqual(r.returncode, 1, (argv, r.stdout, r.stderr))
            self.assertIn(want, r.stderr, argv)
        # `--namespace --create-namespace` takes the flag as the value,
        # as pflag does: why SMO validates every name it passes.
        r = self.helm(*(base[:4] + ["--namespace", "--create-namespace",
                                    "--kubeconfig", kc]))
        self.assertIn('namespaces "--create-namespace" not found', r.stderr)
        r = self.helm(*(base + ["-n", "demo", "--wait=false",
                                "--plain-http", "--version", "1.0.0"]))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("REVISION: 1", r.stdout)
        r = self.helm(*(base + ["-n", "demo"]))
        self.assertIn('Release "rel" has been upgraded', r.stdout)
        self.assertIn("REVISION: 2", r.stdout)
        r = self.helm("uninstall", "rel", "--namespace", "demo",
                      "--kubeconfig", kc)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, 'release "rel" uninstalled\n')

    def test_fake_api_server_against_kubectl(self):
        kubectl = shutil.which("kubectl")
        if not kubectl:
            self.skipTest("no kubectl on this machine (Debian: "
                          "kubernetes-client)")
        fake = FakeKarmada(self.root)
        try:
            env = dict(os.environ, HOME=self.root)
            env.pop("KUBECONFIG", None)

            def k(kc, *args):
                r = subprocess.run([kubectl, "--kubeconfig", kc] + list(args),
                                   capture_output=True, text=True, env=env,
                                   timeout=60)
                self.assertEqual(r.returncode, 0, (args, r.stderr))
                return r.stdout
            for kc in (fake.kubeconfig(),
                       fake.kubeconfig("token", token=TOKEN)):
                v = json.loads(k(kc, "get", "--raw", "/version"))
                self.assertEqual(v["major"], "1")
                self.assertEqual(json.loads(k(kc, "get", "--raw", "/api"))
                                 ["versions"], ["v1"])
                groups = json.loads(k(kc, "get", "--raw", "/apis"))
                self.assertIn("cluster.karmada.io",
                              [g["name"] for g in groups["groups"]])
                cl = json.loads(k(kc, "get", "--raw", "/apis/"
                                  "cluster.karmada.io/v1alpha1/clusters"))
                with open(CLUSTERS) as f:
                    self.assertEqual(cl["items"], json.load(f)["items"])
            kc = fake.kubeconfig()
            # Discovery drives these: the fake's resource lists are right.
            names = k(kc, "get", "clusters.cluster.karmada.io", "-o",
                      "name").split()
            self.assertEqual(names, ["cluster.cluster.karmada.io/member%d" % i
                                     for i in (1, 2, 3, 4)])
            fake.control("POST", "/deployments", {
                "namespace": "shop", "name": "web", "replicas": 1,
                "labels": {"app.kubernetes.io/instance": "web"}})
            k(kc, "-n", "shop", "scale", "deployment", "web",
              "--replicas=3")
            sc = json.loads(k(kc, "get", "--raw", "/apis/apps/v1/namespaces/"
                              "shop/deployments/web/scale"))
            self.assertEqual(sc["spec"]["replicas"], 3)
            self.assertEqual(sc["kind"], "Scale")
            patch = [r for r in fake.requests() if r["method"] == "PATCH"]
            self.assertEqual(patch[-1]["path"],
                             "/apis/apps/v1/namespaces/shop/deployments/web/"
                             "scale")
            self.assertEqual(patch[-1]["content_type"],
                             "application/merge-patch+json")
            self.assertEqual(json.loads(patch[-1]["body"]),
                             {"spec": {"replicas": 3}})
            d = json.loads(k(kc, "-n", "shop", "get", "deployment", "web",
                             "-o", "json"))
            self.assertEqual(d["status"]["availableReplicas"], 3)
            # No credentials: 401 as a Status, which kubectl reports.
            bad = fake.kubeconfig("bad", token="nope")
            r = subprocess.run([kubectl, "--kubeconfig", bad, "get", "--raw",
                                "/version"], capture_output=True, text=True,
                               env=env, timeout=60)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("Unauthorized", r.stderr)
        finally:
            fake.stop()


@unittest.skipUnless(ts.PROMETHEUS, "needs Debian's prometheus")
class ScalingOnKarmada(unittest.TestCase):
    """The engine's scaling loop driving executor_karmada: rates from a
    real Prometheus, replicas patched through the Deployment's /scale in
    the project's namespace (the original patched `default`)."""

    def test_replicas_patched_in_the_project_namespace(self):
        root = smolib.tmpdir()
        self.addCleanup(smolib.rmtree, root)
        fake = FakeKarmada(root, False)
        self.addCleanup(fake.stop)
        st = ts.Stack(self, extra=ENGINE,
                      executor=fake.executor(fake.kubeconfig()))
        self.addCleanup(st.cleanup)  # runs first: smod stops before fakes
        st.start()
        st.gauge.set(web=0, api=0)
        r = st.smo.post("/project/p/graphs?wait=60", ts.GRAPH,
                        ctype="application/x-yaml")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["state"], "succeeded", r)

        def replicas():
            d = fake.state()["deployments"]
            return {k: v["spec"]["replicas"] for k, v in d.items()}
        self.assertEqual(replicas(), {"p/web": 1, "p/api": 1})
        # Up: 35 req/s at 10 per replica -> 4, on p/web's /scale.
        st.gauge.set(web=35)
        ts.tm.wait_until(lambda: replicas().get("p/web") == 4, 60,
                         "p/web scaled to 4")
        # Down: 15 -> 2.
        st.gauge.set(web=15)
        ts.tm.wait_until(lambda: replicas().get("p/web") == 2, 60,
                         "p/web scaled to 2")
        # Only the project's namespace was touched.
        self.assertEqual(sorted(replicas()), ["p/api", "p/web"])
        self.assertEqual(replicas()["p/api"], 1)
        # The loop reads back what Karmada reports.
        st.wait_cycles(1)
        sc = st.scaling()
        self.assertEqual(sc["last_decision"]["services"]["web"]["current"],
                         2, sc)
        self.assertGreaterEqual(st.metric("smo_scaling_replica_changes_total",
                                          result="ok"), 2)


GPU_GRAPH = """
hdaGraph:
  id: render
  services:
    - id: renderer
      artifact:
        ociImage: oci://registry.example.com/p/renderer:1.0.0
        ociConfig: { implementer: Helm, type: Application }
        valuesOverwrite: { replicaCount: 8 }
      deployment:
        intent:
          compute: { cpu: light, ram: small, storage: none, gpu: { enabled: true } }
          connectionPoints: []
        trigger: { type: standard }
"""


class ProvisionOnShortage(unittest.TestCase):
    """engine.placement.provision: 8 GPUs fit no cluster of the federation
    (member3 has 4); the engine asks the NFVCL for a cluster, waits for a
    new ready cluster in Karmada's inventory (added here when the fake
    NFVCL receives the request, as a site's join automation would) and
    places again; the operation shows each step."""

    def stack(self, wait="60s"):
        root = smolib.tmpdir()
        self.addCleanup(smolib.rmtree, root)
        fake = FakeKarmada(root, False)
        self.addCleanup(fake.stop)
        nfvcl = tn.Fake()
        self.addCleanup(nfvcl.stop)
        engine = ENGINE + ("  placement:\n    provision: {enabled: true, "
                           "vim: os-lab, area: 3, workers: 2, wait: %s, "
                           "poll: 200ms}\n" % wait)
        s = Smo(self, executor=fake.executor(fake.kubeconfig()),
                engine=engine)
        self.addCleanup(s.cleanup)  # first: smod stops before the fakes
        smolib.write(os.path.join(s.conf, "60-provisioner.yaml"),
                     "instances:\n  - kind: provisioner\n    plugin: nfvcl\n"
                     "    name: nfvcl\n    config:\n      url: %s/\n"
                     % nfvcl.url())
        s.start()
        r = s.request("POST", "/vims/smo_vims", body=tn.vim_request())
        self.assertEqual(r.status, 201, r)
        return s, fake, nfvcl

    def test_no_cluster_joins_fails_visibly_once(self):
        s, fake, nfvcl = self.stack(wait="2s")
        r = s.post("/project/gfx/graphs?wait=60", GPU_GRAPH,
                   ctype="application/x-yaml")
        op = r.json()
        self.assertEqual(op["state"], "failed", op)
        self.assertIn("no new ready cluster joined the inventory within "
                      "2000 ms", op["error"])
        self.assertEqual([x["name"] for x in op["steps"]
                          if x["state"] == "failed"], ["await_cluster"])
        self.assertEqual(len([q for q in nfvcl.requests(clear=False)
                              if q["path"] == "/nfvcl/v2/api/blue/k8s"]), 1)
        self.assertEqual(s.graph("render", "gfx")["status"], "Failed")

    def test_cluster_provisioned_then_placed(self):
        s, fake, nfvcl = self.stack()

        # The join: once the NFVCL was asked for a cluster, Karmada gets
        # one with 16 GPUs (a copy of member3, renamed).
        with open(CLUSTERS) as f:
            m3 = [c for c in json.load(f)["items"]
                  if c["metadata"]["name"] == "member3"][0]
        m3["metadata"]["name"] = "os-lab-k8s"
        m3["status"]["resourceSummary"]["allocatable"]["nvidia.com/gpu"] = "16"
        m3["status"]["resourceSummary"].pop("allocated", None)
        m3["status"]["resourceSummary"].pop("allocating", None)
        joined = []

        def join():
            end = time.monotonic() + 60
            while time.monotonic() < end and not joined:
                reqs = nfvcl.requests(clear=False)
                if any(q["method"] == "POST" and
                       q["path"] == "/nfvcl/v2/api/blue/k8s" for q in reqs):
                    time.sleep(0.5)  # the cluster takes a while to appear
                    fake.control("POST", "/clusters", m3)
                    joined.append(True)
                    return
                time.sleep(0.1)
        import threading
        t = threading.Thread(target=join, daemon=True)
        t.start()
        self.addCleanup(t.join, 5)
        r = s.post("/project/gfx/graphs?wait=90", GPU_GRAPH,
                   ctype="application/x-yaml")
        self.assertEqual(r.status, 200, r)
        op = r.json()
        self.assertEqual(op["state"], "succeeded", op)
        names = [x["name"] for x in op["steps"]]
        self.assertEqual(names[:8], [
            "prepare", "inventory", "place", "provision", "await_cluster",
            "inventory", "place", "values"], names)
        steps = op["steps"]
        self.assertIn("provisioning a cluster", steps[2]["note"])
        self.assertIn("GPU", steps[2]["note"])
        self.assertEqual(steps[4]["detail"]["cluster"], "os-lab-k8s")
        self.assertTrue(steps[3]["detail"]["nfvcl_id"])
        g = s.graph("render", "gfx")
        self.assertEqual(g["placement"], {"renderer": "os-lab-k8s"})
        self.assertEqual(g["status"], "Running")
        # The NFVCL got the configured request: area 3, two workers.
        post = [q for q in nfvcl.requests(clear=False)
                if q["path"] == "/nfvcl/v2/api/blue/k8s"]
        self.assertEqual(len(post), 1)
        # The new cluster is recorded as provisioned by SMO.
        prov = s.get("/os_k8s/clusters").json()
        self.assertEqual([c["nfvcl_id"] for c in prov],
                         [steps[3]["detail"]["nfvcl_id"]], prov)
        self.assertEqual(prov[0]["source"], "shortage")


if __name__ == "__main__":
    unittest.main(verbosity=2)
