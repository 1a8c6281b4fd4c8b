#!/usr/bin/env bash
# make bench-users: 100 tenants x 500 users through the user import, alternating with its
# baseline (run_alternating_benchmark in scripts/lib.sh: each run on a fresh copy of the
# set-up database); prints the figures and writes bench-results/users.json. Other
# alternating benchmarks reuse it with CSP_BENCH_NAME (scripts/bench_<name>.py, with the
# phases scripts/bench_common.py describes; bench-results/<name>.json).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
NAME=${CSP_BENCH_NAME:-users}
USERS=${CSP_BENCH_USERS:-500}
run_alternating_benchmark "$NAME" csp_connector " $NAME: ${CSP_BENCH_TENANTS:-100} tenants x $USERS users" \
    --users "$USERS"
