"""The customer portal's words and seat-request rules. Nothing here reads or writes the
database: the portal's models give the values, these decide what the customer reads.

* A term in words: Partner Center's ISO 8601 duration (``P1M``, ``P1Y``, ``P3Y``) as
  "1 month", "1 year", "3 years"; anything else is shown as "-" rather than as code.
* A seat request: an increase is always possible on an active subscription; a decrease
  only for the seats still inside their 7-day window (sync/subscriptions.py). Outside
  it, the customer is told from when a decrease is possible: the subscription's renewal
  (its commitment end), when a lower quantity can take effect.
"""

import dataclasses
import re

from . import subscriptions as quantity_rules

_DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?$")
_UNITS = (("year", "years"), ("month", "months"), ("week", "weeks"), ("day", "days"))


def term_words(duration):
    """``P1Y`` -> "1 year", ``P1M`` -> "1 month", ``P36M`` -> "3 years"; "-" otherwise."""
    found = _DURATION.match((duration or "").strip().upper())
    if not found or not any(found.groups()):
        return "-"
    years, months, weeks, days = (int(part or 0) for part in found.groups())
    if months and not months % 12 and not (weeks or days):
        years, months = years + months // 12, 0
    words = []
    for count, (one, many) in zip((years, months, weeks, days), _UNITS, strict=True):
        if count:
            words.append(f"{count} {one if count == 1 else many}")
    return ", ".join(words)


def cycle_words(billing_cycle):
    """Partner Center's billing cycle (monthly, annual, ...) as the customer says it."""
    cycle = (billing_cycle or "").strip().lower()
    return {
        "monthly": "billed monthly",
        "annual": "billed yearly",
        "triennial": "billed every three years",
        "onetime": "billed once",
        "none": "-",
    }.get(cycle, "-")


@dataclasses.dataclass(frozen=True)
class SeatDecision:
    """Whether a seat request may be sent now, and if not why and from when."""

    allowed: bool
    reason: str = ""
    possible_from: object = None  # a datetime (naive UTC): when a decrease becomes possible


def check_request(current, new, windows, now, status, renewal=None):
    """May the customer ask to go from ``current`` to ``new`` seats at ``now`` (aware)?
    The rules of the back office's quantity change (sync/subscriptions.py), with, for a
    decrease outside the window, the renewal date from which it becomes possible."""
    decision = quantity_rules.check_quantity_change(current, new, windows, now, status=status)
    if decision.allowed:
        return SeatDecision(True)
    if isinstance(new, int) and not isinstance(new, bool) and 0 < new < current:
        if decision.refundable:
            reason = (
                f"Only {decision.refundable} seat(s) added in the last 7 days can be removed "
                f"now; you asked to remove {current - new}."
            )
        else:
            reason = (
                "Seats can only be removed within 7 days of being added; none of these "
                "seats can be removed now."
            )
        if renewal:
            reason += f" A lower number of seats can take effect at renewal, on {renewal:%Y-%m-%d}."
        return SeatDecision(False, reason, renewal or None)
    return SeatDecision(False, decision.reason)
