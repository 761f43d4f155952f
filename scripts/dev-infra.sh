#!/usr/bin/env bash
# Development infrastructure for the inbox fleet: PostgreSQL, NATS (JetStream) and Redis.
#
#   scripts/dev-infra.sh start    use the servers named by INBOX_DEV_*_URL, start private ones otherwise
#   scripts/dev-infra.sh env      print `export INBOX_DEV_*_URL=...` lines: eval "$(scripts/dev-infra.sh env)"
#   scripts/dev-infra.sh status   say what is running; exit 1 when something is down
#   scripts/dev-infra.sh stop     stop only the servers this script started
#
# A server named by an environment variable is used as it is (and must be reachable):
#   INBOX_DEV_POSTGRES_URL  e.g. postgres://postgres@127.0.0.1:5432   (base URL, no database)
#   INBOX_DEV_NATS_URL      e.g. nats://127.0.0.1:4222                 (JetStream enabled)
#   INBOX_DEV_REDIS_URL     e.g. redis://127.0.0.1:6379
# Otherwise a private instance runs from $ROOT/.data/ (or INBOX_UP_DATA_DIR), bound to 127.0.0.1
# on ports that do not collide with system servers: PostgreSQL 55432, NATS 54222, Redis 56379
# (or INBOX_DEV_POSTGRES_PORT, INBOX_DEV_NATS_PORT, INBOX_DEV_REDIS_PORT). Already running ones
# are reused. Missing server packages are installed with apt-get. Logs go to .data/logs/, pid
# files to .data/run/. Remove .data/ after `stop` to start from scratch.
#
# Users (as `just up` sets them): INBOX_DEV_NATS_CONFIG names a nats-server configuration file
# (an `authorization` block) and INBOX_DEV_REDIS_ACLFILE a Redis aclfile that the private
# servers start with; a private server of this script already running is restarted to read them.
set -euo pipefail
shopt -s extglob

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
DATA="${INBOX_UP_DATA_DIR:-$ROOT/.data}"
LOGS="$DATA/logs"
RUN="$DATA/run"
HOST=127.0.0.1
PG_PORT="${INBOX_DEV_POSTGRES_PORT:-55432}"
NATS_PORT="${INBOX_DEV_NATS_PORT:-54222}"
REDIS_PORT="${INBOX_DEV_REDIS_PORT:-56379}"
PG_USER=postgres

PRIVATE_POSTGRES_URL="postgres://$PG_USER@$HOST:$PG_PORT"
PRIVATE_NATS_URL="nats://$HOST:$NATS_PORT"
PRIVATE_REDIS_URL="redis://$HOST:$REDIS_PORT"

# A variable naming this script's own private server (as after `eval "$(dev-infra.sh env)"`)
# means the private server, not an external one: start/stop/status manage it as usual.
[[ ${INBOX_DEV_POSTGRES_URL:-} == "$PRIVATE_POSTGRES_URL"?(/) ]] && unset INBOX_DEV_POSTGRES_URL
[[ ${INBOX_DEV_NATS_URL:-} == "$PRIVATE_NATS_URL"?(/) ]] && unset INBOX_DEV_NATS_URL
[[ ${INBOX_DEV_REDIS_URL:-} == "$PRIVATE_REDIS_URL"?(/) ]] && unset INBOX_DEV_REDIS_URL

say() { printf '%s\n' "$*"; }
warn() { printf 'dev-infra: %s\n' "$*" >&2; }
die() { warn "$*"; exit 1; }

is_root() { [[ "$(id -u)" -eq 0 ]]; }

# --- helpers ---------------------------------------------------------------------------------

