#!/usr/bin/env python3
"""Alerting benchmarks against a running `logpulse run` (issue 5).

latency: window close -> webhook received, with KEYS firing series.
    A worker follows a file; a webhook receiver on 127.0.0.1:0 records when each
    notification arrives. Window i gets one `error` line from each of KEYS hosts
    (`when = "count >= 1"`, so every host fires in window 0: a burst of KEYS
    notifications), except that TOGGLE hosts go quiet in each later window (they
    resolve) and come back in the next (they fire again): a steady TOGGLE*2
    notifications per window over KEYS firing series. A window closes when the
    script appends the line that moves event time past its end (lateness 0s); that
    wall time is the start of the latency (the file is polled every 10 ms and the
    worker flushes every 50 ms, so both are in it). Reported: p50/p99/max for the burst and
    for the steady windows.

hung: ingest rate with a webhook that never answers, against the same run with a
    webhook that answers at once. Each run reads LINES lines with alerts firing;
    the rate is taken from /metrics (events in) between the first and the last
    event. Reported: lines/s of both and their ratio (the issue: within 10%).
"""

import argparse
import http.server
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

T0 = 1_795_651_200  # 2026-11-26T00:00:00Z

RULES = """
[[stream]]
name = "app"
format = "raw"
time = {{ regex = '^(\\d+) ', format = "%s" }}
host = {{ regex = '^\\d+ (\\S+)' }}
lateness = "0s"

[[rule]]
name = "errors"
stream = "app"
match = "error"
group_by = ["host"]
window = "1m"

[[alert]]
name = "any_error"
rule = "errors"
when = "count >= {threshold}"
notify = ["hook"]
"""


class Receiver:
    """A webhook receiver: records (arrival time, body) per POST; `hang` never answers."""

    def __init__(self, hang=False):
        self.arrivals = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers["content-length"]))
                now = time.time()
                with receiver.lock:
                    receiver.arrivals.append((now, json.loads(body)))
                if hang:
                    time.sleep(3600)
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def start_worker(binary, work, log, url, timeout="5s", flush="50ms"):
    data = os.path.join(work, "data")
    config = os.path.join(work, "worker.toml")
    with open(config, "w") as f:
        f.write(
            f"data_dir = '{data}'\nrules = ['{work}/rules.toml']\nflush_interval = '{flush}'\n"
            f"[http]\nlisten = '127.0.0.1:0'\n"
            f"[[source]]\nkind = 'file'\npath = '{log}'\nfollow = true\npoll_interval = '10ms'\nhost = 'x'\nstream = 'app'\n"
            f"[[notifier]]\nname = 'hook'\nkind = 'webhook'\nurl = '{url}'\ntimeout = '{timeout}'\nmax_attempts = 1\n"
        )
    proc = subprocess.Popen([binary, "run", "-c", config], stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        m = re.match(r"logpulse: listening on (http://\S+)", line)
        if m:
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
            return proc, m.group(1)
    raise SystemExit("worker did not start")


def metric(base, name):
    text = urllib.request.urlopen(f"{base}/metrics").read().decode()
    return sum(float(l.split()[-1]) for l in text.splitlines() if l.startswith(name))


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def latency(args):
    work = tempfile.mkdtemp(prefix="alert-bench-")
    with open(f"{work}/rules.toml", "w") as f:
        f.write(RULES.format(threshold=1))
    log = f"{work}/app.log"
    open(log, "w").close()
    receiver = Receiver()
    proc, base = start_worker(args.binary, work, log, receiver.url, flush=args.flush)
    hosts = [f"h{i:05d}" for i in range(args.keys)]
    closed_at = {}
    expected = 0
    try:
        with open(log, "a") as out:
            for w in range(args.windows):
                quiet = set()
                if w > 0:
                    lo = ((w - 1) * args.toggle) % args.keys
                    quiet = set(hosts[lo : lo + args.toggle])
                t = T0 + 60 * w
                out.write("".join(f"{t + 1} {h} error\n" for h in hosts if h not in quiet))
                out.flush()
                time.sleep(0.5)  # the worker reads the window's lines
                # The next window's first line closes this one.
                out.write(f"{t + 60} beat ok\n")
                out.flush()
                window_end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t + 60))
                closed_at[window_end] = time.time()
                expected += args.keys if w == 0 else len(quiet) + (args.toggle if w > 1 else 0)
                deadline = time.time() + 60
                while len(receiver.arrivals) < expected and time.time() < deadline:
                    time.sleep(0.01)
        time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    first_end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(T0 + 60))
    burst, steady = [], []
    for arrived, note in receiver.arrivals:
        ms = (arrived - closed_at[note["window_end"]]) * 1000
        (burst if note["window_end"] == first_end else steady).append(ms)

    def summary(xs):
        if not xs:
            return {"n": 0}
        return {"n": len(xs), "p50_ms": round(pct(xs, 50), 1), "p99_ms": round(pct(xs, 99), 1), "max_ms": round(max(xs), 1)}

    return {
        "keys": args.keys,
        "flush_interval": args.flush,
        "toggle": args.toggle,
        "windows": args.windows,
        "received": len(receiver.arrivals),
        "expected": expected,
        "burst_window": summary(burst),
        "steady_windows": summary(steady),
    }


def ingest_rate(args, hang):
    work = tempfile.mkdtemp(prefix="alert-bench-hung-" if hang else "alert-bench-ok-")
    with open(f"{work}/rules.toml", "w") as f:
        f.write(RULES.format(threshold=1))
    log = f"{work}/app.log"
    # LINES lines over many minutes and 200 hosts: every window fires 200 series.
    with open(log, "w") as out:
        per_window = 2000
        for i in range(args.lines):
            w, j = divmod(i, per_window)
            out.write(f"{T0 + 60 * w + j * 60 // per_window} h{j % 200:03d} error code={i}\n")
    receiver = Receiver(hang=hang)
    proc, base = start_worker(args.binary, work, log, receiver.url, timeout="60s")
    try:
        samples = []
        deadline = time.time() + 300
        while time.time() < deadline:
            n = metric(base, "logpulse_events_in_total")
            samples.append((time.time(), n))
            if n >= args.lines:
                break
            time.sleep(0.05)
        first = next(t for t, n in samples if n > 0)
        last = next(t for t, n in samples if n >= args.lines)
        rate = args.lines / max(last - first, 1e-3)
        notified = len(receiver.arrivals)
    finally:
        proc.kill()
        proc.wait()
    return {"lines_per_s": round(rate), "webhook_requests": notified}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["latency", "hung"])
    parser.add_argument("--binary", default="target/release/logpulse")
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--toggle", type=int, default=50)
    parser.add_argument("--windows", type=int, default=6)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--flush", default="50ms", help="the worker's flush_interval (latency)")
    args = parser.parse_args()
    if args.mode == "latency":
        print(json.dumps(latency(args), indent=2))
    else:
        rounds = []
        for r in range(args.runs):
            ok = ingest_rate(args, hang=False)
            hung = ingest_rate(args, hang=True)
            rounds.append({"answering": ok, "hung": hung, "ratio": round(hung["lines_per_s"] / ok["lines_per_s"], 3)})
            print(json.dumps(rounds[-1]), file=sys.stderr)
        print(json.dumps({
            "lines": args.lines,
            "rounds": rounds,
            "median_ratio": statistics.median(r["ratio"] for r in rounds),
        }, indent=2))


if __name__ == "__main__":
    main()
