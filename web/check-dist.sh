#!/bin/sh
# Builds the front-end into a temporary folder and compares it with the checked-in web/dist.
# Exit 1 (with the differing files) when dist is stale: run `npm run build` and commit web/dist.
set -eu
cd "$(dirname "$0")"
if [ ! -d node_modules/esbuild ]; then
  echo "web/node_modules is missing: run 'cd web && npm ci' first" >&2
  exit 2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
node build.mjs --outdir "$tmp/dist" >/dev/null
if [ ! -d dist ]; then
  echo "web/dist is missing: run 'cd web && npm ci && npm run build' and commit web/dist" >&2
  exit 1
fi
if ! diff -r "$tmp/dist" dist >"$tmp/diff" 2>&1; then
  echo "web/dist does not match a fresh build of web/src:" >&2
  grep -E '^(Only in|Binary files|diff )' "$tmp/diff" >&2 || head -20 "$tmp/diff" >&2
  echo "run 'cd web && npm run build' and commit web/dist" >&2
  exit 1
fi
echo "web/dist is up to date"
