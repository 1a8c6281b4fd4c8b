"""The customer's side of a seat change or a cancellation (prorata.clip): Microsoft's
line cut at the day before the customer's recurring line bills the new quantity.

Days are counted on the calendar by hand: a subscription started on the 18th has the
charge cycle 18 Jul - 17 Aug 2026 (31 days: July's); a change on 20 Jul covers 29 days
of it for Microsoft, and 12 (20-31 Jul) for a customer whose recurring line is invoiced
up to 31 Jul and bills August at the new quantity.
"""

import datetime as dt
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

import pytest

from odoo.addons.csp_connector_billing.billing import prorata

Change, LineKind, Opening = prorata.Change, prorata.LineKind, prorata.Opening
RoundingRule, Settings, Subscription = prorata.RoundingRule, prorata.Settings, prorata.Subscription
TimeSource = prorata.TimeSource

NAME = "Microsoft 365 Business Premium"
DASH = "\N{EN DASH}"
CENT = Decimal("0.01")
SUB = Subscription("sub-18", NAME, "monthly", dt.date(2026, 6, 18))
OPENING = Opening(3, Decimal("20.00"), dt.date(2026, 6, 18))
END_OF_JULY = dt.date(2026, 7, 31)


def change(quantity, day=20, month=7, cid="q1"):
    return Change(cid, "quantity", dt.date(2026, month, day), TimeSource.SEEN, quantity)


def seat_change(rule, quantity, day=20):
    return prorata.bill_changes(SUB, [change(quantity, day)], Settings(2, rule), OPENING)


def per_seat(rule, days, cycle_days=31, price="20.00"):
    exact = Decimal(price) * days / cycle_days
    mode = ROUND_HALF_UP if rule is RoundingRule.HALF_UP else ROUND_DOWN
    return exact.quantize(CENT, mode)


@pytest.mark.parametrize("rule", list(RoundingRule))
def test_an_increase_is_cut_at_the_end_of_the_invoiced_period(rule):
    credit, charge = seat_change(rule, 5)
    assert (charge.period_start, charge.period_end, charge.billing_days, charge.cycle_days) == (
        dt.date(2026, 7, 20), dt.date(2026, 8, 17), 29, 31)  # fmt: skip
    clipped = [prorata.clip(line, END_OF_JULY) for line in (credit, charge)]
    for line, original in zip(clipped, (credit, charge), strict=True):
        assert (line.period_start, line.period_end) == (dt.date(2026, 7, 20), END_OF_JULY)
        assert (line.billing_days, line.cycle_days) == (12, 31)  # 20-31 Jul, July's days
        assert (line.key, line.quantity, line.kind) == (
            original.key, original.quantity, original.kind)  # fmt: skip
    if rule is RoundingRule.RECONCILIATION_FILE:
        assert [line.amount for line in clipped] == [
            -per_seat(rule, 12) * 3, per_seat(rule, 12) * 5]  # fmt: skip
        assert clipped[1].amount == Decimal("38.70")  # 20 x 12 / 31 = 7.741.. -> 7.74 x 5
    else:
        mode = ROUND_HALF_UP if rule is RoundingRule.HALF_UP else ROUND_DOWN
        assert [line.amount for line in clipped] == [
            -(Decimal(60) * 12 / 31).quantize(CENT, mode),
            (Decimal(100) * 12 / 31).quantize(CENT, mode),
        ]
    assert clipped[1].description == (
        f"{NAME}: +2 seats, 20 Jul {DASH} 31 Jul 2026 (12/31 days) {DASH} "
        "charge for the new 5 seats"
    )
    assert clipped[0].description.endswith(f"(12/31 days) {DASH} credit for the previous 3 seats")


def test_a_decrease_mirrors_it():
    credit, charge = seat_change(RoundingRule.RECONCILIATION_FILE, 1, day=25)
    credit, charge = (prorata.clip(line, END_OF_JULY) for line in (credit, charge))
    assert (credit.kind, charge.kind) == (LineKind.CREDIT, LineKind.CHARGE)
    assert (charge.billing_days, charge.period_end) == (7, END_OF_JULY)  # 25-31 Jul
    assert credit.amount == -Decimal("4.51") * 3  # 20 x 7 / 31 = 4.516.. -> 4.51
    assert charge.amount == Decimal("4.51")
    assert f"-2 seats, 25 Jul {DASH} 31 Jul 2026 (7/31 days)" in charge.description


