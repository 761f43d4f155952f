# Everyday verbs. Start with `scripts/bootstrap.sh` on a fresh machine (installs just itself).

set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes.
default:
    @just --list

# Run the whole fleet locally with a living demo (a seeded tenant, simulated customers, the reference AI
# agent). `just up --quiet`: without simulated customers. Ctrl-C stops it.
up *args:
    scripts/web.sh
    scripts/up.sh {{args}}

# Build the web inbox into web/dist (the gateway serves it at /).
web:
    scripts/web.sh

# Every test: the web inbox's unit tests; unit, integration (real PostgreSQL, NATS, Redis), end-to-end over the
# built binaries and the web inbox in headless Chromium; the Helm chart;
# then the service and end-to-end tests again with the clock a year ahead.
test:
    scripts/web.sh
    cd web && npm test --silent
    cargo build --workspace --bins
    cargo test --workspace
    scripts/fuzz.sh 10
    just test-chart
    just test-a-year-ahead

# The built test binaries again under libfaketime (default +365d; `just test-a-year-ahead -p inbox-routing`).
test-a-year-ahead *packages:
    scripts/test-a-year-ahead.sh {{packages}}

# Container images of the seven services and inboxctl (FROM scratch, non-root, no shell), built without a
# Docker engine into target/images/ and loaded into Docker when one answers. `INBOX_IMAGES_TAG=1.2.3 just images`.
images:
    scripts/images.sh

# Render, lint and validate the Helm chart offline.
test-chart:
    python3 -m pip install -q -r helm/requirements.txt 2>/dev/null || python3 -m pip install -q --break-system-packages -r helm/requirements.txt
    python3 -m pytest -q helm/test_chart.py

# Format the code.
fmt:
    cargo fmt --all

# Lint: formatting checked, clippy with warnings denied.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Benchmarks (release build): prints the measured table. `just bench list` runs one (bus, store, webhook, ingest, list, routing).
bench *which:
    cargo run --release -q -p inbox-bench -- {{which}}

# The whole fleet in release as processes, driven from outside at a ladder of rates (one replica each, then
# channel-ingest ×2 and conversation ×2) and 10,000 agent sockets: one table (docs/operations.md).
load *args:
    scripts/load.sh load {{args}}

# Steady traffic while a schedule of faults breaks the fleet; proves nothing lost or doubled and prints the time
# to heal per fault. `just chaos --cluster`: on a three-node NATS cluster (node killed, then partitioned).
chaos *args:
    scripts/load.sh chaos {{args}}

# Fuzz the edges (WhatsApp payload, Twilio callbacks, web chat input, search queries): `just fuzz 600` runs each
# target ten minutes.
fuzz seconds="60" *targets:
    scripts/fuzz.sh {{seconds}} {{targets}}
