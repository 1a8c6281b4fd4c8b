# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""What a CSP line on a customer invoice says, in the customer's words: plain rules.

* Every line starts with the plan: the product, its term and its billing plan
  ("Microsoft 365 E5 (no Teams) — annual commitment, billed monthly").
* The recurring line then gives its service period through OCA contract's period markers
  (:data:`PERIOD_MARKERS`), which the invoice replaces with the period it invoices
  (:func:`period`).
* A change gets one line ("+2 seats, 4-31 Dec 2026 (28 of 31 days)", "Cancelled 5 Jan
  2027: 26 of 31 days refunded (5-31 Jan 2027)", "First days: 18-31 Dec 2026 (14 of 31
  days)"): its quantity is the seats it changes and its unit price the pro-rated seat
  price, or quantity 1 when no seat price at the price precision gives the change's total
  to the cent (:func:`line_amounts`: the total is always exact).
* Dates are written with babel in the customer's language (an Odoo language code such as
  ``en_GB`` or ``fr_FR``; English when unknown).
* Nothing internal (Microsoft's charge codes, ids, where a time comes from) is said here:
  the adjustment records keep that for the MSP. :func:`check_reasons` says, for the
  accountant, why a line should be checked before its invoice is posted.
"""

import dataclasses
import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import babel
import babel.dates

DASH = "\N{EM DASH}"  # between the product and its plan
PERIOD_MARKERS = "#START# \N{EN DASH} #END#"  # OCA contract replaces them on the invoice

TERMS = {
    "P1M": "monthly commitment",
    "P1Y": "annual commitment",
    "P3Y": "three-year commitment",
}
BILLING_PLANS = {
    "monthly": "billed monthly",
    "annual": "billed annually",
    "triennial": "billed every three years",
}
LATE = dt.timedelta(days=1)  # a change recorded later than this after it took effect


def _locale(lang):
    try:
        return babel.Locale.parse(lang or "en_US", sep="_")
    except (ValueError, TypeError, babel.UnknownLocaleError):
        return babel.Locale.parse("en_US")


def plan(product, term_duration=None, billing_cycle=None):
    """The product, its term and billing plan ("<product> — <term>, <billing plan>");
    the parts Microsoft did not give are left out (an unknown term or billing cycle is
    not guessed)."""
    term = TERMS.get((term_duration or "").strip().upper())
    billed = BILLING_PLANS.get((billing_cycle or "").strip().lower())
    words = ", ".join(w for w in (term, billed) if w)
    product = (product or "").strip() or "Microsoft subscription"
    return f"{product} {DASH} {words}" if words else product


def recurring_name(product, term_duration=None, billing_cycle=None):
    """The recurring contract line's name: the plan, then its service period as OCA
    contract's markers, replaced on each invoice by the period it invoices."""
    return f"{plan(product, term_duration, billing_cycle)}\n{PERIOD_MARKERS}"


def day(value, lang=None):
    """``value`` as the customer reads a date ("5 Jan 2027" in en_GB)."""
    return babel.dates.format_date(value, "medium", locale=_locale(lang))


def period(start, end, lang=None):
    """A service period, both days counted ("4-31 Dec 2026" in en_GB, "Dec 4 - 31,
    2026" in en_US); one day when ``start`` is ``end``."""
    if not start or not end:
        return ""
    if start == end:
        return day(start, lang)
    return babel.dates.format_interval(start, end, "yMMMd", locale=_locale(lang))


def seats(count, signed=False):
    text = f"{count:+d}" if signed else str(count)
    return f"{text} seat" if abs(count) == 1 else f"{text} seats"


@dataclasses.dataclass(frozen=True)
class Piece:
    """One pro-rated piece of a change for the customer: its days and amount."""

    start: dt.date
    end: dt.date
    billing_days: int
    cycle_days: int
    amount: Decimal


def _days(pieces):
    """The days of ``pieces``: "28 of 31 days" in one charge cycle, else the days counted."""
    spans = {(p.start, p.end, p.billing_days, p.cycle_days) for p in pieces}
    if len(spans) == 1:
        (__, __, billing_days, cycle_days) = spans.pop()
        return f"{billing_days} of {cycle_days} days"
    start, end = min(p.start for p in pieces), max(p.end for p in pieces)
    return f"{(end - start).days + 1} days"


def _span(pieces, lang):
    return period(min(p.start for p in pieces), max(p.end for p in pieces), lang)


def seat_change(delta, pieces, lang=None):
    """A seat change: "+2 seats, 4-31 Dec 2026 (28 of 31 days)"."""
    return f"{seats(delta, signed=True)}, {_span(pieces, lang)} ({_days(pieces)})"


def cancellation(cancelled_on, pieces, prorated=True, lang=None):
    """A cancellation: "Cancelled 5 Jan 2027: 26 of 31 days refunded (5-31 Jan 2027)";
    within 24 hours of a purchase or renewal everything billed for the term comes back."""
    if not prorated:
        return (
            f"Cancelled {day(cancelled_on, lang)} within 24 hours: {_span(pieces, lang)} "
            "refunded in full"
        )
    return f"Cancelled {day(cancelled_on, lang)}: {_days(pieces)} refunded ({_span(pieces, lang)})"


def first_days(count, pieces, lang=None):
    """The first days of a purchase: "First days: 18-31 Dec 2026 (14 of 31 days), 2
    seats"."""
    return f"First days: {_span(pieces, lang)} ({_days(pieces)}), {seats(count)}"


def charge(count, pieces, lang=None):
    """Any other pro-rated charge: "2 seats, 18-31 Dec 2026 (14 of 31 days)"."""
    return f"{seats(count)}, {_span(pieces, lang)} ({_days(pieces)})"


def change_name(product_plan, what):
    """A change's line: the plan, then what the change is."""
    return f"{product_plan}\n{what}"


def line_amounts(total, seat_count, price_digits=2, currency_digits=2):
    """(quantity, unit price) of a change's line whose amount must be ``total`` exactly.

    The quantity is ``seat_count`` (signed: a decrease or a refund is a negative quantity
    at a positive seat price) and the unit price the pro-rated seat price, rounded half
    up to ``price_digits``, when quantity x that price is ``total`` to the currency's
    precision; otherwise (e.g. 13.37 for 2 seats at 2 decimals) quantity 1 (-1 for a
    decrease) at the total itself, the seats being said in the line's words."""
    total = Decimal(total)
    cent = Decimal(1).scaleb(-currency_digits)
    if seat_count:
        price = (total / seat_count).quantize(Decimal(1).scaleb(-price_digits), ROUND_HALF_UP)
        if (price * seat_count).quantize(cent, ROUND_HALF_UP) == total.quantize(cent):
            return seat_count, price
    if seat_count < 0:
        return -1, -total
    return 1, total


def is_late(changed_at, recorded_at, from_audit_record):
    """A change whose time is not Partner Center's audit record and that was recorded
    more than a day after it took effect: its days may be wrong."""
    if from_audit_record or not changed_at or not recorded_at:
        return False
    return recorded_at - changed_at > LATE


def check_reasons(unit_price, unit_cost=None, late_by=None):
    """Why an accountant should check a line before posting its invoice, in words (an
    empty list: nothing to check). ``unit_cost``: the Microsoft cost per seat the amount
    was computed with (None: not computed with one); ``late_by``: how long after it took
    effect the change was recorded, when it is late (:func:`is_late`)."""
    reasons = []
    if not unit_price:
        reasons.append(
            "No sales price: the unit price is 0. Set the product's sales price and the "
            "contract line's unit price."
        )
    if unit_cost is not None and not unit_cost:
        reasons.append(
            "Computed with a Microsoft cost of 0: fill the subscription's Microsoft Cost; "
            "the margin and the reconciliation use it."
        )
    if late_by is not None:
        days = late_by.days
        reasons.append(
            f"Change recorded {days} day{'s' if days != 1 else ''} after it took effect, "
            "without Partner Center's audit record: check its date."
        )
    return reasons
