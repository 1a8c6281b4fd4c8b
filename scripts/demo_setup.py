"""make demo, second step: connect the demo database to the running sandbox and bill.

Run inside `odoo shell` (which provides `env`), with CSP_SANDBOX_STATE pointing at the
sandbox's state file and CSP_DEMO_URL at the Odoo the demo serves next. It does what an
MSP engineer and their accountant do in the back office:

1. a connection, authorised (the sandbox approves without a human), tenants discovered
   and mapped to customers, admin consent where the sandbox allows it, users' sites;
2. every step once: tenants, users, licences and subscriptions, Intune devices, billing;
3. prices: each subscription's Microsoft cost from the sandbox's price sheet, each
   offer's sales price (the cost and a margin);
4. sale contracts for three customers, invoiced for this month by OCA contract's own
   invoicing job; one quantity changed in Partner Center from Odoo; the steps again
   (the pro-rata adjustment of the change); next month invoiced (invoices stay drafts);
5. single sign-on with a portal user of a customer, the webhook registered, the three
   customers reconciled with Partner Center.

It prints what it did and where to look. `setup()` is also what the demo's own test
(tests/scripts/test_demo.py) runs, in its test transaction.
"""

# ruff: noqa: F821 - `env` is provided by `odoo shell`
# pylint: disable=print-used
import datetime as dt
import os
from decimal import Decimal

from dateutil.relativedelta import relativedelta

from sandbox_connection import (
    authorize,
    browse,
    connection_values,
    load_state,
    webhook_trust_values,
)
from sandbox_connection.partner import price_sheet

CONNECTION_NAME = "Sandbox partner (Harbourside IT)"
MARGIN = Decimal("1.15")  # the demo MSP's sales price: Microsoft's cost + 15 %
CUSTOMERS = 3  # customers given sale contracts
ADDED_SEATS = 2  # the quantity change
PLANS = {"monthly": "Monthly", "annual": "Annual"}  # billing cycle -> price sheet plan
MARKETS = {"USD": "US", "GBP": "GB", "AUD": "AU", "CAD": "CA", "NZD": "NZ"}


def connect(env, state, base_url):
    """Steps 1: the connection, authorised, tenants mapped and consented, users' sites."""
    env["ir.config_parameter"].sudo().set_param("web.base.url", base_url)
    Connection = env["csp.connection"]
    connection = Connection.search([("partner_tenant_id", "=", state["partner_tenant_id"])])
    values = connection_values(
        state,
        name=CONNECTION_NAME,
        create_customers=True,
        auto_sso_allowlist=True,
        licence_import_type="both",
        adjust_quantities=True,
        billing_mode="lines",
        **webhook_trust_values(state),
    )
    if connection:
        connection.write(values)
    else:
        connection = Connection.create(values)
    # 1. authorise: Microsoft's sign-in page answers at once in the sandbox
    authorize(connection, state)
    # 2. discover tenants, create customers for new ones, check access per tenant
    connection._csp_sync(trigger="manual", modules=["tenants"])
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
    return connection


def ensure_accounting(env):
    """A chart of accounts (Odoo's generic one) when the company has none: invoices need
    a sales journal and accounts."""
    company = env.company
    if not env["account.journal"].search([("type", "=", "sale"), ("company_id", "=", company.id)]):
        env["account.chart.template"].try_loading("generic_coa", company, install_demo=False)


