# Shared by scripts/test.sh and scripts/demo.sh: checks Odoo, finds or starts PostgreSQL,
# makes sure the database role exists, writes an Odoo configuration file.
# Expects ROOT, PY and WORK to be set by the caller.

require_odoo() {
    if ! "$PY" -c "import odoo" >/dev/null 2>&1; then
        echo "$1: 'import odoo' fails in $PY: install Odoo 18.0 first (README, 'Installing Odoo 18.0')." >&2
        exit 2
    fi
    local version
    version=$("$PY" -c "import odoo.release as r; print('%s.%s' % r.version_info[:2])")
    if [ "$version" != "18.0" ]; then
        echo "$1: these add-ons need Odoo 18.0, but $PY imports Odoo $version." >&2
        exit 2
    fi
}

free_port() {
    "$PY" -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"
}

# Sets PGHOST, PGPORT and PG_SUPER (a psql command as a superuser).
# Uses the server at 127.0.0.1:5432 when it answers, else a throwaway cluster in $WORK/pg.
PG_STARTED=""
find_or_start_postgres() {
    PGHOST=127.0.0.1
    PGPORT=${CSP_PGPORT:-5432}
    if pg_isready -q -h "$PGHOST" -p "$PGPORT" 2>/dev/null; then
        PG_SUPER=(psql -X -q -h "$PGHOST" -p "$PGPORT" -U "${CSP_PGSUPERUSER:-postgres}" -d postgres)
        return
    fi
    local bindir
    bindir=$(pg_config --bindir 2>/dev/null || ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
        echo "No PostgreSQL answers at $PGHOST:$PGPORT and no initdb was found to start one: install PostgreSQL 12+." >&2
        exit 2
    fi
    PGPORT=$(free_port)
    mkdir -p "$WORK/pg"
    local as=()
    if [ "$(id -u)" = 0 ]; then
        chown postgres "$WORK/pg" && chmod 711 "$WORK"
        as=(runuser -u postgres --)
    fi
    "${as[@]}" "$bindir/initdb" -q -D "$WORK/pg/data" -U postgres --auth=trust >/dev/null
    "${as[@]}" "$bindir/pg_ctl" -s -D "$WORK/pg/data" -l "$WORK/pg/server.log" -w \
        -o "-p $PGPORT -k $WORK/pg -c listen_addresses=127.0.0.1" start
    PG_STARTED="${as[*]} $bindir/pg_ctl -s -D $WORK/pg/data -m fast stop"
    PG_SUPER=(psql -X -q -h "$PGHOST" -p "$PGPORT" -U postgres -d postgres)
    echo "Started a throwaway PostgreSQL on $PGHOST:$PGPORT (stopped at the end)."
}

stop_postgres() {
    if [ -n "$PG_STARTED" ]; then
        $PG_STARTED >/dev/null 2>&1 || true
    fi
}

# Odoo refuses to run as the 'postgres' role: use (and create) a role of our own.
ensure_db_role() {
    DB_USER=${CSP_DB_USER:-csp_odoo}
    if ! "${PG_SUPER[@]}" -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$DB_USER'" | grep -q 1; then
        "${PG_SUPER[@]}" -c "CREATE ROLE \"$DB_USER\" LOGIN CREATEDB"
    fi
}

write_odoo_conf() {
    # $1: path, $2: http port
    cat >"$1" <<CONF
[options]
db_host = $PGHOST
db_port = $PGPORT
db_user = $DB_USER
db_password = False
addons_path = $ROOT
data_dir = $WORK/data
without_demo = all
http_interface = 127.0.0.1
http_port = $2
CONF
}
