"""New-commerce pro-rata: each scenario of issue 15 under each rounding rule.

Expected amounts are worked out here by hand from the rule's numbers: the billing days and
charge-cycle days are counted on the calendar and written as literals, and ``by_hand``
applies the rule with plain Decimal arithmetic. Where Microsoft's documentation prints the
result of the same example, its figure is asserted literally as well.
"""

import datetime as dt
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, localcontext

import pytest

from odoo.addons.csp_connector_billing.billing import prorata
from odoo.addons.csp_connector_billing.billing.prorata import (
    Change,
    LineKind,
    Opening,
    RoundingRule,
    Settings,
    Subscription,
    TimeSource,
)

RULES = list(RoundingRule)
AUDIT, SEEN = TimeSource.AUDIT_RECORD, TimeSource.SEEN
NAME = "Microsoft 365 Business Premium"
DASH = "\N{EN DASH}"


def by_hand(rule, price, billing_days, cycle_days, quantity, digits=2):
    """Unsigned line amount of `quantity` seats for billing_days/cycle_days of `price`."""
    step = Decimal(1).scaleb(-digits)
    with localcontext() as ctx:
        ctx.prec = 60
        price = Decimal(price)
        if rule is RoundingRule.RECONCILIATION_FILE:
            effective = (price * billing_days / cycle_days).quantize(step, ROUND_DOWN)
            return effective * quantity
        exact = price * billing_days * quantity / cycle_days  # divide last: exact when it ends
        mode = ROUND_DOWN if rule is RoundingRule.TRUNCATE_LINE else ROUND_HALF_UP
        return exact.quantize(step, mode)


def sub(anchor, cycle="monthly", sid="sub-1"):
    return Subscription(sid, NAME, cycle, anchor)


def bill(rule, subscription, changes, opening=None, digits=2):
    return prorata.bill_changes(subscription, changes, Settings(digits, rule), opening)


def purchase(at, quantity=10, price="10.08", cid="buy", source=AUDIT):
    return Change(cid, "purchase", at, source, quantity, Decimal(price))


def seats(cid, at, quantity, source=AUDIT):
    return Change(cid, "quantity", at, source, quantity)


def cancel(cid, at, source=AUDIT):
    return Change(cid, "cancel", at, source)


def at(*args):
    return dt.datetime(*args, tzinfo=dt.UTC)


# --- the issue's example: start on the 18th, +2 seats on 20 June ---------------------------

# 10.08 / 30 x 28 = 9.408 a seat: cut to 9.40 first (file rule), or per line amount.
ISSUE_EXAMPLE = {
    RoundingRule.RECONCILIATION_FILE: ("-94.00", "112.80"),  # 9.40 x 10, 9.40 x 12
    RoundingRule.TRUNCATE_LINE: ("-94.08", "112.89"),  # Microsoft's seat-change table
    RoundingRule.HALF_UP: ("-94.08", "112.90"),  # 112.896 rounded half up
}


@pytest.mark.parametrize("rule", RULES)
def test_increase_credits_old_and_charges_new_seats_over_the_remaining_28_of_30_days(rule):
    lines = bill(rule, sub(dt.date(2026, 6, 18)), [
        purchase(at(2026, 6, 18, 9)), seats("plus2", at(2026, 6, 20, 11), 12, SEEN),
    ])  # fmt: skip
    bought, credit, charge = lines
    # the purchase opens the cycle 18 Jun - 17 Jul: full price, no pro-rata
    assert (bought.kind, bought.charge_type, bought.prorated) == (LineKind.CHARGE, "new", False)
    assert (bought.period_start, bought.period_end) == (dt.date(2026, 6, 18), dt.date(2026, 7, 17))
    assert bought.amount == Decimal("100.80")
    assert bought.description == f"{NAME}: 10 seats, 18 Jun {DASH} 17 Jul 2026"
    # 20..30 June = 11 days, 1..17 July = 17 days: 28 billing days; June has 30 days
    for line in (credit, charge):
        assert (line.period_start, line.period_end) == (dt.date(2026, 6, 20), dt.date(2026, 7, 17))
        assert (line.billing_days, line.cycle_days, line.prorated) == (28, 30, True)
        assert line.charge_type == "addQuantity"
        assert line.time_source is SEEN
        assert line.changed_at == at(2026, 6, 20, 11)
        assert line.description.startswith(
            f"{NAME}: +2 seats, 20 Jun {DASH} 17 Jul 2026 (28/30 days)"
        )
    assert (credit.kind, credit.quantity) == (LineKind.CREDIT, 10)
    assert (charge.kind, charge.quantity) == (LineKind.CHARGE, 12)
    assert credit.amount == -by_hand(rule, "10.08", 28, 30, 10)
    assert charge.amount == by_hand(rule, "10.08", 28, 30, 12)
    assert (str(credit.amount), str(charge.amount)) == ISSUE_EXAMPLE[rule]
    assert "credit for the previous 10 seats" in credit.description
    assert "charge for the new 12 seats" in charge.description
    assert bought.time_source is AUDIT


