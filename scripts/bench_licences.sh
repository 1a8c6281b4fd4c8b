#!/usr/bin/env bash
# make bench-licences: 200 customers x 10 subscriptions through the licences step, on the
# user benchmark's set-up (fresh database, sandbox); writes bench-results/licences.json.
set -euo pipefail
export CSP_BENCH_NAME=licences
# about 85 % of the sandbox's tenants are resellers with consent: ~200 customers
export CSP_BENCH_TENANTS=${CSP_BENCH_TENANTS:-236}
export CSP_BENCH_USERS=${CSP_BENCH_USERS:-60}
exec bash "$(dirname "$0")/bench_users.sh"
