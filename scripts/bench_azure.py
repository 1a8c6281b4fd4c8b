"""make bench-azure: the Azure consumption step on a Microsoft-sized usage export.

Run by scripts/bench_azure.sh inside `odoo shell` (which provides `env`) on a fresh
database, with the sandbox serving about 320 tenants. Set-up (not timed): 100 customers
with an Azure plan (CSP_BENCH_CUSTOMERS), each given a monthly sale contract; the
sandbox's export made Microsoft-sized (each metered resource repeated so that the
current month's unbilled export holds about CSP_BENCH_RECORDS records, 1,000,000 by
default; 5,000 records per blob); the issued invoices counted as read, so that the step
reads that one export. Dates: the sandbox's clock and Odoo's (freezegun) on the 28th of
this month, 28 days of usage.

Measured, in this process (streamed: the records are never all in memory):

* "first import": the step (as the integrator), its time, records per second and peak
  RSS, and the RSS growth from 10 % of the file to its highest up to 100 % (target:
  < 100 MB);
* then pairs (CSP_BENCH_PAIRS, default 2), alternating: the baseline, the same export
  only read and aggregated (download, gunzip, JSON, totals: no database), and the
  measured, a re-import with no change (target: 0 rows written); their median ratio
  and spread.

Prints the figures, writes them as JSON (CSP_BENCH_OUT); exit status 1 when a target is
false.
"""

# ruff: noqa: F821 - `env` is provided by `odoo shell`
# pylint: disable=print-used
import datetime as dt
import json
import math
import os
import time

import bench_common as bench
from freezegun import freeze_time

from odoo.addons.csp_connector_billing.billing import azure
from odoo.addons.csp_connector_billing.microsoft import usage_exports

from sandbox_connection import authorize, connection_values

RECORDS = int(os.environ.get("CSP_BENCH_RECORDS", "1000000"))
CUSTOMERS = int(os.environ.get("CSP_BENCH_CUSTOMERS", "100"))
TABLES = ("csp_azure_usage", "contract_line", "account_move", "account_move_line")
DAY = 28

state, out_path, control = bench.sandbox()
today = dt.date.today()
bench_day = today.replace(day=DAY)
moment = dt.datetime.combine(bench_day, dt.time(12))
control("POST", "clock", {"set": moment.strftime("%Y-%m-%dT%H:%M:%SZ")})
freezer = freeze_time(moment, tick=True)
freezer.start()

admin = env(user=env.ref("base.user_admin"), context={})
connection = admin["csp.connection"].create(
    connection_values(state, name="Benchmark partner", log_retention_days=0, sync_azure=True)
)
authorize(connection, state)
bench.consent_everywhere(connection, control)
azure_ids = set(control("GET", "usage-exports")["customers"])
tenants = connection.tenant_ids.filtered(lambda t: t.tenant_id in azure_ids).sorted("id")
tenants = tenants[:CUSTOMERS]
customers = bench.give_customers(admin, tenants)
product = admin["product.product"].create({"name": "Azure services", "type": "service"})
connection.azure_fallback_product_id = product
admin["csp.meter.rule"].create(
    {"meter_category": "Virtual Machines", "product_id": admin["product.product"].create(
        {"name": "Azure Virtual Machines", "type": "service"}).id,
     "markup_mode": "rule", "markup": 15}
)  # fmt: skip
Account = admin["account.account"]
income = Account.create({"name": "Azure sales", "code": "706950", "account_type": "income"})
receivable = Account.create(
    {"name": "Azure customers", "code": "411950", "account_type": "asset_receivable",
     "reconcile": True}
)  # fmt: skip
customers.write({"property_account_receivable_id": receivable.id})
journal = admin["account.journal"].create(
    {"name": "Azure", "code": "AZR", "type": "sale", "default_account_id": income.id}
)
admin["contract.contract"].create(
    [
        {"name": f"Cloud {customer.name}", "partner_id": customer.id, "contract_type": "sale",
         "recurring_rule_type": "monthly", "recurring_interval": 1,
         "date_start": bench_day.replace(day=1), "journal_id": journal.id}
        for customer in customers
    ]
)  # fmt: skip