def test_file_rule_multiplies_the_effective_unit_price_cut_to_cents():
    (credit, charge) = bill(RoundingRule.RECONCILIATION_FILE, sub(dt.date(2026, 6, 18)), [
        seats("plus2", at(2026, 6, 20), 12)],
        opening=Opening(10, Decimal("10.08"), at(2026, 6, 18)),
    )  # fmt: skip
    assert (credit.effective_unit_price, charge.effective_unit_price) == (
        Decimal("-9.40"),
        Decimal("9.40"),
    )
    assert charge.amount == charge.effective_unit_price * 12


@pytest.mark.parametrize("rule", RULES)
def test_decrease_within_the_window_credits_12_and_charges_8_from_its_own_day(rule):
    lines = bill(rule, sub(dt.date(2026, 6, 18)), [
        purchase(at(2026, 6, 18, 9)),
        seats("plus2", at(2026, 6, 20, 11), 12),
        seats("minus4", at(2026, 6, 22, 8), 8),  # 45 h after the addition
    ])  # fmt: skip
    credit, charge = lines[3:]
    # 22..30 June = 9 days, 1..17 July = 17: 26 of 30
    assert (credit.billing_days, credit.cycle_days) == (26, 30)
    assert (credit.quantity, charge.quantity) == (12, 8)
    assert {credit.charge_type, charge.charge_type} == {"removeQuantity"}
    assert credit.amount == -by_hand(rule, "10.08", 26, 30, 12)
    assert charge.amount == by_hand(rule, "10.08", 26, 30, 8)
    assert credit.description.startswith(
        f"{NAME}: -4 seats, 22 Jun {DASH} 17 Jul 2026 (26/30 days)"
    )


# --- new subscription mid-cycle (aligned with a calendar month or another subscription) ---


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize(
    ("anchor", "bought", "period", "days"),
    [
        # aligned with the calendar month: cycle 1-30 June, 20..30 June = 11 of 30
        (dt.date(2026, 6, 1), dt.date(2026, 6, 20), (dt.date(2026, 6, 20), dt.date(2026, 6, 30)),
         (11, 30)),
        # coterminous with a subscription started 18 May: cycle 18 Jun - 17 Jul (June: 30),
        # 2..17 July = 16 days
        (dt.date(2026, 5, 18), dt.date(2026, 7, 2), (dt.date(2026, 7, 2), dt.date(2026, 7, 17)),
         (16, 30)),
    ],
)  # fmt: skip
def test_new_subscription_mid_cycle_is_charged_from_its_first_day(rule, anchor, bought, period,
                                                                  days):  # fmt: skip
    (line,) = bill(rule, sub(anchor), [purchase(bought, quantity=7, price="22.00")])
    assert line.prorated
    assert (line.period_start, line.period_end) == period
    assert (line.billing_days, line.cycle_days) == days
    assert line.amount == by_hand(rule, "22.00", *days, 7)
    assert line.description.endswith(f"({days[0]}/{days[1]} days)")


def test_new_subscription_mid_cycle_differs_by_rule():
    # 22.00 / 30 x 11 = 8.0666..: 8.06 x 7 = 56.42; 56.4666.. cut 56.46, half up 56.47
    got = {
        rule: bill(rule, sub(dt.date(2026, 6, 1)), [
            purchase(dt.date(2026, 6, 20), quantity=7, price="22.00")])[0].amount
        for rule in RULES
    }  # fmt: skip
    assert got == {
        RoundingRule.RECONCILIATION_FILE: Decimal("56.42"),
        RoundingRule.TRUNCATE_LINE: Decimal("56.46"),
        RoundingRule.HALF_UP: Decimal("56.47"),
    }


