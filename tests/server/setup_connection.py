"""Run inside `odoo shell` by test_production_cron.py: connect a fresh database to the
sandbox as an MSP engineer would (authorise, discover, map, user mappings) and set the
integrator's production knobs the test asks for. Prints one line: RESULT {json}.
"""

# ruff: noqa: F821 - `env` is provided by `odoo shell`
# pylint: disable=print-used
import json
import os
from urllib.parse import parse_qs, urlsplit

import requests

state = json.loads(os.environ["CSP_SANDBOX_STATE"])
params = json.loads(os.environ["CSP_PARAMS"])
env = env(user=env.ref("base.user_admin"))


def browse(url):
    response = requests.get(url, allow_redirects=False, verify=state["ca_path"], timeout=30)
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


for key, value in params.items():
    env["ir.config_parameter"].sudo().set_param(f"csp_connector.{key}", str(value))
connection = env["csp.connection"].create(
    {
        "name": "Sandbox partner",
        "partner_tenant_id": state["partner_tenant_id"],
        "pc_client_id": state["partner_center_app"]["client_id"],
        "pc_client_secret_input": state["partner_center_app"]["client_secret"],
        "gdap_client_id": state["gdap_app"]["client_id"],
        "gdap_client_secret_input": state["gdap_app"]["client_secret"],
        "login_endpoint": state["urls"]["login"],
        "partner_center_endpoint": state["urls"]["partner_center"],
        "graph_endpoint": state["urls"]["graph"],
        "pricing_endpoint": state["urls"]["pricing"],
        "ca_bundle_path": state["ca_path"],
        "create_customers": True,
        "sync_users": True,
        "interval_number": 1,
        "interval_type": "days",
    }
)
env["csp.connection"]._csp_finish_authorization(browse(connection.action_authorize()["url"]))
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
