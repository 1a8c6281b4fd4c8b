"""Azure consumption's plain rules: aggregation per customer, Azure subscription, meter
and period; meter rules with fallback; markup; lines; re-import and invoiced periods."""

import datetime as dt
from decimal import Decimal

from odoo.addons.csp_connector_billing.billing import azure


def record(customer="C1", meter="D2s v5", quantity=10.0, price=0.1, pec=15, **more):
    values = {
        "CustomerId": customer, "CustomerName": f"Customer {customer}",
        "EntitlementId": "SUB-1", "EntitlementDescription": "Azure subscription 1",
        "MeterCategory": "Virtual Machines", "MeterSubCategory": "Dv5 Series",
        "MeterName": meter, "MeterRegion": "UK South", "Unit": "1 Hour",
        "ChargeStartDate": "2026-11-01T00:00:00Z", "ChargeEndDate": "2026-11-30T00:00:00Z",
        "UnitPrice": price, "Quantity": quantity, "PCToBCExchangeRate": 1.0,
        "BillingPreTaxTotal": round(quantity * price * (100 - pec) / 100, 6),
        "BillingCurrency": "USD", "PartnerEarnedCreditPercentage": pec,
        "InvoiceNumber": "",
    }  # fmt: skip
    values.update(more)
    return values


def test_records_fold_per_customer_subscription_meter_and_period():
    records = [record(quantity=10), record(quantity=5), record(customer="C2"),
               record(meter="D4s v5"),
               record(ChargeStartDate="2026-12-01T00:00:00Z",
                      ChargeEndDate="2026-12-31T00:00:00Z")]  # fmt: skip
    totals, bad = azure.aggregate(iter(records))
    assert bad == 0
    assert len(totals) == 4
    key = next(k for k in totals if k.customer == "c1" and k.name == "D2s v5"
               and k.period_start == dt.date(2026, 11, 1))  # fmt: skip
    total = totals[key]
    assert total.records == 2
    assert round(total.quantity, 6) == 15.0
    assert round(total.list_amount, 6) == 1.5  # at list price
    assert round(total.cost, 6) == 1.275  # after 15 % partner earned credit
    assert round(total.credit, 6) == 0.225


def test_no_credit_where_the_file_has_none_and_bad_records_are_counted():
    records = [record(pec=0), {"CustomerId": "C3"}, {"ChargeStartDate": "2026-11-01"}]
    totals, bad = azure.aggregate(records)
    assert bad == 2
    (total,) = totals.values()
    assert total.credit == 0 and round(total.cost, 6) == round(total.list_amount, 6) == 1.0


def key(category="Virtual Machines", sub="Dv5 Series", name="D2s v5", region="UK South"):
    return azure.MeterKey("c1", "sub", category, sub, name, region, "1 Hour",
                          dt.date(2026, 11, 1), dt.date(2026, 11, 30))  # fmt: skip


def test_rules_in_sequence_with_wildcards_then_fallback():
    rules = [
        azure.Rule(1, 101, category="virtual machines", name="D2s*", region="UK South"),
        azure.Rule(2, 102, category="Virtual Machines"),
        azure.Rule(3, 103, category="Storage"),
    ]
    assert azure.match_rule(rules, key()).product == 101
    assert azure.match_rule(rules, key(region="US East")).product == 102
    assert azure.match_rule(rules, key(name="E4s v5")).product == 102
    assert azure.match_rule(rules, key(category="Bandwidth")) is None
    totals = {key(category="Bandwidth"): azure.Totals(quantity=1, list_amount=2.0, cost=1.7)}
    lines, unmapped = azure.customer_lines(totals, rules, 900, {})
    assert [line.product for line in lines] == [900] and not unmapped
    lines, unmapped = azure.customer_lines(totals, rules, None, {})
    assert not lines and [u.key.category for u in unmapped] == ["Bandwidth"]


