"""make bench-assets: Intune device import speed and memory against the sandbox.

Run by scripts/bench_assets.sh inside `odoo shell` (which provides `env`) on a fresh
database, with the sandbox serving 100 tenants x 500 devices (50 users each, imported
first so that devices find their users). Prints the figures and writes them as JSON
(path in CSP_BENCH_OUT). Every figure is measured in this run; the baseline is a
batched maintenance.equipment create of the same records (pages of the same size).
Diagnostics: CSP_BENCH_PROFILE=<words> profiles the runs whose label contains them.
"""

# ruff: noqa: F821 - `env` is provided by `odoo shell`
# pylint: disable=print-used
import cProfile
import json
import os
import pstats
import resource
import time

import requests

from odoo import sql_db

from odoo.addons.csp_connector.models.csp_guard import code_env

from mscloud_sandbox.connection import connection_values

state_path = os.environ["CSP_SANDBOX_STATE"]
out_path = os.environ["CSP_BENCH_OUT"]
with open(state_path) as handle:
    state = json.load(handle)
CONTROL = state["urls"]["control"]
CA = state["ca_path"]
WRITTEN_TABLES = (
    "maintenance_equipment", "csp_device_binding", "maintenance_equipment_category",
    "res_partner", "csp_tenant",
)  # fmt: skip
PROFILE = os.environ.get("CSP_BENCH_PROFILE")  # words of the run labels to profile
QUIET = {
    "tracking_disable": True,
    "mail_create_nolog": True,
    "mail_create_nosubscribe": True,
    "mail_notrack": True,
}


def control(method, path, payload=None):
    response = requests.request(method, f"{CONTROL}/{path}", json=payload, verify=CA, timeout=120)
    response.raise_for_status()
    return response.json() if response.content else None


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rows_written(since):
    """Rows of the tables a device import writes, created or changed since `since`."""
    total = 0
    with env.registry.cursor() as cr:
        for table in WRITTEN_TABLES:
            cr.execute(f"SELECT count(*) FROM {table} WHERE write_date >= %s", [since])
            total += cr.fetchone()[0]
    return total


def request_count():
    with env.registry.cursor() as cr:
        cr.execute("SELECT count(*) FROM csp_request_log")
        return cr.fetchone()[0]


def analyze():
    env.cr.commit()
    for table in WRITTEN_TABLES:
        env.cr.execute(f"ANALYZE {table}")
    env.cr.commit()


