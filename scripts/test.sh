#!/usr/bin/env bash
# make test: prepare Python (.venv/ with Odoo 18.0, or PYTHON), lint, install the three add-ons
# in a fresh database, then run every test.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
ADDONS=csp_connector,csp_connector_billing,csp_connector_assets,csp_connector_queue

started=$(date +%s)
setup_started=$(clock_now)
check_postgres "make test"
prepare_python "make test"
echo "== Set-up took $(seconds_since "$setup_started") s"

echo "== Lint"
make --no-print-directory lint PYTHON="$PY"

WORK=$(mktemp -d)
DB="csp_test_$(date +%Y%m%d%H%M%S)_$$"
cleanup() {
    set +e
    if [ -n "${PG_SUPER:-}" ]; then
        "${PG_SUPER[@]}" -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null 2>&1
    fi
    stop_postgres
    rm -rf "$WORK"
}
trap cleanup EXIT

find_or_start_postgres
ensure_db_role
CONF="$WORK/odoo.conf"
write_odoo_conf "$CONF" "$(free_port)"

echo "== Installing $ADDONS in a fresh database ($DB, no demo data)"
LOG="$WORK/install.log"
if ! "$PY" -m odoo -c "$CONF" -d "$DB" -i "$ADDONS" --stop-after-init --log-level=info --logfile="$LOG"; then
    tail -n 40 "$LOG" >&2
    echo "make test: installing the add-ons failed (log above)." >&2
    exit 1
fi
if grep -E '^[0-9-]+ [0-9:,]+ [0-9]+ (WARNING|ERROR|CRITICAL) ' "$LOG"; then
    echo "make test: the installation logged the warnings or errors above." >&2
    exit 1
fi
echo "Installed in $(($(date +%s) - started)) s since the start."

echo "== Tests ($(($(date +%s) - started)) s so far)"
TEST_DIRS=(tests)
for addon in ${ADDONS//,/ }; do
    [ -d "$addon/tests" ] && TEST_DIRS+=("$addon/tests")
done
set +e
"$PY" -m pytest -p no:cacheprovider --odoo-config="$CONF" --odoo-database="$DB" \
    --odoo-log-level=warn --odoo-http "${TEST_DIRS[@]}"
status=$?
exit $status
