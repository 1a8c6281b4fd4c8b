#!/usr/bin/env bash
# make bench-users: 100 tenants x 500 users through the user import, against a fresh
# database; prints the figures and writes bench-results/users.json. Other benchmarks
# reuse it with CSP_BENCH_NAME (scripts/bench_<name>.py, bench-results/<name>.json).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
NAME=${CSP_BENCH_NAME:-users}
TENANTS=${CSP_BENCH_TENANTS:-100}
USERS=${CSP_BENCH_USERS:-500}
check_postgres "make bench-$NAME"
prepare_python "make bench-$NAME"

WORK=$(mktemp -d)
DB="csp_bench_$$"
SANDBOX_PID=""
cleanup() {
    set +e
    [ -n "$SANDBOX_PID" ] && kill "$SANDBOX_PID" 2>/dev/null
    [ -n "${PG_SUPER:-}" ] && "${PG_SUPER[@]}" -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null 2>&1
    stop_postgres
    rm -rf "$WORK"
}
trap cleanup EXIT

"$PY" -m mscloud_sandbox serve --port 0 --tenants "$TENANTS" --users "$USERS" \
    --state-file "$WORK/sandbox.json" >"$WORK/sandbox.log" 2>&1 &
SANDBOX_PID=$!
for _ in $(seq 1 150); do
    [ -s "$WORK/sandbox.json" ] && break
    sleep 0.2
done
[ -s "$WORK/sandbox.json" ] || { cat "$WORK/sandbox.log" >&2; exit 1; }

find_or_start_postgres
ensure_db_role
write_odoo_conf "$WORK/odoo.conf" "$(free_port)"
echo "== Installing csp_connector in a fresh database"
"$PY" -m odoo -c "$WORK/odoo.conf" -d "$DB" -i csp_connector --stop-after-init --log-level=warn
echo "== Benchmark $NAME: $TENANTS tenants x $USERS users"
CSP_SANDBOX_STATE="$WORK/sandbox.json" CSP_BENCH_OUT="$ROOT/bench-results/$NAME.json" \
    "$PY" -m odoo shell -c "$WORK/odoo.conf" -d "$DB" --no-http --log-level="${CSP_BENCH_LOG_LEVEL:-warn}" \
    <"$ROOT/scripts/bench_$NAME.py"
echo "Written to bench-results/$NAME.json"
