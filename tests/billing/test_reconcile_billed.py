"""Microsoft's billed invoice against the customers' invoices (billing/reconcile.py
``reconcile_billed``), with the invoice and its line items read from the sandbox by the
add-on's client over small pages: a month invoiced correctly has no difference; a seat
count invoiced differently, a subscription not invoiced, a sale below cost, Azure not
invoiced and a line Microsoft did not bill each name their cause; a cut page is refused
before anything is compared."""

import datetime as dt
from decimal import Decimal

import pytest
from conftest import buy_subscription, partner_center_token, patch_subscription, sandbox_control

from odoo.addons.csp_connector.microsoft.http import MicrosoftHttp
from odoo.addons.csp_connector.microsoft.partner_center import PartnerCenter
from odoo.addons.csp_connector_billing.billing import reconcile
from odoo.addons.csp_connector_billing.billing.reconcile import AZURE, Cause, LineState
from odoo.addons.csp_connector_billing.microsoft import line_items
from odoo.addons.csp_connector_billing.microsoft.errors import BillingReadError

from mscloud_sandbox import invoices as sandbox_invoices
from mscloud_sandbox.pricing import MARKETS

NOVEMBER = dt.date(2026, 11, 1)


def _client(sb):
    token = partner_center_token(sb)
    http = MicrosoftHttp(
        {"partnercenter": sb.urls["partner_center"]}, ca_bundle=sb.ca_path, backoff=0.01
    )
    return PartnerCenter(http, lambda: token)


@pytest.fixture
def month(sandbox):
    """November in the sandbox: a customer buys 4 seats on the 3rd, goes from 2 to 5 seats
    of another on the 16th, and from 3 to 6 seats on the 5th of one bought on 20 October
    (its cycle opens on the 20th, after the change); read on 9 December (Microsoft has
    invoiced November)."""
    tenant = next(t for t in sandbox.world.tenants.values() if t.reseller and t.country in MARKETS)
    currency = MARKETS[tenant.country][0]
    sandbox_control(sandbox, "POST", "/clock", {"set": "2026-10-20T08:00:00Z"})
    early, __ = buy_subscription(sandbox, tenant, "2026-10-20T08:00:00Z", 3)
    sandbox_control(sandbox, "POST", "/clock", {"set": "2026-11-05T08:00:00Z"})
    patch_subscription(sandbox, tenant, early, {"quantity": 6})
    sandbox_control(sandbox, "POST", "/clock", {"set": "2026-11-03T08:00:00Z"})
    plain, __ = buy_subscription(sandbox, tenant, "2026-11-03T08:00:00Z", 4)
    changed, __ = buy_subscription(sandbox, tenant, "2026-11-03T08:00:00Z", 2)
    sandbox_control(sandbox, "POST", "/clock", {"set": "2026-11-16T10:00:00Z"})
    patch_subscription(sandbox, tenant, changed, {"quantity": 5})
    sandbox_control(sandbox, "POST", "/clock", {"set": "2026-12-09T10:00:00Z"})
    client = _client(sandbox)
    listed = list(line_items.invoices(client, page_size=2))
    ids = reconcile.month_invoices(listed, NOVEMBER, currency)
    assert len(ids) == 1, listed
    items = [i for invoice in ids for i in line_items.invoice_line_items(client, invoice, 3)]
    subs = {"plain": plain.lower(), "changed": changed.lower(), "early": early.lower()}
    return tenant, currency, items, subs


def _mine(items, tenant):
    return [i for i in items if i["customerId"] == tenant.id]


def _correct_sales(items, tenant, margin=Decimal("1.15"), invoiced_first=()):
    """What a correct invoicing sells: each subscription's period at its opening seats
    at the cost plus 15 %, each change on a line of its own, Azure with 15 %;
    ``invoiced_first``: subscriptions whose period was invoiced on the 1st, before their
    change (at the seats before it)."""
    sales = []
    for found in _mine(items, tenant):
        item = found
        if (
            found["subscriptionId"].lower() in invoiced_first
            and found["chargeType"] == "cycleCharge"
        ):
            item = dict(found, quantity=3)
        amount = Decimal(str(item["subtotal"])) * margin
        if reconcile.is_azure(item):
            sales.append(reconcile.sale(AZURE, amount, recurring=False))
        elif item["chargeType"] in reconcile.OPENING_TYPES:
            price = Decimal(str(item["unitPrice"])) * margin
            sales.append(
                reconcile.sale(item["subscriptionId"], amount, item["quantity"], unit_price=price)
            )
        else:
            sales.append(reconcile.sale(item["subscriptionId"], amount, recurring=False))
    return sales


