"""The SDK example plugin builds out of tree against the installed SDK,
with pkg-config (make) and with CMake, and smod loads the result."""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import smolib  # noqa: E402


class SdkExample(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = smolib.tmpdir()
        cls.prefix = os.path.join(cls.d, "prefix")
        r = subprocess.run(["cmake", "--install", smolib.BUILD, "--prefix",
                            cls.prefix], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
        libdir = [p for p in os.listdir(cls.prefix)
                  if p.startswith("lib")][0]
        pc = None
        for root, _dirs, files in os.walk(os.path.join(cls.prefix, libdir)):
            if "smo-sdk.pc" in files:
                pc = root
        assert pc, "smo-sdk.pc not installed"
        cls.env = dict(os.environ, PKG_CONFIG_PATH=pc)
        cls.src = os.path.join(cls.d, "hello_solver")
        subprocess.run(["cp", "-r", os.path.join(smolib.SOURCE, "sdk",
                                                 "examples", "hello_solver"),
                        cls.src], check=True)

    @classmethod
    def tearDownClass(cls):
        smolib.rmtree(cls.d)

    def pc(self, *args):
        return subprocess.run(["pkg-config"] + list(args), env=self.env,
                              capture_output=True, text=True).stdout.strip()

    def test_pkg_config_variables(self):
        self.assertTrue(self.pc("--variable=plugindir", "smo-sdk")
                        .endswith("/smo/plugins"))
        self.assertTrue(self.pc("--variable=confdir", "smo-sdk")
                        .endswith("/smo/conf.d"))
        self.assertEqual(self.pc("--variable=abi_major", "smo-sdk"), "1")
        self.assertIn("-I" + self.prefix, self.pc("--cflags", "smo-sdk"))

    def test_make_with_pkg_config(self):
        r = subprocess.run(["make", "-C", self.src], env=self.env,
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        so = os.path.join(self.src, "smo_solver_hello.so")
        # Only the descriptor is exported.
        nm = subprocess.run(["nm", "-D", "--defined-only", so],
                            capture_output=True, text=True).stdout
        exported = [l.split()[-1] for l in nm.splitlines()
                    if l.split()[1] in ("T", "D", "R", "B")]
        self.assertEqual(exported, ["smo_plugin_entry"])
        r = smolib.run(["plugins", "-o", "json", "-p", self.src])
        hello = [p for p in smolib.loads(r.stdout)["plugins"]
                 if p.get("name") == "hello"]
        self.assertEqual(len(hello), 1, r.stdout)
        self.assertEqual(hello[0]["kind"], "solver")
        self.assertEqual(hello[0]["config"][0]["key"], "strategy")
        conf = os.path.join(self.d, "conf.d")
        smolib.write(os.path.join(conf, "a.yaml"),
                     "engine: {plugin_path: [%s]}\ninstances:\n"
                     "  - {kind: solver, plugin: hello, name: hello, "
                     "config: {strategy: best-fit}}\n" % self.src)
        r = smolib.run(["check-config", "--conf", conf])
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_cmake_package(self):
        b = os.path.join(self.d, "cmake-build")
        r = subprocess.run(["cmake", "-S", self.src, "-B", b,
                            "-DCMAKE_PREFIX_PATH=" + self.prefix],
                           env=self.env, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = subprocess.run(["cmake", "--build", b], env=self.env,
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(os.path.exists(os.path.join(b, "smo_solver_hello.so")))


if __name__ == "__main__":
    unittest.main(verbosity=2)
