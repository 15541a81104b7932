"""Behaviour changed only by editing conf.d/ and sending SIGHUP, through the
real smod and its REST API: the intent class table, the placement
weights, enabling an executor; and a bad edit rejected while the old
configuration keeps serving."""
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import apilib  # noqa: E402
import smolib  # noqa: E402
from apilib import Smo, example, read  # noqa: E402


class Reload(unittest.TestCase):
    def setUp(self):
        self.smo = Smo(self)

    def tearDown(self):
        self.smo.cleanup()

    def edit(self, name, text):
        smolib.write(os.path.join(self.smo.conf, name), text)

    def reload(self, expect="reload done"):
        d = self.smo.daemon
        n = d.logs().count(expect)
        d.signal(signal.SIGHUP)
        end = time.monotonic() + 20
        while d.logs().count(expect) == n and time.monotonic() < end:
            time.sleep(0.05)
        self.assertGreater(d.logs().count(expect), n, d.logs()[-2000:])

    def plan(self, name="hello-world.yaml"):
        r = self.smo.post("/graphs/plan", read(example(name)),
                          ctype="application/x-yaml")
        self.assertEqual(r.status, 200, r)
        return r.json()

    def test_intent_table_weights_and_executor(self):
        s = self.smo
        os.rename(os.path.join(s.conf, "40-executor.yaml"),
                  os.path.join(s.root, "40-executor.yaml"))
        s.start()
        # No executor: deploys are refused with 503.
        r = s.post("/project/p/graphs", read(example("hello-world.yaml")),
                   ctype="application/x-yaml")
        self.assertEqual(r.status, 503, r)
        # Enable the executor by adding its file.
        os.rename(os.path.join(s.root, "40-executor.yaml"),
                  os.path.join(s.conf, "40-executor.yaml"))
        self.reload()
        s.deploy("p", example("hello-world.yaml"))
        g = s.graph("hello-world-graph")
        self.assertEqual(g["services"][0]["cpu"], 1.0)  # small = 1 core

        # The intent class table: small becomes 3 cores.
        path = os.path.join(s.conf, "15-translators.yaml")
        text = read(path)
        self.assertIn("small: 1,", text)
        self.edit("15-translators.yaml", text.replace("small: 1,",
                                                      "small: 3,"))
        self.reload()
        plan = self.plan()
        self.assertEqual(plan["values"]["hello-world"]["clustersAffinity"],
                         [plan["placement"]["hello-world"]])
        r = s.post("/project/q/graphs?wait=30",
                   read(example("hello-world.yaml")),
                   ctype="application/x-yaml")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(s.graph("hello-world-graph", "q")["services"][0]
                         ["cpu"], 3.0)

        # Placement weights: cost first puts the service on the cheapest
        # cluster (central, 1 per core); a heavy balance weight and no
        # cost moves it to the emptiest (edge-b: 16 free cores, nothing
        # allocated).
        self.edit("50-weights.yaml",
                  "engine:\n  placement:\n    weights: "
                  "{net: 0, balance: 0, move: 0, cost: 10}\n")
        self.reload()
        self.assertEqual(self.plan()["placement"]["hello-world"], "central")
        self.edit("50-weights.yaml",
                  "engine:\n  placement:\n    weights: "
                  "{net: 0, balance: 100, move: 0, cost: 0}\n")
        self.reload()
        self.assertNotEqual(self.plan()["placement"]["hello-world"],
                            "central")

    def test_bad_edit_rejected_old_config_serves(self):
        s = self.smo.start()
        self.edit("50-typo.yaml", "engine:\n  log_levle: debug\n")
        self.reload(expect="reload rejected")
        self.assertIn('engine.log_levle: unknown key (did you mean '
                      '"log_level"?)', s.daemon.logs())
        # Still serving with the old configuration.
        s.deploy("p", example("hello-world.yaml"))
        self.assertEqual(s.graph("hello-world-graph")["status"], "Running")
        h = s.get("/healthz")
        self.assertEqual(h.status, 200)
        # A bad plugin setting is rejected the same way.
        os.unlink(os.path.join(s.conf, "50-typo.yaml"))
        self.edit("91-api2.yaml",
                  "instances:\n  - kind: api\n    plugin: http\n"
                  "    name: api2\n    config: {listen: nonsense}\n")
        self.reload(expect="reload rejected")
        self.assertEqual(s.get("/healthz").status, 200)
        # smod check-config (ExecReload's first command) says the same.
        r = smolib.run(["check-config", "--conf", s.conf])
        self.assertEqual(r.returncode, 1)
        self.assertIn("listen", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
