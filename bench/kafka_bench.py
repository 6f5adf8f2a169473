#!/usr/bin/env python3
"""Runs `logpulse run` and a bare rdkafka consumer side by side on one pre-loaded topic
(driven by scripts/bench-kafka.sh, which builds, generates the data and starts tansu).

  kafka_bench.py --logpulse BIN --bare BIN --brokers ADDR --topic T --rules FILE
                 --messages N --work DIR --runs R [--memory-rules FILE] --out REPORT

Each run, interleaved (bare, logpulse, bare, logpulse, ...), starts a new consumer group
at the earliest offset and reads the whole topic:

- bare: bench/bare_consumer.rs prints the seconds from start to its first and its last
  message;
- logpulse: `logpulse run` on a config with one Kafka source; /metrics is polled every
  POLL seconds, and the run is done when `logpulse_messages_in_total` reaches the
  topic's message count. First/last are the polls at which it was first above 0 and
  first at the total (so each is late by at most flush_interval + POLL).

The rate of each is messages (and lines) over last - first: the steady rate, without
the group join both pay at start. Reported: each run, the medians, and the ratio of
medians (logpulse / bare). CPU seconds (user + sys) and RSS are read from /proc.

With --memory-rules, one more logpulse run uses that rule file (which adds a
high-cardinality rule) and reports RSS once every message is read and the open cell
count (the sum of logpulse_window_cells_open) has settled.
"""

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request

POLL = 0.05
CLK_TCK = os.sysconf("SC_CLK_TCK")


def metric_sum(text, name):
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) * 1024
    return out


def proc_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def run_bare(args, group):
    before = os.times()
    t0 = time.monotonic()
    out = subprocess.run([args.bare, args.brokers, args.topic, group], capture_output=True, text=True, timeout=1800)
    wall = time.monotonic() - t0
    after = os.times()
    if out.returncode != 0:
        sys.exit(f"bare_consumer failed: {out.stderr}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    if r["messages"] != args.messages:
        sys.exit(f"bare_consumer read {r['messages']} messages, the topic has {args.messages}")
    r["wall_s"] = wall
    r["cpu_s"] = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return r


def worker_config(args, rules, group, data_dir):
    return f"""
data_dir = "{data_dir}"
rules = ["{rules}"]
flush_interval = "{args.flush_interval}"

[http]
listen = "127.0.0.1:0"

[log]
level = "warn"

[[source]]
kind = "kafka"
brokers = "{args.brokers}"
topics = ["{args.topic}"]
group = "{group}"
stream = "{args.stream}"
"""


def run_logpulse(args, group, rules, settle_cells=False):
    run_dir = os.path.join(args.work, group)
    shutil.rmtree(run_dir, ignore_errors=True)
    os.makedirs(run_dir)
    config = os.path.join(run_dir, "logpulse.toml")
    with open(config, "w") as f:
        f.write(worker_config(args, rules, group, os.path.join(run_dir, "data")))
    log = open(os.path.join(run_dir, "worker.log"), "w+")
    t0 = time.monotonic()
    child = subprocess.Popen([args.logpulse, "run", "-c", config], stdout=subprocess.DEVNULL, stderr=log)
    try:
        base = None
        while base is None:
            if child.poll() is not None or time.monotonic() - t0 > 120:
                log.seek(0)
                sys.exit(f"logpulse run did not start:\n{log.read()}")
            log.seek(0)
            m = re.search(r"logpulse: listening on (http://\S+)", log.read())
            base = m.group(1) if m else None
            time.sleep(0.01)
        first = last = None
        cells = 0.0
        while True:
            if child.poll() is not None:
                log.seek(0)
                sys.exit(f"logpulse run exited early:\n{log.read()}")
            if time.monotonic() - t0 > 1800:
                sys.exit("logpulse run did not read the topic in 30 minutes")
            text = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
            now = time.monotonic() - t0
            read = metric_sum(text, "logpulse_messages_in_total")
            if read > 0 and first is None:
                first = now
            if read >= args.messages:
                last = now
                lines = metric_sum(text, "logpulse_events_in_total")
                payload_bytes = metric_sum(text, "logpulse_bytes_in_total")
                cells = metric_sum(text, "logpulse_window_cells_open")
                break
            time.sleep(POLL)
        cpu = proc_cpu(child.pid)
        if settle_cells:
            # Cells are published on each flush tick; wait until two ticks agree.
            while True:
                time.sleep(1.0)
                text = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
                now_cells = metric_sum(text, "logpulse_window_cells_open")
                if now_cells == cells:
                    break
                cells = now_cells
        mem = proc_status(child.pid)
        if read != args.messages:
            sys.exit(f"logpulse read {read} messages, the topic has {args.messages}")
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=120)
        except subprocess.TimeoutExpired:
            child.kill()
    return {
        "messages": int(read),
        "lines": int(lines),
        "bytes": int(payload_bytes),
        "first_s": first,
        "last_s": last,
        "wall_s": last,
        "cpu_s": cpu,
        "rss": mem.get("VmRSS", 0),
        "hwm": mem.get("VmHWM", 0),
        "cells": int(cells),
        "exit": child.returncode,
    }


