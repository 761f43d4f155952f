#!/usr/bin/env bash
# Runs the built test binaries of the given packages again with the clock moved ahead (a year by
# default), to prove that no test depends on the date it runs. libfaketime shifts the test
# process and every service binary it starts; PostgreSQL, NATS and Redis keep the real time, so
# this also catches a rule that mixes the service's clock with the database's `now()`.
#
#   scripts/test-a-year-ahead.sh [-p package]...      (default: the packages named below)
#   INBOX_CLOCK_OFFSET=+3650d scripts/test-a-year-ahead.sh -p inbox-conversation
#
# The binaries run directly, not through cargo (cargo itself hangs under libfaketime).
set -euo pipefail
cd "$(dirname "$0")/.."

offset="${INBOX_CLOCK_OFFSET:-+365d}"
packages=()
while (($#)); do
  case "$1" in
    -p) packages+=("-p" "$2"); shift 2 ;;
    *) echo "usage: $0 [-p package]..." >&2; exit 2 ;;
  esac
done
if ((${#packages[@]} == 0)); then
  packages=(-p inbox-conversation -p inbox-routing -p inbox-channel-ingest -p inbox-gateway -p inbox-e2e)
fi

command -v faketime >/dev/null || { echo "test-a-year-ahead: faketime is missing (scripts/bootstrap.sh installs it)" >&2; exit 1; }

# Compiled already by the normal test run; this only lists the executables.
mapfile -t binaries < <(cargo test --no-run --message-format=json "${packages[@]}" 2>/dev/null |
  python3 -c 'import json, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m.get("profile", {}).get("test"):
        print(m["executable"])')
((${#binaries[@]})) || { echo "test-a-year-ahead: no test binaries found" >&2; exit 1; }

# Left out: the tests whose clocks are other programs' (Chromium in the browser tests spins
# under libfaketime; demo and chaos start their own PostgreSQL, NATS and Redis, which would be
# shifted too; openapi drives the fleet from Python). The web app's own date rules are unit-tested
# with fixed clocks (vitest).
skipped=(web_inbox webchat_browser demo chaos openapi images)
kept=()
for bin in "${binaries[@]}"; do
  base=$(basename "$bin")
  name=${base%-*}
  if [[ " ${skipped[*]} " == *" $name "* ]]; then
    echo "test-a-year-ahead: not shifted: $name"
  else
    kept+=("$bin")
  fi
done
binaries=("${kept[@]}")
echo "test-a-year-ahead: ${#binaries[@]} test binaries with the clock at $offset"
failed=()
for bin in "${binaries[@]}"; do
  name=$(basename "$bin")
  # Monotonic time stays real so timers, timeouts and deadlines behave.
  if ! FAKETIME_DONT_FAKE_MONOTONIC=1 faketime -f "$offset" "$bin" --test-threads 2 -q >"/tmp/year-ahead-$name.log" 2>&1; then
    failed+=("$name")
    echo "test-a-year-ahead: FAILED $name"
    tail -n 60 "/tmp/year-ahead-$name.log"
  else
    grep -E '^test result' "/tmp/year-ahead-$name.log" | sed "s/^/test-a-year-ahead: $name: /"
  fi
done
if ((${#failed[@]})); then
  echo "test-a-year-ahead: ${#failed[@]} binaries failed at $offset: ${failed[*]}" >&2
  exit 1
fi
echo "test-a-year-ahead: every test passed with the clock at $offset"
