#!/usr/bin/env bash
# make bench-licences: 200 customers x 10 subscriptions through the licences step,
# alternating with its baseline (run_alternating_benchmark in scripts/lib.sh: each run on a
# fresh copy of the set-up database); writes bench-results/licences.json.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
# about 85 % of the sandbox's tenants are resellers with consent: ~200 customers
export CSP_BENCH_TENANTS=${CSP_BENCH_TENANTS:-236}
USERS=${CSP_BENCH_USERS:-60}
run_alternating_benchmark licences csp_connector " licences: $CSP_BENCH_TENANTS tenants x $USERS users" \
    --users "$USERS"