def fill_prices(connection, state):
    """Each subscription's Microsoft cost from the sandbox's price sheet (per seat and
    billing period), each offer's sales price per seat and month (cost + margin); the
    subscriptions the sheet has no price for, and the sheet's per-year prices."""
    currency = connection.company_id.currency_id or connection.env.company.currency_id
    sheet = price_sheet(state, MARKETS.get(currency.name, "US"))
    subscriptions = connection.env["csp.subscription"].search(
        [("connection_id", "=", connection.id), ("billing_cycle", "in", list(PLANS))]
    )
    unpriced = subscriptions.browse()
    yearly = {}
    for subscription in subscriptions:
        product_id, _, sku_id = (subscription.offer_id or "").partition(":")
        sku_id = sku_id.split(":")[0]
        plan = PLANS[subscription.billing_cycle]
        cost = sheet.get((product_id, sku_id, subscription.term_duration, plan))
        if cost is None:
            unpriced |= subscription
            continue
        subscription.cost_price = float(cost)
        product = subscription.product_id
        monthly = sheet.get((product_id, sku_id, "P1Y", "Monthly")) or cost
        if product and plan == "Monthly" and not product.list_price:
            product.list_price = float((Decimal(monthly) * MARGIN).quantize(Decimal("0.01")))
        annual = sheet.get((product_id, sku_id, "P1Y", "Annual"))
        if annual:
            yearly[subscription.id] = float((Decimal(annual) * MARGIN).quantize(Decimal("0.01")))
        if product and not product.list_price:
            product.list_price = float((Decimal(monthly) * MARGIN).quantize(Decimal("0.01")))
    return unpriced, yearly


def price_yearly_lines(subscriptions, yearly):
    """A line billed once a year takes the year's sales price (the offer's product holds
    the price per month)."""
    for subscription in subscriptions:
        line = subscription.contract_line_id
        if line and subscription.billing_cycle == "annual" and subscription.id in yearly:
            line.price_unit = yearly[subscription.id]


def billed_customers(connection):
    """The first customers (by name) of consented tenants with an active subscription
    billed monthly that Partner Center lets Odoo change."""
    candidates = connection.tenant_ids.filtered(
        lambda t: t.partner_id and t.consent_state == "granted"
        and t.subscription_ids.filtered(changeable)
    )  # fmt: skip
    customers = candidates.partner_id.sorted(lambda p: (p.name, p.id))
    return customers[:CUSTOMERS]


def changeable(subscription):
    return (
        subscription.status == "active"
        and subscription.billing_cycle == "monthly"
        and subscription.cost_price
        and not subscription.next_term_instructions
    )


def invoice(env, day):
    """OCA contract's own invoicing job for ``day``: the invoices it created."""
    before = env["account.move"].search([]).ids
    env["contract.contract"]._cron_recurring_create(date_ref=day)
    return env["account.move"].search([("id", "not in", before), ("move_type", "=", "out_invoice")])


def sign_in_user(connection):
    """Single sign-on with Microsoft and a portal user for one imported user of the
    first billed customer's tenant (linked by its Entra object id)."""
    env = connection.env
    connection.action_csp_setup_sso()
    provider = connection.sudo().sso_provider_ids[:1]
    bindings = env["csp.user.binding"].search(
        [("connection_id", "=", connection.id), ("partner_id", "!=", False),
         ("upn", "!=", False)],
        order="id",
    )  # fmt: skip
    allowed = set((connection.sso_allowed_tenant_ids or "").lower().split())
    binding = bindings.filtered(
        lambda b: b.csp_tenant_id.tenant_id.lower() in allowed or connection.sso_any_tenant
    )[:1]
    if not binding:
        return env["res.users"], binding
    Users = env["res.users"].with_context(active_test=False, no_reset_password=True)
    user = Users.search([("oauth_uid", "=", binding.microsoft_id)], limit=1)
    if not user:
        user = Users.create(
            {
                "name": binding.partner_id.name,
                "login": binding.upn,
                "partner_id": binding.partner_id.id,
                "groups_id": [(6, 0, [env.ref("base.group_portal").id])],
                "oauth_provider_id": provider.id,
                "oauth_uid": binding.microsoft_id,
            }
        )
    return user, binding


