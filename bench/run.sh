#!/usr/bin/env bash
# Gatehouse benchmark: time to ready, idle RSS, and throughput of the hot endpoints relative to
# a trivial endpoint of the same binary. See bench/README.md.
#
#   bench/run.sh                         # build, run, print the table, write results/latest.json
#   BENCH_DURATION=30 bench/run.sh       # seconds per wrk run (default 10)
#   BENCH_CONNECTIONS=64 bench/run.sh    # wrk connections (default 32); BENCH_THREADS (default 2)
#   GATEHOUSE_BIN=path/to/gatehouse bench/run.sh   # skip the build, benchmark that binary
#   BENCH_STRICT=1 bench/run.sh          # exit 3 when any target is missed
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)

DURATION=${BENCH_DURATION:-10}
DURATION=${DURATION%s}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
THREADS=${BENCH_THREADS:-2}
READY_TIMEOUT=${BENCH_READY_TIMEOUT:-30}
OUT=${BENCH_OUT:-$BENCH_DIR/results/latest.json}
RESULTS_DIR=$(dirname "$OUT")
SETTLE_S=2

log() { echo "bench: $*" >&2; }
die() {
  echo "bench: ERROR: $*" >&2
  if [[ -n ${WORK:-} && -s ${WORK}/server.err ]]; then
    echo "bench: last lines of the server's stderr:" >&2
    tail -n 20 "$WORK/server.err" >&2 || true
  fi
  exit 1
}

[[ $DURATION =~ ^[1-9][0-9]*$ ]] || die "BENCH_DURATION must be a whole number of seconds (got '${BENCH_DURATION:-}')"
[[ $CONNECTIONS =~ ^[1-9][0-9]*$ ]] || die "BENCH_CONNECTIONS must be a positive integer"
[[ $THREADS =~ ^[1-9][0-9]*$ ]] || die "BENCH_THREADS must be a positive integer"
((CONNECTIONS >= THREADS)) || die "BENCH_CONNECTIONS must be >= BENCH_THREADS"

# Only the configuration below may reach the server: drop every GATEHOUSE_* of the caller
# (GATEHOUSE_BIN included: the server rejects unknown GATEHOUSE_* variables).
BIN_OVERRIDE=${GATEHOUSE_BIN:-}
while IFS= read -r var; do
  unset "$var"
done < <(compgen -e | grep '^GATEHOUSE_' || true)

for tool in python3 curl; do
  command -v "$tool" >/dev/null || die "$tool is required"
done

# 1. wrk
if ! command -v wrk >/dev/null; then
  log "installing wrk (Debian package)"
  timeout 900 bash -c 'apt-get update && apt-get install -y wrk' >&2 || die "could not install wrk"
fi

# 2. the binary
if [[ -n $BIN_OVERRIDE ]]; then
  BIN=$(readlink -f "$BIN_OVERRIDE") || die "GATEHOUSE_BIN=$BIN_OVERRIDE does not exist"
  [[ -f $BIN && -x $BIN ]] || die "GATEHOUSE_BIN=$BIN_OVERRIDE is not an executable file"
  log "using $BIN (GATEHOUSE_BIN; no build)"
