#!/usr/bin/env bash
# Kafka ingest benchmark: `logpulse run` with 1,000 rules against a bare rdkafka
# consumer (bench/bare_consumer.rs) on the same pre-loaded topic, in one run, on a
# tansu broker (sqlite storage) started here. Then the worker's memory (RSS) with
# ~100k open window cells.
#
#   scripts/bench-kafka.sh
#
# Settings (environment):
#   LINES=2000000       generated nginx-like lines (engine/tests/common/workload.rs, ~168 B each)
#   RULES=1000          rules (the workload's rule set on stream `app`: raw lines, so the
#                       event time is the Kafka timestamp and the host the message key)
#   PARTITIONS=2        topic partitions (the lines are split evenly, one host per partition)
#   LINES_PER_MESSAGE=100
#   RUNS=3              interleaved runs of each consumer
#   MEMORY=1            0: skip the memory run
#   OUT=target/bench-kafka.md   the markdown report is appended here (and printed)
#   WORK=target/bench-kafka     data, broker storage, worker data dirs and logs
#   BUILD=1             0: use the existing release binaries
#
# The memory run adds one rule to the rule set: every line's `/svcN/` service (20,000
# distinct) as the key, in a 1 h window sliding by 12 min, so each key is in 5 windows:
# ~100,000 open cells (all events fall in the same 5 windows unless loading the topic
# straddles a 12-minute boundary; the report gives the exact count from /metrics).
set -euo pipefail
cd "$(dirname "$0")/.."

LINES=${LINES:-2000000}
RULES=${RULES:-1000}
PARTITIONS=${PARTITIONS:-2}
LINES_PER_MESSAGE=${LINES_PER_MESSAGE:-100}
RUNS=${RUNS:-3}
MEMORY=${MEMORY:-1}
OUT=${OUT:-target/bench-kafka.md}
WORK=${WORK:-target/bench-kafka}
BUILD=${BUILD:-1}
export PATH="$PATH:$HOME/.cargo/bin"

say() { echo "== $*" >&2; }
command -v tansu >/dev/null || { echo "bench-kafka: tansu not found (scripts/install-test-deps.sh installs it)" >&2; exit 1; }

if [ "$BUILD" = 1 ]; then
    say "cargo build --release (logpulse, bare_consumer, gen_workload)"
    cargo build --release -q -p logpulse --bin logpulse --example bare_consumer
    cargo build --release -q -p engine --example gen_workload
fi
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
# Private copies: other cargo runs may relink target/release/* mid-benchmark.
cp -p target/release/logpulse target/release/examples/bare_consumer target/release/examples/gen_workload "$WORK/"

DATA=$WORK/data-$LINES
say "generating $LINES lines and $RULES rules"
"$WORK/gen_workload" "$LINES" "$RULES" "$DATA"
RULES_FILE=$DATA/rules-$RULES.toml
MEMORY_RULES=$DATA/rules-$RULES-memory.toml
cp "$RULES_FILE" "$MEMORY_RULES"
cat >> "$MEMORY_RULES" <<'EOF'
[[rule]]
name = "by_service"
stream = "app"
regex = '/svc(?P<service>\d+)/'
group_by = ["service"]
window = "1h"
slide = "12m"
EOF
"$WORK/logpulse" check "$MEMORY_RULES" > /dev/null

# A fresh broker each run: the topic holds exactly this data.
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BROKER=127.0.0.1:$PORT
rm -rf "$WORK/broker" && mkdir -p "$WORK/broker"
say "starting tansu on $BROKER"
tansu broker --listener-url "tcp://$BROKER" --advertised-listener-url "tcp://$BROKER" \
    --storage-engine "sqlite:///$WORK/broker/tansu.db" > "$WORK/broker/broker.log" 2>&1 &
TANSU=$!
trap 'kill $TANSU 2>/dev/null || true' EXIT
for _ in $(seq 200); do (echo > "/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.05; done
tansu topic create bench --partitions "$PARTITIONS" --broker "tcp://$BROKER" > /dev/null

say "loading the topic: $LINES lines, $LINES_PER_MESSAGE per message, $PARTITIONS partitions"
split -n "l/$PARTITIONS" -d "$DATA/lines.log" "$WORK/part-"
load_start=$(date +%s.%N)
p=0
for part in "$WORK"/part-*; do
    "$WORK/logpulse" produce -b "$BROKER" -t bench --partition "$p" --host "bench-$p" \
        --lines-per-message "$LINES_PER_MESSAGE" "$part" 2> "$WORK/produce-$p.log"
    p=$((p + 1))
done
load_s=$(echo "$(date +%s.%N) - $load_start" | bc)
MESSAGES=0
for part in "$WORK"/part-*; do
    n=$(wc -l < "$part")
    MESSAGES=$((MESSAGES + (n + LINES_PER_MESSAGE - 1) / LINES_PER_MESSAGE))
done
rm -f "$WORK"/part-*
BYTES=$(stat -c %s "$DATA/lines.log")
say "loaded $MESSAGES messages in $load_s s"

HEADER="### Run of $(date -u '+%Y-%m-%d %H:%M UTC') at commit $(git rev-parse --short HEAD)

\`LINES=$LINES RULES=$RULES PARTITIONS=$PARTITIONS LINES_PER_MESSAGE=$LINES_PER_MESSAGE RUNS=$RUNS scripts/bench-kafka.sh\`:
$LINES lines ($BYTES bytes) in $MESSAGES messages on $PARTITIONS partitions of tansu $(tansu --version | awk '{print $2}') (sqlite), loaded by \`logpulse produce\` in ${load_s%.*} s; $RULES rules.
"
memory_args=()
[ "$MEMORY" = 1 ] && memory_args=(--memory-rules "$MEMORY_RULES")
python3 bench/kafka_bench.py --logpulse "$WORK/logpulse" --bare "$WORK/bare_consumer" --brokers "$BROKER" \
    --topic bench --stream app --rules "$RULES_FILE" --messages "$MESSAGES" --work "$WORK" --runs "$RUNS" \
    --out "$OUT" --header "$HEADER" "${memory_args[@]}"
