#!/usr/bin/env bash
# `just web`: installs the web inbox's packages when the lockfile changed, then builds it into
# web/dist, which the gateway serves at / (read from disk in debug builds, embedded in release).
set -euo pipefail
cd "$(dirname "$0")/../web"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
if [[ ! -d node_modules || package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run build --silent
