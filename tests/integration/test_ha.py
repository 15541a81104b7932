"""High availability on PostgreSQL: two smod on one schema elect one
leader (an advisory lock); the follower serves reads and refuses writes
with a clear error; killing the leader mid-operation hands the lock to the
follower, which resumes the operation from the journal without running a
finished step again; a leader that loses its database session stops.

Run through tests/fixtures/pg/pg-harness.sh run (SMO_TEST_STORE=postgres)."""
import json
import os
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import apilib  # noqa: E402
from apilib import Smo, example, read  # noqa: E402

ENGINE = ""
# Installs slow enough for the kill to land inside the operation.
SIM = "      install_latency: 1500ms\n"
STORE_EXTRA = "      leader_interval: 200ms\n"


def role(s):
    r = s.get("/readyz")
    return r.json().get("role") if r.status == 200 else None


def wait(pred, what, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


class HA(unittest.TestCase):
    def setUp(self):
        if os.environ.get("SMO_TEST_STORE") != "postgres":
            self.fail("run through pg-harness.sh with SMO_TEST_STORE="
                      "postgres (see tests/CMakeLists.txt)")
        self.a = Smo(self, sim=SIM)
        self.b = Smo(self, sim=SIM)
        # One schema for both; faster elections.
        store = os.path.join(self.a.conf, "20-store.yaml")
        with open(store, "a") as f:
            f.write(STORE_EXTRA)
        shutil.copy(store, os.path.join(self.b.conf, "20-store.yaml"))

    def tearDown(self):
        for s in (self.a, self.b):
            if s.daemon and s.daemon.proc.poll() is not None:
                s.daemon.log.close()
                s.daemon.notify.close()
                s.daemon = None
            s.cleanup()

    def test_failover_resumes_without_running_twice(self):
        a, b = self.a, self.b
        a.start()
        wait(lambda: role(a) == "leader", "a to lead")
        b.start()
        self.assertEqual(role(b), "follower")
        # The follower refuses writes, clearly.
        r = b.post("/project/p/graphs", read(example("hello-world.yaml")),
                   ctype="application/x-yaml")
        self.assertEqual(r.status, 503, r)
        self.assertIn("application/problem+json", r.ctype)
        self.assertIn("follower", r.json()["detail"])
        self.assertIn("follower", b.daemon.logs())

        # A deploy on the leader; the follower reads it from the store.
        r = a.post("/project/p/graphs", read(example("my-webapp.yaml")),
                   ctype="application/x-yaml")
        self.assertIn(r.status, (200, 202), r)
        op_id = r.json()["operation"]["id"] if "operation" in r.json() \
            else r.json()["id"]

        def installs_done():
            r = b.get("/operations/" + op_id)
            if r.status != 200:
                return None
            done = [s for s in r.json()["steps"]
                    if s["name"].startswith("install:") and
                    s["state"] == "done"]
            return done if len(done) >= 1 else None
        wait(installs_done, "a first install on the leader")
        a.kill9()
        # The follower takes over and finishes the operation.
        wait(lambda: role(b) == "leader", "b to lead", timeout=30)
        op = b.wait_op(op_id, timeout=60)
        self.assertEqual(op["state"], "succeeded", op)
        g = b.graph("my-webapp-graph", project="p")
        self.assertEqual(g["status"], "Running", g)
        self.assertIn("resuming operation " + op_id, b.daemon.logs())

        # Nothing ran twice: every deployed service is installed exactly
        # once over the two daemons' executors, and all of them are.
        ra, rb = a.sim_releases(), b.sim_releases()
        self.assertTrue(ra, "the leader installed nothing before the kill")
        services = {s["name"] for s in g["services"]
                    if s["status"] == "Deployed"}
        self.assertEqual({k.split("/")[-1] for k in list(ra) + list(rb)},
                         services, (ra, rb))
        self.assertEqual(len(ra) + len(rb), len(services), (ra, rb))
        self.assertEqual(len(set(ra) & set(rb)), 0, (ra, rb))

        # The old leader comes back as a follower.
        a.start()
        self.assertEqual(role(a), "follower")
        self.assertEqual(a.graph("my-webapp-graph", project="p")["status"],
                         "Running")

    def test_leader_losing_its_session_stops(self):
        a = self.a
        a.start()
        wait(lambda: role(a) == "leader", "a to lead")
        harness = os.environ["SMO_TEST_PG_HARNESS"]
        pgdir = os.environ["SMO_TEST_PG_DIR"]
        subprocess.run(["bash", harness, "stop", pgdir, "fast"], check=True,
                       timeout=60)
        try:
            rc = a.daemon.proc.wait(30)
        finally:
            subprocess.run(["bash", harness, "start-again", pgdir],
                           check=True, timeout=60)
        self.assertEqual(rc, 1)
        self.assertIn("leadership lost", a.daemon.logs())
        # Restarted, it campaigns and leads again.
        a.daemon.log.close()
        a.daemon.notify.close()
        a.daemon = None
        a.start()
        wait(lambda: role(a) == "leader", "a to lead again")


if __name__ == "__main__":
    unittest.main(verbosity=2)