def test_a_month_invoiced_correctly_has_no_difference(month):
    tenant, __, items, subs = month
    sales = _correct_sales(items, tenant, invoiced_first={subs["early"]})
    report = reconcile.reconcile_billed(tenant.id, NOVEMBER, items, sales)
    assert report.differences == ()
    assert report.state == reconcile.ReportState.MATCHES
    keys = {row.key for row in report.rows}
    assert {subs["plain"], subs["changed"]} <= keys
    cost = sum(Decimal(str(i["subtotal"])) for i in _mine(items, tenant))
    assert report.cost == cost
    assert report.sale == sum(s.amount for s in sales)
    assert report.margin == report.sale - report.cost > 0
    changed = next(row for row in report.rows if row.key == subs["changed"])
    assert (changed.microsoft_seats, changed.odoo_seats) == (5, 2)  # the change on its line
    # the change before the cycle's opening: invoiced on the 1st at 3 seats, the change
    # on its own line
    early = next(row for row in report.rows if row.key == subs["early"])
    assert (early.microsoft_seats, early.odoo_seats) == (6, 3)
    # invoiced at the new seats for the whole period (the change before the invoice)
    resold = [s for s in sales if s.key != subs["changed"]] + [
        reconcile.sale(subs["changed"], changed.cost * 2, 5)
    ]
    assert reconcile.reconcile_billed(tenant.id, NOVEMBER, items, resold).differences == ()


def test_planted_differences_name_their_cause(month):
    tenant, __, items, subs = month
    sales = _correct_sales(items, tenant)
    plain = subs["plain"]
    # a seat count invoiced differently: 3 seats invoiced of Microsoft's 4
    fewer = [
        reconcile.sale(s.key, s.amount * 3 / 4, 3, unit_price=s.unit_price)
        if s.key == plain else s for s in sales
    ]  # fmt: skip
    report = reconcile.reconcile_billed(tenant.id, NOVEMBER, items, fewer)
    (difference,) = report.differences
    assert (difference.kind, difference.state) == (Cause.SEATS, LineState.DIFFERS)
    assert "Microsoft billed 4 seats" in difference.cause and "invoiced 3" in difference.cause
    plain_row = next(row for row in report.rows if row.key == plain)
    # one seat at the customer's seat price
    seat_price = next(s.unit_price for s in sales if s.key == plain)
    assert difference.amount == seat_price.quantize(Decimal("0.01"))
    assert reconcile.CAUSE_WORDS[difference.kind] == "Seats invoiced differ"

    # a subscription not invoiced at all: Microsoft's cost at stake
    report = reconcile.reconcile_billed(tenant.id, NOVEMBER, items,
                                        [s for s in sales if s.key != plain])  # fmt: skip
    (difference,) = report.differences
    assert difference.kind == Cause.NOT_INVOICED
    assert difference.amount == plain_row.cost > 0

    # sold below cost
    cheap = [reconcile.sale(s.key, s.amount / 2, s.quantity, unit_price=s.unit_price)
             if s.key == plain else s for s in sales]  # fmt: skip
    (difference,) = reconcile.reconcile_billed(tenant.id, NOVEMBER, items, cheap).differences
    assert difference.kind == Cause.BELOW_COST
    assert "sold below cost" in difference.cause

    # a change Microsoft billed with no line for it on the customer's invoices
    unchanged = [s for s in sales if s.key != subs["changed"] or s.recurring]
    (difference,) = reconcile.reconcile_billed(tenant.id, NOVEMBER, items, unchanged).differences
    assert difference.kind == Cause.NOT_INVOICED
    assert "seat change" in difference.cause and "2 to 5 seats" in difference.cause

    # a line Microsoft did not bill: the customer invoiced for a subscription of nobody's
    extra = [*sales, reconcile.sale("0d3c0fc4-3fd3-4b5e-9d55-000000000001", 25, 1)]
    (difference,) = reconcile.reconcile_billed(tenant.id, NOVEMBER, items, extra).differences
    assert (difference.kind, difference.amount) == (Cause.ODOO_ONLY, Decimal("-25.00"))


