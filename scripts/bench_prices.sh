#!/usr/bin/env bash
# make bench-prices: a licence price sheet of CSP_BENCH_ROWS rows (default 100,000) imported
# by the prices step and imported again without change, against streaming and parsing the
# same sheet; on a fresh database with csp_connector_billing; writes bench-results/prices.json.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
export CSP_BENCH_TENANTS=${CSP_BENCH_TENANTS:-2}
run_benchmark prices csp_connector_billing " prices: a ${CSP_BENCH_ROWS:-100000}-row price sheet" \
    --users "${CSP_BENCH_USERS:-2}"