# --- cancellation ----------------------------------------------------------------------------


@pytest.mark.parametrize("rule", RULES)
def test_cancellation_within_24_hours_refunds_everything_billed_for_the_term(rule):
    lines = bill(rule, sub(dt.date(2026, 6, 18)), [
        purchase(at(2026, 6, 18, 9)),
        seats("plus2", at(2026, 6, 18, 15), 12),
        cancel("stop", at(2026, 6, 19, 9)),  # exactly 24 h after the purchase
    ])  # fmt: skip
    billed, refunds = lines[:3], lines[3:]
    assert len(refunds) == 3
    assert all(r.kind is LineKind.REFUND and r.charge_type == "cancelImmediate" for r in refunds)
    assert [r.amount for r in refunds] == [-b.amount for b in billed]
    # same-day change: 18 Jun .. 17 Jul = 30 of 30 days
    assert billed[1].amount == -by_hand(rule, "10.08", 30, 30, 10)
    assert billed[2].amount == by_hand(rule, "10.08", 30, 30, 12)
    assert sum(line.amount for line in lines) == 0
    assert refunds[0].description == (
        f"{NAME}: cancelled within 24 hours, full refund of 10 seats, 18 Jun {DASH} 17 Jul 2026"
    )
    assert refunds[1].description.startswith(
        f"{NAME}: cancelled within 24 hours, credit for 10 seats taken back"
    )


@pytest.mark.parametrize("rule", RULES)
def test_cancellation_within_24_hours_of_a_term_older_than_the_history(rule):
    (refund,) = bill(rule, sub(dt.date(2026, 6, 18)), [cancel("stop", at(2026, 7, 18, 20))],
                     opening=Opening(10, Decimal("10.08"), at(2026, 7, 18, 0, 1)))  # fmt: skip
    assert refund.amount == -by_hand(rule, "10.08", 1, 1, 10) == Decimal("-100.80")
    assert (refund.period_start, refund.period_end) == (dt.date(2026, 7, 18), dt.date(2026, 8, 17))
    assert not refund.prorated


# Microsoft's example: bought 15 July, cancelled 17 July: 29 unused days of 31.
# 10.08 / 31 x 29 = 9.4296..: 9.42 x 10 = 94.20 (Microsoft's figure); 94.296.. cut 94.29,
# half up 94.30.
CANCEL_EXAMPLE = {
    RoundingRule.RECONCILIATION_FILE: "-94.20",
    RoundingRule.TRUNCATE_LINE: "-94.29",
    RoundingRule.HALF_UP: "-94.30",
}


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize(
    ("cancelled", "days"),
    [
        (at(2026, 7, 17, 12), 29),  # 50 h: 17..31 July = 15, 1..14 August = 14
        (at(2026, 7, 16, 10, 1), 30),  # 24 h 1 min: no longer a full refund
        (at(2026, 7, 22, 10), 24),  # exactly 168 h: 22..31 July = 10, + 14
    ],
)
def test_cancellation_within_7_days_refunds_the_unused_days(rule, cancelled, days):
    lines = bill(rule, sub(dt.date(2026, 7, 15)), [
        purchase(at(2026, 7, 15, 10)), cancel("stop", cancelled)])  # fmt: skip
    bought, refund = lines
    assert bought.amount == Decimal("100.80")
    assert refund.kind is LineKind.REFUND
    assert (refund.billing_days, refund.cycle_days, refund.quantity) == (days, 31, 10)
    assert refund.period_end == dt.date(2026, 8, 14)
    assert refund.amount == -by_hand(rule, "10.08", days, 31, 10)
    if days == 29:
        assert str(refund.amount) == CANCEL_EXAMPLE[rule]
        assert refund.description == (
            f"{NAME}: cancelled, refund of 10 seats, 17 Jul {DASH} 14 Aug 2026 (29/31 days)"
        )


@pytest.mark.parametrize("rule", RULES)
def test_cancellation_after_7_days_refunds_nothing_and_ends_the_history(rule):
    history = [purchase(at(2026, 7, 15, 10)), cancel("stop", at(2026, 7, 22, 10, 1))]
    lines = bill(rule, sub(dt.date(2026, 7, 15)), history)
    assert [line.kind for line in lines] == [LineKind.CHARGE]
    with pytest.raises(ValueError, match="after the subscription sub-1 was cancelled"):
        bill(rule, sub(dt.date(2026, 7, 15)), [*history, seats("late", at(2026, 7, 23), 3)])


