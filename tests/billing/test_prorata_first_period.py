"""A subscription bought in the middle of its invoicing period: the days until its
recurring line's first period, billed once with the pro-rata rule; and a cancellation
within 24 hours of a term older than the history (what it reverses).

Days are counted on the calendar here and written as literals; ``by_hand`` applies the
rule with plain Decimal arithmetic (see test_prorata.py).
"""

import datetime as dt
from decimal import Decimal

import pytest
from test_prorata import DASH, NAME, RULES, at, bill, by_hand, cancel, seats, sub

from odoo.addons.csp_connector_billing.billing import prorata
from odoo.addons.csp_connector_billing.billing.prorata import (
    LineKind,
    Opening,
    Settings,
    TimeSource,
)


def first(rule, cycle, bought, first_invoiced, quantity=2, price="20.00"):
    change = prorata.Change(
        "purchase", "purchase", bought, TimeSource.SUBSCRIPTION, quantity, Decimal(price)
    )
    subscription = sub(dt.date(2000, 1, 1), cycle)  # the anchor is the first invoiced day
    return prorata.first_period_charge(subscription, change, first_invoiced, Settings(2, rule))


@pytest.mark.parametrize("rule", RULES)
def test_bought_on_the_18th_pays_13_of_30_days_until_the_line_starts(rule):
    line = first(rule, "monthly", at(2026, 6, 18, 9), dt.date(2026, 7, 1))
    assert (line.period_start, line.period_end) == (dt.date(2026, 6, 18), dt.date(2026, 6, 30))
    assert (line.billing_days, line.cycle_days, line.prorated) == (13, 30, True)
    assert (line.kind, line.charge_type, line.quantity) == (LineKind.CHARGE, "firstDays", 2)
    assert line.amount == by_hand(rule, "20.00", 13, 30, 2)
    # 20 / 30 x 13 = 8.666..: 8.66 x 2 under the file rule; 17.333.. otherwise
    assert str(line.amount) == {"reconciliation_file": "17.32"}.get(rule, "17.33")
    assert line.description == f"{NAME}: 2 seats, 18 Jun {DASH} 30 Jun 2026 (13/30 days)"
    assert line.time_source is TimeSource.SUBSCRIPTION
    assert line.key == "sub-1:purchase:charge"


@pytest.mark.parametrize("rule", RULES)
def test_annual_invoicing_counts_the_days_of_the_year(rule):
    line = first(rule, "annual", at(2026, 6, 18), dt.date(2027, 1, 1), 3, "240.00")
    assert (line.billing_days, line.cycle_days) == (197, 365)  # 13 + 31 + 31 + 30 + 31 + 30 + 31
    assert line.amount == by_hand(rule, "240.00", 197, 365, 3)
    leap = first(rule, "annual", at(2028, 2, 29), dt.date(2029, 1, 1), 1, "366.00")
    assert (leap.billing_days, leap.cycle_days) == (307, 366)
    assert leap.amount == Decimal("307.00")


def test_a_whole_period_before_the_line_is_charged_in_full():
    line = first("half_up", "monthly", at(2026, 6, 1, 8), dt.date(2026, 7, 1))
    assert (line.prorated, line.amount) == (False, Decimal("40.00"))
    assert line.description == f"{NAME}: 2 seats, 1 Jun {DASH} 30 Jun 2026"


@pytest.mark.parametrize(
    "bought",
    [
        at(2026, 7, 1, 0, 1),  # on the line's first day: the line covers it
        at(2026, 7, 9),  # after it
        at(2026, 5, 31, 23, 59),  # a period earlier: running before its line was made
        at(2025, 6, 18),
    ],
)
def test_no_first_period_charge_outside_the_period_before_the_line(bought):
    assert first("half_up", "monthly", bought, dt.date(2026, 7, 1)) is None


@pytest.mark.parametrize("rule", RULES)
def test_cancellation_within_24_hours_refunds_the_older_terms_charge_and_its_changes(rule):
    opening = Opening(10, Decimal("10.08"), at(2026, 6, 18, 9))
    lines = bill(rule, sub(dt.date(2026, 6, 18)), [
        seats("plus2", at(2026, 6, 18, 15), 12), cancel("stop", at(2026, 6, 19, 8))
    ], opening)  # fmt: skip
    credit, charge, full, taken_back, withdrawn = lines
    assert full.amount == -by_hand(rule, "10.08", 1, 1, 10) == Decimal("-100.80")
    assert full.description == (
        f"{NAME}: cancelled within 24 hours, full refund of 10 seats, 18 Jun {DASH} 17 Jul 2026"
    )
    assert (taken_back.amount, withdrawn.amount) == (-credit.amount, -charge.amount)
    assert sum(line.amount for line in lines) == Decimal("-100.80")  # all of it back


@pytest.mark.parametrize("rule", RULES)
def test_cancellation_within_24_hours_reverses_what_was_billed_for_the_term(rule):
    billed = first(rule, "monthly", at(2026, 6, 18, 9), dt.date(2026, 7, 1))
    opening = Opening(2, Decimal("20.00"), at(2026, 6, 18, 9), billed=(billed,))
    (refund,) = bill(rule, sub(dt.date(2026, 6, 18)), [cancel("stop", at(2026, 6, 19))], opening)
    assert refund.amount == -billed.amount
    assert (refund.kind, refund.period_start, refund.period_end) == (
        LineKind.REFUND, dt.date(2026, 6, 18), dt.date(2026, 6, 30))  # fmt: skip
    assert refund.description == (
        f"{NAME}: cancelled within 24 hours, full refund of 2 seats, 18 Jun {DASH} 30 Jun 2026"
    )
