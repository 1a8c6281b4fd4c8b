"""Our pro-rata cost lines against the sandbox's unbilled reconciliation line items.

The sandbox computes Microsoft's charges with its own implementation of the rule
(mscloud_sandbox/unbilled.py); the add-on's lines come from billing/prorata.py. A month with
increases, a decrease, a cancellation and a renewal reconciles with no difference; a change
our sync saw a day late, and Microsoft rounding another way, show as differences with their
cause.
"""

import dataclasses
import datetime as dt

import pytest
from conftest import buy_subscription, partner_center_token, patch_subscription, sandbox_control

from odoo.addons.csp_connector.microsoft.http import MicrosoftHttp
from odoo.addons.csp_connector.microsoft.partner_center import PartnerCenter
from odoo.addons.csp_connector_billing.billing import prorata, reconcile
from odoo.addons.csp_connector_billing.billing.prorata import Change, TimeSource
from odoo.addons.csp_connector_billing.microsoft.errors import BillingReadError
from odoo.addons.csp_connector_billing.microsoft.line_items import unbilled_line_items

from mscloud_sandbox import unbilled
from mscloud_sandbox.pricing import MARKETS

AUDIT, SEEN = TimeSource.AUDIT_RECORD, TimeSource.SEEN
UTC = dt.UTC


_control = sandbox_control


def _at(text):
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def _clock(sb, when):
    _control(sb, "POST", "/clock", {"set": when.isoformat()})


def _buy(sb, tenant, start, quantity, term="P1Y", cycle="monthly"):
    sub_id, sku = buy_subscription(sb, tenant, start, quantity, cycle, term)
    sub = next(s for s in tenant.subscriptions if s.id == sub_id)
    return sub_id, unbilled.unit_price(sub, tenant.country), sku.product_name


def _patch_quantity(sb, tenant, sub_id, quantity):
    patch_subscription(sb, tenant, sub_id, {"quantity": quantity})


def _client(sb):
    token = partner_center_token(sb)
    http = MicrosoftHttp({"partnercenter": sb.urls["partner_center"]}, ca_bundle=sb.ca_path)
    return PartnerCenter(http, lambda: token)


def _line_items(sb, currency, history):
    """Partner Center's items of this month for the subscriptions of ``history`` (the
    generated world's own subscriptions are left out), read by the add-on's client over
    pages of 3."""
    items = list(unbilled_line_items(_client(sb), currency, page_size=3))
    ids = {sub.subscription_id for sub, __ in history.values()}
    return [item for item in items if item["subscriptionId"] in ids]


@pytest.fixture
def month(sandbox):
    """A June with two increases, a decrease, a cancellation within 7 days and a renewal;
    returns (sandbox, tenant, currency, {name: (subscription, changes)})."""
    sb = sandbox
    tenant = next(t for t in sb.world.tenants.values() if t.reseller and t.country in MARKETS)
    start = _at("2026-06-03T08:00:00")
    _clock(sb, start)
    grow, price, name = _buy(sb, tenant, start, 10)
    cancel, __, __ = _buy(sb, tenant, start, 4)
    renew, renew_price, __ = _buy(sb, tenant, _at("2026-05-05T00:00:00"), 2, term="P1M")
    _clock(sb, _at("2026-06-05T10:00:00"))
    _patch_quantity(sb, tenant, grow, 12)
    _clock(sb, _at("2026-06-06T10:00:00"))
    _patch_quantity(sb, tenant, grow, 11)
    _clock(sb, _at("2026-06-07T11:00:00"))
    _patch_quantity(sb, tenant, grow, 14)
    _clock(sb, _at("2026-06-08T08:00:00"))
    _control(sb, "PATCH", f"/tenants/{tenant.id}/subscriptions/{cancel}", {"status": "deleted"})
    _clock(sb, _at("2026-06-10T12:00:00"))

    def sub(sid, anchor):
        return prorata.Subscription(sid, name, "monthly", anchor.date())

    history = {
        "grow": (sub(grow, start), [
            Change("buy", "purchase", start, AUDIT, 10, price),
            Change("c1", "quantity", _at("2026-06-05T10:00:00"), AUDIT, 12),
            Change("c2", "quantity", _at("2026-06-06T10:00:00"), AUDIT, 11),
            Change("c3", "quantity", _at("2026-06-07T11:00:00"), AUDIT, 14),
        ]),
        "cancel": (sub(cancel, start), [
            Change("buy", "purchase", start, AUDIT, 4, price),
            Change("x", "cancel", _at("2026-06-08T08:00:00"), AUDIT),
        ]),
        "renew": (sub(renew, _at("2026-05-05T00:00:00")), [
            Change("buy", "purchase", _at("2026-05-05T00:00:00"), AUDIT, 2, renew_price),
            Change("r1", "renewal", _at("2026-06-05T00:00:00"), AUDIT),
        ]),
    }  # fmt: skip
    return sb, tenant, MARKETS[tenant.country][0], history