else
  log "cargo build --release"
  (cd "$ROOT" && cargo build --release) || die "cargo build --release failed"
  target_dir=${CARGO_TARGET_DIR:-$ROOT/target}
  [[ $target_dir == /* ]] || target_dir=$ROOT/$target_dir
  BIN=$target_dir/release/gatehouse
  [[ -x $BIN ]] || die "no binary at $BIN after the build"
fi

# A scratch instance: its own database and keys, removed on exit.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-bench.XXXXXX")
SERVER_PID=""

stop_server() {
  local pid=$SERVER_PID
  SERVER_PID=""
  [[ -n $pid ]] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do # up to 5 s for the graceful shutdown
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.05
  done
  log "server $pid did not stop after SIGTERM; killing it"
  kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_server
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

PORT=$(free_port)
export GATEHOUSE_LISTEN=127.0.0.1:$PORT
export GATEHOUSE_DATABASE_URL=sqlite://$WORK/gh.db
export GATEHOUSE_KEYS_DIR=$WORK/keys
GATEHOUSE_ADMIN_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')
export GATEHOUSE_ADMIN_PASSWORD
export GATEHOUSE_LOG=warn

# Every gatehouse command runs in the scratch dir, so no ./gatehouse.toml is picked up.
gh() { (cd "$WORK" && "$BIN" "$@"); }

log "scratch instance in $WORK"
gh keys init >"$WORK/keys-init.log" 2>&1 || { cat "$WORK/keys-init.log" >&2; die "gatehouse keys init failed"; }
CLIENT_JSON=$(gh client add --name bench --grant-type client_credentials --json 2>"$WORK/client-add.err") \
  || { cat "$WORK/client-add.err" >&2; die "gatehouse client add failed"; }
read -r CLIENT_ID CLIENT_SECRET < <(python3 -c '
import json, sys
c = json.loads(sys.stdin.read())
print(c["client_id"], c["client_secret"])' <<<"$CLIENT_JSON") || die "cannot parse the client add output: $CLIENT_JSON"
[[ -n $CLIENT_ID && -n $CLIENT_SECRET && $CLIENT_SECRET != None ]] || die "client add returned no secret: $CLIENT_JSON"
BASIC="Basic $(printf '%s:%s' "$CLIENT_ID" "$CLIENT_SECRET" | base64 -w0)"

# start_server PORT -> sets SERVER_PID, READY_MS, LISTENING_MS
start_server() {
  local port=$1 ready_json
  ready_json=$(cd "$WORK" && GATEHOUSE_LISTEN=127.0.0.1:$port python3 "$BENCH_DIR/ready.py" \
    127.0.0.1 "$port" "$WORK/server.out" "$WORK/server.err" "$READY_TIMEOUT" -- "$BIN" serve) \
    || die "the server did not become ready"
  read -r SERVER_PID READY_MS LISTENING_MS < <(python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
print(r["pid"], r["ready_ms"], r["listening_ms"])' <<<"$ready_json")
  [[ -n $SERVER_PID ]] || die "cannot parse ready.py output: $ready_json"
}

# mib FIELD: VmRSS / VmHWM of the server in MiB
mib() {
  awk -v f="$1:" '$1 == f { printf "%.2f\n", $2 / 1024; found = 1 } END { exit !found }' \
    "/proc/$SERVER_PID/status" || die "cannot read $1 of pid $SERVER_PID"
}

# 3. time to ready and idle RSS
log "starting the server (time to ready: spawn -> first 200 from GET /healthz)"
start_server "$PORT"
FIRST_READY_MS=$READY_MS
FIRST_LISTENING_MS=$LISTENING_MS
log "ready in ${READY_MS} ms (pid $SERVER_PID); settling ${SETTLE_S} s"
sleep "$SETTLE_S"
kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited while idle"
IDLE_RSS=$(mib VmRSS)
log "idle RSS ${IDLE_RSS} MiB"

URL=http://127.0.0.1:$PORT
mkdir -p "$RESULTS_DIR"
RUNS=$WORK/runs.jsonl
: >"$RUNS"

# check NAME METHOD PATH BODY AUTH: one request must answer 200 (body left in $WORK/check.body)
check() {
  local name=$1 method=$2 path=$3 body=$4 auth=$5 code
  local -a args=(-sS --max-time 5 -o "$WORK/check.body" -w '%{http_code}' -X "$method")
  if [[ -n $body ]]; then
    args+=(--data-binary "$body" -H 'Content-Type: application/x-www-form-urlencoded')
  fi
  if [[ -n $auth ]]; then
    args+=(-H "Authorization: $auth")
  fi
  code=$(curl "${args[@]}" "$URL$path") || die "$name: $method $path: curl failed"
  [[ $code == 200 ]] || die "$name: $method $path answered HTTP $code, expected 200: $(head -c 400 "$WORK/check.body")"
}

check_active() {
  python3 -c '
import json, sys
body = json.load(open(sys.argv[1]))
sys.exit(0 if body.get("active") is True else 1)' "$WORK/check.body" \
    || die "introspection did not return \"active\":true: $(head -c 400 "$WORK/check.body")"
}

# load NAME TARGET_PCT|null METHOD PATH BODY AUTH
load() {
  local name=$1 target=$2 method=$3 path=$4 body=$5 auth=$6
  local label="$method $path" raw="$RESULTS_DIR/wrk-$name.txt" line result
  case $name in healthz-start) label+=" (start)" ;; healthz-end) label+=" (end)" ;; esac
  check "$name" "$method" "$path" "$body" "$auth"
  [[ $name != introspection ]] || check_active
  log "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s  $label"
  BENCH_METHOD=$method BENCH_BODY=$body BENCH_AUTH=$auth \
    timeout $((DURATION + 60)) wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency \
    -s "$BENCH_DIR/wrk.lua" "$URL$path" >"$raw" 2>&1 || { cat "$raw" >&2; die "$name: wrk failed"; }
  line=$(grep -m1 '^BENCH_RESULT ' "$raw") || { cat "$raw" >&2; die "$name: no BENCH_RESULT line from wrk.lua"; }
  result=${line#BENCH_RESULT }
  python3 -c '
import json, sys
r = json.loads(sys.argv[1]); e = r["errors"]; bad = []
if r["requests"] <= 0: bad.append("no requests completed")
n = e["status"]
if n: bad.append(f"{n} non-2xx/3xx responses")
sock = {k: e[k] for k in ("connect", "read", "write", "timeout") if e[k]}
if sock: bad.append(f"socket errors {sock}")
if bad: print("; ".join(bad)); sys.exit(1)' "$result" >"$WORK/problems" \
    || { cat "$raw" >&2; die "$name: $(cat "$WORK/problems")"; }
  # The same, from wrk's own summary lines.
  if grep -Eq 'Non-2xx or 3xx responses|Socket errors' "$raw"; then
    cat "$raw" >&2
    die "$name: wrk reported non-2xx responses or socket errors"
  fi
  kill -0 "$SERVER_PID" 2>/dev/null || die "the server died during the $name run"
  check "$name (after load)" "$method" "$path" "$body" "$auth"
  echo "{\"name\":\"$name\",\"label\":\"$label\",\"target_pct\":$target,\"wrk\":$result}" >>"$RUNS"
  python3 -c '
import json, sys
r = json.loads(sys.argv[1]); lat = r["latency_us"]
rps = r["requests"] / (r["duration_us"] / 1e6)
print("bench:   %.0f req/s, p50 %.2f ms, p99 %.2f ms" % (rps, lat["p50"] / 1000, lat["p99"] / 1000))' \
    "$result" >&2
}

# 4. load, in order; the baseline twice (start and end)
load healthz-start null GET /healthz "" ""
load discovery 90 GET /.well-known/openid-configuration "" ""
load jwks 90 GET /jwks "" ""
load client_credentials 25 POST /oauth/token "grant_type=client_credentials" "$BASIC"

TOKEN=$(curl -sS --max-time 5 -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials "$URL/oauth/token" \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])') \
  || die "could not obtain an access token with the client_credentials grant"
load introspection 50 POST /oauth/introspect "token=$TOKEN" "$BASIC"

load healthz-end null GET /healthz "" ""
AFTER_RSS=$(mib VmRSS)
PEAK_HWM=$(mib VmHWM)

# Informational: a restart on the same database and keys (admin already exists), on a new port.
log "restarting on the same database for the restart time to ready"
stop_server
start_server "$(free_port)"
RESTART_READY_MS=$READY_MS
sleep "$SETTLE_S"
kill -0 "$SERVER_PID" 2>/dev/null || die "the restarted server exited while idle"
RESTART_IDLE_RSS=$(mib VmRSS)
stop_server

# 5. report
GIT_COMMIT=$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)
GIT_DIRTY=false
if [[ $GIT_COMMIT != unknown && -n $(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null) ]]; then
  GIT_DIRTY=true
fi
CPU_MODEL=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
WRK_VERSION=$(wrk -v 2>&1 | head -n 1 || true)

FACTS=$WORK/facts.json
F_NPROC=$(nproc) F_CPU=${CPU_MODEL:-unknown} F_KERNEL=$(uname -r) F_COMMIT=$GIT_COMMIT F_DIRTY=$GIT_DIRTY \
F_WRK=$WRK_VERSION F_BIN=$BIN F_DURATION=$DURATION F_CONNECTIONS=$CONNECTIONS F_THREADS=$THREADS \
F_READY=$FIRST_READY_MS F_LISTENING=$FIRST_LISTENING_MS F_RESTART=$RESTART_READY_MS \
F_IDLE=$IDLE_RSS F_AFTER=$AFTER_RSS F_HWM=$PEAK_HWM F_RESTART_IDLE=$RESTART_IDLE_RSS \
python3 - "$FACTS" <<'PY'
import json, os, sys
e = os.environ
facts = {
    "git": {"commit": e["F_COMMIT"], "dirty": e["F_DIRTY"] == "true"},
    "machine": {"nproc": int(e["F_NPROC"]), "cpu_model": e["F_CPU"], "kernel": e["F_KERNEL"]},
    "settings": {"duration_s": int(e["F_DURATION"]), "connections": int(e["F_CONNECTIONS"]),
                 "threads": int(e["F_THREADS"]), "wrk": e["F_WRK"], "binary": e["F_BIN"]},
    "startup": {"time_to_ready_ms": float(e["F_READY"]), "target_ms": 100,
                "listening_ms": float(e["F_LISTENING"]),
                "restart_time_to_ready_ms": float(e["F_RESTART"])},
    "memory": {"idle_rss_mib": float(e["F_IDLE"]), "target_mib": 20,
               "after_load_rss_mib": float(e["F_AFTER"]), "peak_hwm_mib": float(e["F_HWM"]),
               "restart_idle_rss_mib": float(e["F_RESTART_IDLE"])},
}
with open(sys.argv[1], "w") as f:
    json.dump(facts, f)
PY
python3 "$BENCH_DIR/report.py" "$FACTS" "$RUNS" "$OUT"
