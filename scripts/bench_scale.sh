#!/usr/bin/env bash
# make bench-scale: many tenants' users step, serial (as the integrator cron runs it)
# against the job queue (csp_connector_queue) with 1 and with N concurrent jobs over two
# Odoo processes with workers and the job runner; the sandbox answers each request after
# CSP_BENCH_LATENCY_MS. Every run starts from a copy of the same set-up database. Prints
# the figures, writes bench-results/scale.json, exits 1 when a target is false.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
TENANTS=${CSP_BENCH_TENANTS:-500}
USERS=${CSP_BENCH_USERS:-50}
LATENCY=${CSP_BENCH_LATENCY_MS:-150}
JOBS=${CSP_BENCH_JOBS:-8}
ROUNDS=${CSP_BENCH_ROUNDS:-3}
[ "$ROUNDS" -ge 2 ] || ROUNDS=2

check_postgres "make bench-scale"
prepare_python "make bench-scale"
WORK=$(mktemp -d)
TEMPLATE="csp_bench_scale_$$"
SANDBOX_PID=""
SERVER_PIDS=()
RUN_DB=""
stop_servers() {
    local pid
    for pid in "${SERVER_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${SERVER_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    SERVER_PIDS=()
}
drop_db() {
    "${PG_SUPER[@]}" -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$WORK/data/filestore/$1"
}
cleanup() {
    set +e
    stop_servers
    [ -n "$SANDBOX_PID" ] && kill "$SANDBOX_PID" 2>/dev/null
    if [ -n "${PG_SUPER:-}" ]; then
        [ -n "$RUN_DB" ] && drop_db "$RUN_DB"
        drop_db "$TEMPLATE"
    fi
    stop_postgres
    rm -rf "$WORK"
}
trap cleanup EXIT

"$PY" -m mscloud_sandbox serve --port 0 --tenants "$TENANTS" --users "$USERS" \
    --latency-ms "$LATENCY" --state-file "$WORK/sandbox.json" >"$WORK/sandbox.log" 2>&1 &
SANDBOX_PID=$!
for _ in $(seq 1 300); do
    [ -s "$WORK/sandbox.json" ] && break
    sleep 0.2
done
[ -s "$WORK/sandbox.json" ] || { cat "$WORK/sandbox.log" >&2; exit 1; }

find_or_start_postgres
ensure_db_role
write_odoo_conf "$WORK/odoo.conf" "$(free_port)"
echo "== Installing csp_connector_queue in a fresh database"
"$PY" -m odoo -c "$WORK/odoo.conf" -d "$TEMPLATE" -i csp_connector_queue --stop-after-init \
    --log-level=warn

shell() {  # $1: database, $2: phase, then settings as NAME=value
    local db=$1 phase=$2
    shift 2
    env "$@" CSP_BENCH_PHASE="$phase" CSP_SANDBOX_STATE="$WORK/sandbox.json" \
        CSP_BENCH_RESULTS="$WORK/results" CSP_BENCH_OUT="$ROOT/bench-results/scale.json" PYTHONPATH="$ROOT/scripts${PYTHONPATH:+:$PYTHONPATH}" \
        "$PY" -m odoo shell -c "$WORK/odoo.conf" -d "$db" --no-http \
        --log-level="${CSP_BENCH_LOG_LEVEL:-warn}" <"$ROOT/scripts/bench_scale.py"
}

# two Odoo processes with workers and the job runner (only one runner is active per
# database), the runner posting each job through a round-robin proxy to either one
start_servers() {  # $1: database, $2: concurrent jobs
    local db=$1 jobs=$2 n port workers proxy_port
    proxy_port=$(free_port)
    workers=$(((jobs + 1) / 2 + 1))
    local ports=()
    for n in 1 2; do
        port=$(free_port)
        ports+=("$port")
        write_odoo_conf "$WORK/server$n.conf" "$port"
        cat >>"$WORK/server$n.conf" <<CONF
workers = $workers
max_cron_threads = 0
limit_time_real = 900
limit_time_cpu = 900
limit_memory_soft = 4294967296
limit_memory_hard = 5368709120
server_wide_modules = web,queue_job
db_name = $db
dbfilter = ^$db\$
logfile = $WORK/server$n.log
log_level = warn

[queue_job]
channels = root:$jobs
scheme = http
host = 127.0.0.1
port = $proxy_port
CONF
        "$PY" -m odoo -c "$WORK/server$n.conf" >/dev/null 2>&1 &
        SERVER_PIDS+=($!)
    done
    "$PY" "$ROOT/scripts/round_robin.py" "$proxy_port" "${ports[@]}" &
    SERVER_PIDS+=($!)
    for port in "${ports[@]}"; do
        for _ in $(seq 1 300); do
            curl -s -o /dev/null "http://127.0.0.1:$port/web/login" && break
            sleep 0.2
        done
    done
}

echo "== Set-up (not timed): $TENANTS tenants x $USERS users, $LATENCY ms per request"
mkdir -p "$WORK/results"
shell "$TEMPLATE" setup
for round in $(seq 1 "$ROUNDS"); do
    for mode in serial 1 "$JOBS"; do
        RUN_DB="${TEMPLATE}_run"
        drop_db "$RUN_DB"
        "${PG_SUPER[@]}" -c "CREATE DATABASE \"$RUN_DB\" TEMPLATE \"$TEMPLATE\" OWNER \"$DB_USER\"" >/dev/null
        [ -d "$WORK/data/filestore/$TEMPLATE" ] &&
            cp -r "$WORK/data/filestore/$TEMPLATE" "$WORK/data/filestore/$RUN_DB"
        if [ "$mode" = serial ]; then
            shell "$RUN_DB" run CSP_BENCH_MODE=serial CSP_BENCH_ROUND="$round"
        else
            start_servers "$RUN_DB" "$mode"
            shell "$RUN_DB" run CSP_BENCH_MODE="$mode" CSP_BENCH_ROUND="$round"
            stop_servers
        fi
        drop_db "$RUN_DB"
        RUN_DB=""
    done
done
CSP_BENCH_PHASE=summary CSP_BENCH_RESULTS="$WORK/results" CSP_BENCH_JOBS="$JOBS" \
    CSP_BENCH_OUT="$ROOT/bench-results/scale.json" CSP_BENCH_TENANTS="$TENANTS" \
    CSP_BENCH_USERS="$USERS" CSP_BENCH_LATENCY_MS="$LATENCY" \
    PYTHONPATH="$ROOT:$ROOT/scripts${PYTHONPATH:+:$PYTHONPATH}" "$PY" "$ROOT/scripts/bench_scale.py"
