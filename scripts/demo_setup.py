"""make demo, second step: connect the demo database to the running sandbox.

Run inside `odoo shell` (which provides `env`), with CSP_SANDBOX_STATE pointing at the
sandbox's state file. It does what an MSP engineer does in the back office: create a
connection, authorise it (the sandbox approves without a human), discover and map the
tenants, grant admin consent where the sandbox allows it, run one sync; then it prints
a summary. Running it again reuses the connection and converges.
"""

# ruff: noqa: F821 - `env` is provided by `odoo shell`
# pylint: disable=print-used
import os

from mscloud_sandbox.connection import authorize, browse, connection_values, load_state

state = load_state(os.environ["CSP_SANDBOX_STATE"])
admin = env.ref("base.user_admin")
env = env(user=admin)  # flows are bound to the user who starts them

Connection = env["csp.connection"]
connection = Connection.search([("partner_tenant_id", "=", state["partner_tenant_id"])], limit=1)
values = connection_values(
    state, name="Sandbox partner (Harbourside IT)", create_customers=True, auto_sso_allowlist=True
)
if connection:
    connection.write(values)
else:
    connection = Connection.create(values)

# 1. authorise: Microsoft's sign-in page answers at once in the sandbox
authorize(connection, state)
print(f"Authorised as {connection.authorized_upn}: {connection.state}")

# 2. discover tenants, create customers for new ones, check access per tenant
run = connection._csp_sync(trigger="manual", modules=["tenants"])

# 3. confirm the suggested mappings, as a person would after reviewing them
tenants = connection.tenant_ids
tenants._csp_suggest_partners()
tenants.filtered("suggested_partner_id").action_confirm_suggestion()

# 4. grant admin consent where it is missing (refused where the sandbox says so)
for tenant in tenants.filtered(lambda t: t.consent_state != "granted"):
    answer = browse(tenant.action_grant_consent()["url"], state["ca_path"])
    env["csp.tenant"]._csp_finish_consent(answer)

# 5. users: one site mapping per mapped tenant to its customer, sites per office
connection.action_generate_site_mappings()
connection.site_mapping_ids.filtered(lambda m: m.kind == "site").write(
    {"kind": "field_sites", "azure_field": "officeLocation", "site_id": False}
)

# 6. one full sync now that consent is in place: tenants and users
run = connection._csp_sync(trigger="manual", modules=["tenants", "users"])
env.cr.commit()

mapped = tenants.filtered(lambda t: t.mapping_state == "mapped")
consented = tenants.filtered(lambda t: t.consent_state == "granted")
failing = tenants.filtered("last_error")
print(f"Tenants found:     {len(tenants)}")
print(f"Mapped:            {len(mapped)} (to {len(mapped.partner_id)} customers)")
print(f"Admin consent:     {len(consented)}")
print(f"GDAP ending soon:  {len(tenants.filtered('gdap_expiring'))}")
users = env["csp.user.binding"].search([("connection_id", "=", connection.id)])
print(
    f"Users imported:    {len(users.filtered('partner_id'))} contacts "
    f"({len(users.filtered(lambda u: not u.licensed))} without licence)"
)
print(
    f"Last run:          {run.state} ({run.created} created, {run.updated} updated, "
    f"{run.skipped} unchanged, {run.error_count} errors)"
)
for tenant in failing:
    first_lines = "\n      ".join(tenant.last_error.splitlines()[:3])
    print(f"  ! {tenant.name}:\n      {first_lines}")
