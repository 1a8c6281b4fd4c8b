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
import time

import bench_common as bench

from odoo.addons.csp_connector.models.csp_guard import code_env

from sandbox_connection import connection_values

state, out_path, control = bench.sandbox()
WRITTEN_TABLES = (
    "maintenance_equipment", "csp_device_binding", "maintenance_equipment_category",
    "res_partner", "csp_tenant",
)  # fmt: skip
QUIET = {
    "tracking_disable": True,
    "mail_create_nolog": True,
    "mail_create_nosubscribe": True,
    "mail_notrack": True,
}


def run_assets(connection, label, modules=("assets",)):
    return bench.timed_run(
        env, connection, label, modules, WRITTEN_TABLES, profile_lines=(60, 30),
        message="on_failure",
    )  # fmt: skip


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
bench.consent_everywhere(connection, control)
tenants = connection.tenant_ids.filtered(lambda t: t.consent_state == "granted").sorted("id")
customers = bench.give_customers(env, tenants)
bench.map_office_sites(env, connection, tenants, customers)
env.cr.commit()
users_run = run_assets(connection, "users (set-up, not judged)", modules=("users",))

small, rest = tenants[:10], tenants[10:]
rest.write({"exclude_devices": True})
env.cr.commit()
print(f"Benchmark: {len(tenants)} tenants mapped, as {bench_user.login}", flush=True)
first = run_assets(connection, "full import, first 10 tenants")
rest.write({"exclude_devices": False})
small.write({"exclude_devices": True})
env.cr.commit()
rest_run = run_assets(connection, "full import, other tenants")
small.write({"exclude_devices": False})
env.cr.commit()
devices = env["csp.device.binding"].search_count([("removed", "=", False)])
full_seconds = first["seconds"] + rest_run["seconds"]
no_change = run_assets(connection, "full read, no change")

# baseline: the same equipment, created in batches of one Graph page, same context,
# same user, in a transaction rolled back
bench.analyze(env, WRITTEN_TABLES)
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
bench.write_result(result, out_path, hidden=("runs",))
