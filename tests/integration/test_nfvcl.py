"""provisioner_nfvcl end to end: the real smod with the NFVCL provisioner
against a fake NFVCL (tests/fixtures/nfvcl/fake_nfvcl.py), driven over the
REST API (/vims/..., /os_k8s/...) and smoctl.

Checks that the fake receives exactly the requests the original's calls
documented (bodies equal to the fixtures, absolute URLs), that VIM
passwords never appear in smod's log, API answers or the store, the
original's bugs are gone (relative delete URL, string/int area filter, a
sync filter deleting every row, free-text blueprint ids), and the faults:
slow answers, 5xx with retries for idempotent calls only, malformed
bodies. Every wait is bounded."""
import http.client
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import apilib  # noqa: E402
import smolib  # noqa: E402
from apilib import Smo  # noqa: E402

NDIR = os.path.join(apilib.FIXTURES, "nfvcl")
FAKE = os.path.join(NDIR, "fake_nfvcl.py")
PASSWORD = "Pw-s3cr3t-9f8e7d6c"


def fixture(name):
    with open(os.path.join(NDIR, name)) as f:
        return json.load(f)


def vim_request(name="os-lab", area=3):
    return {"topology": "topology", "pop_area": area, "vim_name": name,
            "vim_tenant_name": "smo", "vim_user": "smo",
            "vim_password": PASSWORD, "vim_url": "http://10.20.0.5:5000/v3",
            "mgmt_network": {"name": "mgmt-net", "cidr": "192.168.10.0/24",
                             "gateway": "192.168.10.1"},
            "service_network": {"name": "svc-net", "cidr": "192.168.20.0/24",
                                "gateway": "192.168.20.1"},
            "use_floating_ip": False}


