#!/usr/bin/env bash
# `just up [--quiet]`: the whole fleet on this machine with a living demo, nothing to configure.
#  1. Builds the seven services (and inboxctl, the simulator, the AI agent).
#  2. PostgreSQL, NATS (JetStream) and Redis: the ones named by INBOX_DEV_*_URL, else private
#     ones under .data/ on loopback (scripts/dev-infra.sh; packages installed when missing),
#     where each service is its own NATS and Redis user held to its subjects and keys.
#     Starts the seven services on 127.0.0.1 (gateway :8080 ... metrics :8086).
#  3. The simulator (tools/simulator, :8090) sets up a demo tenant once (people with passwords,
#     teams, WhatsApp, Twilio and web chat channels), seeds a few hundred past conversations
#     through the public edges, plays WhatsApp's and Twilio's APIs for the demo's channels and
#     serves the demo shop page; then keeps customers and colleagues busy (not with --quiet).
#  4. The reference AI agent (tools/ai-agent) answers customers first, with its API key.
#  5. Prints where to sign in, and with what.
# Ctrl-C stops everything it started.
#
# Settings (environment):
#   INBOX_UP_DATA_DIR       data, logs and secrets (default .data/)
#   INBOX_UP_BASE_PORT      gateway's port; the other services take the next six, gRPC +1000,
#                           the simulator +10 (default 8080)
#   INBOX_UP_BIN_DIR        use the binaries there, do not build (default: build target/$INBOX_PROFILE)
#   INBOX_PROFILE           debug (default) or release
#   INBOX_UP_CONVERSATIONS  past conversations seeded on a new demo tenant (default 260)
#   INBOX_UP_PACE           the simulated people's pace: 1 human, 0.1 ten times faster (default 1)
set -euo pipefail

QUIET=0
for arg in "$@"; do
  case "$arg" in
    --quiet|-q) QUIET=1 ;;
    -h|--help) sed -n '2,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $arg (only --quiet)" >&2; exit 2 ;;
  esac
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"
export INBOX_UP_DATA_DIR="${INBOX_UP_DATA_DIR:-$ROOT/.data}"
DATA="$INBOX_UP_DATA_DIR"
LOGS="$DATA/logs"
RUN="$DATA/run"
mkdir -p "$LOGS" "$RUN"
PROFILE="${INBOX_PROFILE:-debug}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
BASE="${INBOX_UP_BASE_PORT:-8080}"
HOST=127.0.0.1

declare -A HTTP=([gateway]=$BASE [channel-ingest]=$((BASE + 1)) [conversation]=$((BASE + 2)) [routing]=$((BASE + 3))
                 [notification]=$((BASE + 4)) [search]=$((BASE + 5)) [metrics]=$((BASE + 6)))
declare -A DB=([gateway]=inbox_gateway [channel-ingest]=inbox_ingest [conversation]=inbox_conversation [routing]=inbox_routing [notification]=inbox_notification [metrics]=inbox_metrics)
ORDER=(conversation channel-ingest routing notification search metrics gateway)
SIM_PORT=$((BASE + 10))
grpc_url() { echo "http://$HOST:$((HTTP[$1] + 1000))"; }
GATEWAY_URL="http://$HOST:${HTTP[gateway]}"
INGEST_URL="http://$HOST:${HTTP[channel-ingest]}"
SIM_URL="http://$HOST:$SIM_PORT"

port_taken() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }
for name in "${ORDER[@]}"; do
  port=${HTTP[$name]}
  if port_taken "$port" || port_taken "$((port + 1000))"; then
    echo "port $port or $((port + 1000)) is already in use: is another 'just up' running? (inbox-$name; INBOX_UP_BASE_PORT moves them)" >&2
    exit 1
  fi
done
if port_taken "$SIM_PORT"; then
  echo "port $SIM_PORT (the simulator) is already in use: is another 'just up' running?" >&2
  exit 1
fi

if [[ -n "${INBOX_UP_BIN_DIR:-}" ]]; then
  BIN="$INBOX_UP_BIN_DIR"
else
  BIN="$TARGET/$PROFILE"
  echo "building the fleet ($PROFILE)..."
  if [[ "$PROFILE" == release ]]; then cargo build --release --workspace --bins -q; else cargo build --workspace --bins -q; fi
fi
for bin in "${ORDER[@]/#/inbox-}" inboxctl inbox-simulator inbox-ai-agent; do
  [[ -x "$BIN/$bin" ]] || { echo "$BIN/$bin is missing: build the workspace's binaries first" >&2; exit 1; }
done

# Secrets are made once and kept, so tokens printed earlier stay valid across restarts.
SECRETS="$DATA/secrets.env"
rand() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
if [[ ! -f "$SECRETS" ]]; then
  (umask 077; cat > "$SECRETS" <<EOT
JWT_SECRET=$(rand)$(rand)
OPERATOR_TOKEN=$(rand)
EOT
  )