# tcp_open HOST PORT: true when something accepts a TCP connection (bash /dev/tcp, no nc).
tcp_open() {
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# wait_for SECONDS CMD...: poll CMD every 0.1 s until it succeeds or time runs out.
wait_for() {
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

# url_host_port URL DEFAULT_PORT: prints "host port" of scheme://[user[:pass]@]host[:port][/...].
url_host_port() {
  local rest=${1#*://} default_port=$2 hostport host port
  rest=${rest%%/*}; rest=${rest%%\?*}
  hostport=${rest##*@}
  if [[ $hostport == \[* ]]; then          # [v6addr]:port
    host=${hostport%%]*}; host=${host#[}
    port=${hostport#*]}; port=${port#:}
  elif [[ $hostport == *:* ]]; then
    host=${hostport%:*}; port=${hostport##*:}
  else
    host=$hostport; port=
  fi
  printf '%s %s\n' "${host:-127.0.0.1}" "${port:-$default_port}"
}

# pid_alive PIDFILE NAME: the pid in PIDFILE runs and its command is NAME (guards against reuse).
pid_alive() {
  local pidfile=$1 name=$2 pid comm
  [[ -s $pidfile ]] || return 1
  pid=$(head -n1 "$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  comm=$(cat "/proc/$pid/comm" 2>/dev/null || ps -p "$pid" -o comm= 2>/dev/null || true)
  [[ $comm == "$name"* ]]
}

APT_UPDATED=0
# need_packages PKG...: apt-get install the packages (apt-get update once first).
need_packages() {
  local sudo=()
  if ! is_root; then
    command -v sudo >/dev/null || die "missing $*: install them (apt-get install $*) or run as root"
    sudo=(sudo)
  fi
  command -v apt-get >/dev/null || die "missing $* and no apt-get: install them by hand"
  mkdir -p "$LOGS"
  say "installing $* (apt-get, log in .data/logs/apt.log)"
  if ((APT_UPDATED == 0)); then
    "${sudo[@]}" apt-get update >>"$LOGS/apt.log" 2>&1 || die "apt-get update failed, see $LOGS/apt.log"
    APT_UPDATED=1
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" >>"$LOGS/apt.log" 2>&1 \
    || die "apt-get install $* failed, see $LOGS/apt.log"
}

find_bin() { # find_bin NAME: PATH first, then the sbin dirs non-root PATHs lack
  local name=$1 dir
  command -v "$name" 2>/dev/null && return 0
  for dir in /usr/sbin /usr/bin /usr/local/bin /usr/local/sbin; do
    [[ -x $dir/$name ]] && { printf '%s\n' "$dir/$name"; return 0; }
  done
  return 1
}

# --- PostgreSQL --------------------------------------------------------------------------------

PG_BIN=
PG_BASE=       # holds the data dir and the socket dir (under .data/, or the /var/tmp fallback)
PG_NOTE=

pg_find_bin() { # newest /usr/lib/postgresql/*/bin with initdb, or the one matching an existing data dir
  local want=${1:-} dir
  if [[ -n $want && -x /usr/lib/postgresql/$want/bin/initdb ]]; then
    PG_BIN=/usr/lib/postgresql/$want/bin; return 0
  fi
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | while read -r d; do
          [[ -x $d/initdb ]] && printf '%s\n' "$d"; done | tail -n1 || true)
  if [[ -n $dir ]]; then PG_BIN=$dir; return 0; fi
  if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
    PG_BIN=$(dirname "$(command -v initdb)"); return 0
  fi
  return 1
}

pg_isready_bin() { find_bin pg_isready || { [[ -n $PG_BIN ]] && printf '%s\n' "$PG_BIN/pg_isready"; }; }

pg_ready() { # pg_ready HOST PORT
  local isready
  isready=$(pg_isready_bin) || { tcp_open "$1" "$2"; return; }
  "$isready" -q -h "$1" -p "$2" -t 2 >/dev/null 2>&1
}

# Run a PostgreSQL tool as the owner of the cluster: initdb refuses to run as root.
as_pg() {
  if is_root; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Choose where the cluster lives. As root the server runs as `postgres`, which must be able to
# reach it: .data/ when postgres can traverse the repository path, /var/tmp otherwise.
pg_locate() {
  local recorded=$RUN/postgres.base
  if [[ -s $recorded ]]; then PG_BASE=$(<"$recorded"); return 0; fi
  PG_BASE=$DATA/postgres
  if is_root; then
    getent passwd postgres >/dev/null || die "no 'postgres' user to run PostgreSQL as (is the postgresql package installed?)"
    if ! runuser -u postgres -- test -x "$DATA"; then
      PG_BASE=/var/tmp/inbox-dev-$(printf '%s' "$DATA" | sha256sum | cut -c1-12)
      PG_NOTE=" (data in $PG_BASE: user postgres cannot traverse $DATA)"
    fi
  fi
  # Unix socket paths are limited to ~107 bytes.
  if (( ${#PG_BASE} + 30 > 100 )); then
    PG_BASE=/var/tmp/inbox-dev-$(printf '%s' "$DATA" | sha256sum | cut -c1-12)
    PG_NOTE=" (data in $PG_BASE: the data path is too long for a socket)"
  fi
}

pg_start() {
  if [[ -n ${INBOX_DEV_POSTGRES_URL:-} ]]; then
    local hp; read -r -a hp < <(url_host_port "$INBOX_DEV_POSTGRES_URL" 5432)
    pg_find_bin || true
    pg_ready "${hp[0]}" "${hp[1]}" || die "INBOX_DEV_POSTGRES_URL=$INBOX_DEV_POSTGRES_URL is not reachable"
    say "postgres: using $INBOX_DEV_POSTGRES_URL"
    return 0
  fi
  pg_find_bin || need_packages postgresql
  pg_find_bin || die "postgresql installed but no initdb under /usr/lib/postgresql/*/bin"
  if pg_ready "$HOST" "$PG_PORT"; then
    say "postgres: reusing the server running on $HOST:$PG_PORT"
    return 0
  fi
  tcp_open "$HOST" "$PG_PORT" && die "port $PG_PORT is taken by something that is not PostgreSQL"

  pg_locate
  local pgdata=$PG_BASE/data sock=$PG_BASE/socket log
  mkdir -p "$PG_BASE"
  if is_root; then chown postgres: "$PG_BASE"; chmod 0700 "$PG_BASE"; fi
  as_pg mkdir -p "$pgdata" "$sock"
  as_pg chmod 0700 "$pgdata"
  if [[ $PG_BASE == "$DATA"/* ]]; then log=$LOGS/postgres.log; else log=$PG_BASE/postgres.log; fi
  if [[ ! -s $pgdata/PG_VERSION ]]; then
    as_pg "$PG_BIN/initdb" -D "$pgdata" -U "$PG_USER" --auth=trust -E UTF8 --no-locale \
      >>"$LOGS/postgres-initdb.log" 2>&1 || die "initdb failed, see $LOGS/postgres-initdb.log"
  else
    pg_find_bin "$(<"$pgdata/PG_VERSION")" || true
  fi
  if [[ $log == "$LOGS"/* ]]; then
    touch "$log"; if is_root; then chown postgres: "$log"; fi
  fi
  [[ $log == "$LOGS"/* ]] || ln -sfn "$log" "$LOGS/postgres.log"

  as_pg "$PG_BIN/pg_ctl" -D "$pgdata" -l "$log" -w -t 60 -o "\
-c listen_addresses=$HOST -c port=$PG_PORT -c unix_socket_directories='$sock' \
-c max_connections=200 -c shared_buffers=128MB -c fsync=on \
-c log_min_messages=warning -c log_min_duration_statement=-1" start >>"$LOGS/postgres-ctl.log" 2>&1 \
    || die "PostgreSQL did not start, see $log"
  printf '%s\n' "$PG_BASE" >"$RUN/postgres.base"
  head -n1 "$pgdata/postmaster.pid" >"$RUN/postgres.pid"
  say "postgres: started $PRIVATE_POSTGRES_URL$PG_NOTE"
}

pg_stop() {
  if [[ ! -s $RUN/postgres.base ]]; then say "postgres: not started by this script"; return 0; fi
  pg_locate
  local pgdata=$PG_BASE/data
  if [[ -s $pgdata/postmaster.pid ]] && pid_alive "$pgdata/postmaster.pid" postgres; then
    pg_find_bin "$(cat "$pgdata/PG_VERSION" 2>/dev/null || true)" || die "no pg_ctl found to stop PostgreSQL"
    as_pg "$PG_BIN/pg_ctl" -D "$pgdata" -m fast -w -t 60 stop >>"$LOGS/postgres-ctl.log" 2>&1 \
      || die "pg_ctl stop failed, see $LOGS/postgres-ctl.log"
    say "postgres: stopped"
  else
    say "postgres: was not running"
  fi
  rm -f "$RUN/postgres.pid" "$RUN/postgres.base"
}

pg_status() {
  if [[ -n ${INBOX_DEV_POSTGRES_URL:-} ]]; then
    local hp; read -r -a hp < <(url_host_port "$INBOX_DEV_POSTGRES_URL" 5432)
    pg_find_bin || true
    if pg_ready "${hp[0]}" "${hp[1]}"; then say "postgres: up $INBOX_DEV_POSTGRES_URL (external)"; return 0; fi
    say "postgres: down ($INBOX_DEV_POSTGRES_URL, external)"; return 1
  fi
  pg_find_bin || true
  if pg_ready "$HOST" "$PG_PORT"; then
    local who="not started by this script"
    [[ -s $RUN/postgres.base ]] && who="private, data in $(<"$RUN/postgres.base")/data"
    say "postgres: up $PRIVATE_POSTGRES_URL ($who)"; return 0
  fi
  say "postgres: down ($PRIVATE_POSTGRES_URL)"; return 1
}

# --- NATS (JetStream) --------------------------------------------------------------------------

# nats_has_js HOST PORT: the server's INFO line (sent on connect) says JetStream is on.
nats_has_js() {
  local info
  info=$(timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"; head -n1 <&3' _ "$1" "$2" 2>/dev/null) || return 1
  [[ $info == *'"jetstream":true'* ]]
}

nats_start() {
  if [[ -n ${INBOX_DEV_NATS_URL:-} ]]; then
    local hp; read -r -a hp < <(url_host_port "$INBOX_DEV_NATS_URL" 4222)
    tcp_open "${hp[0]}" "${hp[1]}" || die "INBOX_DEV_NATS_URL=$INBOX_DEV_NATS_URL is not reachable"
    nats_has_js "${hp[0]}" "${hp[1]}" || die "INBOX_DEV_NATS_URL=$INBOX_DEV_NATS_URL has no JetStream (start it with -js)"
    say "nats: using $INBOX_DEV_NATS_URL"
    return 0
  fi
  if pid_alive "$RUN/nats.pid" nats-server && tcp_open "$HOST" "$NATS_PORT"; then
    if [[ -z ${INBOX_DEV_NATS_CONFIG:-} ]]; then
      say "nats: reusing the server running on $HOST:$NATS_PORT"
      return 0
    fi
    nats_stop # started before: again, to read the current users
  fi
  if tcp_open "$HOST" "$NATS_PORT"; then
    say "nats: reusing the server running on $HOST:$NATS_PORT (not started by this script)"
    return 0
  fi
  local bin
  bin=$(find_bin nats-server) || { need_packages nats-server; bin=$(find_bin nats-server) || die "nats-server not found after install"; }
  mkdir -p "$DATA/nats"
  rm -f "$RUN/nats.pid"
  local config=()
  [[ -n ${INBOX_DEV_NATS_CONFIG:-} ]] && config=(-c "$INBOX_DEV_NATS_CONFIG")
  # No monitoring port (-m is not given), no cluster, no leafnodes: client port only.
  setsid "$bin" "${config[@]}" -a "$HOST" -p "$NATS_PORT" -n inbox-dev -js -sd "$DATA/nats" \
    -P "$RUN/nats.pid" </dev/null >>"$LOGS/nats.log" 2>&1 &
  if ! wait_for 20 tcp_open "$HOST" "$NATS_PORT" || ! wait_for 5 pid_alive "$RUN/nats.pid" nats-server; then
    die "nats-server did not start, see $LOGS/nats.log"
  fi
  nats_has_js "$HOST" "$NATS_PORT" || die "nats-server started without JetStream, see $LOGS/nats.log"
  say "nats: started $PRIVATE_NATS_URL (JetStream, store .data/nats${INBOX_DEV_NATS_CONFIG:+, a user per service})"
}

nats_stop() {
  if [[ ! -e $RUN/nats.pid ]]; then say "nats: not started by this script"; return 0; fi
  if pid_alive "$RUN/nats.pid" nats-server; then
    local pid; pid=$(head -n1 "$RUN/nats.pid")
    kill -TERM "$pid"
    wait_for 20 bash -c '! kill -0 "$1" 2>/dev/null' _ "$pid" || die "nats-server (pid $pid) did not stop"
    say "nats: stopped"
  else
    say "nats: was not running"
  fi
  rm -f "$RUN/nats.pid"
}

nats_status() {
  local url=${INBOX_DEV_NATS_URL:-$PRIVATE_NATS_URL} hp who
  read -r -a hp < <(url_host_port "$url" 4222)
  if [[ -n ${INBOX_DEV_NATS_URL:-} ]]; then who="external"
  elif pid_alive "$RUN/nats.pid" nats-server; then who="private, pid $(head -n1 "$RUN/nats.pid")"
  else who="not started by this script"; fi
  if tcp_open "${hp[0]}" "${hp[1]}"; then say "nats: up $url ($who)"; return 0; fi
  say "nats: down ($url)"; return 1
}

# --- Redis -------------------------------------------------------------------------------------

redis_ping() { # redis_ping HOST PORT
  local cli
  if cli=$(find_bin redis-cli); then
    [[ $("$cli" -h "$1" -p "$2" ping 2>/dev/null) == PONG ]]
  else
    tcp_open "$1" "$2"
  fi
}

redis_start() {
  if [[ -n ${INBOX_DEV_REDIS_URL:-} ]]; then
    local hp; read -r -a hp < <(url_host_port "$INBOX_DEV_REDIS_URL" 6379)
    tcp_open "${hp[0]}" "${hp[1]}" || die "INBOX_DEV_REDIS_URL=$INBOX_DEV_REDIS_URL is not reachable"
    say "redis: using $INBOX_DEV_REDIS_URL"
    return 0
  fi
  if redis_ping "$HOST" "$REDIS_PORT"; then
    if [[ -z ${INBOX_DEV_REDIS_ACLFILE:-} ]] || ! pid_alive "$RUN/redis.pid" redis-server; then
      say "redis: reusing the server running on $HOST:$REDIS_PORT"
      return 0
    fi
    redis_stop # started before: again, to read the current users (it keeps nothing on disk)
  fi
  tcp_open "$HOST" "$REDIS_PORT" && die "port $REDIS_PORT is taken by something that is not Redis"
  local bin
  bin=$(find_bin redis-server) || { need_packages redis-server; bin=$(find_bin redis-server) || die "redis-server not found after install"; }
  mkdir -p "$DATA/redis"
  rm -f "$RUN/redis.pid"
  local acl=()
  [[ -n ${INBOX_DEV_REDIS_ACLFILE:-} ]] && acl=(--aclfile "$INBOX_DEV_REDIS_ACLFILE")
  # In memory only: no RDB snapshots, no AOF.
  "$bin" "${acl[@]}" --bind "$HOST" --port "$REDIS_PORT" --protected-mode yes --save "" --appendonly no \
    --dir "$DATA/redis" --daemonize yes --pidfile "$RUN/redis.pid" --logfile "$LOGS/redis.log" \
    </dev/null >>"$LOGS/redis.log" 2>&1 || die "redis-server did not start, see $LOGS/redis.log"
  wait_for 20 redis_ping "$HOST" "$REDIS_PORT" || die "redis-server did not answer, see $LOGS/redis.log"
  wait_for 5 pid_alive "$RUN/redis.pid" redis-server || die "redis-server wrote no pid file"
  say "redis: started $PRIVATE_REDIS_URL (in memory${INBOX_DEV_REDIS_ACLFILE:+, a user per service})"
}

redis_stop() {
  if [[ ! -e $RUN/redis.pid ]]; then say "redis: not started by this script"; return 0; fi
  if pid_alive "$RUN/redis.pid" redis-server; then
    local pid; pid=$(head -n1 "$RUN/redis.pid")
    kill -TERM "$pid"
    wait_for 20 bash -c '! kill -0 "$1" 2>/dev/null' _ "$pid" || die "redis-server (pid $pid) did not stop"
    say "redis: stopped"
  else
    say "redis: was not running"
  fi
  rm -f "$RUN/redis.pid"
}

redis_status() {
  local url=${INBOX_DEV_REDIS_URL:-$PRIVATE_REDIS_URL} hp who
  read -r -a hp < <(url_host_port "$url" 6379)
  if [[ -n ${INBOX_DEV_REDIS_URL:-} ]]; then who="external"
  elif pid_alive "$RUN/redis.pid" redis-server; then who="private, pid $(head -n1 "$RUN/redis.pid")"
  else who="not started by this script"; fi
  if tcp_open "${hp[0]}" "${hp[1]}"; then say "redis: up $url ($who)"; return 0; fi
  say "redis: down ($url)"; return 1
}

# --- commands ----------------------------------------------------------------------------------

cmd_start() {
  mkdir -p "$LOGS" "$RUN"
  chmod 0755 "$DATA"
  pg_start
  nats_start
  redis_start
}

cmd_stop() {
  # Stop in reverse order; each stops only what its pid file says this script started.
  redis_stop
  nats_stop
  pg_stop
}

cmd_status() {
  local rc=0
  pg_status || rc=1
  nats_status || rc=1
  redis_status || rc=1
  return "$rc"
}

cmd_env() {
  printf 'export INBOX_DEV_POSTGRES_URL=%q\n' "${INBOX_DEV_POSTGRES_URL:-$PRIVATE_POSTGRES_URL}"
  printf 'export INBOX_DEV_NATS_URL=%q\n' "${INBOX_DEV_NATS_URL:-$PRIVATE_NATS_URL}"
  printf 'export INBOX_DEV_REDIS_URL=%q\n' "${INBOX_DEV_REDIS_URL:-$PRIVATE_REDIS_URL}"
}

usage() {
  sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
