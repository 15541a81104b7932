"""`smod plan`: the whole pipeline (source, translate, prefilter, solve) on
a Karmada ClusterList without deploying; JSON and table output, exit
codes, explanations, re-placement with --current, both solvers, and the
same answer every time."""
import copy
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import smolib  # noqa: E402
from smolib import write  # noqa: E402

EXAMPLES = os.path.join(smolib.SOURCE, "packaging", "examples", "hdag")
CONF = os.path.join(smolib.SOURCE, "conf.d")
INVENTORY = os.path.join(smolib.SOURCE, "tests", "fixtures",
                         "karmada-clusters.json")


def load_inventory():
    with open(INVENTORY) as f:
        return json.load(f)


class Plan(unittest.TestCase):
    def setUp(self):
        self.d = smolib.tmpdir()

    def tearDown(self):
        smolib.rmtree(self.d)

    def plan(self, graph, *args, inventory=INVENTORY, conf=CONF):
        ref = graph if os.path.isabs(graph) else os.path.join(EXAMPLES, graph)
        return smolib.run(["plan", ref, "--inventory", inventory, "--conf",
                           conf] + list(args))

    def plan_json(self, graph, *args, **kw):
        r = self.plan(graph, "-o", "json", *args, **kw)
        return r, (json.loads(r.stdout) if r.stdout.strip() else None)

    def inventory(self, mutate):
        inv = load_inventory()
        mutate(inv)
        path = os.path.join(self.d, "inv-%d.json" % id(inv))
        write(path, json.dumps(inv))
        return path

    def test_feasible_json(self):
        r, p = self.plan_json("my-webapp.yaml")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(p["graph"], "my-webapp-graph")
        self.assertTrue(p["feasible"])
        self.assertEqual(p["status"], "optimal")
        self.assertEqual(p["solver"], "cbc")
        self.assertEqual(set(p["placement"]),
                         {"web-frontend", "api-backend", "user-db"})
        names = {c["metadata"]["name"] for c in load_inventory()["items"]
                 if "resourceSummary" in c.get("status", {})}
        self.assertTrue(set(p["placement"].values()) <= names)
        for k in ("net", "balance", "move", "cost"):
            self.assertIn(k, p["terms"])
        self.assertAlmostEqual(p["objective"], sum(p["terms"].values()),
                               places=6)
        self.assertGreaterEqual(p["gap"], 0)
        self.assertGreater(p["solve_ms"], 0)
        for svc, cl in p["placement"].items():
            self.assertEqual(p["explanations"][svc]["chosen"], cl)
        # Free capacity as the solver saw it: allocatable - allocated -
        # allocating of the fixture (member1: 24 - 7.35 - 0.5 cpu).
        m1 = [c for c in p["clusters"] if c["name"] == "member1"][0]
        self.assertAlmostEqual(m1["cpu_free"], 16.15, places=6)

    def test_table_output(self):
        r = self.plan("my-webapp.yaml")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertTrue(lines[0].startswith(
            "graph my-webapp-graph: 3 services, optimal, objective"), lines[0])
        self.assertEqual(lines[1].split()[:3], ["SERVICE", "CLUSTER", "CPU"])
        self.assertEqual(sorted(line.split()[0] for line in lines[2:5]),
                         ["api-backend", "user-db", "web-frontend"])

    def test_gpu_infeasible_is_explained(self):
        r, p = self.plan_json("image-detection.yaml")
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertFalse(p["feasible"])
        self.assertEqual(p["status"], "infeasible")
        self.assertIn("image-detection needs 2 GPUs", p["reason"])
        self.assertIn("clusters with that many free GPUs: none", p["reason"])
        ex = p["explanations"]["image-detection"]["excluded"]
        self.assertEqual(set(ex), {"member1", "member2"})
        self.assertIn("0 free", ex["member1"])
        # The table says the same on a terminal.
        r = self.plan("image-detection.yaml")
        self.assertEqual(r.returncode, 3)
        self.assertIn("reason: image-detection needs 2 GPUs", r.stdout)

    def test_gpus_in_the_inventory_make_it_fit(self):
        def add_gpus(inv):
            # member1: enough cpu for 2 x 4 cores, and now 2 GPUs.
            rs = inv["items"][0]["status"]["resourceSummary"]
            rs["allocatable"]["nvidia.com/gpu"] = "2"
        r, p = self.plan_json("image-detection.yaml",
                              inventory=self.inventory(add_gpus))
        self.assertEqual(r.returncode, 0, r.stderr)
        gpu_cluster = load_inventory()["items"][0]["metadata"]["name"]
        self.assertEqual(p["placement"]["image-detection"], gpu_cluster)
        ex = p["explanations"]["image-detection"]["excluded"]
        self.assertEqual(list(ex), [c for c in ("member1", "member2")
                                    if c != gpu_cluster])

    def test_not_ready_cluster_is_excluded(self):
        def not_ready(inv):
            for c in inv["items"][1]["status"]["conditions"]:
                if c["type"] == "Ready":
                    c["status"] = "False"
        name = load_inventory()["items"][1]["metadata"]["name"]
        r, p = self.plan_json("my-webapp.yaml",
                              inventory=self.inventory(not_ready))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn(name, p["placement"].values())
        self.assertIn(name, p["excluded_clusters"])

    def test_current_placement_is_kept_when_moving_costs(self):
        r, first = self.plan_json("my-webapp.yaml")
        self.assertEqual(r.returncode, 0, r.stderr)
        other = {"member1": "member2", "member2": "member1"}
        current = {s: other[c] for s, c in first["placement"].items()}
        cur = os.path.join(self.d, "current.json")
        write(cur, json.dumps(current))
        r, p = self.plan_json("my-webapp.yaml", "--current", cur)
        self.assertEqual(r.returncode, 0, r.stderr)
        # Moving a service costs w_move (10) each, more than the balance
        # term can gain on this inventory: everything stays.
        self.assertEqual(p["placement"], current)
        self.assertEqual(p["terms"]["move"], 0)
        # A graph document with "placement" is accepted too.
        write(cur, json.dumps({"name": "x", "placement": current}))
        r, p2 = self.plan_json("my-webapp.yaml", "--current", cur)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(p2["placement"], current)

    def test_both_solvers_and_determinism(self):
        outs = []
        for _ in range(3):
            r, p = self.plan_json("my-webapp.yaml")
            self.assertEqual(r.returncode, 0, r.stderr)
            outs.append(p["placement"])
        self.assertEqual(outs[0], outs[1])
        self.assertEqual(outs[1], outs[2])
        r, g = self.plan_json("my-webapp.yaml", "--solver", "greedy")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(g["solver"], "greedy")
        self.assertEqual(set(g["placement"]), set(outs[0]))
        # The heuristic proves nothing, so its objective is no better.
        r, c = self.plan_json("my-webapp.yaml")
        self.assertGreaterEqual(g["objective"] + 1e-9, c["objective"])

    def test_errors_and_exit_codes(self):
        bad = os.path.join(self.d, "bad.json")
        write(bad, '{"items": [{"bad": 1}]')
        r = self.plan("my-webapp.yaml", inventory=bad)
        self.assertEqual(r.returncode, 1)
        self.assertIn("bad.json:", r.stderr)
        r = smolib.run(["plan", os.path.join(EXAMPLES, "my-webapp.yaml"),
                        "--conf", CONF])
        self.assertEqual(r.returncode, 2)
        self.assertIn("--inventory is required", r.stderr)
        r = self.plan("my-webapp.yaml", "--solver", "nope")
        self.assertEqual(r.returncode, 2, r.stdout)
        self.assertIn("nope", r.stderr)
        r = self.plan(os.path.join(self.d, "missing.yaml"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("missing.yaml", r.stderr)
        hdag = os.path.join(self.d, "bad-hdag.yaml")
        with open(os.path.join(EXAMPLES, "my-webapp.yaml")) as f:
            write(hdag, f.read().replace("cpu: small", "cpu: huge", 1))
        r = self.plan(hdag)
        self.assertEqual(r.returncode, 1)
        self.assertIn('unknown class "huge"', r.stderr)
        self.assertIn("hdaGraph.services[", r.stderr)
        r = self.plan("my-webapp.yaml", "-o", "xml")
        self.assertEqual(r.returncode, 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
