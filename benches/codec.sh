#!/usr/bin/env bash
# Instruction counts of the grest-ws codec hot path, measured with callgrind: deterministic, so a regression of a
# few percent shows without timing noise. Usage: benches/codec.sh [N]   (default N=20000 iterations)
# Prints instructions per operation: (Ir with N iterations − Ir with 0) / N.
set -euo pipefail
cd "$(dirname "$0")"
n="${1:-20000}"
cargo build --release --quiet --bin codec-count
bin=target/release/codec-count
count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
printf '| operation | instructions/op |\n|---|---|\n'
for op in $("$bin" list); do
  base=$(count "$op" 0)
  total=$(count "$op" "$n")
  awk -v a="$total" -v b="$base" -v n="$n" -v op="$op" 'BEGIN { printf "| %s | %.0f |\n", op, (a - b) / n }'
done
