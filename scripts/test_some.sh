#!/usr/bin/env bash
# make test T=<what>: only the tests named, without lint, against a database kept between runs.
# <what>: a test file, a directory, a pytest node id (file::Class::test) or an add-on's name
# (its tests/); several separated by spaces; a word starting with '-' goes to pytest as is
# (other pytest options through PYTEST_ADDOPTS, e.g. PYTEST_ADDOPTS="-k delta").
# The database (CSP_TEST_DB, default csp_kept_<this directory's name>_<a hash of its path>) is
# installed at the first run, updated (-u) when the add-ons' files other than their tests
# changed since the last install or update (a stamp of them, with the Odoo and .venv/ in
# use), and installed anew when that update fails or CSP_TEST_REINSTALL=1. Its configuration,
# file store and stamp live in .test/ (ignored by git). Without a PostgreSQL server to keep it
# on (a throwaway cluster), every run installs a fresh database.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
ADDONS=csp_connector,csp_connector_billing,csp_connector_assets,csp_connector_queue

TARGETS=()
for word in "$@"; do
    if [[ $word == -* ]]; then
        TARGETS+=("$word")
    elif [ -f "$word/__manifest__.py" ] && [ -d "$word/tests" ]; then
        TARGETS+=("${word%/}/tests")
    elif [ -e "${word%%::*}" ]; then
        TARGETS+=("$word")
    else
        echo "make test: T=$word is neither a test file or directory nor an add-on (${ADDONS//,/, })." >&2
        exit 2
    fi
done

started=$(date +%s)
check_postgres "make test"
prepare_python "make test"

if [ -z "$PG_BINDIR" ]; then  # a server to keep the database on
    KEPT=1
    WORK="$ROOT/.test"
    mkdir -p "$WORK"
    name=$(basename "$ROOT" | tr -c 'a-zA-Z0-9\n' '_')
    DB=${CSP_TEST_DB:-csp_kept_${name}_$(printf %s "$ROOT" | cksum | cut -c1-6)}
else
    KEPT=""
    WORK=$(mktemp -d)
    DB="csp_test_$(date +%Y%m%d%H%M%S)_$$"
fi
cleanup() {
    set +e
    if [ -z "$KEPT" ]; then
        [ -n "${PG_SUPER:-}" ] && "${PG_SUPER[@]}" -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null 2>&1
        stop_postgres
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

find_or_start_postgres
ensure_db_role
CONF="$WORK/odoo.conf"
write_odoo_conf "$CONF" "$(free_port)"

# What the database depends on: the add-ons' files but their tests, the Odoo and .venv/ in use.
STAMP_FILE="$WORK/$DB.stamp"
stamp=$("$PY" - "$ROOT" "${ADDONS//,/ }" <<'PYTHON'
import hashlib, pathlib, sys
import odoo.release
root = pathlib.Path(sys.argv[1])
digest = hashlib.sha256(f"{sys.executable} {odoo.release.version}".encode())
venv_stamp = root / ".venv" / ".csp-stamp"
if venv_stamp.exists():
    digest.update(venv_stamp.read_bytes())
for addon in sys.argv[2].split():
    for path in sorted((root / addon).rglob("*")):
        parts = path.relative_to(root).parts
        if path.is_file() and parts[1] != "tests" and "__pycache__" not in parts:
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
print(digest.hexdigest())
PYTHON
)

odoo_run() {  # $1: what (install or update), the rest: Odoo's options
    local what=$1 log="$WORK/$1.log"
    shift
    : >"$log"  # Odoo appends to its log file: a former run's warnings are not this one's
    if ! "$PY" -m odoo -c "$CONF" -d "$DB" "$@" --stop-after-init --log-level=info --logfile="$log"; then
        tail -n 40 "$log" >&2
        echo "make test: the $what failed (log above)." >&2
        return 1
    fi
    if grep -E '^[0-9-]+ [0-9:,]+ [0-9]+ (WARNING|ERROR|CRITICAL) ' "$log"; then
        echo "make test: the $what logged the warnings or errors above." >&2
        return 1
    fi
}

install_fresh() {
    rm -f "$STAMP_FILE"
    "${PG_SUPER[@]}" -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null
    rm -rf "$WORK/data/filestore/$DB"
    echo "== Installing $ADDONS in a fresh database ($DB, no demo data)"
    odoo_run install -i "$ADDONS" || exit 1
}

exists=$("${PG_SUPER[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'")
if [ -z "$KEPT" ] || [ "$exists" != 1 ] || [ ! -f "$STAMP_FILE" ] || [ "${CSP_TEST_REINSTALL:-0}" = 1 ]; then
    install_fresh
elif [ "$(cat "$STAMP_FILE")" != "$stamp" ]; then
    echo "== The add-ons changed since $DB was installed: updating them (-u)"
    if ! odoo_run update -u "$ADDONS"; then
        echo "make test: installing them in a fresh database instead." >&2
        install_fresh
    fi
else
    echo "== $DB is up to date with the add-ons (kept; CSP_TEST_REINSTALL=1 installs it anew)"
fi
[ -n "$KEPT" ] && echo "$stamp" >"$STAMP_FILE"

echo "== Tests: ${TARGETS[*]} ($(($(date +%s) - started)) s so far)"
set +e
"$PY" -m pytest -p no:cacheprovider --odoo-config="$CONF" --odoo-database="$DB" \
    --odoo-log-level=warn --odoo-http "${TARGETS[@]}"
exit $?
