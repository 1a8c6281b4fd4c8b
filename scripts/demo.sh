#!/usr/bin/env bash
# make demo: start the Microsoft cloud sandbox and an Odoo 18 with the three add-ons,
# connect them and bill (scripts/demo_setup.py), then serve Odoo until Ctrl+C.
# Everything it keeps (CA bundle, sandbox state, Odoo filestore, logs) lives in .demo/.
# CSP_DEMO_SERVE=0 stops after the set-up and its summary (nothing served).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
ADDONS=csp_connector,csp_connector_billing,csp_connector_assets
DB=${CSP_DEMO_DB:-csp_demo}
HTTP_PORT=${CSP_DEMO_PORT:-8069}
SANDBOX_PORT=${CSP_SANDBOX_PORT:-8443}
SERVE=${CSP_DEMO_SERVE:-1}
ODOO_URL="http://127.0.0.1:$HTTP_PORT"

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

# the sandbox is generated anew at each start (its customers' subscriptions dated from
# today): the demo's contracts and invoices start from a new database each time
if "${PG_SUPER[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1; then
    echo "== Dropping the previous demo database $DB"
    "${PG_SUPER[@]}" -c "DROP DATABASE \"$DB\" WITH (FORCE)"
fi
echo "== Creating the database $DB with the three add-ons"
"$PY" -m odoo -c "$CONF" -d "$DB" -i "$ADDONS" --stop-after-init --log-level=warn

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

echo "== Connecting $DB to the sandbox and billing: authorise, discover, map, consent,"
echo "   every step, prices, contracts, invoices, a quantity change, SSO, webhooks"
CSP_SANDBOX_STATE="$WORK/sandbox.json" CSP_DEMO_URL="$ODOO_URL" CSP_DEMO_PY="$PY" \
    "$PY" -m odoo shell -c "$CONF" \
    -d "$DB" --no-http --log-level=warn <"$ROOT/scripts/demo_setup.py"

cat <<MSG

== Odoo 18 with the Microsoft CSP add-ons
   URL:      $ODOO_URL/odoo/action-csp_connector.csp_connection_action
   Login:    admin
   Password: admin
   Menu:     Microsoft CSP
MSG
if [ "$SERVE" = 0 ]; then
    echo "   (CSP_DEMO_SERVE=0: set up only, not served)"
    exit 0
fi
echo "   Stop with Ctrl+C (stops Odoo and the sandbox)."
echo
"$PY" -m odoo -c "$CONF" -d "$DB" --db-filter="^$DB\$" --log-level=warn