def rates(r):
    span = max(r["last_s"] - r["first_s"], 1e-9)
    return r["messages"] / span, r["lines"] / span


def main():
    p = argparse.ArgumentParser()
    for flag in ["logpulse", "bare", "brokers", "topic", "rules", "work", "out", "stream"]:
        p.add_argument("--" + flag, required=True)
    p.add_argument("--messages", type=int, required=True)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--flush-interval", default="250ms")
    p.add_argument("--memory-rules")
    p.add_argument("--header", default="")
    args = p.parse_args()

    results = {"bare": [], "logpulse": []}
    for i in range(args.runs):
        b = run_bare(args, f"bare-{os.getpid()}-{i}")
        results["bare"].append(b)
        print(f"run {i + 1}: bare     {b['messages']} msgs {rates(b)[0]:10.0f} msg/s {rates(b)[1]:12.0f} lines/s", file=sys.stderr)
        lp = run_logpulse(args, f"logpulse-{os.getpid()}-{i}", args.rules)
        results["logpulse"].append(lp)
        print(f"run {i + 1}: logpulse {lp['messages']} msgs {rates(lp)[0]:10.0f} msg/s {rates(lp)[1]:12.0f} lines/s", file=sys.stderr)

    rows = []
    rows.append("| run | consumer | messages | lines | first s | last s | msg/s | lines/s | MB/s | CPU s | RSS MiB |")
    rows.append("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for i in range(args.runs):
        for name in ("bare", "logpulse"):
            r = results[name][i]
            m, l = rates(r)
            mbs = r["bytes"] / (r["last_s"] - r["first_s"]) / 1e6 if "bytes" in r else None
            rss = f"{r['rss'] / 2**20:.0f}" if "rss" in r else "—"
            rows.append(
                f"| {i + 1} | {name} | {r['messages']} | {r['lines']} | {r['first_s']:.2f} | {r['last_s']:.2f} | {m:.0f} | {l:.0f} | "
                + (f"{mbs:.1f}" if mbs is not None else "—")
                + f" | {r['cpu_s']:.2f} | {rss} |"
            )
    med = {name: (statistics.median(rates(r)[0] for r in rs), statistics.median(rates(r)[1] for r in rs)) for name, rs in results.items()}
    ratio = med["logpulse"][0] / med["bare"][0]
    summary = [
        "",
        f"Median steady rate: bare {med['bare'][0]:.0f} msg/s ({med['bare'][1]:.0f} lines/s), "
        f"logpulse {med['logpulse'][0]:.0f} msg/s ({med['logpulse'][1]:.0f} lines/s).",
        f"**logpulse ÷ bare consumer = {ratio:.2f}×** (goal ≥ 0.9).",
        f"Per-run ratios: {', '.join(f'{rates(l)[0] / rates(b)[0]:.2f}' for b, l in zip(results['bare'], results['logpulse']))}.",
        f"logpulse RSS after reading the topic (median): {statistics.median(r['rss'] for r in results['logpulse']) / 2**20:.0f} MiB, "
        f"open cells {results['logpulse'][-1]['cells']}.",
    ]
    if args.memory_rules:
        m = run_logpulse(args, f"memory-{os.getpid()}", args.memory_rules, settle_cells=True)
        summary.append(
            f"Memory run ({os.path.basename(args.memory_rules)}): {m['cells']} open window cells, "
            f"RSS {m['rss'] / 2**20:.0f} MiB (peak {m['hwm'] / 2**20:.0f} MiB), read at {rates(m)[1]:.0f} lines/s."
        )
        results["memory"] = m
    report = "\n".join([args.header, *rows, *summary, ""])
    with open(args.out, "a") as f:
        f.write(report + "\n")
    with open(os.path.join(args.work, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(report)
    bad = [r for r in results["logpulse"] if r["exit"] != 0]
    if bad:
        sys.exit(f"logpulse did not exit 0 on SIGTERM in {len(bad)} runs")


if __name__ == "__main__":
    main()