def _our_lines(history, settings=None, late=False):
    lines = []
    for subscription, given in history.values():
        changes = given
        if late:  # the sync saw c1 the next morning, without Partner Center's audit record
            changes = [
                Change(c.change_id, c.kind, _at("2026-06-06T09:00:00"), SEEN, c.quantity)
                if c.change_id == "c1" else c
                for c in given
            ]  # fmt: skip
        lines += prorata.bill_changes(subscription, changes, settings)
    return lines


def test_a_month_of_changes_reconciles_to_the_cent(month):
    sb, tenant, currency, history = month
    items = _line_items(sb, currency, history)
    mine = [i for i in items if i["customerId"] == tenant.id]
    kinds = {i["chargeType"] for i in mine}
    assert {"new", "addQuantity", "removeQuantity", "cancelImmediate", "renew"} <= kinds
    report = reconcile.reconcile(tenant.id, dt.date(2026, 6, 1), _our_lines(history), items)
    assert report.differences == ()
    assert report.matched == len(mine) == 10  # 1 + 3 x 2, 1 + 1, 1
    # May's purchase of the renewed subscription is not June's
    assert all(i["orderDate"].startswith("2026-06") for i in mine)


def test_a_change_seen_late_shows_with_its_cause(month):
    sb, tenant, currency, history = month
    items = _line_items(sb, currency, history)
    report = reconcile.reconcile(
        tenant.id, dt.date(2026, 6, 1), _our_lines(history, late=True), items
    )
    assert len(report.differences) == 2  # the credit of 10 and the charge of 12
    for difference in report.differences:
        assert difference.charge_type == "addQuantity"
        assert difference.kind == reconcile.Cause.SEEN_LATE
        assert difference.cause.startswith("Odoo dates the change 6 Jun 2026, when the sync")
        assert "Microsoft 5 Jun 2026" in difference.cause
    # one day less billed by us: Microsoft charged the net of 2 seats for that day more
    assert report.total_difference > 0


def test_microsoft_rounding_another_way_is_named(month):
    sb, tenant, currency, history = month
    _control(sb, "PUT", "/billing", {"rounding": "half_up"})
    items = _line_items(sb, currency, history)
    report = reconcile.reconcile(tenant.id, dt.date(2026, 6, 1), _our_lines(history), items)
    assert report.differences
    for difference in report.differences:
        assert difference.kind == reconcile.Cause.ROUNDING
        assert "is what rounding with the line amount" in difference.cause
        assert difference.odoo.start == difference.microsoft.start
    # with the connection on the same rule, nothing differs
    settings = prorata.Settings(rounding="half_up")
    report = reconcile.reconcile(
        tenant.id, dt.date(2026, 6, 1), _our_lines(history, settings), items, "half_up"
    )
    assert report.differences == ()


def test_one_side_only(month):
    sb, tenant, currency, history = month
    items = _line_items(sb, currency, history)
    del history["cancel"]
    report = reconcile.reconcile(tenant.id, dt.date(2026, 6, 1), _our_lines(history), items)
    assert _cause_kinds(report) == {reconcile.Cause.MICROSOFT_ONLY}
    assert {d.cause.split(";")[0] for d in report.differences} == {
        "Microsoft billed a change Odoo has not recorded. Run the licences sync"
    }
    assert len(report.differences) == 2  # its purchase and its refund


def _cause_kinds(report):
    return {d.kind for d in report.differences}


def test_a_changed_price_is_named(month):
    sb, tenant, currency, history = month
    items = _line_items(sb, currency, history)
    subscription, changes = history["grow"]
    dearer = [
        dataclasses.replace(c, unit_price=c.unit_price + 1) if c.kind == "purchase" else c
        for c in changes
    ]
    history["grow"] = (subscription, dearer)
    report = reconcile.reconcile(tenant.id, dt.date(2026, 6, 1), _our_lines(history), items)
    assert _cause_kinds(report) == {reconcile.Cause.PRICE}
    assert len(report.differences) == 7  # the purchase and the three seat changes' lines
    assert all(" per seat and Odoo's cost is " in d.cause for d in report.differences)


