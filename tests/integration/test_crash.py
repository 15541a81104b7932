"""Crash consistency: deploy, stop, start, re-place and remove graphs while
killing smod with SIGKILL at seeded random points, restarting it each
time. At the end every operation has finished or failed visibly, every
graph is in a state the API reports honestly, and the simulated
executor's releases match the store exactly: no orphan, nothing missing.

SMO_CRASH_KILLS (default 200) and SMO_CRASH_SEED (default 1) set the run;
a failure prints the seed and the kill number."""
import os
import random
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import apilib  # noqa: E402
from apilib import Smo, example, read  # noqa: E402

KILLS = int(os.environ.get("SMO_CRASH_KILLS", "200"))
SEED = int(os.environ.get("SMO_CRASH_SEED", "1"))
GRAPHS = 6
TERMINAL = ("Running", "Stopped", "Failed")


def descriptor(i):
    """A 3-service graph of its own (service ids are per project)."""
    text = read(example("image-detection.yaml"))
    return (text.replace('enabled: "True"', 'enabled: "False"')
            .replace("image-detection-graph", "g%d" % i))


class Crash(unittest.TestCase):
    def test_sigkill_at_random_points(self):
        rnd = random.Random(SEED)
        # Slow installs make the kills land inside steps, not between.
        s = Smo(self, sim="      install_latency: 15ms\n"
                          "      uninstall_latency: 10ms\n")
        try:
            self.run_kills(s, rnd)
        finally:
            s.cleanup()

    def act(self, s, rnd):
        i = rnd.randrange(GRAPHS)
        name = "g%d" % i
        project = "p%d" % i
        what = rnd.choice(["deploy", "deploy", "stop", "start", "placement",
                           "remove"])
        if what == "deploy":
            s.post("/project/%s/graphs" % project, descriptor(i),
                   ctype="application/x-yaml")
        elif what == "remove":
            s.request("DELETE", "/graphs/%s?project=%s" % (name, project))
        else:
            s.post("/graphs/%s/%s?project=%s" % (name, what, project))

    def run_kills(self, s, rnd):
        s.start()
        for k in range(KILLS):
            for _ in range(rnd.randint(1, 4)):
                self.act(s, rnd)
            time.sleep(rnd.uniform(0, 0.12))
            s.kill9()
            s.start()
            # Every restart resumes what was in flight; answers stay sane.
            r = s.get("/graphs")
            self.assertEqual(r.status, 200, "seed %d kill %d: %r"
                             % (SEED, k, r))
        # Let everything finish, then check.
        end = time.monotonic() + 120
        while time.monotonic() < end:
            if not s.get("/operations?unfinished=true").json():
                break
            time.sleep(0.1)
        self.assertEqual(s.get("/operations?unfinished=true").json(), [],
                         "seed %d: operations left unfinished" % SEED)
        self.check(s)
        # And the same after a clean restart.
        s.stop()
        s.start()
        self.check(s)

    def check(self, s):
        graphs = s.get("/graphs").json()
        releases = s.sim_releases()
        expected = {}
        for g in graphs:
            self.assertIn(g["status"], TERMINAL, (SEED, g["name"]))
            self.assertNotIn("operation", g, (SEED, g["name"]))
            for svc in g["services"]:
                key = "%s/%s" % (g["project"], svc["name"])
                if svc["status"] == "Deployed":
                    expected[key] = svc["cluster_affinity"]
                else:
                    self.assertIn(svc["status"],
                                  ("Pending", "Not deployed", "Failed"),
                                  (SEED, key))
            if g["status"] == "Failed":
                installed = sorted(g.get("installed", []))
                deployed = sorted(x["name"] for x in g["services"]
                                  if x["status"] == "Deployed")
                self.assertEqual(installed, deployed, (SEED, g["name"]))
        got = {k: v["cluster"] for k, v in releases.items()}
        self.assertEqual(got, expected,
                         "seed %d: executor and store disagree" % SEED)
        ops = s.get("/operations").json()
        for op in ops:
            self.assertIn(op["state"], ("succeeded", "failed"), op["id"])
            if op["state"] == "failed":
                self.assertTrue(op.get("error"), op["id"])
        print("seed %d: %d kills, %d graphs (%s), %d releases, %d operations"
              % (SEED, KILLS, len(graphs),
                 ", ".join(sorted("%s %s" % (g["name"], g["status"])
                                  for g in graphs)),
                 len(releases), len(ops)))


if __name__ == "__main__":
    unittest.main(verbosity=2)