# --- renewal --------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", RULES)
def test_renewal_starts_a_new_term_at_the_new_price_without_pro_rata(rule):
    lines = bill(rule, sub(dt.date(2026, 6, 18)), [
        purchase(at(2026, 6, 18, 9)),
        Change("renew", "renewal", at(2026, 7, 18, 0, 1), AUDIT, 12, Decimal("10.995")),
        seats("plus1", at(2026, 7, 25, 8), 13),
    ])  # fmt: skip
    renewal, credit, charge = lines[1:]
    assert (renewal.charge_type, renewal.prorated, renewal.quantity) == ("renew", False, 12)
    assert (renewal.period_start, renewal.period_end) == (
        dt.date(2026, 7, 18),
        dt.date(2026, 8, 17),
    )
    assert renewal.amount == by_hand(rule, "10.995", 1, 1, 12)
    # 10.99 x 12 under the file rule; 131.94 exactly otherwise
    expected = "131.88" if rule is RoundingRule.RECONCILIATION_FILE else "131.94"
    assert str(renewal.amount) == expected
    assert renewal.description == f"{NAME}: renewal, 12 seats, 18 Jul {DASH} 17 Aug 2026"
    # the new term's price is used by later changes: 25..31 July = 7 + 17 = 24 of 31 (July)
    assert (charge.billing_days, charge.cycle_days) == (24, 31)
    assert credit.amount == -by_hand(rule, "10.995", 24, 31, 12)
    assert charge.amount == by_hand(rule, "10.995", 24, 31, 13)


@pytest.mark.parametrize("rule", RULES)
def test_annual_renewal_into_a_leap_span_is_one_full_charge(rule):
    (renewal,) = bill(
        rule, sub(dt.date(2026, 3, 10), "annual"),
        [Change("renew", "renewal", at(2027, 3, 10, 0, 1), AUDIT, 5, Decimal("264.00"))],
        opening=Opening(5, Decimal("250.00"), at(2026, 3, 10)),
    )  # fmt: skip
    assert (renewal.period_start, renewal.period_end) == (dt.date(2027, 3, 10), dt.date(2028, 3, 9))
    assert (renewal.billing_days, renewal.cycle_days) == (366, 366)
    assert renewal.amount == Decimal("1320.00")


# --- annual cycles, month ends and February -----------------------------------------------


def test_cycles_of_a_start_on_the_31st_follow_microsofts_month_end_table():
    # Microsoft's table: annual term, monthly billing, bought 31 January 2021
    starts = [(1, 31), (2, 28), (3, 31), (4, 30), (5, 31), (6, 30), (7, 31), (8, 31), (9, 30),
              (10, 31), (11, 30), (12, 31)]  # fmt: skip
    ends = [(2, 27), (3, 30), (4, 29), (5, 30), (6, 29), (7, 30), (8, 30), (9, 29), (10, 30),
            (11, 29), (12, 30)]  # fmt: skip
    ends = [dt.date(2021, *e) for e in ends] + [dt.date(2022, 1, 30)]
    for start, end in zip([dt.date(2021, *s) for s in starts], ends, strict=True):
        for day in (start, end):
            cycle = prorata.charge_cycle(dt.date(2021, 1, 31), "monthly", day)
            assert (cycle.start, cycle.end) == (start, end)


