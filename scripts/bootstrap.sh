# Sourced by scripts/lib.sh (so by scripts/test.sh, scripts/demo.sh and scripts/bench_users.sh).
# prepare_python LABEL sets PY to a Python that imports Odoo 18.0 and the project's requirements:
#  - PYTHON set: that interpreter as it is (checked; the project's requirements installed into it);
#  - else the project-local virtual environment .venv/: reused when its stamp (requirement files,
#    this script, the base Python, the content of ODOO_SOURCE (a checksum of the archive, not its
#    path), psycopg2 flavour) is current, built otherwise: Odoo 18.0 from ODOO_SOURCE unpacked
#    under .venv/ and installed editable, then the requirements. A .venv/ that is a symbolic link
#    (another clone's environment) is refused, never emptied or rebuilt through the link.
# Every check that can fail runs before the heavy work, and says in one line what to do.
# Expects ROOT to be set by the caller.

ODOO_SOURCE_DEFAULT=https://nightly.odoo.com/18.0/nightly/src/odoo_18.0.latest.tar.gz
ODOO_SERIES=18.0
VENV="$ROOT/.venv"
SETUP_UNPACK=""
SETUP_NEW_VENV=""

setup_fail() {
    echo "$SETUP_LABEL: $*" >&2
    [ -n "${SETUP_UNPACK:-}" ] && rm -rf "$SETUP_UNPACK"
    # made only for the lock: leave nothing behind (never through a link)
    [ -n "${SETUP_NEW_VENV:-}" ] && [ ! -L "$VENV" ] && rm -rf "$VENV"
    exit 2
}

# .venv/ must be this clone's own directory: a symbolic link (to another clone's environment)
# would be emptied and rebuilt through the link, under the other clone's feet.
refuse_linked_venv() {
    if [ -L "$VENV" ]; then
        setup_fail "$VENV is a symbolic link (to $(readlink "$VENV")): nothing was changed. Each clone builds its own environment: remove the link (rm $VENV, which leaves its target alone) and rerun, or set PYTHON to an interpreter that already imports Odoo $ODOO_SERIES."
    fi
}

# A checksum of a file's content (the same archive under another path or date is the same).
content_checksum() {
    "$BASE_PY" - "$1" <<'PYEOF'
import hashlib
import sys

digest = hashlib.sha256()
with open(sys.argv[1], "rb") as source:
    for block in iter(lambda: source.read(1 << 20), b""):
        digest.update(block)
print(digest.hexdigest())
PYEOF
}

# The interpreter the virtual environment is made from: python3 on PATH, 3.10 or newer, with venv.
find_base_python() {
    BASE_PY=$(command -v python3 || true)
    [ -n "$BASE_PY" ] || setup_fail "no python3 on PATH: install Python 3.10 or newer."
    if ! "$BASE_PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
        setup_fail "$BASE_PY is Python $("$BASE_PY" -c 'import platform; print(platform.python_version())'); Odoo 18.0 needs Python 3.10 or newer: install it, or set PYTHON to a Python with Odoo 18.0."
    fi
    # The interpreter behind a venv's python3 (also when .venv/ itself is activated).
    local real
    real=$("$BASE_PY" -c 'import os, sys; print(os.path.realpath(getattr(sys, "_base_executable", "") or sys.executable))')
    [ -x "$real" ] && BASE_PY=$real
    if ! "$BASE_PY" -c 'import ensurepip, venv' 2>/dev/null; then
        setup_fail "$BASE_PY cannot make virtual environments (no venv/ensurepip module): install your system's python3-venv package."
    fi
}

# psycopg2 builds from source only where PostgreSQL's client headers (pg_config), Python's
# headers and a C compiler are; else its binary wheel, psycopg2-binary.
psycopg2_flavour() {
    local inc
    inc=$(pg_config --includedir 2>/dev/null || true)
    PSYCOPG2=psycopg2-binary
    if [ -n "$inc" ] && [ -f "$inc/libpq-fe.h" ] && command -v cc >/dev/null &&
        "$BASE_PY" -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then
        PSYCOPG2=psycopg2
    fi
}

