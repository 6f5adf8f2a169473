#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine; skips what is there.
set -euo pipefail

need_apt=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need_apt+=(nginx)
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "install-test-deps: apt-get install ${need_apt[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
# nginx from Debian starts a service on install on some images; the tests run their own.
python3 -c 'import msgpack' 2>/dev/null || {
    echo "install-test-deps: pip install msgpack" >&2
    python3 -m pip install -q msgpack
}
# DuckDB: the independent Parquet reader the storage tests compare logpulse sql with.
python3 -c 'import duckdb' 2>/dev/null || {
    echo "install-test-deps: pip install duckdb" >&2
    python3 -m pip install -q duckdb
}