def test_azure_is_microsofts_cost_per_customer(sandbox):
    """A customer with an Azure plan: its meters' month on Microsoft's invoice is its
    Azure cost; not invoiced, it is a difference; invoiced with a markup, none."""
    customers = sandbox_invoices.usage_exports.azure_customers(sandbox.world)
    tenant = next(t for t in customers if t.country in MARKETS)
    currency = MARKETS[tenant.country][0]
    sandbox_control(sandbox, "POST", "/clock", {"set": "2026-12-09T10:00:00Z"})
    client = _client(sandbox)
    (invoice,) = reconcile.month_invoices(list(line_items.invoices(client)), NOVEMBER, currency)
    items = list(line_items.invoice_line_items(client, invoice, page_size=5))
    azure = [i for i in _mine(items, tenant) if reconcile.is_azure(i)]
    assert len(azure) >= 2
    cost = sum(Decimal(str(i["subtotal"])) for i in azure)
    licences = _correct_sales([i for i in items if not reconcile.is_azure(i)], tenant)
    report = reconcile.reconcile_billed(tenant.id, NOVEMBER, items, licences)
    (row,) = [row for row in report.rows if row.key == AZURE]
    assert (row.cost, row.sale, row.label) == (cost, 0, "Azure consumption")
    (difference,) = report.differences
    assert (difference.kind, difference.amount) == (Cause.NOT_INVOICED, cost)
    sold = [*licences, reconcile.sale(AZURE, cost * Decimal("1.1"), recurring=False)]
    assert reconcile.reconcile_billed(tenant.id, NOVEMBER, items, sold).differences == ()


def test_an_unreadable_item_is_not_compared(month):
    tenant, __, items, __ = month
    broken = [dict(i) for i in items]
    target = next(i for i in broken if i["customerId"] == tenant.id and "meterId" not in i)
    del target["subtotal"]
    report = reconcile.reconcile_billed(tenant.id, NOVEMBER, broken, [])
    unreadable = [d for d in report.differences if d.kind == Cause.UNREADABLE]
    assert len(unreadable) == 1 and unreadable[0].state == LineState.NOT_COMPARED
    assert "'subtotal'" in unreadable[0].cause


def test_a_cut_page_of_the_invoice_is_refused(month, sandbox):
    __, currency, __, __ = month
    client = _client(sandbox)
    (invoice,) = reconcile.month_invoices(list(line_items.invoices(client)), NOVEMBER, currency)
    path = f"/v1/invoices/{invoice}/lineitems"
    sandbox.faults.add(service="partnercenter", path=path, after=1, body="emptied", times=1)
    with pytest.raises(BillingReadError) as caught:
        list(line_items.invoice_line_items(client, invoice, page_size=3))
    assert caught.value.page == 2
    assert "part-way through" in caught.value.user_message()


@pytest.mark.parametrize(
    ("invoice", "month"),
    [
        ({"id": "G1", "billingPeriodStartDate": "2026-11-01T00:00:00Z"}, NOVEMBER),
        ({"id": "G2", "billingPeriodStartDate": "2026-11-01T00:00:00.0000000Z"}, NOVEMBER),
        ({"id": "G3", "billingPeriodStartDate": "2026-11-01T00:00:00+00:00"}, NOVEMBER),
        ({"id": "G4", "invoiceDate": "2026-12-07"}, NOVEMBER),  # no period: the month before
        ({"id": "G5"}, None),
    ],
)
def test_the_month_an_invoice_bills(invoice, month):
    assert reconcile.invoice_month(invoice) == month
    assert reconcile.month_invoices([invoice], NOVEMBER) == ([invoice["id"]] if month else [])


def test_an_invoice_partner_center_does_not_find_is_explained_as_such(month, sandbox):
    __, currency, __, __ = month
    client = _client(sandbox)
    (invoice,) = reconcile.month_invoices(list(line_items.invoices(client)), NOVEMBER, currency)
    sandbox.faults.add(service="partnercenter", path="/v1/invoices/G", status=404, times=1)
    with pytest.raises(BillingReadError) as caught:
        list(line_items.invoice_line_items(client, invoice))
    message = caught.value.user_message()
    assert "does not find Microsoft's invoice" in message
    assert "unbilled" not in message


def test_items_grouped_per_customer_compare_as_the_whole_list(month):
    tenant, __, items, __ = month
    grouped = reconcile.items_by_customer(items)
    assert sum(len(mine) for mine in grouped.values()) == len(items)
    sales = _correct_sales(items, tenant)
    whole = reconcile.reconcile_billed(tenant.id.upper(), NOVEMBER, items, sales)
    mine = reconcile.reconcile_billed(tenant.id, NOVEMBER, grouped[tenant.id.lower()], sales)
    assert (whole.rows, whole.cost) == (mine.rows, mine.cost)
