"""make bench-licences: licences step speed and memory against the sandbox.

Run by scripts/bench_licences.sh (run_alternating_benchmark in scripts/lib.sh) inside
`odoo shell` (which provides `env`), once per phase (CSP_BENCH_PHASE), with the sandbox
serving 200 customer tenants:

* setup (committed, not timed): the connection, consent, a customer and site per
  tenant; each tenant topped up to 10 Partner Center subscriptions (each added one a
  licence the customer lacked) and each of its licences then held by 50 users
  (CSP_BENCH_HOLDERS); the users import (the licence assignments link to the users);
* measured (on a fresh copy of the set-up database, in its own process): the licences
  step's full import ("both": subscribed SKUs with their holders, and subscriptions);
  the first measured run exports the rows it made for the baselines; the last one then
  runs the step with no change, and after one subscription changed in Partner Center
  (found through the audit records: it changes the sandbox, so only at the end);
* baseline (on a fresh copy too): the same subscribed SKUs, subscriptions and licence
  assignments in batched ORM creates (1,000 rows a batch), as the connector's own writes;
* report: the median and spread of the pairs' full import / baseline ratios and the
  targets, written as JSON (path in CSP_BENCH_OUT); exit status 1 when one is false.

Pairs run measured then baseline (CSP_BENCH_PAIRS pairs, default 3). The bench sets no
date: it depends on none, only on the time between its own steps (the audit records are
read from the last run's time on the sandbox's real clock, which Odoo's must agree with).
"""

# ruff: noqa: F821 - `env` is provided by `odoo shell`
# pylint: disable=print-used
import os
import time

import bench_common as bench

from odoo.addons.csp_connector.models.csp_guard import code_env

from mscloud_sandbox.generate import catalogue
from sandbox_connection import authorize, connection_values

SUBSCRIPTIONS = int(os.environ.get("CSP_BENCH_SUBSCRIPTIONS", "10"))
HOLDERS = int(os.environ.get("CSP_BENCH_HOLDERS", "50"))  # users holding each licence
SEATS = HOLDERS + 5
LICENCE_TABLES = ("csp_subscribed_sku", "csp_licence_assignment", "csp_subscription", "csp_tenant")
BATCH = 1000
QUIET = {
    "tracking_disable": True,
    "mail_create_nolog": True,
    "mail_create_nosubscribe": True,
    "mail_notrack": True,
}

bench_user = env.ref("csp_connector.ir_cron_csp_integrator").user_id
admin = env(user=env.ref("base.user_admin"), context={})
env = env(user=bench_user, context={})


def run_licences(connection, label):
    return bench.timed_run(
        env, connection, label, ["licences"], LICENCE_TABLES,
        analyze_tables=(*LICENCE_TABLES, "csp_user_binding", "res_partner"),
        message="always", by_table=True,
    )  # fmt: skip


def setup():
    state, _out, control = bench.sandbox()
    connection = admin["csp.connection"].create(
        connection_values(
            state, name="Benchmark partner", log_retention_days=0, licence_import_type="both"
        )
    )
    authorize(connection, state)
    bench.consent_everywhere(connection, control)
    tenants = connection.tenant_ids.filtered(
        lambda t: t.consent_state == "granted" and t.relationship in ("reseller", "both")
    ).sorted("id")
    customers = bench.give_customers(admin, tenants)
    (connection.tenant_ids - tenants).write({"do_not_import": True})
    admin["csp.site.mapping"].create(
        [
            {"connection_id": connection.id, "kind": "site", "customer_id": customer.id,
             "site_id": customer.id, "tenant_ids": [(6, 0, [tenant.id])]}
            for tenant, customer in zip(tenants, customers, strict=True)
        ]
    )  # fmt: skip
    # every customer gets SUBSCRIPTIONS subscriptions, each added one a licence the
    # customer does not have yet (SEATS seats), then every licence is held by HOLDERS users
    paid = [sku for sku in catalogue().values() if not sku.free]
    pc_client = connection._csp_partner_center(connection._csp_http())
    for tenant in tenants:
        present = list(pc_client.subscriptions(tenant.tenant_id))
        offers = {(item.get("offerId") or "").rsplit(":", 1)[0] for item in present}
        fresh = (sku for sku in paid if sku.offer_id not in offers)
        for item in present:  # room for HOLDERS on the licences the customer has
            if item.get("status") == "active" and item.get("quantity", 0) < SEATS:
                control("PATCH", f"tenants/{tenant.tenant_id}/subscriptions/{item['id']}",
                        {"quantity": SEATS})  # fmt: skip
        for _, sku in zip(range(SUBSCRIPTIONS - len(present)), fresh, strict=False):
            control(
                "POST", f"tenants/{tenant.tenant_id}/subscriptions",
                {"offerId": f"{sku.offer_id}:CFQ7TTC0K5DJ", "offerName": sku.product_name,
                 "skuId": sku.sku_id, "quantity": SEATS},
            )  # fmt: skip
        control("POST", f"tenants/{tenant.tenant_id}/licences/fill", {"per_sku": HOLDERS})
    admin.cr.commit()
    started = time.perf_counter()
    connection._csp_sync(trigger="manual", modules=["users"])
    admin.cr.commit()
    users_seconds = time.perf_counter() - started
    bench.analyze(admin, (*LICENCE_TABLES, "csp_user_binding", "res_partner"))
    bench.save_json(
        "setup",
        {
            "connection": connection.id,
            "customers": len(tenants),
            "first_tenant": tenants[0].id,
            "users_seconds": round(users_seconds, 1),
        },
    )
    print(
        f"Set-up: {len(tenants)} customers, users imported in {users_seconds:.0f} s (not timed)",
        flush=True,
    )