# the size: one small export counts the records per copy of the resources
graph = connection._csp_graph(connection._csp_http())
control("PUT", "usage-exports", {"reset": True, "running_polls": 0, "lines_per_blob": 5000})


def read_export():
    """The current month's unbilled export, read and aggregated (no database)."""
    http = connection._csp_http()
    location = usage_exports.start_unbilled(graph, connection.company_id.currency_id.name)
    operation = usage_exports.wait(graph, location, lambda: False)
    return azure.aggregate(usage_exports.iter_export(http, operation.manifest))


totals, _ = read_export()
per_copy = sum(t.records for t in totals.values())
copies = max(1, math.ceil(RECORDS / per_copy))
control("PUT", "usage-exports", {"copies": copies})
# the issued invoices count as read: the step reads this month's export only
invoices = connection._csp_partner_center(connection._csp_http()).get("v1/invoices")["items"]
connection._csp_code().write(
    {"azure_exports": json.dumps({"billed": [i["id"] for i in invoices], "pending": {}})}
)
admin.cr.commit()

# RSS while the file is read: at 10 % of its records, then its highest (sampled every
# 10,000 records) up to the end: the growth a file read whole in memory would show
marks = {}
original = usage_exports.iter_export


def rss_mb():
    """This process's resident memory now (Linux's VmRSS), in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def watched(http, manifest):
    expected = per_copy * copies
    count, highest = 0, 0.0
    for count, record in enumerate(original(http, manifest), 1):
        if count == expected // 10:
            marks["rss_at_10_percent_mb"] = highest = rss_mb()
        elif count > expected // 10 and not count % 10000:
            highest = max(highest, rss_mb())
        yield record
    marks["rss_at_100_percent_mb"] = max(highest, rss_mb())
    marks["records_read"] = count


usage_exports.iter_export = watched
integrator = connection.with_env(env(user=env.ref("csp_connector.user_csp_integrator"), context={}))
print(f"Set-up: {len(tenants)} customers, {per_copy * copies} records expected", flush=True)
first = bench.timed_run(env, integrator, "first import", ["azure"], TABLES, message="always")
first_marks = dict(marks)
records = env["csp.azure.usage"].search([("connection_id", "=", connection.id)])
record_count = first_marks.pop("records_read", 0)
odoo_records = sum(records.mapped("records"))
lines = env["contract.line"].search_count([("csp_azure_partner_id", "!=", False)])

baseline, measured, no_change_runs = [], [], []
for _ in range(bench.pairs()):
    started = time.perf_counter()
    read_export()
    baseline.append(time.perf_counter() - started)
    run = bench.timed_run(env, integrator, "no change", ["azure"], TABLES, message="always")
    measured.append(run["seconds"])
    no_change_runs.append(run)
usage_exports.iter_export = original
freezer.stop()

ratio = bench.ratio_figures(baseline, measured)
growth = first_marks.get("rss_at_100_percent_mb", 0) - first_marks.get("rss_at_10_percent_mb", 0)
result = {
    "customers": len(tenants),
    "records": record_count,
    "records_of_customers_in_odoo": odoo_records,
    "usage_rows": len(records),
    "azure_lines": lines,
    "first_import_seconds": first["seconds"],
    "records_per_second": round(record_count / max(first["seconds"], 0.001)),
    "peak_rss_mb": first["peak_rss_mb"],
    **{k: round(v, 1) for k, v in first_marks.items()},
    "rss_growth_10_to_100_percent_mb": round(growth, 1),
    "first_import": first,
    "no_change_rows_written": [r["rows_written"] for r in no_change_runs],
    "no_change_vs_read_only": ratio,
}
bench.print_ratio("no-change re-import against reading the file only", ratio)
result["targets"] = {
    "the file was read whole": record_count >= per_copy * copies and first["state"] == "done",
    "RSS growth from 10 % to 100 % of the file < 100 MB": growth < 100,
    "a no-change re-import writes 0 rows": all(r["rows_written"] == 0 for r in no_change_runs),
}
bench.write_result(result, out_path)