SEAT_CHANGE_DAYS = [
    # annual, 1 Sep 2026 .. 9 Mar 2027: 30+31+30+31+31+28+9 = 190 of 365
    ("annual", dt.date(2026, 3, 10), dt.date(2026, 9, 1), dt.date(2027, 3, 9), (190, 365)),
    # annual, the span 10 Mar 2027 - 9 Mar 2028 holds 29 Feb 2028: 191 of 366
    ("annual", dt.date(2027, 3, 10), dt.date(2027, 9, 1), dt.date(2028, 3, 9), (191, 366)),
    # annual from 29 Feb 2028: ends 27 Feb 2029 (next starts 28 Feb), a day short of a
    # year, and holds 29 Feb 2028: 366; 1..27 Feb = 27
    ("annual", dt.date(2028, 2, 29), dt.date(2029, 2, 1), dt.date(2029, 2, 27), (27, 366)),
    # its next cycle, 28 Feb 2029 - 27 Feb 2030, holds no 29 February: 365
    ("annual", dt.date(2028, 2, 29), dt.date(2029, 3, 1), dt.date(2030, 2, 27), (364, 365)),
    # start 31 Jan: cycle 31 Jan - 27 Feb 2027 counts January's 31; 15..27 Feb = 13
    ("monthly", dt.date(2027, 1, 31), dt.date(2027, 2, 15), dt.date(2027, 2, 27), (13, 31)),
    # next cycle starts 28 Feb 2027 (February: 28), ends 30 Mar; 10..30 Mar = 21
    ("monthly", dt.date(2027, 1, 31), dt.date(2027, 3, 10), dt.date(2027, 3, 30), (21, 28)),
    # start 30 Jan, leap year: cycle 29 Feb - 29 Mar 2028 (29); 1..29 Mar = 29 = full
    ("monthly", dt.date(2028, 1, 30), dt.date(2028, 3, 1), dt.date(2028, 3, 29), (29, 29)),
    # start 29 Jan, non-leap: cycle 28 Feb - 28 Mar 2027 (28); 20..28 Mar = 9
    ("monthly", dt.date(2027, 1, 29), dt.date(2027, 3, 20), dt.date(2027, 3, 28), (9, 28)),
    # start 29 Jan, leap: cycle 29 Feb - 28 Mar 2028 (29); 20..28 Mar = 9
    ("monthly", dt.date(2028, 1, 29), dt.date(2028, 3, 20), dt.date(2028, 3, 28), (9, 29)),
    # start 10 Jan: cycle 10 Feb - 9 Mar 2027 (28); 20..28 Feb = 9, + 9 = 18
    ("monthly", dt.date(2027, 1, 10), dt.date(2027, 2, 20), dt.date(2027, 3, 9), (18, 28)),
    # the same in 2028 (29): 20..29 Feb = 10, + 9 = 19
    ("monthly", dt.date(2028, 1, 10), dt.date(2028, 2, 20), dt.date(2028, 3, 9), (19, 29)),
]


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize(("cycle", "anchor", "changed", "period_end", "days"), SEAT_CHANGE_DAYS)
def test_annual_cycles_month_end_starts_and_february_in_leap_and_other_years(
    rule, cycle, anchor, changed, period_end, days
):
    price = "264.00" if cycle == "annual" else "12.00"
    credit, charge = bill(rule, sub(anchor, cycle), [seats("plus5", changed, 15)],
                          opening=Opening(10, Decimal(price), anchor))  # fmt: skip
    assert (charge.period_start, charge.period_end) == (changed, period_end)
    assert (charge.billing_days, charge.cycle_days) == days
    assert credit.amount == -by_hand(rule, price, *days, 10)
    assert charge.amount == by_hand(rule, price, *days, 15)
    if days[0] == days[1]:
        assert charge.amount == Decimal(price) * 15


# --- leap years: "365, or 366 in a leap year" -------------------------------------------------


@pytest.mark.parametrize("rule", RULES)
def test_an_annual_term_started_on_29_february_2024_counts_366_days(rule):
    # bought 29 Feb 2024 at 366.00 a seat a year, 10 seats; +5 on 1 March 2024. The cycle
    # runs to 27 Feb 2025 (the next starts on the 28th): 1 Mar 2024 .. 27 Feb 2025 =
    # 364 days of 366, so 364.00 a seat under every rule (not 364 / 365 x 366 = 365.00)
    anchor = dt.date(2024, 2, 29)
    cycle = prorata.charge_cycle(anchor, "annual", dt.date(2024, 3, 1))
    assert (cycle.start, cycle.end, cycle.cycle_days) == (anchor, dt.date(2025, 2, 27), 366)
    credit, charge = bill(rule, sub(anchor, "annual"), [seats("plus5", at(2024, 3, 1, 9), 15)],
                          opening=Opening(10, Decimal("366.00"), at(2024, 2, 29)))  # fmt: skip
    assert (charge.period_start, charge.period_end) == (dt.date(2024, 3, 1), dt.date(2025, 2, 27))
    assert (charge.billing_days, charge.cycle_days) == (364, 366)
    assert credit.amount == Decimal("-3640.00")
    assert charge.amount == Decimal("5460.00")
    assert f"1 Mar 2024 {DASH} 27 Feb 2025 (364/366 days)" in charge.description
    # at a price that does not divide: 264.00 / 366 x 100 = 72.131.. a seat
    (__, odd) = bill(rule, sub(anchor, "annual"), [seats("p", at(2024, 11, 20), 13)],
                     opening=Opening(10, Decimal("264.00"), at(2024, 2, 29)))  # fmt: skip
    assert (odd.billing_days, odd.cycle_days) == (100, 366)  # 20 Nov 2024 .. 27 Feb 2025
    assert odd.amount == by_hand(rule, "264.00", 100, 366, 13)
    assert str(odd.amount) == {"reconciliation_file": "937.69"}.get(rule, "937.70")


