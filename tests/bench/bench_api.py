#!/usr/bin/env python3
"""REST API figures with wrk on 127.0.0.1 (docs/benchmarks.md):

1. GET /graphs/{name} and GET /project/{p}/graphs with 100 stored graphs:
   requests/s and p99 latency (wrk, 2 threads, 64 connections).
2. Deploys per second of a 3-service graph with ?wait on the simulated
   executor (wrk with a Lua script: each request a new project),
   --deploy-conns connections (default 32).
3. RSS of smod after 0, 250, 500, 750 and 1,000 deploy/remove cycles.

The daemon runs the shipped conf.d/ (SQLite with synchronous: full, the
greedy or configured solver) with the executor and API of the tests.
Prints figures; asserts nothing.

usage: SMO_BUILD_DIR=build/bench bench_api.py [--seconds S] [--cycles N]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
os.environ.setdefault("SMO_SOURCE_DIR", os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import apilib  # noqa: E402
from apilib import Smo, example, read  # noqa: E402


# Large enough for every deploy of the run: the figures are the engine's.
BIG = """
      - {name: a, cpu: 100000, memory: 100Ti, gpu: 0}
      - {name: b, cpu: 100000, memory: 100Ti, gpu: 0}
      - {name: c, cpu: 100000, memory: 100Ti, gpu: 0}
"""


class Check:
    """The assertion methods apilib expects from a test case."""

    def assertEqual(self, a, b, msg=None):
        if a != b:
            raise SystemExit("%r != %r: %s" % (a, b, msg))


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def wrk(url, seconds, conns=64, threads=2, script=None):
    args = ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % seconds,
            "--latency"]
    if script:
        args += ["-s", script]
    out = subprocess.run(args + [url], capture_output=True, text=True,
                         timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(\w+)", out)
    val, unit = float(p99.group(1)), p99.group(2)
    ms = val * {"us": 0.001, "ms": 1, "s": 1000}[unit]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, ms, int(non2xx.group(1)) if non2xx else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--cycles", type=int, default=1000)
    ap.add_argument("--deploy-conns", type=int, default=32)
    ap.add_argument("--skip-reads", action="store_true",
                    help="only the deploy and cycle figures")
    a = ap.parse_args()

    s = Smo(Check(), clusters=BIG).start()
    pid = s.daemon.proc.pid
    try:
        hello = read(example("hello-world.yaml"))
        for i in range(0 if a.skip_reads else 100):
            body = hello.replace("hello-world", "g%03d" % i)
            r = s.post("/project/bench/graphs?wait=30", body,
                       ctype="application/x-yaml")
            assert r.status == 200, r
        print("100 graphs stored; smod RSS %d KiB" % rss_kb(pid))
        print("%-34s %12s %10s %8s" % ("request", "req/s", "p99 ms",
                                         "non-2xx"))
        for path in () if a.skip_reads else (
                "/graphs/g042-graph", "/project/bench/graphs", "/healthz"):
            # A discarded warm-up run first: the figure is the steady
            # state (docs/benchmarks.md shows the cold first second too).
            cold = wrk(s.url() + path, 1)
            rps, p99, bad = wrk(s.url() + path, a.seconds)
            print("%-34s %12.0f %10.2f %8d   (cold first second: %.0f req/s, "
                  "p99 %.1f ms)" % ("GET " + path, rps, p99, bad, cold[0],
                                    cold[1]))

        # Deploys: every request a new project, 3-service graph, ?wait.
        webapp = read(example("image-detection.yaml"))
        tmp = tempfile.mkdtemp(prefix="smo-bench-")
        lua = os.path.join(tmp, "deploy.lua")
        # Without GPUs and the event trigger, every copy fits: the figure
        # is the engine's, not the capacity's.
        body = (webapp.replace('enabled: "True"', 'enabled: "False"')
                .replace("cpu: medium", "cpu: light"))
        with open(lua, "w") as f:
            # Each wrk thread numbers its own requests: projects never
            # collide (each thread gets its id from setup()).
            f.write('local k = 0\nlocal t = 0\n'
                    'setup = function(thread)\n  k = k + 1\n'
                    '  thread:set("tid", k)\nend\n'
                    'local n = 0\n'
                    'wrk.method = "POST"\nwrk.body = [==[%s]==]\n'
                    'wrk.headers["Content-Type"] = "application/x-yaml"\n'
                    'request = function()\n  n = n + 1\n'
                    '  return wrk.format(nil, "/project/d" .. tid .. "-" .. '
                    'n .. "/graphs?wait=30")\n'
                    'end\n' % body)
        rps, p99, bad = wrk(s.url(), a.seconds, conns=a.deploy_conns,
                            script=lua)
        print("%-34s %12.1f %10.2f %8d" % ("POST deploy 3 services ?wait",
                                            rps, p99, bad))
        print("after the deploy run, before listing: smod RSS %d KiB"
              % rss_kb(pid))
        ops = s.get("/operations").json()
        failed = [o for o in ops if o["state"] == "failed"]
        if failed:
            print("failed operations: %d, first: %s" % (
                len(failed), [x.get("error") for x in failed[0]["steps"]
                              if x["state"] == "failed"]))
        graphs = s.get("/graphs").json()
        print("after listing its operations and graphs: %d graphs "
              "(%d Running), smod RSS %d KiB"
              % (len(graphs), sum(g["status"] == "Running" for g in graphs),
                 rss_kb(pid)))
        # smod hands freed heap back every 30 s (smo_daemon.c, on_trim).
        time.sleep(31)
        print("31 s later: smod RSS %d KiB" % rss_kb(pid))
        s.stop()

        # Deploy/remove cycles on a fresh daemon: memory must stay flat.
        s2 = Smo(Check(), clusters=BIG).start()
        pid = s2.daemon.proc.pid
        print("\ncycles  RSS KiB  s/cycle")
        t0 = time.monotonic()
        step = max(1, a.cycles // 4)
        print("%6d %8d" % (0, rss_kb(pid)))
        for i in range(1, a.cycles + 1):
            r = s2.post("/project/cyc/graphs?wait=30", body,
                        ctype="application/x-yaml")
            assert r.status == 200 and r.json()["state"] == "succeeded", r
            r = s2.request("DELETE", "/graphs/image-detection-graph?wait=30")
            assert r.status == 200, r
            if i % step == 0:
                print("%6d %8d %8.4f" % (i, rss_kb(pid),
                                         (time.monotonic() - t0) / i))
        s2.cleanup()
    finally:
        s.cleanup()


if __name__ == "__main__":
    main()
