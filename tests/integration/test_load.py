"""Load, short: 50 concurrent clients mixing deploys, reads, stops,
starts, re-placements and removals for 20 s against smod on the simulated
executor (tests/bench/bench_load.py's core; the 5-minute run and its
figures are in docs/reliability.md). Fails on a correctness failure only:
an unexpected answer, a failed operation, a lost or ghost graph, the
executor disagreeing with the store, smod not exiting cleanly. Latencies
and memory are printed, not asserted.

SMO_LOAD_CLIENTS (default 50), SMO_LOAD_SECONDS (default 20) and
SMO_LOAD_SEED (default 1) set the run."""
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "bench"))
import smolib  # noqa: E402
from apilib import Smo  # noqa: E402
import bench_load  # noqa: E402

CLIENTS = int(os.environ.get("SMO_LOAD_CLIENTS", "50"))
SECONDS = float(os.environ.get("SMO_LOAD_SECONDS", "20"))
SEED = os.environ.get("SMO_LOAD_SEED", "1")


class Load(unittest.TestCase):
    def test_concurrent_clients(self):
        s = Smo(self, clusters=bench_load.BIG, sim=bench_load.SIM).start()
        try:
            result, problems = bench_load.run_load(
                s, CLIENTS, SECONDS, SEED, sample_every=5.0, grace=60)
        finally:
            if s.daemon:
                s.stop()
            smolib.rmtree(s.root)
        self.assertEqual(problems.nfail, 0, "seed %s: %d failures:\n%s"
                         % (SEED, problems.nfail,
                            "\n".join(problems.failures)))
        self.assertGreater(result["total"], 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
