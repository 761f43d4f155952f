#!/usr/bin/env bash
# `just up`: the whole fleet on this machine, nothing to configure.
#  1. PostgreSQL, NATS (JetStream) and Redis: the ones named by INBOX_DEV_*_URL, else private
#     ones under .data/ on loopback (scripts/dev-infra.sh; packages installed when missing).
#  2. Builds and starts the seven services on 127.0.0.1 (gateway :8080 ... metrics :8086).
#  3. Seeds a demo tenant, an agent and a WhatsApp number, and prints how to use them.
# Ctrl-C stops the services and the servers this script started.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"
DATA="$ROOT/.data"
LOGS="$DATA/logs"
mkdir -p "$LOGS"
PROFILE="${INBOX_PROFILE:-debug}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET/$PROFILE"

scripts/dev-infra.sh start
eval "$(scripts/dev-infra.sh env)"

echo "building the fleet ($PROFILE)..."
if [[ "$PROFILE" == release ]]; then cargo build --release --workspace --bins -q; else cargo build --workspace --bins -q; fi

# Secrets are made once and kept, so tokens printed earlier stay valid across restarts.
SECRETS="$DATA/secrets.env"
if [[ ! -f "$SECRETS" ]]; then
  rand() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
  umask 077
  cat > "$SECRETS" <<EOT
SERVICE_TOKEN=$(rand)
JWT_SECRET=$(rand)$(rand)
OPERATOR_TOKEN=$(rand)
DEMO_APP_SECRET=$(rand)
DEMO_VERIFY_TOKEN=$(rand)
EOT
fi
# shellcheck disable=SC1090
source "$SECRETS"

declare -A HTTP=([gateway]=8080 [channel-ingest]=8081 [conversation]=8082 [routing]=8083 [notification]=8084 [search]=8085 [metrics]=8086)
declare -A DB=([gateway]=inbox_gateway [channel-ingest]=inbox_ingest [conversation]=inbox_conversation [routing]=inbox_routing [notification]=inbox_notification [metrics]=inbox_metrics)
ORDER=(conversation channel-ingest routing notification search metrics gateway)

for name in "${ORDER[@]}"; do
  port=${HTTP[$name]}
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || (exec 3<>"/dev/tcp/127.0.0.1/$((port + 1000))") 2>/dev/null; then
    echo "port $port or $((port + 1000)) is already in use: is another 'just up' running? (inbox-$name)" >&2
    exit 1
  fi
done

PIDS=()
stop_all() {
  trap - INT TERM EXIT
  echo
  echo "stopping the fleet..."
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  scripts/dev-infra.sh stop
  exit 0
}
trap stop_all INT TERM EXIT

for name in "${ORDER[@]}"; do
  http=${HTTP[$name]}
  env_vars=(
    "INBOX__HTTP__ADDR=127.0.0.1:$http"
    "INBOX__GRPC__ADDR=127.0.0.1:$((http + 1000))"
    "INBOX__NATS__URL=$INBOX_DEV_NATS_URL"
    "INBOX__AUTH__SERVICE_TOKEN=$SERVICE_TOKEN"
    "INBOX__LOG__FORMAT=json"
  )
  [[ -n "${DB[$name]:-}" ]] && env_vars+=("INBOX__POSTGRES__URL=$INBOX_DEV_POSTGRES_URL/${DB[$name]}")
  case "$name" in
    gateway)
      env_vars+=("INBOX__REDIS__URL=$INBOX_DEV_REDIS_URL" "INBOX__GATEWAY__JWT_SECRET=$JWT_SECRET"
                 "INBOX__GATEWAY__OPERATOR_TOKEN=$OPERATOR_TOKEN") ;;
    routing) env_vars+=("INBOX__REDIS__URL=$INBOX_DEV_REDIS_URL") ;;
    # The demo Twilio number is not a real one: Twilio (unreachable here) is not asked about it.
    channel-ingest) env_vars+=("INBOX__REDIS__URL=$INBOX_DEV_REDIS_URL" "INBOX__TWILIO__VERIFY_NUMBERS=false") ;;
    search) env_vars+=("INBOX__SEARCH__INDEX_DIR=$DATA/search") ;;
  esac
  env "${env_vars[@]}" "$BIN/inbox-$name" >>"$LOGS/$name.log" 2>&1 &
  PIDS+=($!)
done

