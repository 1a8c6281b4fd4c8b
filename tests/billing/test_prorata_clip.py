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
    """The effective unit price by hand: cut (RECONCILIATION_FILE, None) or half up."""
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


# -- customer_lines: every day up to the recurring line's next period, cycle by cycle ------

# started on 14 Oct: charge cycles 14 Nov - 13 Dec (30 days: November's), 14 Dec - 13 Jan
DEC = Subscription("sub-14", NAME, "monthly", dt.date(2026, 10, 14))
DEC_OPENING = Opening(2, Decimal("20.00"), dt.date(2026, 10, 14))


def exact(rule, seats, days, cycle_days, price="20.00"):
    """The line amount of ``seats`` by hand under ``rule``."""
    if rule is RoundingRule.RECONCILIATION_FILE:
        return per_seat(rule, days, cycle_days, price) * seats
    mode = ROUND_HALF_UP if rule is RoundingRule.HALF_UP else ROUND_DOWN
    return (Decimal(price) * seats * days / cycle_days).quantize(CENT, mode)


def pieces_of(subscription, changes, last_day, rule=RoundingRule.RECONCILIATION_FILE,
              opening=DEC_OPENING):  # fmt: skip
    lines = prorata.bill_changes(subscription, changes, Settings(2, rule), opening)
    return lines, [prorata.customer_lines(line, last_day, subscription) for line in lines]


def charges_of(subscription, day, last_day, price="20.00"):
    """The customer's pieces of the charge of 2 -> 3 seats on ``day``, the term started
    on ``subscription``'s anchor."""
    opening = Opening(2, Decimal(price), subscription.cycle_anchor)
    change_ = Change("q1", "quantity", day, TimeSource.SEEN, 3)
    __, (__, charges) = pieces_of(subscription, [change_], last_day, opening=opening)
    return charges


def spans(pieces):
    return [(p.period_start, p.period_end, p.billing_days, p.cycle_days) for p in pieces]


@pytest.mark.parametrize("rule", list(RoundingRule))
def test_a_change_after_the_invoice_covers_the_invoiced_days_cycle_by_cycle(rule):
    # +2 seats on 1 Dec, December invoiced (pre-paid): the customer's line bills 4 seats
    # from 1 Jan; Microsoft's cycle ends 13 Dec, the customer's days go on to 31 Dec
    (credit, charge), (credits, charges) = pieces_of(
        DEC, [Change("q1", "quantity", dt.date(2026, 12, 1), TimeSource.SEEN, 4)],
        dt.date(2026, 12, 31), rule,
    )  # fmt: skip
    assert charge.period_end == dt.date(2026, 12, 13)  # Microsoft's side, unchanged
    for pieces, original, seats, sign in ((credits, credit, 2, -1), (charges, charge, 4, 1)):
        assert spans(pieces) == [
            (dt.date(2026, 12, 1), dt.date(2026, 12, 13), 13, 30),  # over the cycle of 14 Nov
            (dt.date(2026, 12, 14), dt.date(2026, 12, 31), 18, 31),  # over the cycle of 14 Dec
        ]
        assert pieces[0] is original  # Microsoft's own line: it ends on its cycle's end
        assert [p.key for p in pieces] == [original.key, f"{original.key}:2"]
        assert [p.amount for p in pieces] == [
            sign * exact(rule, seats, 13, 30), sign * exact(rule, seats, 18, 31)]  # fmt: skip
        assert {(p.quantity, p.kind, p.charge_type) for p in pieces} == {
            (original.quantity, original.kind, "addQuantity")}  # fmt: skip
    assert charges[1].description == (
        f"{NAME}: +2 seats, 14 Dec {DASH} 31 Dec 2026 (18/31 days) {DASH} "
        "charge for the new 4 seats"
    )
    assert f"+2 seats, 1 Dec {DASH} 13 Dec 2026 (13/30 days)" in charges[0].description
    if rule is RoundingRule.RECONCILIATION_FILE:  # 20 x 13/30 = 8.666.. -> 8.66; 18/31: 11.61
        assert [p.amount for p in charges] == [Decimal("34.64"), Decimal("46.44")]
    # the seat-days added: 2 seats, 1 - 31 Dec, each once
    assert sum(p.amount for p in credits + charges) == (
        exact(rule, 4, 13, 30) - exact(rule, 2, 13, 30)
        + exact(rule, 4, 18, 31) - exact(rule, 2, 18, 31)
    )  # fmt: skip


def test_a_window_inside_one_cycle_gives_one_piece_unchanged():
    credit, charge = seat_change(RoundingRule.RECONCILIATION_FILE, 5)  # 20 Jul - 17 Aug
    for line in (credit, charge):
        assert prorata.customer_lines(line, END_OF_JULY, SUB) == (prorata.clip(line, END_OF_JULY),)
        (whole,) = prorata.customer_lines(line, dt.date(2026, 8, 17), SUB)
        assert whole is line  # to the cycle's last day: Microsoft's own line
    assert prorata.customer_lines(charge, dt.date(2026, 7, 19), SUB) == ()  # no day left


