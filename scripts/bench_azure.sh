#!/usr/bin/env bash
# make bench-azure: the Azure consumption step reading a Microsoft-sized usage export
# (1,000,000 records over 100 customers by default), on a fresh database with
# csp_connector_billing; writes bench-results/azure.json.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
# about a third of the sandbox's tenants are customers with an Azure plan
export CSP_BENCH_TENANTS=${CSP_BENCH_TENANTS:-320}
run_benchmark azure csp_connector_billing \
    " azure: ${CSP_BENCH_RECORDS:-1000000} usage records over ${CSP_BENCH_CUSTOMERS:-100} customers"