# What the built environment depends on; a change of any of it rebuilds .venv/.
stamp_text() {
    local src=$ODOO_SOURCE
    echo "python $("$BASE_PY" -c 'import sys; print(sys.version)') $BASE_PY"
    echo "psycopg2 $PSYCOPG2"
    if [[ "$src" =~ ^[A-Za-z][A-Za-z0-9+.-]*:// ]]; then
        echo "source url $src"
    elif [ -f "$src" ]; then
        # by content: the same archive copied elsewhere (or touched) needs no rebuild
        echo "source file sha256 $(content_checksum "$src")"
    elif [ -d "$src" ]; then
        echo "source dir $(cd "$src" && pwd)"
        cat "$src/odoo/release.py" "$src/requirements.txt" 2>/dev/null | cksum
    else
        echo "source missing $src"
    fi
    (cd "$ROOT" && cat requirements*.txt scripts/bootstrap.sh) | cksum
}

# Sets ODOO_SRC: a directory holding Odoo's source, from ODOO_SOURCE (URL, archive or directory).
# Archives are unpacked into $1 (a new directory under .venv/).
resolve_odoo_source() {
    local src=$ODOO_SOURCE unpack=$1 archive found error
    local hint="set ODOO_SOURCE to an Odoo $ODOO_SERIES source tarball (.tar.gz, .tar.xz, .zip), source directory or URL"
    if [[ "$src" =~ ^[A-Za-z][A-Za-z0-9+.-]*:// ]]; then
        archive="$VENV/downloads/$(basename "${src%%\?*}")"
        if [ ! -s "$archive" ]; then
            mkdir -p "$VENV/downloads"
            echo "Downloading Odoo $ODOO_SERIES from $src"
            if ! error=$("$BASE_PY" - "$src" "$archive" 2>&1 <<'PYEOF'
import os
import shutil
import sys
import urllib.request

url, path = sys.argv[1:]
try:
    with urllib.request.urlopen(url, timeout=60) as answer, open(path + ".part", "wb") as out:
        shutil.copyfileobj(answer, out)
except Exception as error:  # noqa: BLE001 - one line for any network failure
    sys.exit(f"{error}")
os.replace(path + ".part", path)
PYEOF
            ); then
                rm -f "$archive.part"
                setup_fail "could not download ODOO_SOURCE=$src ($(echo "$error" | tail -n 1)): $hint."
            fi
        fi
    elif [ -f "$src" ]; then
        archive=$src
    elif [ -d "$src" ]; then
        [ -f "$src/odoo/release.py" ] ||
            setup_fail "ODOO_SOURCE=$src is a directory without odoo/release.py, not Odoo's source: $hint."
        ODOO_SRC=$(cd "$src" && pwd)
        return
    else
        setup_fail "ODOO_SOURCE=$src: no such file or directory: $hint."
    fi
    if "$BASE_PY" -c 'import sys, zipfile; sys.exit(not zipfile.is_zipfile(sys.argv[1]))' "$archive"; then
        "$BASE_PY" -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' \
            "$archive" "$unpack" || setup_fail "ODOO_SOURCE=$src: the zip archive cannot be unpacked: $hint."
    elif ! tar -xf "$archive" -C "$unpack" 2>/dev/null; then
        setup_fail "ODOO_SOURCE=$src is not a readable .tar.gz, .tar.xz or .zip archive: $hint."
    fi
    found=$(find "$unpack" -maxdepth 3 -path '*/odoo/release.py' | head -n 1)
    [ -n "$found" ] || setup_fail "ODOO_SOURCE=$src holds no odoo/release.py, it is not Odoo's source: $hint."
    ODOO_SRC=$(dirname "$(dirname "$found")")
}

check_odoo_series() {
    local series
    series=$("$BASE_PY" - "$ODOO_SRC/odoo/release.py" <<'PYEOF' 2>/dev/null || echo unknown
import sys

namespace = {}
with open(sys.argv[1]) as release:
    exec(compile(release.read(), sys.argv[1], "exec"), namespace)  # noqa: S102 - Odoo's own file
print("%s.%s" % tuple(namespace["version_info"][:2]))
PYEOF
    )
    if [ "$series" != "$ODOO_SERIES" ]; then
        setup_fail "ODOO_SOURCE=$ODOO_SOURCE holds Odoo $series, these add-ons need Odoo $ODOO_SERIES: point ODOO_SOURCE at Odoo's $ODOO_SERIES source."
    fi
}

# What pip said went wrong, from one step's output ($1): its error lines (the package that
# failed and why), else the end of the output.
pip_failure() {
    local found
    found=$(grep -E '^(ERROR|error):|^ *(×|╰─>)|Failed to build|Could not (find|build|install)|No matching distribution|ModuleNotFoundError|fatal error' "$1" |
        grep -v -E '^ERROR: (pip.s dependency resolver|Exception:)$' | awk '!seen[$0]++' | tail -n 12 || true)
    if [ -n "$found" ]; then echo "$found"; else tail -n 15 "$1"; fi
}

pip_step() {
    # $1: what is being installed (for the failure line); then pip's arguments.
    local what=$1 out first
    shift
    out="$VENV/pip-step.log"
    if ! "$VENV/bin/python" -m pip --disable-pip-version-check install "$@" >"$out" 2>&1; then
        cat "$out" >>"$VENV/pip.log"
        pip_failure "$out" >&2
        first=$(pip_failure "$out" | grep -m 1 -E '^(ERROR|error):|Failed to build|No matching' | sed -E 's/^(ERROR|error): *//' || true)
        setup_fail "installing $what into .venv/ failed${first:+: $first} (pip's errors above; full log .venv/pip.log). Fix the cause, then rerun (rm -rf .venv to start over)."
    fi
    cat "$out" >>"$VENV/pip.log"
    rm -f "$out"
}

build_venv() {
    local started unpack reqs constraints build=() name
    refuse_linked_venv  # what follows empties .venv/
    started=$(clock_now)
    rm -rf "$VENV"/.unpack.*  # left by an interrupted run
    unpack=$(mktemp -d "$VENV/.unpack.XXXXXX")
    SETUP_UNPACK=$unpack
    resolve_odoo_source "$unpack"
    check_odoo_series
    echo "== Building .venv/: Odoo $ODOO_SERIES from $ODOO_SOURCE and the project's requirements"
    # Checks passed: replace the old environment (downloads are kept).
    for name in "$VENV"/* "$VENV"/.csp-stamp; do
        case "$name" in "$VENV/downloads" | "$VENV/.lock") ;; *) rm -rf "$name" ;; esac
    done
    if [ "${ODOO_SRC#"$unpack"}" != "$ODOO_SRC" ]; then
        mv "$ODOO_SRC" "$VENV/odoo"
        ODOO_SRC="$VENV/odoo"
    fi
    rm -rf "$unpack"
    SETUP_UNPACK="" SETUP_NEW_VENV=""
    local said
    if ! said=$("$BASE_PY" -m venv "$VENV" 2>&1); then
        echo "$said" >&2
        setup_fail "$BASE_PY -m venv .venv failed: $(echo "$said" | grep -v '^ *$' | tail -n 1) (a missing venv/ensurepip: install your system's python3-venv package)."
    fi
    : >"$VENV/pip.log"
    "$VENV/bin/python" -m pip --disable-pip-version-check install -q --upgrade pip >>"$VENV/pip.log" 2>&1 ||
        echo "(pip could not be upgraded in .venv/; going on with $("$VENV/bin/python" -m pip --version))"
    # Odoo's pinned cbor2 builds only with setuptools < 81.
    constraints="$VENV/build-constraints.txt"
    echo 'setuptools<81' >"$constraints"
    if "$VENV/bin/python" -m pip install --help 2>/dev/null | grep -q -- '--build-constraint'; then
        build=(--build-constraint "$constraints")
    else  # older pip: build environments follow PIP_CONSTRAINT (keep the configured constraints)
        export PIP_CONSTRAINT
        PIP_CONSTRAINT="${PIP_CONSTRAINT:-$("$VENV/bin/python" -m pip config list 2>/dev/null |
            sed -n -E "s/^(global|install)\.constraint='(.*)'$/\2/p" | tr '\n' ' ')} $constraints"
    fi
    # python-ldap (headers needed) only serves Odoo's LDAP add-on; psycopg2 as psycopg2_flavour says.
    reqs="$VENV/odoo-requirements.txt"
    grep -v -i -E '^[[:space:]]*python-ldap' "$ODOO_SRC/requirements.txt" |
        if [ "$PSYCOPG2" = psycopg2-binary ]; then
            sed -E 's/^([[:space:]]*)psycopg2([^-_.A-Za-z0-9]|$)/\1psycopg2-binary\2/'
        else
            cat
        fi >"$reqs"
    echo "   Odoo's Python requirements (without python-ldap; $PSYCOPG2)"
    pip_step "Odoo's requirements" "${build[@]}" -r "$reqs"
    echo "   Odoo $ODOO_SERIES, editable, from $ODOO_SRC"
    pip_step "Odoo" "${build[@]}" --no-deps -e "$ODOO_SRC" --config-settings editable_mode=compat
    if [ "$PSYCOPG2" = psycopg2-binary ]; then
        # Odoo's metadata asks for psycopg2, which pip would then build for the add-on wheels
        # (they require odoo): in .venv/ only, record the binary wheel installed in its place.
        sed -i.orig -E 's/^Requires-Dist: psycopg2([^-_.A-Za-z0-9]|$)/Requires-Dist: psycopg2-binary\1/' \
            "$VENV"/lib/python*/site-packages/odoo-*.dist-info/METADATA
        rm -f "$VENV"/lib/python*/site-packages/odoo-*.dist-info/METADATA.orig
    fi
    echo "   the project's requirements ($(cd "$ROOT" && echo requirements*.txt))"
    local project=()
    for name in "$ROOT"/requirements*.txt; do project+=(-r "$name"); done
    pip_step "the project's requirements" "${build[@]}" "${project[@]}"
    if ! said=$("$VENV/bin/python" -c 'import odoo, odoo.cli' 2>&1); then
        echo "$said" >>"$VENV/pip.log"
        echo "$said" | tail -n 5 >&2
        setup_fail "Odoo was installed into .venv/ but 'import odoo.cli' fails: $(echo "$said" | tail -n 1). Fix that (often a requirement missing from Odoo's requirements.txt), or rm -rf .venv and rerun."
    fi
    echo "$STAMP" >"$VENV/.csp-stamp"
    echo "== .venv/ built in $(seconds_since "$started") s"
}

# Wall-clock seconds since $1 (a value of clock_now), one decimal.
clock_now() {
    echo "${EPOCHREALTIME:-$(date +%s)}" | tr , .
}
seconds_since() {
    LC_ALL=C awk -v start="$1" -v now="$(clock_now)" 'BEGIN { printf "%.1f", now - start }'
}

prepare_python() {
    SETUP_LABEL=$1
    if [ -n "${PYTHON:-}" ]; then
        PY=$PYTHON
        require_odoo "$SETUP_LABEL"
        echo "== Installing the project's requirements into $PY"
        local project=()
        for name in "$ROOT"/requirements*.txt; do project+=(-r "$name"); done
        "$PY" -m pip install -q --disable-pip-version-check "${project[@]}" 2>&1 |
            grep -v -E "^WARNING: (Running pip as|Location)" || true
        return
    fi
    ODOO_SOURCE=${ODOO_SOURCE:-$ODOO_SOURCE_DEFAULT}
    refuse_linked_venv
    find_base_python
    psycopg2_flavour
    SETUP_NEW_VENV=""
    [ -d "$VENV" ] || SETUP_NEW_VENV=1
    mkdir -p "$VENV"
    if command -v flock >/dev/null; then  # one build at a time (make demo and make test together)
        exec 9>"$VENV/.lock"
        flock 9
    fi
    STAMP=$(stamp_text)
    if [ -x "$VENV/bin/python" ] && [ "$(cat "$VENV/.csp-stamp" 2>/dev/null)" = "$STAMP" ]; then
        SETUP_NEW_VENV=""
        echo "== .venv/ is current (Odoo $ODOO_SERIES from $ODOO_SOURCE)"
    else
        build_venv
    fi
    exec 9>&-  # release the lock: Odoo and the sandbox must not inherit it
    PY="$VENV/bin/python"
}
