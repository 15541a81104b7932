"""The smod binary: check-config, plugins, run, SIGHUP reload (good and
bad), SIGTERM drain, systemd notifications, watchdog, log formats."""
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import smolib  # noqa: E402
from smolib import write  # noqa: E402

PROBES = """
engine:
  plugin_path: [%s]
  shutdown_timeout: 2s
instances:
  - kind: solver
    plugin: probe
    name: s1
    config: {tag: one}
  - kind: source
    plugin: file
    name: files
""" % smolib.TEST_PLUGINS


class CheckConfig(unittest.TestCase):
    def setUp(self):
        self.d = smolib.tmpdir()
        self.conf = os.path.join(self.d, "conf.d")
        os.makedirs(self.conf)

    def tearDown(self):
        smolib.rmtree(self.d)

    def check(self, files):
        for name, text in files.items():
            write(os.path.join(self.conf, name), text)
        return smolib.run(["check-config", "--conf", self.conf])

    def test_valid(self):
        r = self.check({"10-p.yaml": PROBES})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("is valid: 1 file, 2 instances", r.stdout)
        self.assertIn("solver      s1", r.stdout)

    def expect_error(self, files, line):
        r = self.check(files)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        lines = r.stderr.splitlines()
        self.assertEqual(lines[0], line.replace("CONF", self.conf))
        self.assertIn("is invalid (1 problem)", lines[-1])

    def test_malformed_yaml(self):
        self.expect_error({"a.yaml": "engine:\n  log_level: [info\n"},
                          "CONF/a.yaml:3:1: did not find expected ',' or ']'"
                          " while parsing a flow sequence")

    def test_wrong_type(self):
        self.expect_error({"a.yaml": "engine:\n  threadpool_size: many\n"},
                          "CONF/a.yaml:2: engine.threadpool_size: expected "
                          "an integer, found \"many\"")

    def test_unknown_plugin_key(self):
        self.expect_error(
            {"a.yaml": PROBES.replace("{tag: one}", "{tag: one, colour: 3}")},
            "CONF/a.yaml:9: instances[0].config.colour: unknown key (known "
            "keys: tag, fail_create, fail_start, fail_reconfigure, "
            "stop_delay, stop_hang, work_on_start, spawn_on_start, count, "
            "ratio, timeout, limit, mode, items, nested, secret)")

    def test_missing_plugin(self):
        r = self.check({"a.yaml": PROBES.replace("plugin: file",
                                                 "plugin: nosuch")})
        self.assertEqual(r.returncode, 1)
        self.assertTrue(r.stderr.startswith(
            "%s/a.yaml:11: instances[1].plugin: plugin smo_source_nosuch.so "
            "not found (searched " % self.conf), r.stderr)

    def test_bad_abi(self):
        text = PROBES.replace(smolib.TEST_PLUGINS, smolib.BROKEN_PLUGINS)
        text = text.replace("plugin: probe", "plugin: badmajor")
        self.expect_error(
            {"a.yaml": text},
            "CONF/a.yaml:7: instances[0].plugin: %s/smo_solver_badmajor.so: "
            "abi_major: expected 1, found 2" % smolib.BROKEN_PLUGINS)

    def test_duplicate_name(self):
        self.expect_error(
            {"a.yaml": PROBES,
             "b.yaml": "instances:\n  - {kind: solver, plugin: probe, "
                       "name: s1}\n"},
            "CONF/b.yaml:2: instances[0].name: duplicate instance name "
            "\"s1\" (first declared at CONF/a.yaml:8)")

    def test_json_output(self):
        write(os.path.join(self.conf, "a.yaml"), "engine: {zzz: 1}\n")
        r = smolib.run(["check-config", "--conf", self.conf, "-o", "json"])
        self.assertEqual(r.returncode, 1)
        out = smolib.loads(r.stdout)
        self.assertFalse(out["ok"])
        self.assertEqual(len(out["errors"]), 1)

    def test_run_refuses_bad_config(self):
        write(os.path.join(self.conf, "a.yaml"), "engine: {zzz: 1}\n")
        d = smolib.Daemon(self.conf, os.path.join(self.d, "data"))
        d.proc.wait(20)
        self.assertEqual(d.proc.returncode, 1)
        self.assertIn("not starting: the configuration in", d.logs())
        self.assertIn("engine.zzz: unknown key", d.logs())
        self.assertEqual(d.notify.messages, [])
        d.stop()


