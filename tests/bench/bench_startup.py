#!/usr/bin/env python3
"""Start-to-ready time, peak RSS and SIGHUP reload time of `smod run`.

Runs smod N times under /usr/bin/time -v with a NOTIFY_SOCKET: ready time
is from spawn to the READY=1 datagram; each run then reloads R times
(SIGHUP, RELOADING=1 -> READY=1) and stops with SIGTERM; peak RSS is
time's "Maximum resident set size". Prints a table; nothing is asserted.

usage: bench_startup.py [--smod PATH] [--conf DIR] [--runs N] [--reloads R]
"""
import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import tempfile
import time


def recv_until(sock, needle, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            msg = sock.recv(4096).decode()
        except socket.timeout:
            continue
        if needle in msg:
            return msg, time.monotonic()
    raise SystemExit("no %s within %ss" % (needle, timeout))


def one_run(smod, conf, reloads):
    d = tempfile.mkdtemp(prefix="smo-bench-")
    sp = os.path.join(d, "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sp)
    sock.settimeout(0.05)
    env = dict(os.environ, NOTIFY_SOCKET=sp)
    log = open(os.path.join(d, "log"), "w+")
    t0 = time.monotonic()
    p = subprocess.Popen(["/usr/bin/time", "-v", smod, "run", "--conf", conf,
                          "--data", os.path.join(d, "data"),
                          "--log-level", "warning"],
                         stdout=log, stderr=log, env=env)
    msg, t_ready = recv_until(sock, "READY=1")
    pid = int(re.search(r"MAINPID=(\d+)", msg).group(1))
    ready_ms = (t_ready - t0) * 1000
    reload_ms = []
    for _ in range(reloads):
        t1 = time.monotonic()
        os.kill(pid, signal.SIGHUP)
        recv_until(sock, "RELOADING=1")
        _, t2 = recv_until(sock, "READY=1")
        reload_ms.append((t2 - t1) * 1000)
    os.kill(pid, signal.SIGTERM)
    p.wait(30)
    log.seek(0)
    out = log.read()
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)",
                        out).group(1))
    sock.close()
    subprocess.run(["rm", "-rf", d])
    return ready_ms, rss, reload_ms


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    ap = argparse.ArgumentParser()
    ap.add_argument("--smod", default=os.path.join(root, "build", "release",
                                                   "bin", "smod"))
    ap.add_argument("--conf", default=os.path.join(root, "conf.d"))
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--reloads", type=int, default=5)
    a = ap.parse_args()
    ready, rss, reload = [], [], []
    for _ in range(a.runs):
        r, m, rl = one_run(a.smod, a.conf, a.reloads)
        ready.append(r)
        rss.append(m)
        reload.extend(rl)

    def row(name, xs, unit):
        print("%-22s %8.2f %8.2f %8.2f %s" % (name, min(xs),
              statistics.median(xs), max(xs), unit))
    print("smod %s, conf %s, %d runs, %d reloads each"
          % (a.smod, a.conf, a.runs, a.reloads))
    print("%-22s %8s %8s %8s" % ("", "min", "median", "max"))
    row("start to READY=1", ready, "ms")
    row("peak RSS", [x / 1024 for x in rss], "MiB")
    row("SIGHUP reload", reload, "ms")


if __name__ == "__main__":
    main()
