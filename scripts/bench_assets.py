"""make bench-assets: Intune device import speed and memory against the sandbox.

Run by scripts/bench_assets.sh (run_alternating_benchmark in scripts/lib.sh) inside `odoo
shell` (which provides `env`), once per phase (CSP_BENCH_PHASE), with the sandbox serving
100 tenants x 500 devices (50 users each):

* setup (committed, not timed): the connection, consent, a customer per tenant, the
  office sites mapping and the users import (so that devices find their users);
* measured (on a fresh copy of the set-up database, in its own process): the device
  import, the first 10 tenants then the other 90 (for the peak RSS growth); the first
  measured run exports the equipment and categories it made for the baselines; the last
  one then runs a full read with no change;
* baseline (on a fresh copy too): the same equipment created in batches of one Graph page
  (their categories first), same context, same user;
* report: the median and spread of the pairs' import / baseline ratios and the targets
  (judged on the median ratio), written as JSON (path in CSP_BENCH_OUT); exit status 1
  when one is false.

Pairs run measured then baseline (CSP_BENCH_PAIRS pairs, default 3). The bench sets no
date: it depends on none (the sandbox's and Odoo's real clocks must agree).
Diagnostics: CSP_BENCH_PROFILE=<words> profiles the runs whose label contains them.
"""

# ruff: noqa: F821 - `env` is provided by `odoo shell`
# pylint: disable=print-used
import os
import time

import bench_common as bench

from odoo.addons.csp_connector.models.csp_guard import code_env

from sandbox_connection import connection_values

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
EQUIPMENT_FIELDS = [
    "name", "serial_no", "model", "category_id", "company_id", "csp_tenant_id",
    "csp_customer_id", "csp_contact_id", "csp_site_id", "csp_status", "csp_serial_number",
    "csp_manufacturer", "csp_os", "csp_os_version", "csp_compliance", "csp_last_sync",
    "csp_enrolled", "csp_ownership", "csp_management_agent", "csp_intune_id",
    "csp_entra_device_id",
]  # fmt: skip
TARGET = 2

# as the scheduled runs: the integrator cron's user
bench_user = env.ref("csp_connector.ir_cron_csp_integrator").user_id
env = env(user=bench_user, context={})


def run_assets(connection, label, modules=("assets",)):
    return bench.timed_run(
        env, connection, label, modules, WRITTEN_TABLES, profile_lines=(60, 30),
        message="on_failure",
    )  # fmt: skip


def setup():
    state, _out, control = bench.sandbox()
    # set up as a system administrator would (endpoints are theirs to set), then run as
    # bench_user
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
    tenants[10:].write({"exclude_devices": True})
    bench.analyze(env, WRITTEN_TABLES)
    bench.save_json(
        "setup",
        {
            "connection": connection.id,
            "tenants": len(tenants),
            "small": tenants[:10].ids,
            "rest": tenants[10:].ids,
            "users_run": users_run,
            "last_category": max(
                env["maintenance.equipment.category"].sudo().search([]).ids, default=0
            ),
        },
    )
    print(f"Set-up: {len(tenants)} tenants mapped, the runs as {bench_user.login}", flush=True)


def export_values():
    """The equipment the import made and its categories, for the baselines."""
    equipment = env["maintenance.equipment"].search([("csp_tenant_id", "!=", False)])
    last = bench.load_json("setup")["last_category"]
    categories = equipment.category_id.sudo().filtered(lambda c: c.id > last)  # the import's
    bench.save_json(
        "values",
        {
            "categories": bench.export_rows(categories, ["name", "company_id"]),
            "equipment": bench.export_rows(equipment, EQUIPMENT_FIELDS),
        },
    )


