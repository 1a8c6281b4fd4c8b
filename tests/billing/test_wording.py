"""What a Microsoft line on a customer invoice says, and its quantity and seat price."""

import datetime as dt
from decimal import Decimal

from odoo.addons.csp_connector_billing.billing import prorata, wording

D = dt.date


def piece(start, end, days, cycle, amount="0"):
    return wording.Piece(start, end, days, cycle, Decimal(amount))


def test_the_plan_names_product_term_and_billing_cycle():
    name = "Microsoft 365 E5 (no Teams)"
    assert wording.plan(name, "P1Y", "monthly") == (
        "Microsoft 365 E5 (no Teams) \N{EM DASH} annual commitment, billed monthly"
    )
    assert wording.plan(name, "P1M", "monthly").endswith("monthly commitment, billed monthly")
    assert wording.plan(name, "P3Y", "triennial").endswith(
        "three-year commitment, billed every three years"
    )
    assert wording.plan(name, "p1y", " Annual ").endswith("annual commitment, billed annually")
    # a 1-year and a 1-month subscription of the same offer read differently
    assert wording.plan(name, "P1Y", "monthly") != wording.plan(name, "P1M", "monthly")
    # what Microsoft did not give is not guessed
    assert wording.plan(name, None, "monthly") == f"{name} \N{EM DASH} billed monthly"
    assert wording.plan(name, "P2W", "none") == name
    assert wording.plan("", None, None) == "Microsoft subscription"


def test_the_recurring_line_carries_oca_contracts_period_markers():
    name = wording.recurring_name("Exchange Online (Plan 1)", "P1M", "monthly")
    assert name == (
        "Exchange Online (Plan 1) \N{EM DASH} monthly commitment, billed monthly\n"
        "#START# \N{EN DASH} #END#"
    )


def test_periods_and_days_in_the_customers_language():
    assert wording.period(D(2026, 12, 4), D(2026, 12, 31), "en_GB") == "4\N{EN DASH}31 Dec 2026"
    assert wording.period(D(2026, 12, 4), D(2026, 12, 31), "en_US") == (
        "Dec 4\N{THIN SPACE}\N{EN DASH}\N{THIN SPACE}31, 2026"
    ) or "Dec 4" in wording.period(D(2026, 12, 4), D(2026, 12, 31), "en_US")
    assert wording.period(D(2026, 12, 4), D(2026, 12, 4), "en_GB") == "4 Dec 2026"
    assert "déc." in wording.period(D(2026, 11, 4), D(2026, 12, 3), "fr_FR")
    # an unknown language falls back to English, never fails
    assert "2026" in wording.period(D(2026, 12, 4), D(2026, 12, 31), "xx_YY")
    assert wording.day(D(2027, 1, 5), "en_GB") == "5 Jan 2027"


def test_a_seat_change_is_one_sentence():
    one_cycle = [piece(D(2026, 12, 4), D(2026, 12, 31), 28, 31)] * 2  # credit and charge
    assert wording.seat_change(2, one_cycle, "en_GB") == (
        "+2 seats, 4\N{EN DASH}31 Dec 2026 (28 of 31 days)"
    )
    assert wording.seat_change(-1, one_cycle, "en_GB").startswith("-1 seat, ")
    # over two of Microsoft's charge cycles: the whole span and its days
    two = [piece(D(2026, 12, 5), D(2026, 12, 13), 9, 30), piece(D(2026, 12, 14), D(2026, 12, 31),
                                                               18, 31)]  # fmt: skip
    assert wording.seat_change(2, two, "en_GB") == "+2 seats, 5\N{EN DASH}31 Dec 2026 (27 days)"


def test_cancellations_and_first_days():
    days = [piece(D(2027, 1, 6), D(2027, 1, 31), 26, 31)]
    assert wording.cancellation(D(2027, 1, 5), days, lang="en_GB") == (
        "Cancelled 5 Jan 2027: 26 of 31 days refunded (6\N{EN DASH}31 Jan 2027)"
    )
    assert wording.cancellation(D(2027, 1, 5), days, prorated=False, lang="en_GB") == (
        "Cancelled 5 Jan 2027 within 24 hours: 6\N{EN DASH}31 Jan 2027 refunded in full"
    )
    first = [piece(D(2026, 12, 18), D(2026, 12, 31), 14, 31)]
    assert wording.first_days(2, first, "en_GB") == (
        "First days: 18\N{EN DASH}31 Dec 2026 (14 of 31 days), 2 seats"
    )