def test_no_day_left_gives_no_customer_line():
    # a change on 3 Aug: August is billed by the recurring line at the new quantity
    late = prorata.bill_changes(
        SUB, [change(5, day=3, month=8)], Settings(), OPENING
    )  # cycle 18 Jul - 17 Aug
    assert [prorata.clip(line, END_OF_JULY) for line in late] == [None, None]
    # the last day itself is still the customer's
    (__, charge) = seat_change(RoundingRule.RECONCILIATION_FILE, 5, day=31)
    assert prorata.clip(charge, END_OF_JULY).billing_days == 1


def test_never_beyond_microsofts_cycle():
    __, charge = seat_change(RoundingRule.RECONCILIATION_FILE, 5)
    for last in (dt.date(2026, 8, 17), dt.date(2026, 8, 31)):
        assert prorata.clip(charge, last) is charge
    assert prorata.clip(charge, dt.datetime(2026, 7, 31, 23, 0)).period_end == END_OF_JULY


@pytest.mark.parametrize("rule", list(RoundingRule))
def test_a_refund_within_7_days_covers_only_the_days_paid(rule):
    cancel = Change("x1", "cancel", dt.datetime(2026, 7, 21, 9), TimeSource.SEEN)
    opening = Opening(2, Decimal("20.00"), dt.datetime(2026, 7, 18, 8))
    (refund,) = prorata.bill_changes(SUB, [cancel], Settings(2, rule), opening)
    assert (refund.billing_days, refund.kind) == (28, LineKind.REFUND)  # 21 Jul - 17 Aug
    clipped = prorata.clip(refund, END_OF_JULY)
    assert (clipped.period_start, clipped.period_end, clipped.billing_days) == (
        dt.date(2026, 7, 21), END_OF_JULY, 11)  # fmt: skip
    if rule is RoundingRule.RECONCILIATION_FILE:
        assert clipped.amount == -per_seat(rule, 11) * 2
    assert f"refund of 2 seats, 21 Jul {DASH} 31 Jul 2026 (11/31 days)" in clipped.description


def test_full_refunds_and_charges_already_inside_are_kept():
    cancel = Change("x1", "cancel", dt.datetime(2026, 7, 18, 20), TimeSource.SEEN)
    opening = Opening(2, Decimal("20.00"), dt.datetime(2026, 7, 18, 8))
    (full,) = prorata.bill_changes(SUB, [cancel], Settings(), opening)
    assert not full.prorated
    assert prorata.clip(full, END_OF_JULY) is full  # a full refund is not pro-rated
    # the first days of a purchase end where the recurring line starts: unchanged
    bought = Change("buy", "purchase", dt.date(2026, 7, 18), TimeSource.SUBSCRIPTION, 2,
                    Decimal("20.00"))  # fmt: skip
    first = prorata.first_period_charge(
        Subscription("s", NAME, "monthly", dt.date(2026, 8, 1)), bought, dt.date(2026, 8, 1)
    )
    assert (first.period_end, first.billing_days) == (END_OF_JULY, 14)
    assert prorata.clip(first, END_OF_JULY) is first


def test_a_refund_within_24_hours_of_a_clipped_change_reverses_the_clipped_amount():
    changes = [
        change(5, cid="q1"),
        Change("x1", "cancel", dt.datetime(2026, 7, 20, 12), TimeSource.SEEN),
    ]
    opening = Opening(3, Decimal("20.00"), dt.datetime(2026, 7, 20, 1))
    lines = prorata.bill_changes(SUB, changes, Settings(), opening)
    clipped = [prorata.clip(line, END_OF_JULY) for line in lines]
    seat_lines = [line for line in clipped if line.change_id == "q1"]
    reversals = [line for line in clipped if line.key.startswith("sub-18:x1:refund:q1")]
    assert sorted(line.amount for line in reversals) == sorted(-line.amount for line in seat_lines)
    assert all(line.period_end == END_OF_JULY for line in reversals)
    assert f"20 Jul {DASH} 31 Jul 2026" in reversals[0].description