class Run(unittest.TestCase):
    def setUp(self):
        self.d = smolib.tmpdir()
        self.conf = os.path.join(self.d, "conf.d")
        write(os.path.join(self.conf, "10-p.yaml"), PROBES)

    def tearDown(self):
        smolib.rmtree(self.d)

    def test_lifecycle_reload_and_drain(self):
        d = smolib.Daemon(self.conf, os.path.join(self.d, "data"))
        try:
            ready = d.notify.wait_for("READY=1")
            self.assertIn("MAINPID=%d" % d.proc.pid, ready)
            d.wait_log("ready in")
            self.assertIn("solver      s1", d.logs())

            # A good edit: the changed instance is replaced.
            write(os.path.join(self.conf, "10-p.yaml"),
                  PROBES.replace("{tag: one}", "{tag: two}"))
            d.signal(signal.SIGHUP)
            d.notify.wait_for("RELOADING=1")
            d.notify.wait_for("READY=1")
            d.wait_log("reload done in")
            d.wait_log("(1 new, 1 kept, 0 reconfigured)")

            # A bad edit: rejected, the running set stays.
            write(os.path.join(self.conf, "20-bad.yaml"),
                  "instances:\n  - {kind: solver, plugin: probe, name: s2, "
                  "config: {count: -1}}\n")
            d.signal(signal.SIGHUP)
            d.wait_log("reload rejected; the previous configuration keeps "
                       "running")
            self.assertIn("20-bad.yaml:2: instances[0].config.count: -1 is "
                          "below the minimum 0", d.logs())
            self.assertIsNone(d.proc.poll())
            d.notify.wait_for("READY=1")

            d.signal(signal.SIGTERM)
            d.notify.wait_for("STOPPING=1")
            d.proc.wait(20)
            self.assertEqual(d.proc.returncode, 0)
            self.assertIn("all instances stopped; exiting", d.logs())
        finally:
            d.stop()

    def test_watchdog_and_json_logs(self):
        write(os.path.join(self.conf, "00-engine.yaml"),
              "engine: {log_format: json}\n")
        d = smolib.Daemon(self.conf, os.path.join(self.d, "data"),
                          extra_env={"WATCHDOG_USEC": "200000"})
        try:
            d.notify.wait_for("READY=1")
            d.notify.wait_for("WATCHDOG=1", timeout=5)
            d.notify.wait_for("WATCHDOG=1", timeout=5)
            d.wait_log('"level":"notice"')
            for line in d.logs().splitlines():
                smolib.loads(line)  # every line is one JSON object
        finally:
            self.assertEqual(d.stop(), 0)

    def test_data_dir_not_writable(self):
        blocker = os.path.join(self.d, "file")
        write(blocker, "x")
        r = smolib.run(["run", "--conf", self.conf, "--data",
                        os.path.join(blocker, "sub")])
        self.assertEqual(r.returncode, 1)
        self.assertIn("data directory", r.stderr)


class Plugins(unittest.TestCase):
    def test_list(self):
        r = smolib.run(["plugins", "-o", "json", "-p", smolib.TEST_PLUGINS])
        self.assertEqual(r.returncode, 0, r.stderr)
        out = smolib.loads(r.stdout)
        names = {(p.get("kind"), p.get("name")) for p in out["plugins"]}
        self.assertIn(("source", "file"), names)
        self.assertIn(("solver", "probe"), names)
        probe = [p for p in out["plugins"] if p.get("name") == "probe"][0]
        keys = [f["key"] for f in probe["config"]]
        self.assertIn("timeout", keys)
        self.assertTrue(any(f["key"] == "log_level" for f in out["engine"]))

    def test_table_and_broken(self):
        r = smolib.run(["plugins", "-p", smolib.BROKEN_PLUGINS])
        self.assertEqual(r.returncode, 0)
        self.assertIn("source file 1.0.0 (ABI 1.1)", r.stdout)
        self.assertIn("not loadable: %s/smo_solver_badmajor.so: abi_major: "
                      "expected 1, found 2" % smolib.BROKEN_PLUGINS, r.stdout)

    def test_version(self):
        r = smolib.run(["version"])
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^smod \d+\.\d+\.\d+ \(plugin ABI 1\.1\)")

    def test_usage(self):
        r = smolib.run(["frobnicate"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown command", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
