#!/usr/bin/env bash
# The interpreter the local pre-commit hooks run their tools with: CSP_PYTHON (set by
# `make lint` to its PYTHON), else the project's .venv/, else python3.
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${CSP_PYTHON:-}
if [ -z "$PY" ]; then
    if [ -x "$ROOT/.venv/bin/python" ]; then PY=$ROOT/.venv/bin/python; else PY=python3; fi
fi
exec "$PY" "$@"