for name in "${ORDER[@]}"; do
  url="http://127.0.0.1:${HTTP[$name]}/readyz"
  for _ in $(seq 1 300); do
    if curl -fsS -o /dev/null "$url" 2>/dev/null; then break; fi
    sleep 0.2
  done
  curl -fsS -o /dev/null "$url" || { echo "inbox-$name did not become ready; see $LOGS/$name.log" >&2; tail -n 20 "$LOGS/$name.log" >&2; exit 1; }
done

export INBOX_GATEWAY_URL=http://127.0.0.1:8080 INBOX_OPERATOR_TOKEN="$OPERATOR_TOKEN"
CTL="$BIN/inboxctl"
PHONE_NUMBER_ID=100000000000001
tenant_json=$("$CTL" --json tenant create --slug demo --name "Demo Company" --time-zone UTC)
TENANT=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' <<<"$tenant_json")
agent_json=$("$CTL" --json agent create --tenant "$TENANT" --email agent@demo.test --name "Demo Agent" --role admin)
TOKEN=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])' <<<"$agent_json")
AGENT_ID=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["user"]["id"])' <<<"$agent_json")
# A Support team taking WhatsApp hand-offs, with the demo agent: "needs human" conversations
# are routed to them while their WebSocket is open.
team_json=$("$CTL" --json team create --tenant "$TENANT" --name Support --policy least_loaded --handoff-channel whatsapp)
TEAM=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' <<<"$team_json")
"$CTL" --json team add-member --tenant "$TENANT" --team "$TEAM" --user "$AGENT_ID" >/dev/null
INBOX_WHATSAPP_APP_SECRET="$DEMO_APP_SECRET" INBOX_WHATSAPP_VERIFY_TOKEN="$DEMO_VERIFY_TOKEN" \
  "$CTL" --json whatsapp add --tenant "$TENANT" --phone-number-id "$PHONE_NUMBER_ID" --display-phone-number "+1 555 000 0001" >/dev/null
# A Twilio number ringing one agent, then voicemail with a transcript (docs/telephony.md).
DEMO_TWILIO_TOKEN="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
INBOX_TWILIO_AUTH_TOKEN="$DEMO_TWILIO_TOKEN" "$CTL" --json twilio add --tenant "$TENANT" \
  --account-sid AC00000000000000000000000000000001 --phone-number +15550000002 --agent-number +15550000099 \
  --greeting "Sorry, nobody can take your call. Please leave a message." --transcribe >/dev/null
# A web chat widget for a demo page served on 127.0.0.1:8090 (python3 -m http.server).
widget_json=$("$CTL" --json webchat add --tenant "$TENANT" --name "Demo Company" \
  --allowed-origin http://127.0.0.1:8090 --allowed-origin http://localhost:8090 --greeting "Hi! How can we help?")
WIDGET_KEY=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["widget_key"])' <<<"$widget_json")
mkdir -p "$DATA/webchat-demo"
cat >"$DATA/webchat-demo/index.html" <<EOHTML
<!doctype html><html><head><meta charset="utf-8"><title>Demo shop</title></head>
<body><h1>Demo shop</h1><p>The chat bubble is bottom right.</p>
<script src="http://127.0.0.1:8081/webchat/widget.js" data-widget-key="$WIDGET_KEY" async></script></body></html>
EOHTML

cat <<EOT

The inbox fleet is up (logs: .data/logs/, Ctrl-C stops everything).

  web inbox       http://127.0.0.1:8080/#access_token=$TOKEN
  gateway         http://127.0.0.1:8080      (REST under /v1, live WebSocket at /v1/stream)
  channel-ingest  http://127.0.0.1:8081      (provider webhooks, e.g. /webhooks/whatsapp)
  demo tenant     $TENANT
  agent token     $TOKEN

Send a correctly signed WhatsApp webhook as Meta would:

  INBOX_WHATSAPP_APP_SECRET=$DEMO_APP_SECRET $CTL whatsapp send-test-message --phone-number-id $PHONE_NUMBER_ID --from 15551230001 --name "Ana" --text "Hello, my order has not arrived"

Play a missed call that leaves a voicemail with a transcript, as Twilio would:

  INBOX_TWILIO_AUTH_TOKEN=$DEMO_TWILIO_TOKEN $CTL twilio send-test-voicemail --account-sid AC00000000000000000000000000000001 --to +15550000002

Watch it arrive live, and list it:

  python3 scripts/watch.py ws://127.0.0.1:8080/v1/stream?access_token=$TOKEN
  curl -s -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/v1/conversations

Chat from a website (widget key $WIDGET_KEY): serve the demo page, open it, click the bubble:

  python3 -m http.server 8090 --bind 127.0.0.1 --directory $DATA/webchat-demo   # then http://127.0.0.1:8090/

EOT
wait
