#!/usr/bin/env bash
# `just load` / `just chaos`: the whole fleet built in release and started as separate
# processes (as `just up` does), on private PostgreSQL, NATS and Redis started for the run
# (never the machine's own, which the chaos run restarts), driven from outside through the
# public edges by tools/load. Prints one table; data and logs stay in the work directory it
# names (INBOX_LOAD_WORK to choose it).
#
#   scripts/load.sh load  [--rates 500,1000,...] [--seconds 10] [--sockets 10000]
#   scripts/load.sh chaos [--rate 300] [--gap 8] [--short]
#   scripts/load.sh chaos --cluster          the clustered bus: three NATS nodes, each in its
#                                            own network namespace (needs root: ip netns)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"
for tool in nats-server redis-server; do
  command -v "$tool" >/dev/null || [[ -x /usr/sbin/$tool ]] || { echo "$tool missing: running scripts/bootstrap.sh"; scripts/bootstrap.sh; }
done
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || scripts/bootstrap.sh
echo "building the fleet (release)..."
cargo build --release --workspace --bins -q
# Ten thousand sockets on each side of the gateway.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec "${CARGO_TARGET_DIR:-$ROOT/target}/release/inbox-load" "$@"
