#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine; skips what is there.
set -euo pipefail

need_apt=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need_apt+=(nginx)
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
# The page's browser tests (tests/web_views.rs) drive Debian's chromium with playwright-core.
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
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
# tansu: the Kafka-protocol broker the worker tests run against (sqlite storage). Built
# from crates.io, so cached: skipped when `tansu --version` answers. Built at opt-level 1
# without LTO, which roughly halves its build on 2 cores; the broker is not what the
# benchmarks measure (they compare logpulse with a bare consumer of the same broker).
export PATH="$HOME/.cargo/bin:$PATH"
tansu --version >/dev/null 2>&1 || {
    echo "install-test-deps: cargo install tansu (takes several minutes, once)" >&2
    CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=true \
        cargo install tansu --version 0.6.0 --locked --features libsql
}
# The page's build tools and playwright-core, exactly as web/package-lock.json pins them.
# `npm ci` is skipped when node_modules was installed from this very lock file.
if ! cmp -s web/package-lock.json web/node_modules/.installed-from-lock 2>/dev/null; then
    echo "install-test-deps: npm ci (web/)" >&2
    (cd web && npm ci --no-audit --no-fund --loglevel=error)
    cp web/package-lock.json web/node_modules/.installed-from-lock
fi
