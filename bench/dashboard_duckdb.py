"""DuckDB's side of the dashboard benchmark: the same views (as logpulse defines them),
over the same Parquet files, the same queries; one JSON line per query, like
queries/examples/dashboard_bench.rs. Usage: dashboard_duckdb.py DATA_DIR QUERIES.json VIEWS.json [RUNS]"""
import json
import math
import statistics
import sys
import time

import duckdb


def checksum(rows, description):
    total = 0.0
    for row in rows:
        for value in row:
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value is not None:
                if isinstance(value, float) and math.isnan(value):
                    continue
                total += float(value)
    return total


def main():
    data_dir, queries_path, views_path = sys.argv[1:4]
    runs = int(sys.argv[4]) if len(sys.argv) > 4 else 7
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        f"CREATE VIEW aggregates AS SELECT * FROM read_parquet('{data_dir}/aggregates/**/*.parquet', hive_partitioning = false)"
    )
    for view in json.load(open(views_path)):
        con.execute(f"CREATE VIEW {view['name']} AS {view['sql']}")
    for q in json.load(open(queries_path)):
        times = []
        rows = None
        for _ in range(runs):
            started = time.perf_counter()
            rows = con.execute(q["sql"]).fetchall()
            times.append((time.perf_counter() - started) * 1000.0)
        print(json.dumps({
            "engine": "duckdb", "name": q["name"], "median_ms": statistics.median(times), "times_ms": times,
            "rows": len(rows), "checksum": checksum(rows, None),
        }), flush=True)


if __name__ == "__main__":
    main()
