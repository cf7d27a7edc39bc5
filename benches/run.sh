#!/usr/bin/env bash
# The grest-ws benchmark suite. Usage: benches/run.sh quick|full [runner options]
#   quick: < 3 minutes after the build; full: ~15 minutes. Writes bench-results.json at the repository root and
#   prints Markdown tables. Options: --only s1,s2,... (scenario prefixes), --peers raw,grest-ws,... , --out PATH.
# The codec instruction counts (callgrind) are a separate script: benches/codec.sh
set -euo pipefail
cd "$(dirname "$0")"
mode="${1:-quick}"
shift || true
cargo build --release --quiet --bins
ulimit -n 20000 2>/dev/null || true
exec target/release/runner "$mode" "$@"
