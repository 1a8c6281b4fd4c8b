#!/usr/bin/env bash
# make demo: start the Microsoft cloud sandbox and an Odoo 18 with the three add-ons.
# Everything it keeps (CA bundle, sandbox state, Odoo filestore, logs) lives in .demo/.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
ADDONS=csp_connector,csp_connector_billing,csp_connector_assets
DB=${CSP_DEMO_DB:-csp_demo}
HTTP_PORT=${CSP_DEMO_PORT:-8069}
SANDBOX_PORT=${CSP_SANDBOX_PORT:-8443}

setup_started=$(clock_now)
check_postgres "make demo"
prepare_python "make demo"
echo "== Set-up took $(seconds_since "$setup_started") s"

WORK="$ROOT/.demo"
mkdir -p "$WORK"
SANDBOX_PID=""
cleanup() {
    set +e
    [ -n "$SANDBOX_PID" ] && kill "$SANDBOX_PID" 2>/dev/null && wait "$SANDBOX_PID" 2>/dev/null
    stop_postgres
}
trap cleanup EXIT INT TERM

echo "== Starting the Microsoft cloud sandbox on 127.0.0.1:$SANDBOX_PORT"
rm -f "$WORK/sandbox.json"
"$PY" -m mscloud_sandbox serve --port "$SANDBOX_PORT" --seed 1 --tenants 25 --users 50 \
    --ca-path "$WORK/sandbox-ca.pem" --state-file "$WORK/sandbox.json" >"$WORK/sandbox.log" 2>&1 &
SANDBOX_PID=$!
for _ in $(seq 1 100); do
    [ -s "$WORK/sandbox.json" ] && break
    kill -0 "$SANDBOX_PID" 2>/dev/null || { cat "$WORK/sandbox.log" >&2; exit 1; }
    sleep 0.2
done
[ -s "$WORK/sandbox.json" ] || { echo "The sandbox did not start (see $WORK/sandbox.log)." >&2; exit 1; }

find_or_start_postgres
ensure_db_role
CONF="$WORK/odoo.conf"
write_odoo_conf "$CONF" "$HTTP_PORT"

if "${PG_SUPER[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1; then
    echo "== Updating the add-ons in the existing database $DB"
    "$PY" -m odoo -c "$CONF" -d "$DB" -u "$ADDONS" --stop-after-init --log-level=warn
else
    echo "== Creating the database $DB with the three add-ons"
    "$PY" -m odoo -c "$CONF" -d "$DB" -i "$ADDONS" --stop-after-init --log-level=warn
fi

echo "== Connecting $DB to the sandbox: authorise, discover, map, consent, sync"
CSP_SANDBOX_STATE="$WORK/sandbox.json" "$PY" -m odoo shell -c "$CONF" -d "$DB" --no-http \
    --log-level=warn <"$ROOT/scripts/demo_setup.py"

"$PY" - "$WORK/sandbox.json" <<'PYEOF'
import json
import sys

state = json.load(open(sys.argv[1]))
print("\n== Microsoft cloud sandbox")
for key, value in state.items():
    if not isinstance(value, (dict, list)):
        print(f"   {key}: {value}")
for key, value in state.items():
    if isinstance(value, dict):
        print(f"   {key}:")
        for sub, item in value.items():
            print(f"      {sub}: {item}")
PYEOF
cat <<MSG

== Odoo 18 with the Microsoft CSP add-ons
   URL:      http://127.0.0.1:$HTTP_PORT/odoo/action-csp_connector.csp_connection_action
   Login:    admin
   Password: admin
   Menu:     Microsoft CSP
   Stop with Ctrl+C (stops Odoo and the sandbox).

MSG
"$PY" -m odoo -c "$CONF" -d "$DB" --db-filter="^$DB\$" --log-level=warn
