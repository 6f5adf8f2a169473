#!/usr/bin/env bash
# The one command that runs every test: installs what the tests need, then runs them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
cargo test --workspace --release --all-targets "$@"
