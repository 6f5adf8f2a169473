#!/usr/bin/env bash
# Side-by-side peer benchmark: logpulse vs mtail vs a bare Hyperscan scan, on one
# generated nginx-like file and equivalent rule sets (engine/tests/common/workload.rs,
# written out by `engine/examples/gen_workload.rs`).
#
#   scripts/bench-peers.sh
#
# Settings (environment):
#   LINES=1000000        lines in the generated log (~168 bytes each)
#   RULE_SETS="100 1000" rule-set sizes
#   RUNS=5               timed runs per command under hyperfine (after 1 warm-up run)
#   MTAIL_LINES=100000   mtail is far slower: it reads only this prefix of the log
#   MTAIL_RUNS=3         timed mtail runs (no warm-up)
#   OUT=target/bench-peers.md   the markdown report is appended here (and printed)
#   WORK=target/bench-peers     generated data, hyperfine JSON, raw outputs
#   BUILD=1              0: do not run cargo (use the existing release binaries)
#
# What is timed (wall clock, median of the runs; CPU = mean user+sys):
#   floor      `cat lines.log` and `wc -l lines.log` (output to /dev/null)
#   logpulse   `logpulse replay -r rules-N.toml -s app lines.log > /dev/null` (a copy of
#              target/release/logpulse taken at the start, in WORK)
#              (raw lines without a time regex: event time = read time)
#   logpulse (time parsed)  the same with rules-N-timed.toml, whose stream parses each
#              line's `[26/Nov/2026:00:00:00 +0000]` with a time regex and format
#   hyperscan  `target/hs_scan patterns-N.txt lines.log` (bench/hs_scan.c: hs_scan once per
#              line, HS_FLAG_SINGLEMATCH, per-pattern counters; the process time includes
#              compiling the database and reading the file, as logpulse's does)
#   mtail      `mtail --one_shot --progs DIR --logs lines-MTAIL_LINES.log` on the prefix
# Each tool is also timed on an empty log ("startup": compiling the rules), so the report
# gives lines/s both for the whole process and after startup (lines ÷ (wall - startup)).
#
# Checked (untimed runs, or every mtail run): for every rule, the sum of `count` over all
# windows of logpulse's CSV equals Hyperscan's line count for that pattern (whole file),
# and mtail's counter equals logpulse's and Hyperscan's on the prefix. Any difference
# prints MISMATCH and the script exits 1 after writing the report.
set -euo pipefail
cd "$(dirname "$0")/.."

LINES=${LINES:-1000000}
RULE_SETS=${RULE_SETS:-"100 1000"}
RUNS=${RUNS:-5}
MTAIL_LINES=${MTAIL_LINES:-100000}
MTAIL_RUNS=${MTAIL_RUNS:-3}
OUT=${OUT:-target/bench-peers.md}
WORK=${WORK:-target/bench-peers}
BUILD=${BUILD:-1}

LOGPULSE=target/release/logpulse
GEN=target/release/examples/gen_workload
HS=target/hs_scan
DATA=$WORK/data-$LINES
LOG=$DATA/lines.log
PREFIX=$DATA/lines-$MTAIL_LINES.log
EMPTY=$DATA/empty.log
mkdir -p "$WORK/json" "$WORK/out" "$DATA"

for tool in hyperfine mtail cc jq awk; do
    command -v "$tool" >/dev/null || { echo "bench-peers: $tool not found" >&2; exit 1; }
done
[ -f /usr/include/hs/hs.h ] || { echo "bench-peers: Hyperscan headers missing (apt-get install libhyperscan-dev)" >&2; exit 1; }

say() { echo "== $*" >&2; }

# ---- build (one cargo at a time: the machine is shared) --------------------------------
if [ "$BUILD" = 1 ]; then
    say "cargo build --release (logpulse, then gen_workload)"
    cargo build --release -q -p logpulse --bin logpulse
    cargo build --release -q -p engine --example gen_workload