def test_recurring_cost_of_each_cycle_reconciles(sandbox):
    """Cycles opening in the month: a one-month term's renewal, a one-year term billed
    monthly (cycle charge) and one billed yearly (its anniversary): Odoo's recurring cost
    (full price x the quantity of then) equals Microsoft's lines."""
    sb = sandbox
    tenant = next(t for t in sb.world.tenants.values() if t.reseller and t.country in MARKETS)
    currency = MARKETS[tenant.country][0]
    _clock(sb, _at("2026-06-25T08:00:00"))
    bought = {
        "renew": (_at("2026-05-31T09:00:00"), "P1M", "monthly"),  # June has no 31st
        "cycle": (_at("2026-04-10T09:00:00"), "P1Y", "monthly"),
        "annual": (_at("2025-06-12T09:00:00"), "P1Y", "annual"),
    }
    subs = {}
    for name, (start, term, cycle) in bought.items():
        sub_id, price, product = _buy(sb, tenant, start, 4, term=term, cycle=cycle)
        subs[name] = (prorata.Subscription(sub_id, product, cycle, start.date()), term, price,
                      start)  # fmt: skip
    ours = []
    for subscription, term, price, start in subs.values():
        ours += reconcile.recurring_charges(
            subscription, dt.date(2026, 6, 1), term_months={"P1M": 1, "P1Y": 12}[term],
            unit_price=price, quantity_at=lambda moment: 4, purchased_at=start,
            until=_at("2026-06-30T10:00:00"),
        )  # fmt: skip
    assert sorted((c.charge_type, c.start.day) for c in ours) == [
        ("cycleCharge", 10),
        ("renew", 12),
        ("renew", 30),
    ]
    _clock(sb, _at("2026-06-30T10:00:00"))  # the renewal of the 30th has happened
    ids = {s.subscription_id for s, *__ in subs.values()}
    items = [i for i in unbilled_line_items(_client(sb), currency) if i["subscriptionId"] in ids]
    report = reconcile.reconcile(tenant.id, dt.date(2026, 6, 1), ours, items)
    assert report.differences == ()
    assert report.matched == 3
    # one seat fewer in Odoo for the cycle charge: shown, not hidden
    short = [dataclasses.replace(c, quantity=3, amount=c.amount / 4 * 3)
             if c.charge_type == "cycleCharge" else c for c in ours]  # fmt: skip
    report = reconcile.reconcile(tenant.id, dt.date(2026, 6, 1), short, items)
    assert _cause_kinds(report) == {reconcile.Cause.ODOO_ONLY, reconcile.Cause.MICROSOFT_ONLY}


def test_line_items_read_as_microsoft_writes_them():
    """The documented example's shapes: PascalCase or camelCase names, 'org:' customer
    ids, 'New', 7-digit fractions with an offset (the day as written), amounts as text or
    integers; an item without a needed field is a difference of its own, named."""
    customer = "d7f565f5-5367-492f-a465-9e2057c5e3c3"
    items = [
        {"customerId": f"org:{customer}", "SubscriptionId": "ABC", "chargeType": "New",
         "chargeStartDate": "2019-02-04T09:22:40.1767993-08:00",
         "chargeEndDate": "2019-03-03T09:22:40.1767993-08:00", "quantity": 3,
         "unitPrice": 820, "subtotal": "2460", "orderDate": "2019-02-04T17:59:52.9460102Z"},
        {"customerId": customer, "subscriptionId": "abc", "chargeType": "addQuantity",
         "chargeStartDate": "2019-02-10", "chargeEndDate": "2019-03-03", "quantity": 3,
         "orderDate": "2019-02-10T08:00:00Z"},  # no subtotal
        {"customerId": "someone-else", "subscriptionId": "abc"},
    ]  # fmt: skip
    ours = [reconcile.charge("abc", "new", dt.date(2019, 2, 4), dt.date(2019, 3, 3), 3,
                             "820", "2460.00", dt.date(2019, 2, 4))]  # fmt: skip
    report = reconcile.reconcile(customer.upper(), dt.date(2019, 2, 1), ours, items)
    assert report.matched == 1
    (unreadable,) = report.differences
    assert unreadable.kind == reconcile.Cause.UNREADABLE
    assert "'subtotal'" in unreadable.cause and unreadable.subscription_id == "abc"
    missing_price = dict(items[0], customerId=customer)
    del missing_price["unitPrice"]
    assert reconcile.from_item(missing_price).unit_price is None


def test_a_refusal_is_explained_for_billing(sandbox):
    """Partner Center refusing the billing data (403) is explained as a missing billing
    role, not as a customer-list refusal; a cut page is not taken as 'no charges'."""
    client = _client(sandbox)
    rule = {"service": "partner_center", "path": "/v1/invoices/unbilled/lineitems",
            "status": 403, "times": 1}  # fmt: skip
    _control(sandbox, "POST", "/faults", rule)
    with pytest.raises(BillingReadError) as caught:
        list(unbilled_line_items(client, "EUR"))
    assert "Billing admin" in caught.value.user_message()