def measured():
    facts = bench.load_json("setup")
    connection = env["csp.connection"].browse(facts["connection"])
    small, rest = env["csp.tenant"].browse(facts["small"]), env["csp.tenant"].browse(facts["rest"])
    first = run_assets(connection, "full import, first 10 tenants")
    rest.write({"exclude_devices": False})
    small.write({"exclude_devices": True})
    env.cr.commit()
    rest_run = run_assets(connection, "full import, other tenants")
    small.write({"exclude_devices": False})
    env.cr.commit()
    devices = env["csp.device.binding"].search_count([("removed", "=", False)])
    figures = {
        "seconds": round(first["seconds"] + rest_run["seconds"], 2),
        "devices": devices,
        "sql_queries_per_device": round(
            (first["sql_queries"] + rest_run["sql_queries"]) / max(devices, 1), 2
        ),
        "devices_after_first_run": first["created"],
        "peak_rss_mb_after_first_run": first["peak_rss_mb"],
        "peak_rss_mb_after_all": rest_run["peak_rss_mb"],
        "peak_rss_growth_mb": round(rest_run["peak_rss_mb"] - first["peak_rss_mb"], 1),
        "runs": [first, rest_run],
    }
    if not bench.has_json("values"):
        export_values()
    if bench.LAST:
        figures["no_change_run"] = run_assets(connection, "full read, no change")
    bench.write_run(figures)


def baseline():
    values = bench.load_json("values")
    bench.analyze(env, WRITTEN_TABLES)
    env.invalidate_all()
    facts = bench.load_json("setup")
    page = env["csp.connection"].browse(facts["connection"])._csp_page_size()
    Equipment = code_env(env["maintenance.equipment"]).with_context(**QUIET)
    Category = env["maintenance.equipment.category"].sudo().with_context(**QUIET)
    rows = values["equipment"]
    started = time.perf_counter()
    categories = Category.create(bench.remapped(values["categories"]))
    made = bench.created_ids(values["categories"], categories)
    for start in range(0, len(rows), page):
        Equipment.create(bench.remapped(rows[start : start + page], category_id=made))
        env.flush_all()
    seconds = time.perf_counter() - started
    env.cr.rollback()
    bench.write_run(
        {
            "seconds": round(seconds, 2),
            "equipment": len(rows),
            "categories": len(values["categories"]),
            "devices_per_second": round(len(rows) / seconds, 1),
            "peak_rss_mb": round(bench.peak_rss_mb(), 1),
        }
    )


def report():
    facts, runs, common = bench.alternated_report(
        "device import / batched create",
        "the device import, users already imported",
        "the equipment the first measured run made, created in batches of one Graph page, "
        "categories first",
    )
    ratio = common["ratio_pairs"]
    last = runs["measured"][-1]
    no_change = last["no_change_run"]
    devices, tenants = last["devices"], facts["tenants"]
    full = common["full_import_seconds"]
    growth = max(r["peak_rss_growth_mb"] for r in runs["measured"])
    result = {
        **common,
        "user": bench_user.login,
        "devices": devices,
        "tenants": tenants,
        "devices_per_second": round(devices / full, 1),
        "sql_queries_per_device": last["sql_queries_per_device"],
        "devices_after_first_run": last["devices_after_first_run"],
        "peak_rss_mb_after_first_run": last["peak_rss_mb_after_first_run"],
        "peak_rss_mb_after_all": last["peak_rss_mb_after_all"],
        "peak_rss_growth_mb": growth,
        "no_change_run": no_change,
        "no_change_requests_per_tenant": round(no_change["http_requests"] / tenants, 2),
        "users_setup_run": facts["users_run"],
        "runs": runs,
    }
    result["targets"] = {  # judged on unrounded figures
        f"full import within {TARGET}x baseline (median of pairs)": ratio["_median"] <= TARGET,
        "peak RSS grows < 100 MB from 5k to 50k devices (every run)": growth < 100,
        "no-change run writes 0 rows": no_change["rows_written"] == 0,
    }
    bench.write_result(result, os.environ["CSP_BENCH_OUT"], hidden=("runs",))


{"setup": setup, "measured": measured, "baseline": baseline, "report": report}[bench.PHASE]()
