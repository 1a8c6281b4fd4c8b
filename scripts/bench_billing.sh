#!/usr/bin/env bash
# make bench-billing: OCA contract's invoicing run with our pro-rata adjustment lines against
# the same run without them (500 customers x 10 subscriptions, 5 % changed mid-cycle), on a
# fresh database with csp_connector_billing; writes bench-results/billing.json.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
# about 85 % of the sandbox's tenants are resellers with consent: 600 give the 500 customers
export CSP_BENCH_TENANTS=${CSP_BENCH_TENANTS:-600}
run_benchmark billing csp_connector_billing \
    " billing: ${CSP_BENCH_CUSTOMERS:-500} customers x ${CSP_BENCH_SUBSCRIPTIONS:-10} subscriptions" \
    --users "${CSP_BENCH_USERS:-5}"
