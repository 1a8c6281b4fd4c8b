"""Unbilled reconciliation line items served by the sandbox for its own subscription changes.

Amounts are worked out by hand here (days counted on the calendar, written as literals).
"""

from datetime import date
from decimal import Decimal

import pytest
import requests
from conftest import buy_subscription, partner_center_token, patch_subscription, sandbox_control

from mscloud_sandbox import unbilled
from mscloud_sandbox.pricing import MARKETS

PATH = "/v1/invoices/unbilled/lineitems"


def _query(currency, period="current", **extra):
    return {
        "provider": "onetime",
        "invoicelineitemtype": "billinglineitems",
        "currencycode": currency,
        "period": period,
        **extra,
    }


_control = sandbox_control


def _set_clock(sb, when):
    _control(sb, "POST", "/clock", {"set": when})


def _line_items(sb, currency, period="current", size=None):
    """All items, following links.next with the continuation token; and the page count."""
    token = partner_center_token(sb)
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    params = _query(currency, period, **({"size": size} if size else {}))
    answer = requests.get(
        sb.urls["partner_center"] + PATH, params=params, headers=headers, verify=sb.ca_path
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    items, pages = list(body["items"]), 1
    while "next" in body["links"]:
        link = body["links"]["next"]
        uri = link["uri"] if link["uri"].startswith("/v1/") else "/v1" + link["uri"]
        extra = {h["key"]: h["value"] for h in link["headers"]}
        answer = requests.get(
            sb.urls["partner_center"] + uri, headers={**headers, **extra}, verify=sb.ca_path
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        items += body["items"]
        pages += 1
    return items, pages


@pytest.fixture
def customer(sandbox):
    """A reseller customer in a market of the price sheet, with its currency."""
    tenant = next(t for t in sandbox.world.tenants.values() if t.reseller and t.country in MARKETS)
    return tenant, MARKETS[tenant.country][0]


def _buy(sb, tenant, start, quantity=10, cycle="monthly", term="P1Y"):
    return buy_subscription(sb, tenant, start, quantity, cycle, term)[0]


_patch = patch_subscription


def _mine(items, sub_id):
    return [item for item in items if item["subscriptionId"] == sub_id]


def _price(sb, sub_id, market):
    tenant_sub = next(
        s for t in sb.world.tenants.values() for s in t.subscriptions if s.id == sub_id
    )
    return unbilled.unit_price(tenant_sub, market)


# -- the rule, by hand ---------------------------------------------------------------------


def test_charge_cycles_follow_the_start_day():
    assert unbilled.cycle_of(date(2026, 6, 18), "monthly", date(2026, 6, 20)) == (
        date(2026, 6, 18), date(2026, 7, 17), 30,
    )  # fmt: skip
    # a start on the 31st: February's cycle starts on its last day; divisor = days of Feb
    assert unbilled.cycle_of(date(2027, 1, 31), "monthly", date(2027, 3, 1)) == (
        date(2027, 2, 28), date(2027, 3, 30), 28,
    )  # fmt: skip
    assert unbilled.cycle_of(date(2028, 1, 31), "monthly", date(2028, 2, 29)) == (
        date(2028, 2, 29), date(2028, 3, 30), 29,
    )  # fmt: skip
    # annual over a 29 February: 366 days
    assert unbilled.cycle_of(date(2027, 6, 1), "annual", date(2028, 1, 10)) == (
        date(2027, 6, 1), date(2028, 5, 31), 366,
    )  # fmt: skip
    assert unbilled.cycle_of(date(2026, 6, 1), "annual", date(2026, 6, 1))[2] == 365
    # a term started on 29 February 2024: a day short of a year, and still a leap year
    assert unbilled.cycle_of(date(2024, 2, 29), "annual", date(2024, 3, 1)) == (
        date(2024, 2, 29), date(2025, 2, 27), 366,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("rule", "effective", "subtotal"),
    [
        # 10.08 / 30 x 28 = 9.408 per seat; x 12 seats = 112.896
        ("reconciliation_file", "9.40", "112.80"),
        ("truncate_line", "9.41", "112.89"),  # Microsoft's seat-change table prints 112.89
        ("half_up", "9.41", "112.90"),
    ],
)
def test_each_rounding_rule(rule, effective, subtotal):
    assert unbilled.price_line(rule, Decimal("10.08"), 12, 28, 30) == (
        Decimal(effective), Decimal(subtotal),
    )  # fmt: skip


def test_reconciliation_rule_matches_microsofts_cancellation_example():
    # 10.08 / 31 x 29 = 9.4296... -> 9.42 per seat, x 10 seats
    assert unbilled.price_line("reconciliation_file", Decimal("10.08"), 10, 29, 31)[1] == (
        Decimal("94.20")
    )


# -- over HTTPS ------------------------------------------------------------------------------


def test_purchase_and_seat_change_billed_with_each_rounding(sandbox, customer):
    tenant, currency = customer
    market = tenant.country
    _set_clock(sandbox, "2026-06-18T09:00:00Z")
    sub_id = _buy(sandbox, tenant, "2026-06-18T09:00:00+00:00", quantity=10)
    _set_clock(sandbox, "2026-06-20T10:00:00Z")
    _patch(sandbox, tenant, sub_id, {"quantity": 12})
    price = _price(sandbox, sub_id, market)

    items = _mine(_line_items(sandbox, currency)[0], sub_id)
    assert [(i["chargeType"], i["quantity"]) for i in items] == [
        ("new", 10), ("addQuantity", 10), ("addQuantity", 12),
    ]  # fmt: skip
    new, credit, charge = items
    assert new["chargeStartDate"][:10] == "2026-06-18"
    assert new["chargeEndDate"][:10] == "2026-07-17"
    assert Decimal(str(new["subtotal"])) == price * 10  # a cycle's first day: full price
    per_seat = (price * 28 / 30).quantize(Decimal("0.01"), rounding="ROUND_DOWN")
    assert Decimal(str(credit["subtotal"])) == -per_seat * 10
    assert Decimal(str(charge["subtotal"])) == per_seat * 12
    assert Decimal(str(charge["effectiveUnitPrice"])) == per_seat
    assert charge["chargeStartDate"][:10] == "2026-06-20"
    assert charge["chargeEndDate"][:10] == "2026-07-17"
    assert charge["currency"] == currency
    assert charge["attributes"]["objectType"] == "OneTimeInvoiceLineItem"

    _control(sandbox, "PUT", "/billing", {"rounding": "truncate_line"})
    items = _mine(_line_items(sandbox, currency)[0], sub_id)
    exact = price * 12 * 28 / 30
    assert Decimal(str(items[2]["subtotal"])) == exact.quantize(
        Decimal("0.01"), rounding="ROUND_DOWN"
    )
    _control(sandbox, "PUT", "/billing", {"rounding": "half_up"})
    items = _mine(_line_items(sandbox, currency)[0], sub_id)
    assert Decimal(str(items[2]["subtotal"])) == exact.quantize(
        Decimal("0.01"), rounding="ROUND_HALF_UP"
    )
    answer = requests.put(
        f"{sandbox.urls['control']}/billing", json={"rounding": "bankers"}, verify=sandbox.ca_path
    )
    assert answer.status_code == 400


def test_cancellations_and_renewal(sandbox, customer):
    tenant, currency = customer
    _set_clock(sandbox, "2026-06-03T08:00:00Z")
    quick = _buy(sandbox, tenant, "2026-06-03T08:00:00+00:00", quantity=5)
    week = _buy(sandbox, tenant, "2026-06-03T08:00:00+00:00", quantity=4)
    late = _buy(sandbox, tenant, "2026-06-03T08:00:00+00:00", quantity=3)
    renewed = _buy(sandbox, tenant, "2026-05-05T00:00:00+00:00", quantity=2, term="P1M")
    _set_clock(sandbox, "2026-06-03T20:00:00Z")  # 12 hours: full refund
    _control(sandbox, "PATCH", f"/tenants/{tenant.id}/subscriptions/{quick}", {"status": "deleted"})
    _set_clock(sandbox, "2026-06-08T08:00:00Z")  # 5 days: the days left are refunded
    _control(sandbox, "PATCH", f"/tenants/{tenant.id}/subscriptions/{week}", {"status": "deleted"})
    _set_clock(sandbox, "2026-06-12T08:00:00Z")  # 9 days: nothing back
    _control(sandbox, "PATCH", f"/tenants/{tenant.id}/subscriptions/{late}", {"status": "deleted"})
    items, _ = _line_items(sandbox, currency)
    price = _price(sandbox, quick, tenant.country)

    assert [(i["chargeType"], i["subtotal"]) for i in _mine(items, quick)] == [
        ("new", float(price * 5)), ("cancelImmediate", -float(price * 5)),
    ]  # fmt: skip
    refund = _mine(items, week)[1]
    # 8 June to 2 July: 25 of June's 30 days
    per_seat = (price * 25 / 30).quantize(Decimal("0.01"), rounding="ROUND_DOWN")
    assert (refund["chargeType"], Decimal(str(refund["subtotal"]))) == (
        "cancelImmediate", -per_seat * 4,
    )  # fmt: skip
    assert (refund["chargeStartDate"][:10], refund["chargeEndDate"][:10]) == (
        "2026-06-08", "2026-07-02",
    )  # fmt: skip
    assert [i["chargeType"] for i in _mine(items, late)] == ["new"]
    # bought in May (not this period), renewed 5 June at the full price of its plan
    renewal = _mine(items, renewed)
    renewed_price = _price(sandbox, renewed, tenant.country)
    assert [(i["chargeType"], Decimal(str(i["subtotal"]))) for i in renewal] == [
        ("renew", renewed_price * 2)
    ]
    assert renewal[0]["chargeStartDate"] == "2026-06-05T00:00:00Z"
    # previous period: May holds the purchase of the renewed subscription only
    may, _ = _line_items(sandbox, currency, period="previous")
    assert [i["chargeType"] for i in _mine(may, renewed)] == ["new"]
    assert not _mine(may, quick)


def test_pages_follow_continuation_tokens(sandbox, customer):
    tenant, currency = customer
    _set_clock(sandbox, "2026-06-10T08:00:00Z")
    sub_id = _buy(sandbox, tenant, "2026-06-10T08:00:00+00:00", quantity=3)
    for quantity in (4, 5, 6):
        _patch(sandbox, tenant, sub_id, {"quantity": quantity})
    whole, pages = _line_items(sandbox, currency)
    assert pages == 1
    paged, pages = _line_items(sandbox, currency, size=2)
    assert pages >= 4
    assert paged == whole
    assert len(_mine(whole, sub_id)) == 7  # purchase + 3 seat changes of 2 lines


def test_the_documented_shape(sandbox, customer):
    """As Partner Center's example: the token in links.next only, whole amounts as
    integers, empty fields sometimes absent, dates in several published shapes."""
    tenant, currency = customer
    _set_clock(sandbox, "2026-06-10T08:00:00Z")
    sub_id = _buy(sandbox, tenant, "2026-06-10T08:00:00+00:00", quantity=3)
    for quantity in (4, 5):
        _patch(sandbox, tenant, sub_id, {"quantity": quantity})
    token = partner_center_token(sandbox)
    body = requests.get(
        sandbox.urls["partner_center"] + PATH, params=_query(currency, size=2),
        headers={"Authorization": f"Bearer {token}"}, verify=sandbox.ca_path,
    ).json()  # fmt: skip
    assert "continuationToken" not in body
    assert body["totalCount"] == len(body["items"]) == 2
    assert body["links"]["next"]["headers"][0]["key"] == "MS-ContinuationToken"
    items = _mine(_line_items(sandbox, currency)[0], sub_id)
    assert {len(i["chargeStartDate"]) for i in items} == {10, 20, 28}
    assert any("invoiceNumber" not in i for i in items)
    assert any(i.get("invoiceNumber") == "" for i in items)
    assert all(i["orderDate"].endswith("0Z") and len(i["orderDate"]) == 28 for i in items)


def test_a_year_billed_monthly_charges_each_cycle(sandbox, customer):
    tenant, currency = customer
    _set_clock(sandbox, "2026-05-20T08:00:00Z")
    yearly = _buy(sandbox, tenant, "2026-04-20T08:00:00+00:00", quantity=3)
    monthly = _buy(sandbox, tenant, "2026-04-20T08:00:00+00:00", quantity=2, term="P1M")
    _patch(sandbox, tenant, yearly, {"quantity": 5})
    _set_clock(sandbox, "2026-06-25T08:00:00Z")
    items, _ = _line_items(sandbox, currency)
    price = _price(sandbox, yearly, tenant.country)
    # the cycle opening 20 June, at the quantity of then (5), the full price
    assert [(i["chargeType"], i["quantity"], Decimal(str(i["subtotal"])),
             i["chargeStartDate"][:10], i["chargeEndDate"][:10]) for i in _mine(items, yearly)
            ] == [("cycleCharge", 5, price * 5, "2026-06-20", "2026-07-19")]  # fmt: skip
    assert [i["chargeType"] for i in _mine(items, monthly)] == ["renew"]


def test_no_change_no_line_and_bad_requests(sandbox, customer):
    tenant, currency = customer
    _set_clock(sandbox, "2026-06-10T08:00:00Z")
    sub_id = _buy(sandbox, tenant, "2026-06-10T08:00:00+00:00", quantity=3)
    _patch(sandbox, tenant, sub_id, {"quantity": 3})  # the same quantity: nothing billed
    assert len(_mine(_line_items(sandbox, currency)[0], sub_id)) == 1
    other = next(c for c, _ in MARKETS.values() if c != currency)
    assert not _mine(_line_items(sandbox, other)[0], sub_id)
    token = partner_center_token(sandbox)
    headers = {"Authorization": f"Bearer {token}"}
    for params in (
        _query(currency, provider="azure"),
        _query(currency, period="someday"),
        {**_query(currency), "currencycode": ""},
    ):
        answer = requests.get(
            sandbox.urls["partner_center"] + PATH,
            params=params,
            headers=headers,
            verify=sandbox.ca_path,
        )
        assert answer.status_code == 400
        assert answer.json()["code"]