@pytest.mark.parametrize("rule", RULES)
def test_an_annual_cycle_holding_29_february_2028_counts_366_days(rule):
    # started 1 Jun 2027: the cycle 1 Jun 2027 - 31 May 2028 holds 29 Feb 2028
    anchor = dt.date(2027, 6, 1)
    credit, charge = bill(rule, sub(anchor, "annual"), [seats("p", at(2028, 2, 29, 12), 4)],
                          opening=Opening(3, Decimal("366.00"), at(2027, 6, 1)))  # fmt: skip
    # 29 Feb .. 31 May 2028 = 1 + 31 + 30 + 31 = 93 days of 366: 93.00 a seat
    assert (charge.billing_days, charge.cycle_days) == (93, 366)
    assert (credit.amount, charge.amount) == (Decimal("-279.00"), Decimal("372.00"))
    # the cycle after (1 Jun 2028 - 31 May 2029) holds none: 365
    cycle = prorata.charge_cycle(anchor, "annual", dt.date(2028, 6, 1))
    assert (cycle.end, cycle.cycle_days) == (dt.date(2029, 5, 31), 365)
    # the cycle reaching a 29 February anchor again is 366 days long: a whole cycle is
    # its price, never more
    back = prorata.charge_cycle(dt.date(2024, 2, 29), "annual", dt.date(2027, 3, 1))
    assert (back.start, back.end, back.cycle_days) == (
        dt.date(2027, 2, 28), dt.date(2028, 2, 28), 366)  # fmt: skip


# --- several changes in one cycle ------------------------------------------------------------

# Microsoft's example: 10 seats at 12 bought 5 March 2022 (cycle 5 Mar - 4 Apr, March: 31),
# +5 on 7 Mar, +10 on 10 Mar, -2 on 12 Mar, -3 on 14 Mar, +10 on 25 Mar. Billing days:
# 7 Mar: 25 + 4 = 29; 10 Mar: 22 + 4 = 26; 12 Mar: 24; 14 Mar: 22; 25 Mar: 7 + 4 = 11.
MARCH = [("p5", 7, 15, 29), ("p10", 10, 25, 26), ("m2", 12, 23, 24), ("m3", 14, 20, 22),
         ("p10b", 25, 30, 11)]  # fmt: skip
# Microsoft's published subtotals for those lines: the line amount cut to cents
MARCH_PUBLISHED = ["120", "-112.25", "168.38", "-150.96", "251.61", "-232.25", "213.67",
                   "-195.87", "170.32", "-85.16", "127.74"]  # fmt: skip


@pytest.mark.parametrize("rule", RULES)
def test_several_changes_in_one_cycle_are_billed_each_from_its_own_day(rule):
    history = [purchase(dt.date(2022, 3, 5), price="12")] + [
        seats(cid, dt.date(2022, 3, day), quantity) for cid, day, quantity, _ in MARCH
    ]
    lines = bill(rule, sub(dt.date(2022, 3, 5)), history)
    expected = [Decimal("120.00")]
    old = 10
    for _, _, new, days in MARCH:
        expected += [-by_hand(rule, "12", days, 31, old), by_hand(rule, "12", days, 31, new)]
        old = new
    assert [line.amount for line in lines] == expected
    assert all(line.period_end == dt.date(2022, 4, 4) for line in lines)
    assert lines[-1].quantity == 30
    if rule is RoundingRule.TRUNCATE_LINE:
        assert [line.amount for line in lines] == [Decimal(v) for v in MARCH_PUBLISHED]


