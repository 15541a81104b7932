"""Helpers for integration tests that drive the real smod binary.

Every wait is bounded; every process started is stopped in tearDown.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

BUILD = os.environ.get("SMO_BUILD_DIR", "build/default")
SOURCE = os.environ.get("SMO_SOURCE_DIR", ".")
SMOD = os.path.join(BUILD, "bin", "smod")
TEST_PLUGINS = os.environ.get("SMO_TEST_PLUGIN_DIR",
                              os.path.join(BUILD, "tests", "plugins"))
BROKEN_PLUGINS = os.environ.get("SMO_TEST_BROKEN_DIR",
                                os.path.join(BUILD, "tests", "plugins-broken"))


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


class Notify:
    """A NOTIFY_SOCKET the daemon reports to (systemd's datagram protocol)."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.messages = []

    def wait_for(self, needle, timeout=20.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for m in self.messages:
                if needle in m:
                    self.messages.remove(m)
                    return m
            try:
                data = self.sock.recv(4096).decode()
                self.messages.append(data)
            except socket.timeout:
                pass
        raise AssertionError("no %r from smod within %.0fs (got %r)"
                             % (needle, timeout, self.messages))

    def close(self):
        self.sock.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass


class Daemon:
    """smod run in the background, with its stderr captured to a file."""

    def __init__(self, conf, data, extra_env=None, args=()):
        self.dir = data
        os.makedirs(data, exist_ok=True)
        self.notify = Notify(data)
        self.log_path = os.path.join(data, "smod.log")
        env = dict(os.environ)
        env["NOTIFY_SOCKET"] = self.notify.path
        env.pop("SMO_PLUGIN_PATH", None)
        env.update(extra_env or {})
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [SMOD, "run", "--conf", conf, "--data", data] + list(args),
            stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def logs(self):
        with open(self.log_path) as f:
            return f.read()

    def wait_log(self, needle, timeout=20.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if needle in self.logs():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError("log never contained %r:\n%s"
                             % (needle, self.logs()))

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=20.0):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()
        self.notify.close()
        return self.proc.returncode


def run(args, env=None, timeout=60):
    e = dict(os.environ)
    e.pop("SMO_PLUGIN_PATH", None)
    e.update(env or {})
    return subprocess.run([SMOD] + list(args), capture_output=True,
                          text=True, env=e, timeout=timeout)


def tmpdir():
    return tempfile.mkdtemp(prefix="smo-it-")


def rmtree(d):
    shutil.rmtree(d, ignore_errors=True)


def loads(text):
    return json.loads(text)