fi
[ -x "$LOGPULSE" ] && [ -x "$GEN" ] || { echo "bench-peers: build $LOGPULSE and $GEN first" >&2; exit 1; }
# Benchmark a private copy: others' cargo runs may relink target/release/logpulse mid-run.
cp -p "$LOGPULSE" "$WORK/logpulse"
LOGPULSE_BUILT=$(date -u -r "$LOGPULSE" '+%Y-%m-%d %H:%M:%S UTC')
LOGPULSE=$WORK/logpulse
say "cc -O2 bench/hs_scan.c -lhs -o $HS"
cc -O2 -Wall bench/hs_scan.c -lhs -o "$HS"

# ---- data (deterministic; regenerated each run so it always matches workload.rs) -------
say "generating $LINES lines and rule sets: $RULE_SETS"
rm -f "$LOG"
for n in $RULE_SETS; do "$GEN" "$LINES" "$n" "$DATA"; done
head -n "$MTAIL_LINES" "$LOG" > "$PREFIX"
: > "$EMPTY"
LOG_LINES=$(wc -l < "$LOG")
LOG_BYTES=$(stat -c %s "$LOG")
PREFIX_LINES=$(wc -l < "$PREFIX")
[ "$LOG_LINES" = "$LINES" ] || { echo "bench-peers: $LOG has $LOG_LINES lines, expected $LINES" >&2; exit 1; }

