#!/usr/bin/env bash
# Fuzz the fleet's edges with cargo-fuzz (libFuzzer): the WhatsApp webhook payload and its
# signature, Twilio callbacks and their signature, web chat visitor input, the search query
# language. Targets live in fuzz/ (a workspace of its own); seeds in fuzz/seeds/<target>.
#
#   scripts/fuzz.sh                 every target for 10 s (the short run of `just test`)
#   scripts/fuzz.sh 600             every target for 10 minutes
#   scripts/fuzz.sh 3600 search_query
#   FUZZ_SANITIZER=address scripts/fuzz.sh 600   with AddressSanitizer (slower; the code is
#                                                 safe Rust, so panics are what is hunted)
#
# cargo-fuzz wants nightly flags (-Zsanitizer, sancov passes): on the stable toolchain they are
# allowed with RUSTC_BOOTSTRAP=1. A crash stops the run and leaves its input under
# fuzz/artifacts/<target>/: fix it, and keep the input as a regression test in the crate that
# owns the parser.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"
SECONDS_PER_TARGET="${1:-10}"
shift || true
TARGETS=("$@")
((${#TARGETS[@]})) || TARGETS=(whatsapp_payload twilio_callback webchat_input search_query)

if ! cargo fuzz --help >/dev/null 2>&1; then
  echo "installing cargo-fuzz (cargo install cargo-fuzz --locked)..."
  cargo install cargo-fuzz --locked -q
fi
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/fuzz"
SANITIZER="${FUZZ_SANITIZER:-none}"
for target in "${TARGETS[@]}"; do
  mkdir -p "fuzz/corpus/$target"
  echo "fuzz: $target for ${SECONDS_PER_TARGET}s (sanitizer: $SANITIZER)"
  cargo fuzz run --fuzz-dir fuzz --sanitizer "$SANITIZER" --debug-assertions "$target" \
    "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
    -max_total_time="$SECONDS_PER_TARGET" -max_len=65536 -timeout=10 -print_final_stats=1 2>&1 \
    | grep -E "^(#[0-9]+ *DONE|stat::number_of_executed_units|stat::peak_rss|==[0-9]+==|thread '|SUMMARY|Test unit written|panicked|.*Running)" || true
  if compgen -G "fuzz/artifacts/$target/crash-*" >/dev/null; then
    echo "fuzz: $target found a crash: $(ls fuzz/artifacts/$target/crash-* | head -1)" >&2
    exit 1
  fi
done
echo "fuzz: no crash in ${#TARGETS[@]} target(s)"
