#!/usr/bin/env bash
# Installs what `just up` and `just test` need on a fresh Debian machine with Rust: just,
# PostgreSQL, NATS server, Redis, Python's pip, Chromium and chromedriver (the web chat browser
# test), faketime (the year-ahead test run). Installs only what is missing; quiet when everything is there. Safe to run again.
set -euo pipefail

need_apt=()
command -v nats-server >/dev/null 2>&1 || [[ -x /usr/sbin/nats-server ]] || need_apt+=(nats-server)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need_apt+=(postgresql)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-pip)
python3 -m pip --version >/dev/null 2>&1 || need_apt+=(python3-pip)
# The OpenAPI conformance test makes its own virtual environment (Debian splits venv out).
python3 -c 'import ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
# The web inbox is built with Node.js and npm (scripts/web.sh; Vite needs Node.js 20.19 or later).
command -v npm >/dev/null 2>&1 || need_apt+=(nodejs npm)
# The web chat widget's browser test drives a real headless Chromium through chromedriver.
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
# The year-ahead test run moves the clock of the test binaries with libfaketime.
command -v faketime >/dev/null 2>&1 || need_apt+=(faketime)

if ((${#need_apt[@]})); then
  sudo=""
  [[ "$(id -u)" -eq 0 ]] || sudo="sudo"
  echo "bootstrap: installing ${need_apt[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null
  # Debian starts packaged servers on install; the fleet runs its own, so that is harmless.
fi

if ! command -v just >/dev/null 2>&1; then
  echo "bootstrap: installing just"
  # The PyPI wheel is a prebuilt just binary: seconds instead of a cargo build.
  python3 -m pip install -q rust-just 2>/dev/null || python3 -m pip install -q --break-system-packages rust-just 2>/dev/null \
    || cargo install --locked just
  hash -r
  command -v just >/dev/null 2>&1 || { echo "bootstrap: just was installed but is not on PATH (add ~/.local/bin or ~/.cargo/bin)"; exit 1; }
fi
