#!/usr/bin/env bash
# Fuzz every target of fuzz/ for SECONDS_PER_TARGET seconds (default 600), two at a time.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`). Only stable Rust is installed, so
# every `cargo fuzz` runs with RUSTC_BOOTSTRAP=1 for the nightly flags it passes.
# Environment:
#   FUZZ_SANITIZER  address (default) | none   (cargo fuzz --sanitizer)
#   FUZZ_JOBS       targets run at once (default 2)
#   FUZZ_TARGETS    space-separated subset of the targets (default: all four)
#   FUZZ_KEEP_GOING 1: run libFuzzer in fork mode (-fork=1 -ignore_crashes/timeouts/ooms=1), so a
#                   target keeps fuzzing past a finding (and past a known-bad regression seed)
#
# Each run starts from fuzz/seeds/<target>/ copied into the (gitignored) fuzz/corpus/<target>/,
# grows that corpus, and writes crashes, hangs (-timeout=10) and OOMs (-rss_limit_mb=2048) to
# fuzz/artifacts/<target>/. Logs are in fuzz/logs/<target>.log. The fuzzers run under
# `nice -n 10`: the machine is shared. Exit code 1 if any target found something.
set -euo pipefail

SECONDS_PER_TARGET=${1:-600}
SANITIZER=${FUZZ_SANITIZER:-address}
JOBS=${FUZZ_JOBS:-2}
KEEP_GOING=${FUZZ_KEEP_GOING:-0}
TARGETS=(${FUZZ_TARGETS:-rule_file nginx_format filter_expr qalarm_msgpack})

ROOT=$(cd "$(dirname "$0")/.." && pwd)
FUZZ="$ROOT/fuzz"
LOGS="$FUZZ/logs"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2
    exit 2
fi

cd "$ROOT"
mkdir -p "$LOGS"
echo "building ${TARGETS[*]} (sanitizer: $SANITIZER)"
for t in "${TARGETS[@]}"; do
    nice -n 10 cargo fuzz build --sanitizer "$SANITIZER" "$t"
done

# Artifacts already there before this run are not new findings.
declare -A BEFORE
for t in "${TARGETS[@]}"; do
    mkdir -p "$FUZZ/corpus/$t" "$FUZZ/artifacts/$t"
    cp -n "$FUZZ/seeds/$t/"* "$FUZZ/corpus/$t/" 2>/dev/null || true
    BEFORE[$t]=$(find "$FUZZ/artifacts/$t" -type f | sort)
done

MODE=()
if [[ $KEEP_GOING == 1 ]]; then
    MODE=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
fi

run_target() {
    local t=$1
    # -print_final_stats=1: execs and exec/s at the end, also after a crash.
    nice -n 10 cargo fuzz run --sanitizer "$SANITIZER" "$t" "$FUZZ/corpus/$t" -- \
        -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 "${MODE[@]}" \
        >"$LOGS/$t.log" 2>&1 || true
}

echo "fuzzing ${#TARGETS[@]} targets for ${SECONDS_PER_TARGET}s each, $JOBS at a time; logs in $LOGS"
running=0
for t in "${TARGETS[@]}"; do
    if ((running >= JOBS)); then
        wait -n || true
        running=$((running - 1))
    fi
    echo "$(date +%T) start $t"
    run_target "$t" &
    running=$((running + 1))
done
wait

found=0
echo
for t in "${TARGETS[@]}"; do
    log="$LOGS/$t.log"
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
    # libFuzzer's last status line: "#N  DONE|pulse|NEW ... cov: C ft: F corp: U/S ... exec/s: E"
    # (fork mode: "#N: cov: C ft: F corp: U exec/s: E oom/timeout/crash: ...").
    status=$(grep -E '^#[0-9]+:?[[:space:]]' "$log" | tail -1 || true)
    if [[ -z $execs ]]; then
        execs=$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$status")
        rate=$(sed -nE 's/.* exec\/s: ([0-9]+).*/\1/p' <<<"$status")
    fi
    cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$status")
    ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$status")
    corp=$(sed -nE 's/.* corp: ([0-9]+(\/[0-9]+[a-zA-Z]*)?).*/\1/p' <<<"$status")
    new=$(comm -13 <(printf '%s\n' "${BEFORE[$t]}") <(find "$FUZZ/artifacts/$t" -type f | sort) |
        grep -E '/(crash|timeout|oom|leak)-[^/]*$' || true)
    crashes=$(grep -c . <<<"$new" || true)
    printf '%-15s execs=%s exec/s=%s cov=%s ft=%s corp=%s peak_rss_mb=%s crashes=%s\n' \
        "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "${rss:-?}" "$crashes"
    if ((crashes > 0)); then
        found=1
        sed 's/^/    /' <<<"$new"
        grep -m1 -E 'panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer' "$log" | sed 's/^/    /' || true
    fi
done
exit $found
