#!/usr/bin/env bash
# The Redis backplane's scaling simulation (issue 15): one redis-server and 4 grest-ws nodes on core 0, the clients
# on core 1; 100 to 4000 connections in one room, then a room with members on one node only. About 1–2 minutes
# after the build. Prints a Markdown table; options go to the binary (see benches/src/bin/scaling.rs), e.g.
#   benches/scaling.sh --nodes 4 --counts 100,400,1600,4000 --broadcasts 200 --solo 100
set -euo pipefail
cd "$(dirname "$0")"
cargo build --release --quiet --bins
ulimit -n 20000 2>/dev/null || true
exec taskset -c 1 target/release/scaling "$@"
