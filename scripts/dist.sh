#!/usr/bin/env bash
# make dist: one wheel per add-on (every directory holding __manifest__.py) into dist/, named
# the OCA way (odoo-addon-<name>), built by whool from the add-on's pyproject.toml; its
# requirements come from the manifest (external_dependencies, depends).
# Usage: scripts/dist.sh [OUTDIR]   (PYTHON: the interpreter whose pip builds; whool installed
# in it builds offline, otherwise pip fetches whool from the package index)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
OUT=${1:-$ROOT/dist}
cd "$ROOT"
addons=()
for manifest in */__manifest__.py; do
    addon=${manifest%/__manifest__.py}
    if ! grep -qs 'whool.buildapi' "$addon/pyproject.toml"; then
        echo "make dist: $addon/pyproject.toml is missing or does not use whool; create it with:" >&2
        printf '  printf '\''[build-system]\\nrequires = ["whool"]\\nbuild-backend = "whool.buildapi"\\n'\'' > %s/pyproject.toml\n' "$addon" >&2
        exit 1
    fi
    addons+=("./$addon")
done
isolation=()
if "$PY" -c 'import whool' 2>/dev/null; then
    isolation=(--no-build-isolation)
fi
mkdir -p "$OUT"
rm -f "$OUT"/odoo_addon_*.whl
"$PY" -m pip wheel --quiet --no-deps "${isolation[@]}" --wheel-dir "$OUT" "${addons[@]}"
ls -1 "$OUT"/odoo_addon_*.whl
