"""Run inside `odoo shell` by test_production_cron.py: connect a fresh database to the
sandbox as an MSP engineer would (authorise, discover, map, user mappings) and set the
integrator's production knobs the test asks for. Prints one line: RESULT {json}.
"""

# ruff: noqa: F821 - `env` is provided by `odoo shell`
# pylint: disable=print-used
import json
import os

from sandbox_connection import authorize, connection_values

state = json.loads(os.environ["CSP_SANDBOX_STATE"])
params = json.loads(os.environ["CSP_PARAMS"])
env = env(user=env.ref("base.user_admin"))

for key, value in params.items():
    env["ir.config_parameter"].sudo().set_param(f"csp_connector.{key}", str(value))
connection = env["csp.connection"].create(
    connection_values(
        state,
        create_customers=True,
        sync_users=True,
        interval_number=1,
        interval_type="days",
        sync_licences=False,  # the server tests follow the tenants and users steps
    )
)
authorize(connection, state)
connection._csp_sync(trigger="manual", modules=["tenants"])
tenants = connection.tenant_ids
# only tenants the GDAP app can read take part: the others fail for reasons of their own
tenants.filtered(lambda t: t.consent_state != "granted").write(
    {"partner_id": False, "do_not_import": True}
)
tenants = tenants.filtered(lambda t: not t.do_not_import)
tenants.filtered(lambda t: not t.partner_id).action_create_customer()
for tenant in tenants:
    env["csp.site.mapping"].create(
        {"connection_id": connection.id, "kind": "site", "customer_id": tenant.partner_id.id,
         "site_id": tenant.partner_id.id, "tenant_ids": [(6, 0, tenant.ids)]}
    )  # fmt: skip
env.cr.commit()
print(
    "RESULT "
    + json.dumps({"connection": connection.id, "tenants": {t.tenant_id: t.id for t in tenants}})
)