def test_a_decrease_and_a_7_day_refund_are_split_alike():
    __, (credits, charges) = pieces_of(
        DEC, [Change("q1", "quantity", dt.date(2026, 12, 10), TimeSource.SEEN, 1)],
        dt.date(2026, 12, 31),
    )  # fmt: skip
    assert [p.amount for p in credits] == [-per_seat(None, 4, 30) * 2, -per_seat(None, 18) * 2]
    assert [p.amount for p in charges] == [per_seat(None, 4, 30), per_seat(None, 18)]
    assert f"-1 seat, 14 Dec {DASH} 31 Dec 2026 (18/31 days)" in charges[1].description
    # cancelled on 16 Nov, 2 days into the cycle of 14 Nov, November and December invoiced:
    # every day paid from the cancellation on comes back, the cycle of 14 Dec included
    __, ((first, second),) = pieces_of(
        DEC, [Change("x1", "cancel", dt.datetime(2026, 11, 16, 9), TimeSource.SEEN)],
        dt.date(2026, 12, 31), opening=Opening(2, Decimal("20.00"), dt.date(2026, 11, 14)),
    )  # fmt: skip
    assert spans((first, second)) == [
        (dt.date(2026, 11, 16), dt.date(2026, 12, 13), 28, 30),
        (dt.date(2026, 12, 14), dt.date(2026, 12, 31), 18, 31),
    ]
    assert (first.amount, second.amount) == (-per_seat(None, 28, 30) * 2, -per_seat(None, 18) * 2)
    assert second.key == f"{first.key}:2" and second.kind is LineKind.REFUND
    assert f"refund of 2 seats, 14 Dec {DASH} 31 Dec 2026 (18/31 days)" in second.description


def test_annual_cycles_use_their_own_years_days():
    # annual billing from 1 Apr 2026 (cycle 1 Apr 2026 - 31 Mar 2027: 365 days); the
    # customer's contract invoiced per calendar year, 2027 invoiced: the cycle of
    # 1 Apr 2027 holds 29 Feb 2028, so 366 days
    yearly = Subscription("sub-y", NAME, "annual", dt.date(2026, 4, 1))
    charges = charges_of(yearly, dt.date(2027, 3, 1), dt.date(2027, 12, 31), "240.00")
    assert spans(charges) == [
        (dt.date(2027, 3, 1), dt.date(2027, 3, 31), 31, 365),
        (dt.date(2027, 4, 1), dt.date(2027, 12, 31), 275, 366),
    ]
    assert [p.amount for p in charges] == [
        per_seat(None, 31, 365, "240.00") * 3, per_seat(None, 275, 366, "240.00") * 3]  # fmt: skip
    assert f"1 Apr {DASH} 31 Dec 2027 (275/366 days)" in charges[1].description


def test_a_window_across_february_of_a_leap_year():
    # started on the 10th, invoiced per quarter (Q1 2028 invoiced), +1 seat on 20 Jan:
    # cycles 10 Jan - 9 Feb (31), 10 Feb - 9 Mar (29: February 2028, a whole cycle, so
    # the full price), 10 Mar - 31 Mar (of the cycle of 10 Mar: 31)
    tenth = Subscription("sub-10", NAME, "monthly", dt.date(2027, 12, 10))
    charges = charges_of(tenth, dt.date(2028, 1, 20), dt.date(2028, 3, 31))
    assert spans(charges) == [
        (dt.date(2028, 1, 20), dt.date(2028, 2, 9), 21, 31),
        (dt.date(2028, 2, 10), dt.date(2028, 3, 9), 29, 29),
        (dt.date(2028, 3, 10), dt.date(2028, 3, 31), 22, 31),
    ]
    assert [p.key for p in charges] == [charges[0].key, f"{charges[0].key}:2",
                                        f"{charges[0].key}:3"]  # fmt: skip
    assert charges[1].amount == Decimal("60.00")
    assert [charges[0].amount, charges[2].amount] == [
        per_seat(None, 21) * 3, per_seat(None, 22) * 3]  # fmt: skip
    assert f"10 Feb {DASH} 9 Mar 2028 (29/29 days)" in charges[1].description


def test_a_whole_cycle_of_a_subscription_started_on_the_31st_is_its_full_price():
    # started 31 Jan 2027: cycles 31 Jan - 27 Feb (28 days, counted over January's 31),
    # 28 Feb - 30 Mar (31 days, over February's 28), 31 Mar - 29 Apr (over March's 31).
    # +1 seat on 10 Feb, March invoiced: the whole cycle in between is one full price,
    # neither 28/31 nor 31/28 of it
    late = Subscription("sub-31", NAME, "monthly", dt.date(2027, 1, 31))
    charges = charges_of(late, dt.date(2027, 2, 10), dt.date(2027, 3, 31))
    assert spans(charges) == [
        (dt.date(2027, 2, 10), dt.date(2027, 2, 27), 18, 31),
        (dt.date(2027, 2, 28), dt.date(2027, 3, 30), 31, 31),
        (dt.date(2027, 3, 31), dt.date(2027, 3, 31), 1, 31),
    ]
    assert charges[1].amount == Decimal("60.00"), "3 seats x 20.00: one whole cycle"
    assert [charges[0].amount, charges[2].amount] == [
        per_seat(None, 18) * 3, per_seat(None, 1) * 3]  # fmt: skip


def test_a_reversed_first_period_charge_is_not_continued():
    # bought 18 Jul, its recurring line starting 1 Aug: the first days end 31 Jul, not on
    # a charge cycle's end (17 Aug); cancelled within 24 hours, August invoiced
    bought = Change("buy", "purchase", dt.date(2026, 7, 18), TimeSource.SUBSCRIPTION, 2,
                    Decimal("20.00"))  # fmt: skip
    first = prorata.first_period_charge(
        Subscription("s", NAME, "monthly", dt.date(2026, 8, 1)), bought, dt.date(2026, 8, 1)
    )
    cancel = Change("x1", "cancel", dt.datetime(2026, 7, 18, 20), TimeSource.SEEN)
    opening = Opening(2, Decimal("20.00"), dt.datetime(2026, 7, 18, 8), billed=(first,))
    (refund,) = prorata.bill_changes(SUB, [cancel], Settings(), opening)
    assert refund.amount == -first.amount
    assert prorata.customer_lines(refund, dt.date(2026, 8, 31), SUB) == (refund,)