def timed_run(connection, label, modules=("assets",)):
    """One scheduled run (it commits per tenant, as the integrator does)."""
    analyze()
    queries = sql_db.sql_counter
    logs_before = request_count()
    env.cr.execute("SELECT now() at time zone 'UTC'")
    since = env.cr.fetchone()[0]
    profiler = PROFILE and PROFILE in label and cProfile.Profile()
    if profiler:
        profiler.enable()
    started = time.perf_counter()
    run = connection._csp_sync(trigger="cron", modules=list(modules))
    env.cr.commit()
    seconds = time.perf_counter() - started
    if profiler:
        profiler.disable()
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(60)
        stats.sort_stats("tottime").print_stats(30)
    figures = {
        "label": label,
        "seconds": round(seconds, 2),
        "state": run.state,
        "created": run.created,
        "updated": run.updated,
        "deactivated": run.deactivated,
        "skipped": run.skipped,
        "errors": run.error_count,
        "sql_queries": sql_db.sql_counter - queries,
        "http_requests": request_count() - logs_before,
        "rows_written": rows_written(since),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    if run.message and run.state != "done":
        figures["message"] = run.message[:300]
    env.cr.commit()
    env.invalidate_all()
    print(f"  {label}: {json.dumps(figures)}", flush=True)
    return figures


# as the scheduled runs: the integrator cron's user
bench_user = env.ref("csp_connector.ir_cron_csp_integrator").user_id
env = env(user=bench_user, context={})
# set up as a system administrator would (endpoints are theirs to set), then run as bench_user
connection = (
    env["csp.connection"]
    .sudo()
    .create(
        connection_values(
            state,
            name="Benchmark partner",
            relationship_mode="gdap_only",
            log_retention_days=0,
            # every device counts here (Defender-only ones included): 500 per tenant
            asset_exclude_defender=False,
            asset_category_mode="field",
            asset_category_field="operatingSystem",
        )
    )
    .sudo(False)
)
for tenant_state in control("GET", "state")["tenants"]:  # consent everywhere
    if tenant_state["gdap"] and not tenant_state["consent_blocked"]:
        control("POST", f"tenants/{tenant_state['id']}/consent", {})
connection._csp_sync(trigger="manual", modules=["tenants"])
tenants = connection.tenant_ids.filtered(lambda t: t.consent_state == "granted").sorted("id")
customers = env["res.partner"].create(
    [{"name": f"Customer {t.name}", "is_company": True} for t in tenants]
)
for tenant, customer in zip(tenants, customers, strict=True):
    tenant.partner_id = customer
env["csp.site.mapping"].create(
    {
        "connection_id": connection.id,
        "kind": "field_sites",
        "customer_id": customer.id,
        "azure_field": "officeLocation",
        "tenant_ids": [(6, 0, [tenant.id])],
    }
    for tenant, customer in zip(tenants, customers, strict=True)
)
env.cr.commit()
users_run = timed_run(connection, "users (set-up, not judged)", modules=("users",))

small, rest = tenants[:10], tenants[10:]
rest.write({"exclude_devices": True})
env.cr.commit()
print(f"Benchmark: {len(tenants)} tenants mapped, as {bench_user.login}", flush=True)
first = timed_run(connection, "full import, first 10 tenants")
rest.write({"exclude_devices": False})
small.write({"exclude_devices": True})
env.cr.commit()
rest_run = timed_run(connection, "full import, other tenants")
small.write({"exclude_devices": False})
env.cr.commit()
devices = env["csp.device.binding"].search_count([("removed", "=", False)])
full_seconds = first["seconds"] + rest_run["seconds"]
no_change = timed_run(connection, "full read, no change")

# baseline: the same equipment, created in batches of one Graph page, same context,
# same user, in a transaction rolled back
analyze()
names = [
    "name", "serial_no", "model", "category_id", "company_id", "csp_tenant_id",
    "csp_customer_id", "csp_contact_id", "csp_site_id", "csp_status", "csp_serial_number",
    "csp_manufacturer", "csp_os", "csp_os_version", "csp_compliance", "csp_last_sync",
    "csp_enrolled", "csp_ownership", "csp_management_agent", "csp_intune_id",
    "csp_entra_device_id",
]  # fmt: skip
records = env["maintenance.equipment"].search_read([("csp_tenant_id", "!=", False)], names)
values = [
    {k: (v[0] if isinstance(v, tuple | list) else v) for k, v in r.items() if k != "id"}
    for r in records
]
for vals in values:
    vals["serial_no"] = f"B-{vals['serial_no']}" if vals["serial_no"] else False
    vals["csp_intune_id"] = f"B-{vals['csp_intune_id']}"
env.invalidate_all()
page = connection._csp_page_size()
Equipment = code_env(env["maintenance.equipment"]).with_context(**QUIET)
started = time.perf_counter()
for start in range(0, len(values), page):
    Equipment.create(values[start : start + page])
    env.flush_all()
baseline_seconds = time.perf_counter() - started
env.cr.rollback()

result = {
    "user": bench_user.login,
    "devices": devices,
    "tenants": len(tenants),
    "full_import_seconds": round(full_seconds, 2),
    "devices_per_second": round(devices / full_seconds, 1),
    "baseline_create_seconds": round(baseline_seconds, 2),
    "baseline_devices_per_second": round(len(values) / baseline_seconds, 1),
    "full_vs_baseline": round(full_seconds / baseline_seconds, 2),
    "sql_queries_per_device": round(
        (first["sql_queries"] + rest_run["sql_queries"]) / max(devices, 1), 2
    ),
    "devices_after_first_run": first["created"],
    "peak_rss_mb_after_first_run": first["peak_rss_mb"],
    "peak_rss_mb_after_all": rest_run["peak_rss_mb"],
    "peak_rss_growth_mb": round(rest_run["peak_rss_mb"] - first["peak_rss_mb"], 1),
    "no_change_run": no_change,
    "no_change_requests_per_tenant": round(no_change["http_requests"] / len(tenants), 2),
    "runs": [users_run, first, rest_run],
}
result["targets"] = {  # judged on unrounded figures
    "full import within 2x baseline": full_seconds <= 2 * baseline_seconds,
    "peak RSS grows < 100 MB from 5k to 50k devices": result["peak_rss_growth_mb"] < 100,
    "no-change run writes 0 rows": no_change["rows_written"] == 0,
}
os.makedirs(os.path.dirname(out_path) or ".", exist_ok=True)
with open(out_path, "w") as handle:
    json.dump(result, handle, indent=2)
print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))