def setup(env, state, base_url, commit=lambda: None, today=None):
    """The whole demo set-up; a dict of what it made, for the summary and the test."""
    env = env(user=env.ref("base.user_admin"))  # flows are bound to the user who starts them
    today = today or dt.datetime.now(dt.UTC).date()
    this_month = today.replace(day=1)
    next_month = this_month + relativedelta(months=1)
    ensure_accounting(env)
    connection = connect(env, state, base_url)
    commit()
    # every step once: tenants, users, licences and subscriptions, devices, billing
    # (products; a customer without a contract gets the billing contact's activity)
    first = connection._csp_sync(trigger="manual")
    commit()
    unpriced, yearly = fill_prices(connection, state)
    customers = billed_customers(connection)
    create = getattr(connection, "_csp_create_contracts", None)
    result = {
        "connection": connection, "first_run": first, "unpriced": unpriced,
        "customers": customers, "contracts": env["contract.contract"],
        "invoices": env["account.move"], "next_invoices": env["account.move"],
        "changed": env["csp.subscription"], "second_run": None,
    }  # fmt: skip
    if create is None:
        result["blocked"] = "csp.connection._csp_create_contracts is not there yet"
    else:
        # "Create contracts" for three customers, first invoiced this month (made as
        # superuser after its rights check: read here as the administrator)
        contracts = env["contract.contract"].browse(
            create(partners=customers, start=this_month).ids
        )
        run = connection._csp_sync(trigger="manual", modules=["licences", "billing"])
        price_yearly_lines(contracts.contract_line_ids.csp_subscription_id, yearly)
        invoices = invoice(env, this_month)  # this month, pre-paid
        commit()
        # one quantity changed in Partner Center, from Odoo (Adjust quantity)
        changed = contracts.contract_line_ids.csp_subscription_id.filtered(changeable)[:1]
        if changed:
            changed._csp_set_quantity(changed.quantity + ADDED_SEATS)
        second = connection._csp_sync(trigger="manual", modules=["licences", "billing"])
        next_invoices = invoice(env, next_month)
        result.update(
            contracts=contracts, invoices=invoices, changed=changed, billing_run=run,
            second_run=second, next_invoices=next_invoices,
        )  # fmt: skip
        for tenant in connection.tenant_ids.filtered(lambda t: t.partner_id in customers):
            tenant.action_billing_reconcile()
        commit()
    result["portal_user"], result["portal_binding"] = sign_in_user(connection)
    connection.action_webhook_register()
    commit()
    return result