fi
# The key channel-ingest seals channel secrets with (added to secrets made before it existed).
if ! grep -q '^CHANNEL_SECRETS_KEY=' "$SECRETS"; then
  echo "CHANNEL_SECRETS_KEY=$(head -c 32 /dev/urandom | base64)" >>"$SECRETS"
fi
# Each service's own gRPC token (SERVICE_TOKEN_CHANNEL_INGEST=...), added when missing.
token_var() { local v=${1^^}; echo "SERVICE_TOKEN_${v//-/_}"; }
for name in "${ORDER[@]}"; do
  grep -q "^$(token_var "$name")=" "$SECRETS" || echo "$(token_var "$name")=$(rand)" >>"$SECRETS"
done
# Each service's own NATS user (NATS_PASSWORD_<NAME>) and, with Redis state, its own Redis
# ACL user (REDIS_PASSWORD_<NAME>), added when missing.
password_var() { local v=${2^^}; echo "${1}_PASSWORD_${v//-/_}"; }
# The services that keep state in Redis, each its own ACL user limited to its keys
# (inbox:<name>:*): the same list as libs/access (REDIS_NAMESPACES) and the chart.
REDIS_USERS=(gateway channel-ingest routing)
for name in "${ORDER[@]}"; do
  grep -q "^$(password_var NATS "$name")=" "$SECRETS" || echo "$(password_var NATS "$name")=$(rand)" >>"$SECRETS"
done
for name in "${REDIS_USERS[@]}"; do
  grep -q "^$(password_var REDIS "$name")=" "$SECRETS" || echo "$(password_var REDIS "$name")=$(rand)" >>"$SECRETS"
done
# shellcheck disable=SC1090
source "$SECRETS"
password_of() { local var; var=$(password_var "$1" "$2"); echo "${!var}"; }

# The private NATS and Redis admit each service as its own user, held to its subjects and keys
# (rendered by inboxctl from libs/access; docs/security.md): the NATS configuration holds the
# passwords (kept like secrets.env), Redis their SHA-256. Servers named by INBOX_DEV_*_URL are
# used as they are, and the services connect to them without credentials.
NATS_USERS=0
REDIS_ACL=0
if [[ -z "${INBOX_DEV_NATS_URL:-}" ]]; then
  NATS_USERS=1
  for name in "${ORDER[@]}"; do export "$(password_var NATS "$name")"; done
  (umask 077; "$BIN/inboxctl" fleet nats-authorization >"$RUN/nats-users.conf")
  export INBOX_DEV_NATS_CONFIG="$RUN/nats-users.conf"
fi
if [[ -z "${INBOX_DEV_REDIS_URL:-}" ]]; then
  REDIS_ACL=1
  for name in "${REDIS_USERS[@]}"; do export "$(password_var REDIS "$name")"; done
  (umask 077; "$BIN/inboxctl" fleet redis-acl --key-prefix inbox: >"$RUN/redis-users.acl")
  export INBOX_DEV_REDIS_ACLFILE="$RUN/redis-users.acl"
fi
scripts/dev-infra.sh start
eval "$(scripts/dev-infra.sh env)"
# Who calls whom over gRPC: each service admits exactly these callers, each known by its
# token's SHA-256 and held to what the callee grants it (docs/security.md).
declare -A CALLERS=([conversation]="gateway routing metrics search" [routing]="gateway notification search"
                    [channel-ingest]=gateway [notification]=gateway [search]=gateway [metrics]=gateway [gateway]="")
token_of() { local var; var=$(token_var "$1"); echo "${!var}"; }
callers_of() {
  local entries=() caller
  for caller in ${CALLERS[$1]}; do
    entries+=("$caller:$(printf '%s' "$(token_of "$caller")" | sha256sum | cut -c1-64)")
  done
  local IFS=,
  echo "${entries[*]}"
}

PIDS=()
stop_all() {
  trap - INT TERM EXIT
  echo
  echo "stopping the fleet..."
  # The simulated people first, then the services (they drain on SIGTERM), then the servers.
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  scripts/dev-infra.sh stop
  exit 0
}
trap stop_all INT TERM EXIT

