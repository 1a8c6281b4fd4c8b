# Shared by scripts/test.sh, scripts/demo.sh and the benchmarks (scripts/bench_*.sh): prepares Python
# (bootstrap.sh), checks Odoo, finds or starts PostgreSQL, makes sure the database role exists,
# writes an Odoo configuration file.
# Expects PY and WORK to be set by the caller where they are used; ROOT defaults to the
# project's directory.
ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}

# shellcheck source=scripts/bootstrap.sh
. "$ROOT/scripts/bootstrap.sh"

require_odoo() {
    if ! "$PY" -c "import odoo" >/dev/null 2>&1; then
        echo "$1: 'import odoo' fails in PYTHON=$PY: unset PYTHON to let $1 build .venv/ with Odoo 18.0, or point PYTHON at a Python with Odoo 18.0." >&2
        exit 2
    fi
    local version
    version=$("$PY" -c "import odoo.release as r; print('%s.%s' % r.version_info[:2])")
    if [ "$version" != "18.0" ]; then
        echo "$1: these add-ons need Odoo 18.0, but PYTHON=$PY imports Odoo $version: unset PYTHON to let $1 build .venv/ with Odoo 18.0." >&2
        exit 2
    fi
}

free_port() {
    "$PY" -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"
}

pg_answers() {
    if command -v pg_isready >/dev/null; then
        pg_isready -q -h "$1" -p "$2" 2>/dev/null
    else
        (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
    fi
}

# Run first, before any heavy work: sets PGHOST, PGPORT and PG_BINDIR (empty when the server at
# 127.0.0.1:$CSP_PGPORT, default 5432, answers; else where initdb lies), or stops with one line.
# CSP_PG_BINDIR names the directory of initdb and pg_ctl when they are elsewhere.
check_postgres() {
    PGHOST=127.0.0.1
    PGPORT=${CSP_PGPORT:-5432}
    PG_BINDIR=""
    if pg_answers "$PGHOST" "$PGPORT"; then
        command -v psql >/dev/null || {
            echo "$1: PostgreSQL answers at $PGHOST:$PGPORT but psql is missing: install PostgreSQL's client (e.g. apt-get install postgresql-client)." >&2
            exit 2
        }
        return
    fi
    local dir
    if [ -n "${CSP_PG_BINDIR:-}" ]; then
        dir=$CSP_PG_BINDIR
    elif command -v initdb >/dev/null; then
        dir=$(dirname "$(command -v initdb)")
    else
        dir=$(pg_config --bindir 2>/dev/null || true)
        [ -x "$dir/initdb" ] || dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    fi
    if [ -z "$dir" ] || [ ! -x "$dir/initdb" ] || [ ! -x "$dir/pg_ctl" ] || ! command -v psql >/dev/null; then
        echo "$1: no PostgreSQL answers at $PGHOST:$PGPORT and no initdb/pg_ctl/psql were found to start one: install PostgreSQL 12+ (e.g. apt-get install postgresql), start it, or set CSP_PGPORT / CSP_PG_BINDIR." >&2
        exit 2
    fi
    PG_BINDIR=$dir
}

# Sets PG_SUPER (a psql command as a superuser): the server check_postgres found, else a
# throwaway cluster in $WORK/pg.
PG_STARTED=""
find_or_start_postgres() {
    if [ -z "$PG_BINDIR" ]; then
        PG_SUPER=(psql -X -q -h "$PGHOST" -p "$PGPORT" -U "${CSP_PGSUPERUSER:-postgres}" -d postgres)
        return
    fi
    local bindir=$PG_BINDIR
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

# The benchmarks' set-up (scripts/bench_<name>.sh): a sandbox, a fresh database $DB with $2
# installed, an Odoo configuration file. $1: name, $2: add-on to install, the rest: sandbox
# options besides --tenants (CSP_BENCH_TENANTS, default 100).
start_benchmark() {
    cd "$ROOT"
    BENCH_NAME=$1
    local addon=$2
    shift 2
    local tenants=${CSP_BENCH_TENANTS:-100}
    check_postgres "make bench-$BENCH_NAME"
    prepare_python "make bench-$BENCH_NAME"

    WORK=$(mktemp -d)
    DB="csp_bench_${BENCH_NAME}_$$"
    BENCH_COPY=""
    SANDBOX_PID=""
    trap benchmark_cleanup EXIT

    "$PY" -m mscloud_sandbox serve --port 0 --tenants "$tenants" "$@" \
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
    echo "== Installing $addon in a fresh database"
    "$PY" -m odoo -c "$WORK/odoo.conf" -d "$DB" -i "$addon" --stop-after-init --log-level=warn
}

# scripts/bench_$BENCH_NAME.py inside `odoo shell` on database $1 (scripts/ on its path,
# for bench_common); the other arguments: VAR=value settings for it.
bench_shell() {
    local db=$1
    shift
    env "$@" CSP_SANDBOX_STATE="$WORK/sandbox.json" \
        CSP_BENCH_OUT="$ROOT/bench-results/$BENCH_NAME.json" CSP_BENCH_DIR="$WORK/runs" \
        PYTHONPATH="$ROOT/scripts${PYTHONPATH:+:$PYTHONPATH}" \
        "$PY" -m odoo shell -c "$WORK/odoo.conf" -d "$db" --no-http \
        --log-level="${CSP_BENCH_LOG_LEVEL:-warn}" <"$ROOT/scripts/bench_$BENCH_NAME.py"
}

# The benchmark in one `odoo shell` (bench-billing, which repeats its runs itself).
# $1: name, $2: add-on to install, $3: the headline's end (e.g. ' billing: 500 customers'),
# the rest: sandbox options besides --tenants.
run_benchmark() {
    local what=$3
    start_benchmark "$1" "$2" "${@:4}"
    mkdir -p "$WORK/runs"
    echo "== Benchmark$what"
    bench_shell "$DB"
    echo "Written to bench-results/$BENCH_NAME.json"
}

# Database $2, a copy of $1 (which no one may be connected to) with its filestore.
copy_database() {
    local tries=0
    until "${PG_SUPER[@]}" -c "CREATE DATABASE \"$2\" TEMPLATE \"$1\" OWNER \"$DB_USER\"" \
        >/dev/null 2>&1; do
        tries=$((tries + 1))
        if [ "$tries" -ge 5 ]; then  # say why, once
            "${PG_SUPER[@]}" -c "CREATE DATABASE \"$2\" TEMPLATE \"$1\" OWNER \"$DB_USER\""
            return 1
        fi
        sleep 2  # the set-up's or the previous run's connections closing
    done
    if [ -d "$WORK/data/filestore/$1" ]; then
        mkdir -p "$WORK/data/filestore"
        # attachments' files never change once written: hard links are a copy
        cp -al "$WORK/data/filestore/$1" "$WORK/data/filestore/$2" 2>/dev/null \
            || cp -a "$WORK/data/filestore/$1" "$WORK/data/filestore/$2"
    fi
}

drop_database() {
    "${PG_SUPER[@]}" -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)" >/dev/null
    rm -rf "${WORK:?}/data/filestore/$1"
}

# The alternating benchmarks (bench-users, bench-assets, bench-licences): the script's
# "setup" phase on the set-up database, then its "measured" and "baseline" phases
# alternately (CSP_BENCH_PAIRS pairs, default 3, at least 2), each in its own `odoo shell`
# on a fresh copy of the set-up database, dropped after it; then its "report" phase
# (median and spread of the ratio, targets; exit status 1 when one is false), which writes
# bench-results/$1.json. Arguments as run_benchmark's.
run_alternating_benchmark() {
    local what=$3
    start_benchmark "$1" "$2" "${@:4}"
    mkdir -p "$WORK/runs"
    local pairs=${CSP_BENCH_PAIRS:-3}
    [ "$pairs" -ge 2 ] || pairs=2
    echo "== Set-up of the benchmark$what (not timed)"
    bench_shell "$DB" CSP_BENCH_PHASE=setup
    echo "== $pairs pairs of runs, measured then baseline, each on a fresh copy of the set-up"
    local number kind last
    for number in $(seq 1 "$pairs"); do
        for kind in measured baseline; do
            BENCH_COPY="${DB}_run"
            copy_database "$DB" "$BENCH_COPY"
            last=0
            [ "$number" = "$pairs" ] && [ "$kind" = measured ] && last=1
            bench_shell "$BENCH_COPY" CSP_BENCH_PHASE="$kind" CSP_BENCH_RUN="$number" \
                CSP_BENCH_LAST="$last"
            drop_database "$BENCH_COPY"
            BENCH_COPY=""
        done
    done
    echo "== Result"
    bench_shell "$DB" CSP_BENCH_PHASE=report
    echo "Written to bench-results/$BENCH_NAME.json"
}

benchmark_cleanup() {
    set +e
    [ -n "$SANDBOX_PID" ] && kill "$SANDBOX_PID" 2>/dev/null
    if [ -n "${PG_SUPER:-}" ]; then
        [ -n "${BENCH_COPY:-}" ] && drop_database "$BENCH_COPY" 2>/dev/null
        "${PG_SUPER[@]}" -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null 2>&1
    fi
    stop_postgres
    rm -rf "$WORK"
}
