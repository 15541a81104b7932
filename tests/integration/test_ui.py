"""The web console at /ui, rendered by headless Chromium against the real
smod: the example graph's services are drawn inside the box of the cluster
each runs on, with its connection points as edges, the clusters with
capacity bars and the events; with tokens, the page asks for one. A
screenshot of the graph page is written to the build's test output."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import apilib  # noqa: E402
import smolib  # noqa: E402
from apilib import Smo, example  # noqa: E402

CHROMIUM = shutil.which("chromium")
OUT = os.path.join(smolib.BUILD, "test-output")


def chromium(url, *mode):
    profile = tempfile.mkdtemp(prefix="smo-ui-")
    try:
        r = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--user-data-dir=" + profile,
             "--window-size=1200,900", "--virtual-time-budget=8000"]
            + list(mode) + [url],
            capture_output=True, text=True, timeout=120)
        return r
    finally:
        shutil.rmtree(profile, ignore_errors=True)


class Console(unittest.TestCase):
    def setUp(self):
        self.assertIsNotNone(CHROMIUM, "chromium is required: "
                             "packaging/dev/install-deps.sh --test")
        self.smo = Smo(self)

    def tearDown(self):
        self.smo.cleanup()

    def test_graph_page(self):
        s = self.smo.start()
        s.deploy("demo", example("image-detection.yaml"))
        r = chromium(s.url() + "/ui", "--dump-dom")
        # What the page drew, without its own script's text.
        dom = re.sub(r"<script>.*?</script>", "", r.stdout, flags=re.S)
        self.assertIn('data-loaded="1"', dom, r.stderr[-2000:])
        g = s.graph("image-detection-graph")
        # Each service is drawn in the box of its cluster, with its status.
        boxes = re.split(r'<g class="cluster-box"', dom)
        for svc in g["services"]:
            box = [b for b in boxes[1:]
                   if 'data-cluster="%s"' % svc["cluster_affinity"] in b]
            self.assertTrue(box, svc)
            self.assertIn('data-service="%s"' % svc["name"], dom)
            self.assertIn('data-service="%s" data-status="%s"'
                          % (svc["name"], svc["status"]), dom)
        # Connection points: image-compression-vo -> noise-reduction ->
        # image-detection.
        self.assertEqual(dom.count('class="edge"'), 2)
        for c in s.get("/clusters").json():
            self.assertIn('class="cluster" data-name="%s"' % c["name"], dom)
        self.assertIn("operation.", dom)  # events are listed
        os.makedirs(OUT, exist_ok=True)
        png = os.path.join(OUT, "ui-graph.png")
        r = chromium(s.url() + "/ui", "--screenshot=" + png)
        self.assertTrue(os.path.exists(png), r.stderr[-2000:])
        with open(png, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        self.assertGreater(os.path.getsize(png), 10000)
        print("screenshot: " + png)

    def test_token_prompt(self):
        self.smo = Smo(self, api="      tokens:\n        - {name: ops, role: "
                       "admin, token: admin-token-0123456789abcdef}\n")
        s = self.smo.start()
        self.assertEqual(s.get("/ui").status, 200)
        dom = chromium(s.url() + "/ui", "--dump-dom").stdout
        self.assertIn("a token with the read role is needed", dom)
        self.assertNotIn('data-loaded="1"', dom)


if __name__ == "__main__":
    unittest.main(verbosity=2)