# ---- helpers ---------------------------------------------------------------------------
MISMATCHES=0
ROWS=()      # "rules|tool|lines|median wall|mean cpu|startup median wall"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# hf NAME CMD...: hyperfine it; sets MED (median wall s) and CPU (mean user+sys s).
hf() {
    local name=$1; shift
    local json=$WORK/json/$name.json
    hyperfine -N --style basic --warmup 1 --runs "$RUNS" --export-json "$json" -n "$name" "$*" >&2
    MED=$(jq '(.results[0].times|sort) as $t | ($t|length) as $n
              | if $n%2==1 then $t[($n-1)/2] else ($t[$n/2-1]+$t[$n/2])/2 end' "$json")
    CPU=$(jq '.results[0].user + .results[0].system' "$json")
}

# lp_counts CSV: "rule count" per rule, count summed over all windows, hosts and keys.
# count is the 4th column from the end (key may hold commas; sum/min/max never do).
lp_counts() { awk -F, 'NR>1 { c[$1] += $(NF-3) } END { for (r in c) print r, c[r] }' "$1" | sort; }

# mtail_counts PROMETHEUS_OUT: "rule count".
mtail_counts() { grep -v '^#' "$1" | sed 's/{[^}]*}//' | awk '{ print $1, $2 }' | sort; }

# check N LABEL_A FILE_A LABEL_B FILE_B: every rule r0..r(N-1) has the same count in both
# (a rule missing from a file counts 0: logpulse emits no row for a rule that never matched).
check() {
    local n=$1 la=$2 fa=$3 lb=$4 lb_file=$5 diffs
    diffs=$(awk -v n="$n" 'FNR==NR { a[$1] = $2; next } { b[$1] = $2 }
        END { for (i = 0; i < n; i++) { r = "r" i; if (a[r]+0 != b[r]+0) print r, a[r]+0, b[r]+0 }
              for (r in a) if (!(r ~ /^r[0-9]+$/) || substr(r,2)+0 >= n) print r, a[r]+0, "(unknown rule)"
              for (r in b) if (!(r ~ /^r[0-9]+$/) || substr(r,2)+0 >= n) print r, "(unknown rule)", b[r]+0 }' "$fa" "$lb_file")
    if [ -n "$diffs" ]; then
        MISMATCHES=$((MISMATCHES + 1))
        {
            echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
            echo "!!! MISMATCH ($n rules): $la vs $lb — rule, $la count, $lb count, pattern:"
            echo "$diffs" | head -20 | while read -r r ca cb; do
                i=${r#r}
                pat=$( [[ $i =~ ^[0-9]+$ ]] && sed -n "$((i + 1))p" "$DATA/patterns-$n.txt" || true)
                echo "!!!   $r  $ca  $cb   /$pat/"
            done
            echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
        } >&2
        CHECKS+=("$n rules: $la vs $lb: **MISMATCH** on $(echo "$diffs" | wc -l) rules (first: $(echo "$diffs" | head -1))")
    else
        CHECKS+=("$n rules: $la = $lb on all $n rules (total $(awk '{ s += $2 } END { print s }' "$fa") line matches)")
    fi
}
CHECKS=()

# time_mtail N LOG TAG: MTAIL_RUNS one-shot runs; sets MED and CPU like hf. On the prefix,
# every run's counters are checked (against logpulse and Hyperscan on the same prefix).
time_mtail() {
    local n=$1 log=$2 tag=$3 out=$WORK/out run
    local times=$out/mtail-$n-$tag.times prom=$out/mtail-$n-$tag.prom counts=$out/mtail-$n-$tag.counts
    : > "$times"
    for run in $(seq "$MTAIL_RUNS"); do
        TIMEFORMAT='%R %U %S'
        { time mtail --one_shot --one_shot_format prometheus --progs "$WORK/mtail-progs-$n" --logs "$log" \
              --address 127.0.0.1 --port 0 --logtostderr > "$prom" 2> "$out/mtail-$n-$tag.stderr" ; } 2>> "$times"
        echo "   mtail $tag run $run: $(tail -1 "$times" | awk '{ printf "%.2f s wall, %.2f s CPU", $1, $2 + $3 }')" >&2
        [ "$tag" = prefix ] || continue
        mtail_counts "$prom" > "$counts"
        if [ "$run" = 1 ]; then
            check "$n" "logpulse (prefix)" "$out/logpulse-$n-prefix.counts" mtail "$counts"
            check "$n" "hyperscan (prefix)" "$out/hs-$n-prefix.counts" mtail "$counts"
            cp "$counts" "$counts.1"
        elif ! cmp -s "$counts" "$counts.1"; then
            MISMATCHES=$((MISMATCHES + 1))
            echo "!!! MISMATCH: mtail run $run counted differently from run 1 ($n rules)" >&2
            CHECKS+=("$n rules: mtail run $run: **MISMATCH** with run 1")
        fi
    done
    MED=$(awk '{ print $1 }' "$times" | sort -g | awk '{ t[NR] = $1 } END { print (NR % 2) ? t[(NR+1)/2] : (t[NR/2] + t[NR/2+1]) / 2 }')
    CPU=$(awk '{ s += $2 + $3 } END { print s / NR }' "$times")
}

# ---- floor -----------------------------------------------------------------------------
say "floor: cat / wc -l"
hf floor-cat cat "$LOG";       ROWS+=("-|cat (floor)|$LINES|$MED|$CPU|0")
hf floor-wc wc -l "$LOG";      ROWS+=("-|wc -l (floor)|$LINES|$MED|$CPU|0")

HS_NOTES=()
for n in $RULE_SETS; do
    rules=$DATA/rules-$n.toml timed=$DATA/rules-$n-timed.toml patterns=$DATA/patterns-$n.txt
    out=$WORK/out

    # -- correctness: logpulse vs Hyperscan on the whole file; logpulse on the prefix (for mtail)
    say "$n rules: counting runs (untimed)"
    "$LOGPULSE" replay -r "$rules" -s app "$LOG" > "$out/logpulse-$n.csv" 2> "$out/logpulse-$n.stderr"
    lp_counts "$out/logpulse-$n.csv" > "$out/logpulse-$n.counts"
    "$HS" "$patterns" "$LOG" "$out/hs-$n.counts" 2> "$out/hs-$n.stderr"
    HS_NOTES+=("$n rules: $(cat "$out/hs-$n.stderr")")
    check "$n" logpulse "$out/logpulse-$n.counts" hyperscan "$out/hs-$n.counts"
    "$LOGPULSE" replay -r "$timed" -s app "$LOG" > "$out/logpulse-$n-timed.csv" 2> "$out/logpulse-$n-timed.stderr"
    lp_counts "$out/logpulse-$n-timed.csv" > "$out/logpulse-$n-timed.counts"
    check "$n" "logpulse (time parsed)" "$out/logpulse-$n-timed.counts" hyperscan "$out/hs-$n.counts"
    "$LOGPULSE" replay -r "$rules" -s app "$PREFIX" > "$out/logpulse-$n-prefix.csv" 2> /dev/null
    lp_counts "$out/logpulse-$n-prefix.csv" > "$out/logpulse-$n-prefix.counts"
    "$HS" "$patterns" "$PREFIX" "$out/hs-$n-prefix.counts" 2> /dev/null

    # -- timed
    say "$n rules: logpulse"
    hf "logpulse-$n-startup" "$LOGPULSE" replay -r "$rules" -s app "$EMPTY"; START=$MED
    hf "logpulse-$n" "$LOGPULSE" replay -r "$rules" -s app "$LOG"
    ROWS+=("$n|logpulse|$LINES|$MED|$CPU|$START")
    hf "logpulse-$n-timed-startup" "$LOGPULSE" replay -r "$timed" -s app "$EMPTY"; START=$MED
    hf "logpulse-$n-timed" "$LOGPULSE" replay -r "$timed" -s app "$LOG"
    ROWS+=("$n|logpulse (time parsed)|$LINES|$MED|$CPU|$START")
    say "$n rules: hyperscan"
    hf "hyperscan-$n-startup" "$HS" "$patterns" "$EMPTY" /dev/null; START=$MED
    hf "hyperscan-$n" "$HS" "$patterns" "$LOG" /dev/null
    ROWS+=("$n|hyperscan (hs_scan)|$LINES|$MED|$CPU|$START")

    say "$n rules: mtail on an empty log, then on the first $PREFIX_LINES lines, $MTAIL_RUNS runs each"
    progs=$WORK/mtail-progs-$n
    rm -rf "$progs"; mkdir -p "$progs"; cp "$DATA/rules-$n.mtail" "$progs/"
    time_mtail "$n" "$EMPTY" startup; START=$MED
    time_mtail "$n" "$PREFIX" prefix
    ROWS+=("$n|mtail (prefix)|$PREFIX_LINES|$MED|$CPU|$START")
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- report ----------------------------------------------------------------------------
report() {
    local rev dirty
    rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
    dirty=$(git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo " (working tree modified)" || true)
    echo "### Peer benchmark, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo
    echo "Command: \`LINES=$LINES RULE_SETS=\"$RULE_SETS\" RUNS=$RUNS MTAIL_LINES=$MTAIL_LINES MTAIL_RUNS=$MTAIL_RUNS scripts/bench-peers.sh\`"
    echo "(logpulse $rev$dirty, binary built $LOGPULSE_BUILT, sha256 $(sha256sum "$LOGPULSE" | cut -c1-12); $(hyperfine --version); $(mtail --version 2>&1 | head -1 | cut -d' ' -f1-3);"
    echo "Hyperscan $(dpkg-query -W -f '${Version}' libhyperscan5 2>/dev/null || echo '?'); $(nproc) cores; load average $LOAD_START at start, $LOAD_END at end)."
    echo
    echo "Input: \`gen_workload $LINES N\` (engine/tests/common/workload.rs): $LOG_LINES nginx-like lines,"
    echo "$LOG_BYTES bytes ($(awk -v b="$LOG_BYTES" -v l="$LOG_LINES" 'BEGIN { printf "%.0f", b / l }') bytes/line), from the page cache; N rules = 10 hot + N-10 cold \`/svcN/\` rules."
    echo "Wall = median of $RUNS hyperfine runs after 1 warm-up (mtail: median of $MTAIL_RUNS runs, on the first"
    echo "$PREFIX_LINES lines only, because it is slow); CPU = mean user+sys. Startup = median wall on an empty log (compiling the rules). Ratio = logpulse lines/s ÷ that row's lines/s,"
    echo "same rule count (goals: ÷ mtail ≥ 25, ÷ hyperscan ≥ 0.8)."
    echo
    echo "| rules | tool | lines | wall s (median) | startup s | lines/s | lines/s after startup | CPU s | logpulse ÷ tool (wall) | logpulse ÷ tool (after startup) | logpulse ÷ tool (CPU) |"
    echo "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    local row rules tool lines med cpu st lp_lines lp_med lp_cpu lp_st
    for row in "${ROWS[@]}"; do
        IFS='|' read -r rules tool lines med cpu st <<< "$row"
        lp_lines=0 lp_med=0 lp_cpu=0 lp_st=0
        if [ "$rules" != "-" ]; then
            IFS='|' read -r _ _ lp_lines lp_med lp_cpu lp_st <<< "$(printf '%s\n' "${ROWS[@]}" | grep "^$rules|logpulse|")"
        fi
        awk -v r="$rules" -v t="$tool" -v l="$lines" -v m="$med" -v c="$cpu" -v s="$st" \
            -v ll="$lp_lines" -v lm="$lp_med" -v lc="$lp_cpu" -v ls="$lp_st" 'BEGIN {
            lps = l / m; cps = l / c; sps = (m > s) ? l / (m - s) : 0
            if (t == "logpulse" || r == "-") { rw = "—"; rs = "—"; rc = "—" }
            else {
                rw = sprintf("%.2f×", (ll / lm) / lps)
                rs = (sps > 0 && lm > ls) ? sprintf("%.2f×", (ll / (lm - ls)) / sps) : "?"
                rc = sprintf("%.2f×", (ll / lc) / cps)
            }
            printf "| %s | %s | %d | %.3f | %s | %.0f | %s | %.3f | %s | %s | %s |\n", r, t, l, m,
                (r == "-") ? "—" : sprintf("%.3f", s), lps, (r == "-") ? "—" : (sps > 0) ? sprintf("%.0f", sps) : "?", c, rw, rs, rc }'
    done
    echo
    echo 'With each line'"'"'s time parsed (`rules-N-timed.toml`: `time = { regex = '"'"'\[([^\]]+)\]'"'"', format = "%d/%b/%Y:%H:%M:%S %z" }`,'
    echo "so windows follow the lines' own times), as the issue's end-to-end goal asks:"
    echo
    local timed hs
    for rules in $RULE_SETS; do
        timed=$(printf '%s\n' "${ROWS[@]}" | grep "^$rules|logpulse (time parsed)|" | cut -d'|' -f4)
        hs=$(printf '%s\n' "${ROWS[@]}" | grep "^$rules|hyperscan" | cut -d'|' -f4)
        awk -v r="$rules" -v t="$timed" -v h="$hs" 'BEGIN { printf "- %s rules: logpulse (time parsed) ÷ hyperscan (wall) = %.2f×\n", r, h / t }'
    done
    echo
    echo "Hyperscan's own timers (one counting run each; \"read and scan\" is the hs_scan loop over the streamed log, without compile):"
    echo
    local note
    for note in "${HS_NOTES[@]}"; do echo "- $note"; done
    echo
    echo "Counts checked:"
    echo
    for note in "${CHECKS[@]}"; do echo "- $note"; done
    [ "$MISMATCHES" = 0 ] || { echo; echo "**$MISMATCHES MISMATCH(ES): see above.**"; }
    echo
}
report | tee -a "$OUT"
say "appended to $OUT"
if [ "$MISMATCHES" != 0 ]; then
    echo "!!! bench-peers: $MISMATCHES MISMATCH(ES) between logpulse and its peers (see above)" >&2
    exit 1
fi
