#!/usr/bin/env bash
# make bench-assets: 100 tenants x 500 Intune devices through the device import,
# alternating with its baseline (run_alternating_benchmark in scripts/lib.sh: each run on a
# fresh copy of the set-up database); prints the figures and writes bench-results/assets.json.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
DEVICES=${CSP_BENCH_DEVICES:-500}
run_alternating_benchmark assets csp_connector_assets ": ${CSP_BENCH_TENANTS:-100} tenants x $DEVICES devices" \
    --users "${CSP_BENCH_USERS:-50}" --devices "$DEVICES"