def summary(result, base_url, state_path, python="python"):
    """What the set-up did and where to look, in lines."""
    connection = result["connection"]
    env = connection.env
    tenants = connection.tenant_ids
    out = []
    mapped = tenants.filtered(lambda t: t.mapping_state == "mapped")
    users = env["csp.user.binding"].search([("connection_id", "=", connection.id)])
    subscriptions = env["csp.subscription"].search([("connection_id", "=", connection.id)])
    devices = env["maintenance.equipment"].search_count([("csp_tenant_id", "in", tenants.ids)])
    run = result["second_run"] or result["first_run"]
    out += [
        f"Tenants found:     {len(tenants)}",
        f"Mapped:            {len(mapped)} (to {len(mapped.partner_id)} customers)",
        f"Admin consent:     {len(tenants.filtered(lambda t: t.consent_state == 'granted'))}",
        f"GDAP ending soon:  {len(tenants.filtered('gdap_expiring'))}",
        f"Users imported:    {len(users.filtered('partner_id'))} contacts "
        f"({len(users.filtered(lambda u: not u.licensed))} without licence)",
        f"Subscriptions:     {len(subscriptions)} ({len(result['unpriced'])} billed ones "
        "without a price on the sandbox's price sheet: their Microsoft cost stays 0)",
        f"Intune devices:    {devices}",
        f"Last run:          {run.state} ({run.created} created, {run.updated} updated, "
        f"{run.skipped} unchanged, {run.error_count} errors)",
    ]
    for tenant in tenants.filtered("last_error"):
        first_lines = "\n      ".join(tenant.last_error.splitlines()[:3])
        out.append(f"  ! {tenant.name}:\n      {first_lines}")
    if result.get("blocked"):
        out.append(f"Billing stopped before the contracts: {result['blocked']}.")
    else:
        changed = result["changed"]
        adjustments = changed.billing_adjustment_ids
        out += [
            "",
            f"Contracts:         {len(result['contracts'])} for "
            f"{', '.join(result['customers'].mapped('name'))}",
            f"Invoiced:          {describe(result['invoices'])}",
            f"Quantity changed:  {changed.csp_tenant_id.name}: {changed.friendly_name} +"
            f"{ADDED_SEATS} seats in Partner Center (now {changed.quantity}), "
            f"{len(adjustments)} pro-rata adjustments",
            f"Next invoices:     {describe(result['next_invoices'])}",
        ]
    user, binding = result["portal_user"], result["portal_binding"]
    if not result.get("blocked"):
        out += [
            "",
            "== Where to look (draft invoices: nothing is posted)",
            "   Invoicing → Customers → Invoices: the drafts of this month and next month",
            "   (next month's holds the pro-rata lines of the change)",
            f"      {base_url}/odoo/action-account.action_move_out_invoice_type",
            "   Microsoft CSP → Billing → Pro-rata Adjustments",
            f"      {base_url}/odoo/action-csp_connector_billing.csp_billing_adjustment_action",
            "   Microsoft CSP → Billing → Reconciliation with Microsoft",
            f"      {base_url}/odoo/action-csp_connector_billing.csp_billing_reconciliation_action",
            "   Microsoft CSP → Billing → Recurring Contracts",
        ]
    if user:
        out += [
            "",
            "== Single sign-on as a customer's user (portal)",
            f"   {user.name} ({binding.upn}) is a portal user linked to their Microsoft account.",
            f"   Open {base_url}/web/login in a private window, copy the link of 'Sign in "
            "with Microsoft',",
            f"   add &login_hint={binding.upn} to it and open it: the sandbox signs that user in",
            "   (without a hint it signs in the partner admin, who has no Odoo user).",
        ]
    changed = result["changed"] or subscriptions.filtered(
        lambda s: s.status == "active" and s.billing_cycle == "monthly"
        and not s.next_term_instructions
    )[:1]  # fmt: skip
    if changed:
        out += [
            "",
            "== Webhooks: change a quantity in Partner Center while the demo runs",
            f"   {python} -m sandbox_connection {state_path} set-quantity \\",
            f"       {changed.csp_tenant_id.tenant_id} {changed.microsoft_id} "
            f"{changed.quantity + 1}",
            "   Partner Center sends Odoo a signed event; Odoo re-reads that subscription at "
            "once (no sync to wait for):",
            "   Microsoft CSP → Licences → Subscriptions, and the connection's Webhook Events.",
        ]
    return out


def invoice_lines(invoices):
    """(recurring lines, pro-rata lines) of ``invoices``: the lines of subscriptions'
    contract lines, and those of pro-rata adjustments' one-shot contract lines."""
    lines = invoices.invoice_line_ids.filtered("contract_line_id")
    prorata = invoices.env["csp.billing.adjustment"].search(
        [("contract_line_id", "in", lines.contract_line_id.ids)]
    )
    adjustments = lines.filtered(lambda ml: ml.contract_line_id in prorata.contract_line_id)
    recurring = lines.filtered(lambda ml: ml.contract_line_id.csp_subscription_id) - adjustments
    return recurring, adjustments


def describe(invoices):
    recurring, adjustments = invoice_lines(invoices)
    total = sum(invoices.mapped("amount_untaxed"))
    return (
        f"{len(invoices)} draft invoices, {len(recurring)} recurring lines, "
        f"{len(adjustments)} pro-rata lines, {total:.2f} {invoices.currency_id[:1].name or ''} "
        "before tax"
    )


if "env" in globals():  # run by `odoo shell`
    STATE_PATH = os.environ["CSP_SANDBOX_STATE"]
    BASE_URL = os.environ.get("CSP_DEMO_URL", "http://127.0.0.1:8069")
    RESULT = setup(env, load_state(STATE_PATH), BASE_URL, commit=env.cr.commit)
    print("\n".join(summary(RESULT, BASE_URL, STATE_PATH, os.environ.get("CSP_DEMO_PY", "python"))))
