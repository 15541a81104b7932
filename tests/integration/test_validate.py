"""`smod validate`: the example graphs, errors with file:line and path,
JSON and canonical YAML output, and a class table changed in conf.d."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import smolib  # noqa: E402
from smolib import write  # noqa: E402

EXAMPLES = os.path.join(smolib.SOURCE, "packaging", "examples", "hdag")
CONF = os.path.join(smolib.SOURCE, "conf.d")


class Validate(unittest.TestCase):
    def setUp(self):
        self.d = smolib.tmpdir()

    def tearDown(self):
        smolib.rmtree(self.d)

    def validate(self, ref, *args, conf=CONF):
        return smolib.run(["validate", "--conf", conf, ref] + list(args))

    def test_examples_table(self):
        r = self.validate(os.path.join(EXAMPLES, "image-detection.yaml"))
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0], "graph image-detection-graph version "
                                   "1.0.0: 3 services")
        self.assertEqual(lines[1].split(), ["SERVICE", "CPU", "MEMORY",
                                            "STORAGE", "GPU", "REPLICAS",
                                            "TRIGGER", "CONNECTS", "TO"])
        self.assertEqual(lines[2].split(), ["image-compression-vo", "0.5",
                                            "500Mi", "10G", "0", "1", "event",
                                            "noise-reduction"])
        self.assertEqual(lines[4].split(), ["image-detection", "4", "2Gi",
                                            "10G", "1", "2", "auto", "-"])
        for name in ("hello-world.yaml", "my-webapp.yaml"):
            r = self.validate(os.path.join(EXAMPLES, name))
            self.assertEqual(r.returncode, 0, r.stderr)

    def test_errors_name_file_line_and_path(self):
        bad = os.path.join(self.d, "bad.yaml")
        write(bad, "hdaGraph:\n  id: g\n  services:\n    - id: a\n"
                   "      deployment: {intent: {compute: {cpu: huge}}}\n"
                   "      artifact: {ociImage: oci://r.local/p/a}\n")
        r = self.validate(bad)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.splitlines()[0],
                         "%s:5: hdaGraph.services[0].deployment.intent."
                         "compute.cpu: unknown class \"huge\" (expected one "
                         "of light, small, medium, large, or a quantity "
                         "such as 250m)" % bad)
        self.assertIn("is invalid (1 error)", r.stderr)
        r = self.validate(bad, "-o", "json")
        out = smolib.loads(r.stdout)
        self.assertFalse(out["valid"])
        self.assertEqual(out["errors"][0]["line"], 5)

    def test_missing_file(self):
        r = self.validate(os.path.join(self.d, "nope.yaml"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("No such file or directory", r.stderr)

    def test_json_and_canonical_yaml(self):
        src = os.path.join(EXAMPLES, "my-webapp.yaml")
        r = self.validate(src, "-o", "json")
        out = smolib.loads(r.stdout)
        self.assertTrue(out["valid"])
        self.assertEqual([s["id"] for s in out["services"]],
                         ["web-frontend", "api-backend", "user-db"])
        self.assertEqual(out["services"][1]["cpu"], 4)
        g = out["descriptor"]["hdaGraph"]
        self.assertIs(g["services"][0]["deployment"]["intent"]["compute"]
                      ["gpu"]["enabled"], False)
        self.assertEqual(g["services"][2]["deployment"]["trigger"]["type"],
                         "event")
        r = self.validate(src, "-o", "yaml")
        self.assertEqual(r.returncode, 0, r.stderr)
        canon = os.path.join(self.d, "canon.yaml")
        write(canon, r.stdout)
        r2 = self.validate(canon, "-o", "yaml")
        self.assertEqual(r2.stdout, r.stdout)  # stable

    def test_class_table_from_conf(self):
        conf = os.path.join(self.d, "conf.d")
        for f in os.listdir(CONF):
            with open(os.path.join(CONF, f)) as fh:
                write(os.path.join(conf, f), fh.read())
        path = os.path.join(conf, "15-translators.yaml")
        with open(path) as fh:
            text = fh.read()
        write(path, text.replace("medium: 4,", "medium: 6,"))
        r = self.validate(os.path.join(EXAMPLES, "image-detection.yaml"),
                          "-o", "json", conf=conf)
        out = smolib.loads(r.stdout)
        self.assertEqual(out["services"][2]["cpu"], 6)


if __name__ == "__main__":
    unittest.main(verbosity=2)