for name in "${ORDER[@]}"; do
  http=${HTTP[$name]}
  env_vars=(
    "INBOX__HTTP__ADDR=$HOST:$http"
    "INBOX__GRPC__ADDR=$HOST:$((http + 1000))"
    # The admin listener (/metrics, the detailed /readyz): public port + 2000.
    "INBOX__HTTP__ADMIN_ADDR=$HOST:$((http + 2000))"
    # gRPC reflection for grpcurl while developing (off by default).
    "INBOX__GRPC__REFLECTION=true"
    "INBOX__NATS__URL=$INBOX_DEV_NATS_URL"
    "INBOX__AUTH__SERVICE_TOKEN=$(token_of "$name")"
    "INBOX__AUTH__CALLERS=$(callers_of "$name")"
    "INBOX__LOG__FORMAT=json"
  )
  [[ -n "${DB[$name]:-}" ]] && env_vars+=("INBOX__POSTGRES__URL=$INBOX_DEV_POSTGRES_URL/${DB[$name]}")
  ((NATS_USERS)) && env_vars+=("INBOX__NATS__USER=$name" "INBOX__NATS__PASSWORD=$(password_of NATS "$name")")
  if [[ " ${REDIS_USERS[*]} " == *" $name "* ]]; then
    env_vars+=("INBOX__REDIS__URL=$INBOX_DEV_REDIS_URL")
    ((REDIS_ACL)) && env_vars+=("INBOX__REDIS__USERNAME=$name" "INBOX__REDIS__PASSWORD=$(password_of REDIS "$name")")
  fi
  case "$name" in
    gateway)
      env_vars+=("INBOX__GATEWAY__JWT_SECRET=$JWT_SECRET"
                 "INBOX__GATEWAY__OPERATOR_TOKEN=$OPERATOR_TOKEN"
                 "INBOX__GATEWAY__CONVERSATION_URL=$(grpc_url conversation)"
                 "INBOX__GATEWAY__CHANNEL_INGEST_URL=$(grpc_url channel-ingest)"
                 "INBOX__GATEWAY__ROUTING_URL=$(grpc_url routing)"
                 "INBOX__GATEWAY__NOTIFICATION_URL=$(grpc_url notification)"
                 "INBOX__GATEWAY__SEARCH_URL=$(grpc_url search)"
                 "INBOX__GATEWAY__METRICS_URL=$(grpc_url metrics)"
                 # The simulator seeds a few hundred past conversations as a handful of people,
                 # as fast as the fleet takes them: the per-person request budget is raised.
                 "INBOX__GATEWAY__REQUESTS_PER_MINUTE_PER_USER=100000"
                 "INBOX__GATEWAY__REQUESTS_PER_MINUTE_PER_KEY=100000") ;;
    routing) env_vars+=("INBOX__ROUTING__CONVERSATION_URL=$(grpc_url conversation)") ;;
    # The simulator plays WhatsApp's Graph API and Twilio's REST API for the demo's channels.
    # Every simulated visitor comes from 127.0.0.1: the per-address web chat limits are raised.
    channel-ingest)
      env_vars+=("INBOX__SECRETS__KEYS=dev1:$CHANNEL_SECRETS_KEY" "INBOX__SECRETS__ACTIVE_KEY=dev1"
                 "INBOX__WHATSAPP__GRAPH_BASE_URL=$SIM_URL" "INBOX__TWILIO__API_BASE_URL=$SIM_URL"
                 "INBOX__TWILIO__PUBLIC_BASE_URL=$INGEST_URL"
                 "INBOX__WEBCHAT__ADDRESS_REQUESTS_PER_MINUTE=100000"
                 "INBOX__WEBCHAT__ADDRESS_REQUESTS_PER_MINUTE_ALL_WIDGETS=100000"
                 "INBOX__WEBCHAT__VISITORS_PER_ADDRESS_PER_HOUR=100000"
                 "INBOX__WEBCHAT__PAGE_VIEWS_PER_ADDRESS_PER_HOUR=1000000") ;;
    notification) env_vars+=("INBOX__NOTIFICATION__ROUTING_URL=$(grpc_url routing)") ;;
    metrics) env_vars+=("INBOX__METRICS__CONVERSATION_URL=$(grpc_url conversation)") ;;
    search) env_vars+=("INBOX__SEARCH__INDEX_DIR=$DATA/search"
                       "INBOX__SEARCH__CONVERSATION_URL=$(grpc_url conversation)"
                       "INBOX__SEARCH__ROUTING_URL=$(grpc_url routing)") ;;
  esac
  env "${env_vars[@]}" "$BIN/inbox-$name" >>"$LOGS/$name.log" 2>&1 &
  PIDS+=($!)
done

for name in "${ORDER[@]}"; do
  url="http://$HOST:${HTTP[$name]}/readyz"
  for _ in $(seq 1 300); do
    if curl -fsS -o /dev/null "$url" 2>/dev/null; then break; fi
    sleep 0.2
  done
  curl -fsS -o /dev/null "$url" || { echo "inbox-$name did not become ready; see $LOGS/$name.log" >&2; tail -n 20 "$LOGS/$name.log" >&2; exit 1; }
done
echo "the seven services are ready; setting up the demo..."