def export_values():
    """The rows the import made, for the baselines (every stored field of their own)."""
    Sku, Subscription = env["csp.subscribed.sku"].sudo(), env["csp.subscription"].sudo()
    Assignment = env["csp.licence.assignment"].sudo().with_context(active_test=False)
    bench.save_json(
        "values",
        {
            "skus": bench.export_rows(Sku.search([])),
            "subscriptions": bench.export_rows(Subscription.search([])),
            "assignments": bench.export_rows(Assignment.search([])),
        },
    )


def one_change(connection, facts):
    """One subscription changes in Partner Center (no webhook): the audit records name
    it. Returns the run and whether Odoo has the new quantity."""
    sub = env["csp.subscription"].search([("csp_tenant_id", "=", facts["first_tenant"])], limit=1)
    tenant = sub.csp_tenant_id
    client = connection._csp_partner_center(connection._csp_http())
    current = client.subscription(tenant.tenant_id, sub.microsoft_id)
    client.patch_subscription(
        tenant.tenant_id, sub.microsoft_id, {**current, "quantity": current["quantity"] + 1}
    )
    env.cr.commit()
    run = run_licences(connection, "one subscription changed in Partner Center")
    seen = env["csp.subscription"].browse(sub.id).quantity == current["quantity"] + 1
    return run, seen


def measured():
    facts = bench.load_json("setup")
    connection = env["csp.connection"].browse(facts["connection"])
    rss_start = bench.peak_rss_mb()
    full = run_licences(connection, "full import")
    figures = {
        "seconds": full["seconds"],
        "subscriptions": env["csp.subscription"].search_count([]),
        "subscribed_skus": env["csp.subscribed.sku"].search_count([]),
        "licence_assignments": env["csp.licence.assignment"].search_count([]),
        "peak_rss_mb_before": round(rss_start, 1),
        "full": full,
    }
    if not bench.has_json("values"):
        export_values()
    if bench.LAST:
        figures["no_change"] = run_licences(connection, "no change")
        figures["one_change"], figures["one_change_quantity_seen"] = one_change(connection, facts)
    bench.write_run(figures)


def create_batched(Model, rows, **made):
    records = Model.browse()
    for start in range(0, len(rows), BATCH):
        records |= Model.create(bench.remapped(rows[start : start + BATCH], **made))
        Model.env.flush_all()
    return records


def baseline():
    values = bench.load_json("values")
    bench.analyze(env, (*LICENCE_TABLES, "csp_user_binding", "res_partner"))
    env.invalidate_all()
    quiet = env(context=QUIET)
    started = time.perf_counter()
    skus = create_batched(code_env(quiet["csp.subscribed.sku"]), values["skus"])
    made = bench.created_ids(values["skus"], skus)
    create_batched(
        code_env(quiet["csp.subscription"]), values["subscriptions"], subscribed_sku_id=made
    )
    create_batched(
        code_env(quiet["csp.licence.assignment"]), values["assignments"], subscribed_sku_id=made
    )
    seconds = time.perf_counter() - started
    env.cr.rollback()
    rows = sum(len(found) for found in values.values())
    bench.write_run(
        {
            "seconds": round(seconds, 2),
            "subscribed_skus": len(values["skus"]),
            "subscriptions": len(values["subscriptions"]),
            "licence_assignments": len(values["assignments"]),
            "rows_per_second": round(rows / seconds, 1),
            "peak_rss_mb": round(bench.peak_rss_mb(), 1),
        }
    )


def report():
    facts, runs, common = bench.alternated_report(
        "licences full import / batched create",
        "the licences step's full import, users already imported",
        "the subscribed SKUs, subscriptions and licence assignments the first measured run "
        "made, in batched ORM creates",
    )
    last = runs["measured"][-1]
    count = facts["customers"]
    full = last["full"]
    skus = max(last["subscribed_skus"], 1)
    result = {
        **common,
        "customers": count,
        "subscriptions": last["subscriptions"],
        "subscribed_skus": last["subscribed_skus"],
        "licence_assignments": last["licence_assignments"],
        "assignments_per_sku": round(last["licence_assignments"] / skus, 1),
        "users_import_seconds_untimed_setup": facts["users_seconds"],
        "full_import_sql_per_subscription": round(
            full["sql_queries"] / max(last["subscriptions"], 1), 2
        ),
        "full_import_requests_per_customer": round(full["http_requests"] / count, 2),
        "peak_rss_mb_before": last["peak_rss_mb_before"],
        "peak_rss_mb_after_full": full["peak_rss_mb"],
        "no_change": last["no_change"],
        "no_change_requests_per_customer": round(last["no_change"]["http_requests"] / count, 2),
        "one_change": last["one_change"],
        "one_change_quantity_seen": last["one_change_quantity_seen"],
        "runs": runs,
    }
    result["targets"] = {
        "no-change run writes 0 rows of licence data": last["no_change"]["rows_written"] == 0,
        "no-change run <= 3 requests per customer": result["no_change_requests_per_customer"] <= 3,
        "a Partner Center change arrives through the audit records": result[
            "one_change_quantity_seen"
        ],
    }
    bench.write_result(result, os.environ["CSP_BENCH_OUT"], hidden=("runs",))


{"setup": setup, "measured": measured, "baseline": baseline, "report": report}[bench.PHASE]()
