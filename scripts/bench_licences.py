"""make bench-licences: licences step speed and memory against the sandbox.

Run by scripts/bench_licences.sh inside `odoo shell` (which provides `env`) on a fresh
database, with the sandbox serving 200 customer tenants; each is topped up to 10
Partner Center subscriptions (each added one a licence the customer lacked) and each of
its licences is then held by 50 users (CSP_BENCH_HOLDERS). The users step imports the
users first (not timed: the licence assignments link to them). Then the licences step
("both": subscribed SKUs with their holders, and subscriptions) runs three times: the
full import, a run with no change, and a run after one subscription changed in Partner
Center (found through the audit records). Every figure is measured in this run; JSON
in CSP_BENCH_OUT.
"""

# ruff: noqa: F821 - `env` is provided by `odoo shell`
# pylint: disable=print-used
import os
import time

import bench_common as bench

from mscloud_sandbox.generate import catalogue
from sandbox_connection import authorize, connection_values

state, out_path, control = bench.sandbox()
SUBSCRIPTIONS = int(os.environ.get("CSP_BENCH_SUBSCRIPTIONS", "10"))
HOLDERS = int(os.environ.get("CSP_BENCH_HOLDERS", "50"))  # users holding each licence
SEATS = HOLDERS + 5
LICENCE_TABLES = ("csp_subscribed_sku", "csp_licence_assignment", "csp_subscription", "csp_tenant")


def run_licences(connection, label):
    return bench.timed_run(
        env, connection, label, ["licences"], LICENCE_TABLES,
        analyze_tables=(*LICENCE_TABLES, "csp_user_binding", "res_partner"),
        message="always", by_table=True,
    )  # fmt: skip


bench_user = env.ref("csp_connector.ir_cron_csp_integrator").user_id
admin = env(user=env.ref("base.user_admin"), context={})
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
# every customer gets SUBSCRIPTIONS subscriptions, each added one a licence the customer
# does not have yet (SEATS seats), then every licence is held by HOLDERS users
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
env = env(user=bench_user, context={})
connection = connection.with_env(env)
print(
    f"Benchmark: {len(tenants)} customers, users imported in {users_seconds:.0f} s, "
    f"peak RSS at start {bench.peak_rss_mb():.0f} MB",
    flush=True,
)
rss_start = bench.peak_rss_mb()
full = run_licences(connection, "full import")
subscriptions = env["csp.subscription"].search_count([])
skus = env["csp.subscribed.sku"].search_count([])
assignments = env["csp.licence.assignment"].search_count([])
no_change = run_licences(connection, "no change")

# one subscription changes in Partner Center (no webhook): the audit records name it
tenant = tenants[0]
sub = env["csp.subscription"].search([("csp_tenant_id", "=", tenant.id)], limit=1)
client = connection._csp_partner_center(connection._csp_http())
current = client.subscription(tenant.tenant_id, sub.microsoft_id)
client.patch_subscription(
    tenant.tenant_id, sub.microsoft_id, {**current, "quantity": current["quantity"] + 1}
)
env.cr.commit()
one_change = run_licences(connection, "one subscription changed in Partner Center")

count = len(tenants)
result = {
    "customers": count,
    "subscriptions": subscriptions,
    "subscribed_skus": skus,
    "licence_assignments": assignments,
    "assignments_per_sku": round(assignments / max(skus, 1), 1),
    "users_import_seconds_untimed_setup": round(users_seconds, 1),
    "full_import_seconds": full["seconds"],
    "full_import_sql_per_subscription": round(full["sql_queries"] / max(subscriptions, 1), 2),
    "full_import_requests_per_customer": round(full["http_requests"] / count, 2),
    "peak_rss_mb_before": round(rss_start, 1),
    "peak_rss_mb_after_full": full["peak_rss_mb"],
    "no_change": no_change,
    "no_change_requests_per_customer": round(no_change["http_requests"] / count, 2),
    "one_change": one_change,
    "one_change_quantity_seen": env["csp.subscription"].browse(sub.id).quantity
    == current["quantity"] + 1,
}
targets = {
    "no-change run writes 0 rows of licence data": no_change["rows_written"] == 0,
    "no-change run <= 3 requests per customer": result["no_change_requests_per_customer"] <= 3,
    "a Partner Center change arrives through the audit records": result["one_change_quantity_seen"],
}
result["targets"] = targets
bench.write_result(result, out_path)
