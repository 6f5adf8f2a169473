#!/usr/bin/env bash
# The dashboard benchmark of issue 3 (BENCHMARKS.md, "Dashboard queries"): 24 h of
# 1-minute windows for 1,000 hosts x 20 rules (28.8M aggregate rows) written as Parquet
# by logpulse's own writer, then four dashboard queries timed in one run by logpulse
# (DataFusion, through QueryService) and by DuckDB (PyPI) over the same files.
#
#   scripts/bench-dashboard.sh [DATA_DIR] [RUNS]
#
# DATA_DIR defaults to target/bench-dashboard (generated once; delete it to regenerate).
# Layout knobs for gen_aggregates (LOGPULSE_BENCH_*) pass through the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-target/bench-dashboard}
RUNS=${2:-7}
python3 -c 'import duckdb' 2>/dev/null || pip install --quiet duckdb
# --workspace, like scripts/test.sh: the same feature set, so DataFusion is built once.
cargo build --release -q --workspace --examples
if [ ! -d "$DATA/aggregates" ]; then
  echo "generating $DATA ..." >&2
  target/release/examples/gen_aggregates "$DATA" 24 1000 20
fi
echo "data: $(du -sh "$DATA/aggregates" | cut -f1) in $(find "$DATA/aggregates" -name '*.parquet' | wc -l) files" >&2
VIEWS=$(mktemp); trap 'rm -f "$VIEWS" "$VIEWS.lp" "$VIEWS.dd"' EXIT
target/release/examples/dashboard_bench --views > "$VIEWS"
target/release/examples/dashboard_bench "$DATA" bench/dashboard_queries.json "$RUNS" | tee "$VIEWS.lp"
python3 bench/dashboard_duckdb.py "$(realpath "$DATA")" bench/dashboard_queries.json "$VIEWS" "$RUNS" | tee "$VIEWS.dd"
python3 - "$VIEWS.lp" "$VIEWS.dd" <<'PY'
import json, sys
lp = {j["name"]: j for j in map(json.loads, open(sys.argv[1]))}
dd = {j["name"]: j for j in map(json.loads, open(sys.argv[2]))}
print(f"\n{'query':30} {'logpulse ms':>12} {'duckdb ms':>10} {'ratio':>7}  same answer")
ok = True
for name, a in lp.items():
    b = dd[name]
    same = a["rows"] == b["rows"] and abs(a["checksum"] - b["checksum"]) <= 1e-9 * max(1.0, abs(b["checksum"]))
    ok &= same
    print(f"{name:30} {a['median_ms']:12.1f} {b['median_ms']:10.1f} {a['median_ms'] / b['median_ms']:6.2f}x  {same} ({a['rows']} rows)")
print("ratio = logpulse median / DuckDB median (lower is better; goal <= 1.5)")
sys.exit(0 if ok else 1)
PY