# --- currency precision ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("digits", "price", "expected"),
    [
        # 1250 / 30 x 28 = 1166.66..: 1166 x 3 = 3498 (file rule); 3500 exactly otherwise
        (0, "1250", {"reconciliation_file": "3498", "truncate_line": "3500", "half_up": "3500"}),
        # three decimals: 9.408 x 12 = 112.896 under every rule
        (3, "10.08", {"reconciliation_file": "112.896", "truncate_line": "112.896",
                      "half_up": "112.896"}),
    ],
)  # fmt: skip
def test_amounts_are_rounded_to_the_currency_precision(digits, price, expected):
    for rule in RULES:
        quantity = 3 if digits == 0 else 12
        _, charge = bill(rule, sub(dt.date(2026, 6, 18)), [seats("c", dt.date(2026, 6, 20),
                         quantity)], opening=Opening(1, Decimal(price), at(2026, 6, 18)),
                         digits=digits)  # fmt: skip
        assert str(charge.amount) == expected[rule]
        assert charge.amount == by_hand(rule, price, 28, 30, quantity, digits)


# --- keys, time sources and bad input ---------------------------------------------------------


def test_line_keys_are_stable_unique_and_independent_of_the_time_source():
    anchor = dt.date(2026, 6, 18)

    def history(when, source):
        return [purchase(at(2026, 6, 18, 9)), seats("plus2", when, 12, source),
                seats("minus1", at(2026, 6, 25), 11)]  # fmt: skip

    seen = bill(RoundingRule.RECONCILIATION_FILE, sub(anchor), history(at(2026, 6, 20, 23), SEEN))
    dated = bill(RoundingRule.RECONCILIATION_FILE, sub(anchor), history(at(2026, 6, 20, 11), AUDIT))
    assert [line.key for line in seen] == [line.key for line in dated]
    assert len({line.key for line in seen}) == len(seen) == 5
    assert [line.time_source for line in seen] == [AUDIT, SEEN, SEEN, AUDIT, AUDIT]
    assert [line.time_source for line in dated] == [AUDIT] * 5
    # given out of order, the history is replayed in time order
    shuffled = bill(RoundingRule.RECONCILIATION_FILE, sub(anchor),
                    history(at(2026, 6, 20, 11), AUDIT)[::-1])  # fmt: skip
    assert shuffled == dated
    other = bill(RoundingRule.RECONCILIATION_FILE, sub(anchor, sid="sub-2"),
                 history(at(2026, 6, 20, 11), AUDIT))  # fmt: skip
    assert not {line.key for line in other} & {line.key for line in dated}


def test_times_are_utc_days():
    # 23:30 on 19 June in New York is 20 June UTC: the change counts from 20 June
    new_york = dt.timezone(dt.timedelta(hours=-4))
    _, charge = bill(RoundingRule.HALF_UP, sub(dt.date(2026, 6, 18)),
                     [seats("c", dt.datetime(2026, 6, 19, 23, 30, tzinfo=new_york), 12)],
                     opening=Opening(10, Decimal("10.08"), at(2026, 6, 18)))  # fmt: skip
    assert (charge.period_start, charge.billing_days) == (dt.date(2026, 6, 20), 28)
    assert charge.changed_at == at(2026, 6, 20, 3, 30)


def test_bad_histories_are_refused_with_the_reason():
    anchor = dt.date(2026, 6, 18)
    with pytest.raises(TypeError, match="not float"):
        bill(RoundingRule.HALF_UP, sub(anchor),
             [Change("b", "purchase", anchor, AUDIT, 10, 10.08)])  # fmt: skip
    with pytest.raises(ValueError, match="no purchase or renewal before it"):
        bill(RoundingRule.HALF_UP, sub(anchor), [seats("c", anchor, 3)])
    with pytest.raises(ValueError, match="appears twice"):
        bill(RoundingRule.HALF_UP, sub(anchor), [purchase(anchor), seats("buy", anchor, 3)])
    with pytest.raises(ValueError, match="dated before the term"):
        bill(RoundingRule.HALF_UP, sub(anchor), [cancel("x", at(2026, 6, 17))],
             opening=Opening(1, Decimal(1), at(2026, 6, 18)))  # fmt: skip
    with pytest.raises(ValueError, match="out of range"):
        Settings(currency_digits=9)