def test_markup_by_rule_customer_or_none():
    rules = [
        azure.Rule(1, 101, name="D2s v5", markup_mode=azure.MARKUP_RULE, markup=20),
        azure.Rule(2, 102, name="D4s v5", markup_mode=azure.MARKUP_NONE),
        azure.Rule(3, 103),  # the customer's
    ]
    totals = {
        key(): azure.Totals(quantity=10, list_amount=100.0),
        key(name="D4s v5"): azure.Totals(quantity=10, list_amount=100.0),
        key(name="B1"): azure.Totals(quantity=10, list_amount=100.0),
    }
    lines, _ = azure.customer_lines(totals, rules, None, {"c1": 10})
    amounts = {line.product: line.amount for line in lines}
    assert amounts == {101: Decimal("120.00"), 102: Decimal("100.00"), 103: Decimal("110.00")}


def test_one_line_per_product_and_period_with_a_customer_unit_price():
    rules = [azure.Rule(1, 101, category="Virtual Machines")]
    totals = {
        key(): azure.Totals(quantity=300, list_amount=28.8),
        key(name="D4s v5"): azure.Totals(quantity=100, list_amount=19.2),
    }
    (line,), _ = azure.customer_lines(totals, rules, None, {})
    assert line.amount == Decimal("48.00") and line.meters == 2
    quantity, price = line.price()
    assert quantity == 400 and price == Decimal("0.1200")
    assert azure.line_name("Azure VMs", "1-30 Nov 2026", 400, "1 Hour") == (
        "Azure VMs: usage 1-30 Nov 2026 (400 \N{MULTIPLICATION SIGN} 1 Hour)"
    )


def existing(id_, amount, invoiced=False, kind=azure.USAGE, quantity=1.0, name="n"):
    amount = Decimal(amount)
    return azure.Existing(id_, kind, amount, invoiced, quantity, amount, name)


def test_reimport_replaces_what_is_not_invoiced_and_writes_nothing_unchanged():
    plan = azure.plan_product([], 1.0, Decimal("10.00"), Decimal("10.00"), "n")
    assert plan.create.kind == azure.USAGE and not plan.cancel
    same = azure.plan_product([existing(1, "10.00")], 1.0, Decimal("10.00"),
                              Decimal("10.00"), "n")  # fmt: skip
    assert not same.changes()
    changed = azure.plan_product([existing(1, "10.00"), existing(2, "3.00")], 1.0,
                                 Decimal("12.00"), Decimal("12.00"), "n")  # fmt: skip
    assert changed.write[0].id == 1 and changed.write[1].amount == Decimal("12.00")
    assert [c.id for c in changed.cancel] == [2]  # never two lines of a product and period
    gone = azure.plan_product([existing(1, "10.00")], 0, Decimal(0), Decimal(0))
    assert [c.id for c in gone.cancel] == [1] and not gone.create


def test_an_invoiced_period_is_left_alone_and_its_difference_is_its_own_line():
    done = [existing(1, "10.00", invoiced=True)]
    plan = azure.plan_product(done, 1.0, Decimal("12.50"), Decimal("12.50"), "n", "fix")
    assert not plan.write and not plan.cancel
    assert plan.create.kind == azure.ADJUSTMENT
    assert plan.create.amount == Decimal("2.50") and plan.create.invoiced_amount == 10
    assert plan.create.name == "fix"
    again = azure.plan_product(
        [*done, existing(2, "2.50", kind=azure.ADJUSTMENT, name="fix")],
        1.0, Decimal("12.50"), Decimal("12.50"), "n", "fix",
    )  # fmt: skip
    assert not again.changes()
    back = azure.plan_product(
        [*done, existing(2, "2.50", kind=azure.ADJUSTMENT, name="fix")],
        1.0, Decimal("10.00"), Decimal("10.00"), "n", "fix",
    )  # fmt: skip
    assert [c.id for c in back.cancel] == [2] and not back.create


def test_budget():
    assert azure.over_budget(101, 100) and not azure.over_budget(100, 100)
    assert not azure.over_budget(1000, 0)
    assert azure.previous_month(dt.date(2026, 1, 15)) == dt.date(2025, 12, 1)
