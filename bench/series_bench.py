"""The page's data requests, end to end: `GET /api/series` of a worker serving the
dashboard benchmark's data (scripts/bench-dashboard.sh: 24 h of 1-minute windows,
1,000 hosts x 20 rules, 28.8M aggregate rows as Parquet), against DuckDB running the
SQL that each answer reports it ran, over the same files, in one run.

    python3 bench/series_bench.py --binary target/release/logpulse [--data target/bench-dashboard] [--runs 7]

Prints one line per request: the worker's median over HTTP (planning, execution, JSON),
DuckDB's median for the same statement (fetching rows into Python), their ratio, and
whether the numbers agree.
"""
import argparse
import json
import math
import re
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import duckdb

DAY_FROM = "2026-11-25T00:00:00Z"
DAY_TO = "2026-11-26T00:00:00Z"
REQUESTS = [
    ("machine top 10, avg, 24h", f"rule=nginx.request_time&view=machine&metric=avg&top=10&from={DAY_FROM}&to={DAY_TO}"),
    ("sum view, count, 24h", f"rule=nginx.requests&view=sum&metric=count&from={DAY_FROM}&to={DAY_TO}"),
    ("avg view, avg, 24h", f"rule=nginx.request_time&view=avg&metric=avg&from={DAY_FROM}&to={DAY_TO}"),
    ("machine top 10, count, 1h", f"rule=nginx.status_5xx&view=machine&metric=count&from=2026-11-25T23:00:00Z&to={DAY_TO}"),
]


def start_worker(binary, data_dir, scratch):
    empty = os.path.join(scratch, "empty.log")
    open(empty, "w").close()
    rules = os.path.join(scratch, "rules.toml")
    with open(rules, "w") as f:
        f.write('[[stream]]\nname = "app"\nformat = "raw"\n[[rule]]\nname = "lines"\nstream = "app"\n')
    config = os.path.join(scratch, "worker.toml")
    with open(config, "w") as f:
        f.write(
            f"data_dir = '{os.path.abspath(data_dir)}'\nrules = ['{rules}']\n[http]\nlisten = '127.0.0.1:0'\n"
            f"[[source]]\nkind = 'file'\npath = '{empty}'\nfollow = true\nhost = 'bench'\nstream = 'app'\n"
        )
    worker = subprocess.Popen([binary, "run", "-c", config], stderr=subprocess.PIPE, text=True)
    for line in worker.stderr:
        if line.startswith("logpulse: listening on "):
            return worker, line.split("listening on ", 1)[1].strip()
    raise SystemExit("the worker did not start")


def get(url):
    with urllib.request.urlopen(url, timeout=120) as r:
        return r.read()


def duckdb_points(con, sql):
    """`(label, window_end ms) -> value`, as the answer's columns hold them."""
    sql = re.sub(r"to_timestamp_millis\((-?\d+)\)", r"to_timestamp(\1 / 1000)", sql)
    rows = con.execute(sql).fetchall()
    return {(label, int(t.timestamp() * 1000)): v for t, label, v in rows}


def answer_points(answer):
    out = {}
    for s in answer["series"]:
        for t, v in zip(answer["times"], s["values"]):
            if v is not None:
                out[(s["label"], t)] = v
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", default="target/release/logpulse")
    p.add_argument("--data", default="target/bench-dashboard")
    p.add_argument("--runs", type=int, default=7)
    args = p.parse_args()
    if not os.path.isdir(os.path.join(args.data, "aggregates")):
        raise SystemExit(f"no data in {args.data}: run scripts/bench-dashboard.sh first")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        f"CREATE VIEW aggregates AS SELECT * FROM read_parquet('{os.path.abspath(args.data)}/aggregates/**/*.parquet', "
        "hive_partitioning = false)"
    )
    with tempfile.TemporaryDirectory() as scratch:
        worker, base = start_worker(args.binary, args.data, scratch)
        try:
            print(f"{'request':28} {'/api/series ms':>15} {'duckdb ms':>10} {'ratio':>7} {'bytes':>8}  same numbers")
            ok = True
            for name, query in REQUESTS:
                url = f"{base}/api/series?{query}"
                times, body = [], b""
                for _ in range(args.runs):
                    started = time.perf_counter()
                    body = get(url)
                    times.append((time.perf_counter() - started) * 1000)
                answer = json.loads(body)
                ddb_times, expected = [], {}
                for _ in range(args.runs):
                    started = time.perf_counter()
                    expected = duckdb_points(con, answer["sql"])
                    ddb_times.append((time.perf_counter() - started) * 1000)
                got = answer_points(answer)
                same = got.keys() == expected.keys() and all(
                    math.isclose(got[k], expected[k], rel_tol=1e-9, abs_tol=1e-12) for k in got
                )
                ok &= same and len(got) > 0
                a, b = statistics.median(times), statistics.median(ddb_times)
                print(f"{name:28} {a:15.1f} {b:10.1f} {a / b:6.2f}x {len(body):8}  {same} ({len(got)} points)", flush=True)
            print("ratio = worker median (HTTP, JSON) / DuckDB median (same SQL, rows into Python); lower is better")
            sys.exit(0 if ok else 1)
        finally:
            worker.terminate()
            worker.wait()


if __name__ == "__main__":
    main()