class Fake:
    def __init__(self, *args):
        self.proc = subprocess.Popen([sys.executable, FAKE] + list(args),
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().split()
        assert line and line[0] == "PORT", line
        self.port = int(line[1])

    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def ctl(self, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        c.request(method, "/_control/" + path,
                  body=json.dumps(body) if body is not None else None,
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        out = json.loads(r.read() or b"null")
        c.close()
        return out

    def requests(self, clear=True):
        return self.ctl("DELETE" if clear else "GET", "requests")

    def fault(self, **f):
        self.ctl("POST", "fault", f)

    def stop(self):
        self.proc.kill()
        self.proc.wait(10)
        self.proc.stdout.close()


class Base(unittest.TestCase):
    fake_args = ()
    prov = ""

    def setUp(self):
        self.fake = Fake(*self.fake_args)
        self.smo = Smo(self)
        smolib.write(os.path.join(self.smo.conf, "60-provisioner.yaml"),
                     "instances:\n  - kind: provisioner\n    plugin: nfvcl\n"
                     "    name: nfvcl\n    config:\n"
                     "      url: %s/\n      request_timeout: 1500ms\n"
                     "      retry: {attempts: 3, backoff: 50ms}\n"
                     % self.fake.url() + self.prov)
        self.smo.start()
        self.answers = []

    def tearDown(self):
        try:
            self.assertNoPassword()
        finally:
            self.smo.cleanup()
            self.fake.stop()

    def req(self, method, path, body=None):
        r = self.smo.request(method, path, body=body)
        self.answers.append(r.body)
        return r

    def ok(self, method, path, body=None, status=200):
        r = self.req(method, path, body)
        self.assertEqual(r.status, status, r)
        return r.json()

    def problem(self, r, status, needle=None):
        self.assertEqual(r.status, status, r)
        self.assertTrue(r.ctype.startswith("application/problem+json"), r)
        if needle:
            self.assertIn(needle, r.json()["detail"])

    def assertNoPassword(self):
        for a in self.answers:
            self.assertNotIn(PASSWORD, a)
        log = self.smo.daemon.logs() if self.smo.daemon else ""
        self.assertNotIn(PASSWORD, log)
        for root, _, files in os.walk(self.smo.data):
            for f in files:
                if not os.path.isfile(os.path.join(root, f)) or \
                        f.endswith(".sock"):
                    continue
                with open(os.path.join(root, f), "rb") as fh:
                    self.assertNotIn(PASSWORD.encode(), fh.read(),
                                     os.path.join(root, f))

    def register(self, name="os-lab", area=3):
        return self.ok("POST", "/vims/smo_vims", vim_request(name, area), 201)


class Vims(Base):
    def test_register_list_get_delete(self):
        out = self.register()
        self.assertEqual(out["vim"]["name"], "os-lab")
        self.assertEqual(out["vim"]["area"], 3)
        self.assertNotIn("vim_password", json.dumps(out))
        reqs = self.fake.requests()
        self.assertEqual(len(reqs), 1)
        self.assertEqual((reqs[0]["method"], reqs[0]["path"]),
                         ("POST", "/v1/topology"))
        want = fixture("topology-post-request.json")
        want["vims"][0]["vim_password"] = PASSWORD
        self.assertEqual(json.loads(reqs[0]["body"]), want)
        # The password reached the NFVCL and nothing else.
        lst = self.ok("GET", "/vims/smo_vims")
        self.assertEqual([v["name"] for v in lst["SMO VIMs"]], ["os-lab"])
        self.assertEqual(lst["vims"], lst["SMO VIMs"])
        # A filter gives a list, also when it matches nothing, and the area
        # compares as an integer.
        self.assertEqual(len(self.ok("GET", "/vims/smo_vims?pop_area=3")
                             ["vims"]), 1)
        self.assertEqual(self.ok("GET", "/vims/smo_vims?pop_area=4")["vims"],
                         [])
        self.problem(self.req("GET", "/vims/smo_vims?pop_area=x"), 400)
        by_name = self.ok("GET", "/vims/smo_vims/os-lab")
        by_id = self.ok("GET", "/vims/smo_vims/%d" % by_name["id"])
        self.assertEqual(by_name, by_id)
        self.assertEqual(by_name["mgmt_network"], "mgmt-net")
        self.assertEqual(by_name["service_network"], "svc-net")
        self.problem(self.req("POST", "/vims/smo_vims", vim_request()), 409,
                     "already registered")
        self.assertEqual(self.fake.requests(), [])
        # Delete goes to the absolute URL (the original's was relative).
        d = self.ok("DELETE", "/vims/smo_vims/os-lab")
        self.assertIn("deleted", d["message"])
        reqs = self.fake.requests()
        self.assertEqual([(r["method"], r["path"]) for r in reqs],
                         [("DELETE", "/v1/topology/vim/os-lab")])
        self.problem(self.req("GET", "/vims/smo_vims/os-lab"), 404)
        self.problem(self.req("DELETE", "/vims/smo_vims/os-lab"), 404)

    def test_invalid_registration_lists_every_problem(self):
        bad = vim_request("Bad_Name")
        del bad["vim_user"]
        bad["mgmt_network"]["cidr"] = "10.0.0.0"
        r = self.req("POST", "/vims/smo_vims", bad)
        self.problem(r, 400)
        detail = r.json()["detail"]
        for needle in ("vim_name", "vim_user", "mgmt_network.cidr"):
            self.assertIn(needle, detail)
        self.assertEqual(self.fake.requests(), [])
        self.problem(self.req("POST", "/vims/smo_vims", "[1]"), 400)

    def test_nfvcl_echo_is_scrubbed(self):
        # An NFVCL (or proxy) that echoes the request: the password must
        # not come back to the user.
        self.fake.fault(path="/v1/topology", method="POST", echo=True)
        out = self.register()
        self.assertIsInstance(out["NFVCL_Response"], dict)

    def test_delete_of_a_vim_the_nfvcl_lost_converges(self):
        self.register()
        self.fake.ctl("POST", "fault", {"path": "/v1/topology/vim/",
                                        "method": "DELETE", "status": 404})
        d = self.ok("DELETE", "/vims/smo_vims/os-lab")
        self.assertIn("no longer", d["message"])
        self.assertEqual(self.ok("GET", "/vims/smo_vims")["vims"], [])


class VimSync(Base):
    fake_args = ("--topology", os.path.join(NDIR, "topology-get.json"))

    def test_sync(self):
        out = self.ok("GET", "/vims/sync/nfvcl_vims")
        self.assertEqual(out["message"], "VIMs added successfully")
        v = out["added"][0]
        self.assertEqual((v["name"], v["area"], v["mgmt_network"],
                          v["service_network"], v["url"]),
                         ("os-lab", 3, "mgmt-net", "svc-net",
                          "http://10.20.0.5:5000/v3"))
        self.assertNotIn("vim_password", json.dumps(out))
        self.assertNotIn("********", json.dumps(out))
        again = self.ok("POST", "/vims/sync/nfvcl_vims")
        self.assertEqual(again["added"], [])
        self.assertEqual(len(again["vims"]), 1)
        self.assertEqual([(r["method"], r["path"])
                          for r in self.fake.requests()],
                         [("GET", "/v1/topology/")] * 2)

    def test_malformed_topology(self):
        self.fake.fault(path="/v1/topology/", body="{not json")
        self.problem(self.req("GET", "/vims/sync/nfvcl_vims"), 500,
                     "not JSON")
        self.fake.fault(path="/v1/topology/", body='{"vims": 7}')
        self.problem(self.req("GET", "/vims/sync/nfvcl_vims"), 500)
        self.assertEqual(self.ok("GET", "/vims/smo_vims")["vims"], [])


class Clusters(Base):
    def create(self, **extra):
        body = {"pop_area": 3, "vim_name": "os-lab"}
        body.update(extra)
        return self.ok("POST", "/os_k8s/clusters", body, 201)

    def test_lifecycle(self):
        self.register()
        self.fake.requests()
        out = self.create()
        smo_id = out["smo_id"]
        self.assertRegex(smo_id, r"^os-k8s-3-[a-z]{5}$")
        c = out["cluster"]
        reqs = self.fake.requests()
        self.assertEqual([(r["method"], r["path"]) for r in reqs],
                         [("POST", "/nfvcl/v2/api/blue/k8s")])
        self.assertEqual(json.loads(reqs[0]["body"]),
                         fixture("blue-k8s-create-request.json"))
        self.assertEqual(c["area"], 3)
        bid = c["nfvcl_id"]
        self.assertEqual(self.ok("GET", "/os_k8s/cluster/" + smo_id), c)
        self.assertEqual([x["smo_id"] for x in
                          self.ok("GET", "/os_k8s/clusters")], [smo_id])
        self.assertEqual(self.ok("GET", "/os_k8s/clusters?pop_area=9"), [])
        s = self.ok("POST", "/os_k8s/scale-out/" + smo_id)
        self.assertEqual(s["cluster"]["running_workers"], 2)
        reqs = self.fake.requests()
        self.assertEqual([(r["method"], r["path"], r["query"])
                          for r in reqs],
                         [("POST", "/nfvcl/v2/api/blue/k8s/add_node",
                           "blue_id=" + bid)])
        self.assertEqual(json.loads(reqs[0]["body"]),
                         fixture("blue-add-node-request.json"))
        # The NFVCL's view agrees: nothing changes.
        sync = self.ok("POST", "/os_k8s/sync/nfvcl_k8s")
        self.assertEqual((sync["added"], sync["deleted"]), ([], []))
        d = self.ok("DELETE", "/os_k8s/cluster/" + smo_id)
        self.assertIn("deleted", d["message"])
        self.assertEqual([(r["method"], r["path"]) for r in
                          self.fake.requests()
                          if r["method"] == "DELETE"],
                         [("DELETE", "/nfvcl/v2/api/blue/" + bid)])
        self.assertEqual(self.ok("GET", "/os_k8s/clusters"), [])
        self.problem(self.req("DELETE", "/os_k8s/cluster/" + smo_id), 404)

    def test_create_errors(self):
        self.register()
        self.problem(self.req("POST", "/os_k8s/clusters",
                              {"pop_area": 4, "vim_name": "os-lab"}), 404,
                     "VIM not found")
        self.problem(self.req("POST", "/os_k8s/clusters",
                              {"vim_name": "os-lab"}), 400, "pop_area")
        self.problem(self.req("POST", "/os_k8s/clusters",
                              {"pop_area": 3, "vim_name": "os-lab",
                               "workers": 0}), 400, "workers")
        self.problem(self.req("POST", "/os_k8s/scale-out/nope"), 404)

    def test_blueprint_id_in_detail_only(self):
        self.register()
        self.fake.ctl("POST", "options", {"detail_only": True})
        c = self.create()["cluster"]
        self.assertRegex(c["nfvcl_id"], r"^K8S[A-Z0-9]{3}$")
        self.fake.fault(path="/nfvcl/v2/api/blue/k8s", method="POST",
                        body='{"detail": "Blueprint K8S/../x created"}')
        self.problem(self.req("POST", "/os_k8s/clusters",
                              {"pop_area": 3, "vim_name": "os-lab"}), 500,
                     "invalid blueprint id")
        self.assertEqual(len(self.ok("GET", "/os_k8s/clusters")), 1)

    def test_faults(self):
        self.register()
        # 5xx on a GET: retried with backoff, then it works.
        self.fake.requests()
        self.fake.fault(path="/nfvcl/v2/api/blue/", method="GET",
                        status=503, count=2)
        self.ok("POST", "/os_k8s/sync/nfvcl_k8s")
        self.assertEqual(len(self.fake.requests()), 3)
        # Always 5xx: every try fails, the API says why.
        self.fake.fault(path="/nfvcl/v2/api/blue/", method="GET",
                        status=502, count=10,
                        body='{"detail": "bad gateway upstream"}')
        r = self.req("POST", "/os_k8s/sync/nfvcl_k8s")
        self.problem(r, 503, "bad gateway upstream")
        self.assertIn("every try failed", r.json()["detail"])
        self.assertEqual(len(self.fake.requests()), 3)
        self.fake.ctl("DELETE", "fault")
        # A POST is never retried after a 5xx (it may have been done).
        self.fake.fault(path="/nfvcl/v2/api/blue/k8s", method="POST",
                        status=500)
        self.problem(self.req("POST", "/os_k8s/clusters",
                              {"pop_area": 3, "vim_name": "os-lab"}), 503)
        self.assertEqual(len(self.fake.requests()), 1)
        # Slow: a POST times out once, not retried; a GET is retried.
        self.fake.fault(path="/nfvcl/v2/api/blue/k8s", method="POST",
                        delay=3)
        t0 = time.monotonic()
        self.problem(self.req("POST", "/os_k8s/clusters",
                              {"pop_area": 3, "vim_name": "os-lab"}), 504)
        self.assertLess(time.monotonic() - t0, 10)
        self.assertEqual(len(self.fake.requests()), 1)
        self.fake.fault(path="/nfvcl/v2/api/blue/", method="GET", delay=3)
        self.ok("POST", "/os_k8s/sync/nfvcl_k8s")
        self.assertEqual(len(self.fake.requests()), 2)
        # Malformed blueprint list.
        self.fake.fault(path="/nfvcl/v2/api/blue/", method="GET",
                        body='[{"id": 5}, "x", {"id": "K8SAAA", "type": "K8s"'
                             ', "state": {"master_area": {"area_id": "3"}}}]')
        out = self.ok("POST", "/os_k8s/sync/nfvcl_k8s")
        self.assertEqual([c["nfvcl_id"] for c in out["added"]], ["K8SAAA"])
        self.fake.fault(path="/nfvcl/v2/api/blue/", method="GET",
                        body='{"oops": true}')
        self.problem(self.req("POST", "/os_k8s/sync/nfvcl_k8s"), 500,
                     "not a list")
        self.problem(self.req("POST", "/os_k8s/sync/nfvcl_k8s?pop_area=-1"),
                     400)


class ClusterSync(Base):
    fake_args = ("--blueprints", os.path.join(NDIR, "blue-list-detailed.json"))

    def test_sync_and_filters(self):
        self.fake.ctl("POST", "blueprint", {"id": "VYOS01", "type": "VyOS",
                                            "status": "idle", "state": {}})
        out = self.ok("POST", "/os_k8s/sync/nfvcl_k8s?pop_area=3")
        self.assertEqual(len(out["added"]), 1)
        c = out["added"][0]
        self.assertEqual((c["nfvcl_id"], c["area"], c["mgmt_network"],
                          c["service_network"], c["running_workers"]),
                         ("K8SQX7", 3, "mgmt-net", "svc-net", 2))
        self.assertEqual(c["master_flavor"]["vcpu_count"], 4)
        # A filter that matches nothing deletes nothing.
        out = self.ok("POST", "/os_k8s/sync/nfvcl_k8s?pop_area=99")
        self.assertEqual((out["added"], out["deleted"]), ([], []))
        self.assertEqual(len(self.ok("GET", "/os_k8s/clusters")), 1)
        # Workers changed on the NFVCL side: updated.
        self.smo.request("GET", "/")  # noqa: keep the connection warm
        st = self.fake.ctl("GET", "state")
        self.assertEqual(len(st["blueprints"]), 2)
        c2 = self.ok("POST", "/os_k8s/sync/nfvcl_k8s")
        self.assertEqual(c2["message"], "Openstack k8s are already synced")
        # The blueprint disappears from the NFVCL: deleted in its area only.
        conn = http.client.HTTPConnection("127.0.0.1", self.fake.port,
                                          timeout=10)
        conn.request("DELETE", "/nfvcl/v2/api/blue/K8SQX7")
        conn.getresponse().read()
        conn.close()
        out = self.ok("POST", "/os_k8s/sync/nfvcl_k8s?pop_area=4")
        self.assertEqual(out["deleted"], [])
        out = self.ok("POST", "/os_k8s/sync/nfvcl_k8s?pop_area=3")
        self.assertEqual(out["deleted"], [c["smo_id"]])
        self.assertEqual(self.ok("GET", "/os_k8s/clusters"), [])


class Smoctl(Base):
    def test_vim_and_cluster_commands(self):
        path = os.path.join(self.smo.root, "vim.yaml")
        body = vim_request()
        del body["vim_password"]
        smolib.write(path, json.dumps(body))
        r = self.smo.smoctl("vim", "register", path,
                            env={"SMO_VIM_PASSWORD": PASSWORD})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn(PASSWORD, r.stdout + r.stderr)
        self.assertEqual(json.loads(self.fake.requests()[0]["body"])
                         ["vims"][0]["vim_password"], PASSWORD)
        r = self.smo.smoctl("vim", "list", "--area", "3")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("os-lab", r.stdout)
        r = self.smo.smoctl("vim", "list", "-o", "json")
        self.assertEqual(json.loads(r.stdout)["vims"][0]["name"], "os-lab")
        r = self.smo.smoctl("cluster", "create", "--vim", "os-lab", "--area",
                            "3", "--workers", "2", "-o", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        out = json.loads(r.stdout)
        smo_id = out["smo_id"]
        self.assertEqual(out["cluster"]["running_workers"], 2)
        r = self.smo.smoctl("cluster", "scale-out", smo_id, "--workers", "3")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Node added", r.stdout)
        r = self.smo.smoctl("cluster", "provisioned")
        self.assertIn(smo_id, r.stdout)
        self.assertIn(" 5 ", r.stdout)
        r = self.smo.smoctl("cluster", "delete", smo_id)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.smo.smoctl("cluster", "delete", smo_id)
        self.assertEqual(r.returncode, 3, r.stderr)
        r = self.smo.smoctl("cluster", "create", "--vim", "os-lab")
        self.assertEqual(r.returncode, 2)
        r = self.smo.smoctl("vim", "delete", "os-lab")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([(q["method"], q["path"]) for q in
                          self.fake.requests()][-1],
                         ("DELETE", "/v1/topology/vim/os-lab"))


class NoProvisioner(unittest.TestCase):
    def test_routes_answer_503_without_a_provisioner(self):
        smo = Smo(self).start()
        try:
            r = smo.request("POST", "/vims/smo_vims", body=vim_request())
            self.assertEqual(r.status, 503, r)
            self.assertIn("no provisioner", r.json()["detail"])
            self.assertEqual(smo.get("/vims/smo_vims").json()["vims"], [])
            self.assertEqual(smo.get("/os_k8s/clusters").json(), [])
        finally:
            smo.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