def test_nothing_internal_is_said():
    one = [piece(D(2026, 12, 4), D(2026, 12, 31), 28, 31)]
    texts = [
        wording.seat_change(2, one, "en_GB"), wording.cancellation(D(2026, 12, 4), one),
        wording.first_days(2, one), wording.charge(2, one),
    ]  # fmt: skip
    for text in texts:
        for internal in ("sync", "audit", "Quantity", "cancelImmediate", "firstDays", "/"):
            assert internal not in text


def test_the_line_amount_is_the_changes_total_to_the_cent():
    # +2 seats: the pro-rated seat price x 2 is the total
    assert wording.line_amounts(Decimal("13.38"), 2) == (2, Decimal("6.69"))
    # -3 seats: a negative quantity at a positive seat price
    assert wording.line_amounts(Decimal("-27.09"), -3) == (-3, Decimal("9.03"))
    # no seat price at 2 decimals gives 13.37 for 2 seats: quantity 1 at the total
    assert wording.line_amounts(Decimal("13.37"), 2) == (1, Decimal("13.37"))
    assert wording.line_amounts(Decimal("-13.37"), -2) == (-1, Decimal("13.37"))
    # with more price decimals the seat price may still hit it
    assert wording.line_amounts(Decimal("13.37"), 2, price_digits=4) == (2, Decimal("6.6850"))
    assert wording.line_amounts(Decimal("10.00"), 3, price_digits=6) == (3, Decimal("3.333333"))
    assert wording.line_amounts(Decimal("0"), 0) == (1, Decimal("0"))
    for total in ("0.01", "1.99", "27.10", "-0.05", "99.99"):
        for count in (1, 2, 3, 7, -1, -4):
            if (Decimal(total) < 0) != (count < 0):
                continue
            quantity, price = wording.line_amounts(Decimal(total), count)
            assert (quantity * price).quantize(Decimal("0.01")) == Decimal(total)


def test_the_merged_line_equals_the_sum_of_prorata_pieces_under_every_rounding():
    sub = prorata.Subscription("s1", "Microsoft 365 E5", "monthly", D(2026, 11, 14))
    for rule in prorata.RoundingRule:
        settings = prorata.Settings(2, rule)
        changes = [prorata.Change("q1", "quantity", dt.datetime(2026, 12, 5, 10), "seen", 16)]
        opening = prorata.Opening(14, Decimal("20.00"), dt.datetime(2026, 11, 14))
        lines = prorata.bill_changes(sub, changes, settings, opening)
        pieces = [p for line in lines for p in prorata.customer_lines(line, D(2026, 12, 31), sub)]
        total = sum(p.amount for p in pieces)
        quantity, price = wording.line_amounts(total, 2)
        assert (quantity * price).quantize(Decimal("0.01")) == total, rule


def test_what_an_accountant_checks():
    assert wording.check_reasons(20.0, 16.0) == []
    assert wording.check_reasons(20.0) == []  # a recurring line: no cost in its amount
    (reason,) = wording.check_reasons(0.0)
    assert reason.startswith("No sales price")
    (reason,) = wording.check_reasons(20.0, 0.0)
    assert "Microsoft cost of 0" in reason
    (reason,) = wording.check_reasons(20.0, 16.0, dt.timedelta(days=3, hours=2))
    assert reason.startswith("Change recorded 3 days after it took effect")
    assert len(wording.check_reasons(0, 0, dt.timedelta(days=2))) == 3


def test_a_change_recorded_more_than_a_day_late():
    took = dt.datetime(2026, 12, 4, 9)
    assert wording.is_late(took, took + dt.timedelta(days=1, minutes=1), False)
    assert not wording.is_late(took, took + dt.timedelta(days=1), False)
    assert not wording.is_late(took, took + dt.timedelta(days=5), True)  # audit record
    assert not wording.is_late(None, took, False)