# The simulator: the demo tenant (once), its history (once), the providers' side, the people.
READY="$RUN/demo.ready"
SEEDED="$RUN/demo.seeded"
rm -f "$READY" "$SEEDED"
sim_args=(--gateway "$GATEWAY_URL" --ingest "$INGEST_URL" --twilio-public-base-url "$INGEST_URL"
          --listen "$HOST:$SIM_PORT" --state "$DATA/demo.json" --ready-file "$READY" --seeded-file "$SEEDED"
          --conversations "${INBOX_UP_CONVERSATIONS:-260}" --pace "${INBOX_UP_PACE:-1}")
((QUIET)) && sim_args+=(--quiet)
INBOX_OPERATOR_TOKEN="$OPERATOR_TOKEN" "$BIN/inbox-simulator" "${sim_args[@]}" >>"$LOGS/simulator.log" 2>&1 &
SIM_PID=$!
PIDS+=("$SIM_PID")
for _ in $(seq 1 1800); do
  [[ -s "$READY" ]] && break
  kill -0 "$SIM_PID" 2>/dev/null || { echo "the simulator stopped; see $LOGS/simulator.log" >&2; tail -n 20 "$LOGS/simulator.log" >&2; exit 1; }
  sleep 0.2
done
[[ -s "$READY" ]] || { echo "the demo was not set up within 6 minutes; see $LOGS/simulator.log" >&2; exit 1; }

# Everything the summary needs, from the demo's state.
demo() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {"d": d}))' "$READY" "$1"; }
AI_KEY=$(demo 'd["ai_api_key"]')
TENANT=$(demo 'd["tenant_id"]')
ADMIN_EMAIL=$(demo 'd["people"][0]["email"]')
ADMIN_PASSWORD=$(demo 'd["people"][0]["password"]')
PEOPLE=$(demo '"\n".join("    %-22s %-36s %s" % (p["email"], p["password"], p["role"]) for p in d["people"])')
PLANNED=${INBOX_UP_CONVERSATIONS:-260}
APP_SECRET=$(demo 'd["whatsapp_app_secret"]')
PHONE_NUMBER_ID=$(demo 'd["whatsapp_phone_number_id"]')
TWILIO_SID=$(demo 'd["twilio_account_sid"]')
TWILIO_TOKEN=$(demo 'd["twilio_auth_token"]')
TWILIO_NUMBER=$(demo 'd["twilio_number"]')

# The AI agent starts once the history is in (the seed writes the AI's past answers itself).
(
  until [[ -s "$SEEDED" ]]; do kill -0 "$SIM_PID" 2>/dev/null || exit 0; sleep 0.5; done
  INBOX_AI_API_KEY="$AI_KEY" exec "$BIN/inbox-ai-agent" --gateway "$GATEWAY_URL" >>"$LOGS/ai-agent.log" 2>&1
) &
PIDS+=($!)

if ((QUIET)); then
  LIFE="Quiet: no simulated customers or colleagues (the AI agent still answers what you send)."
else
  LIFE="Customers write on WhatsApp, call and chat on the web widget; the AI answers first and hands
  off when unsure; Sam, Priya, Tom and Lucía take what is routed to them. (just up --quiet: without)"
fi
CTL="$BIN/inboxctl"
cat <<EOT

The inbox fleet is up with a living demo (logs: $LOGS/, Ctrl-C stops everything).

  web inbox       $GATEWAY_URL/
  sign in as      $ADMIN_EMAIL   password: $ADMIN_PASSWORD
  demo tenant     $TENANT (its history of about $PLANNED past conversations fills in within a minute on a new tenant)
  everyone        (email, password, role)
$PEOPLE
  demo shop       $SIM_URL/   (the chat bubble writes to the inbox)
  gateway         $GATEWAY_URL      (REST under /v1, live WebSocket at /v1/stream)
  channel-ingest  $INGEST_URL      (provider webhooks, web chat)

  $LIFE

Send a correctly signed WhatsApp webhook as Meta would:

  INBOX_WHATSAPP_APP_SECRET=$APP_SECRET $CTL whatsapp send-test-message --ingest-url $INGEST_URL --phone-number-id $PHONE_NUMBER_ID --from 15551230001 --name "Ana" --text "Hello, my order has not arrived"

Play a missed call that leaves a voicemail with a transcript, as Twilio would:

  INBOX_TWILIO_AUTH_TOKEN=$TWILIO_TOKEN $CTL twilio send-test-voicemail --ingest-url $INGEST_URL --public-base-url $INGEST_URL --account-sid $TWILIO_SID --to $TWILIO_NUMBER

Operator commands: INBOX_GATEWAY_URL=$GATEWAY_URL INBOX_OPERATOR_TOKEN=$OPERATOR_TOKEN $CTL --help

EOT
wait
