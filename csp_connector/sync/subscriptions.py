"""New-commerce quantity changes: may this subscription go from n to m seats now?

Partner Center lets seats be removed only within 168 hours (7 days) of being added, and
each batch of added seats has its own window (``refundableQuantity.details``, one entry
per batch with ``allowedUntilDateTime``). A decrease larger than the seats still inside
an open window is refused here, before any call, with the date and time the window
closed. Nothing here reads or writes the database.
"""

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ..microsoft.dates import parse_datetime

CHANGEABLE_STATUSES = ("active",)


@dataclass(frozen=True)
class Window:
    quantity: int
    until: object  # aware datetime


@dataclass(frozen=True)
class QuantityDecision:
    allowed: bool
    reason: str = ""
    refundable: int = 0  # seats that may still be removed now
    closed_at: object = None  # when the last window that matters closed (aware)


def windows_from(details):
    """Windows from stored ``refundable_details`` (JSON text or a list of
    {quantity, until|allowedUntilDateTime}); entries without a date or a positive
    quantity are left out."""
    if isinstance(details, str):
        try:
            details = json.loads(details or "[]")
        except ValueError:
            details = []
    windows = []
    for entry in details or []:
        if not isinstance(entry, dict):
            continue
        quantity = entry.get("quantity")
        until = parse_datetime(entry.get("until") or entry.get("allowedUntilDateTime"))
        if isinstance(quantity, int) and quantity > 0 and until is not None:
            windows.append(Window(quantity, until.astimezone(UTC)))  # offsets sent vary
    return windows


REFUND_WINDOW = timedelta(hours=168)  # a batch of added seats may be removed this long


def when(moment):
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def day(moment):
    """The day of an aware moment (UTC), or of a date: "2026-11-20"."""
    if isinstance(moment, datetime):
        moment = moment.astimezone(UTC) if moment.tzinfo else moment
        return moment.date().isoformat()
    return moment.isoformat()


def check_quantity_change(current, new, windows, now, status="active", renewal=None, added=None):
    """Whether `current` seats may become `new` at `now` (aware), and why not.

    A refused decrease says when the seats were added (their window's opening, else
    ``added``: when Odoo last saw seats added), the last day they could be removed and,
    with ``renewal`` (the commitment end), when a decrease is possible again."""
    if isinstance(new, bool) or not isinstance(new, int) or new < 1:
        return QuantityDecision(False, "The new quantity must be a whole number of at least 1.")
    if new == current:
        return QuantityDecision(False, f"The subscription already has {current} seat(s).")
    if status not in CHANGEABLE_STATUSES:
        return QuantityDecision(
            False,
            f"The subscription is {status or 'in an unknown state'}: Partner Center only "
            "changes the quantity of an active subscription. Reactivate it first.",
        )
    if new > current:
        return QuantityDecision(True)
    decrease = current - new
    open_windows = [w for w in windows if w.until > now]
    refundable = sum(w.quantity for w in open_windows)
    if decrease <= refundable:
        return QuantityDecision(True, refundable=refundable)
    closed = [w.until for w in windows if w.until <= now]
    closed_at = max(closed) if closed else None
    if refundable:
        reason = (
            f"Only {refundable} seat(s) of this subscription may still be removed (the "
            f"first of their windows closes on {when(min(w.until for w in open_windows))}); "
            f"you asked to remove {decrease}."
        )
    else:
        reason = f"No seat of this subscription may be removed now; you asked to remove {decrease}."
    if closed_at is not None:
        reason += (
            f" The seats added on {day(closed_at - REFUND_WINDOW)} could be removed until "
            f"{day(closed_at)} (their window closed on {when(closed_at)})."
        )
    elif added:
        last = added + REFUND_WINDOW
        reason += (
            f" Seats were last added on {day(added)}: they could be removed until {day(last)}."
        )
    reason += " Partner Center lets seats be removed only within 7 days (168 hours) of being added."
    if renewal:
        reason += (
            f" The quantity can be lowered again at renewal, on {day(renewal)}: turn off "
            "auto-renew or schedule the renewal quantity in Partner Center."
        )
    else:
        reason += (
            " Lower the quantity at renewal instead (turn off auto-renew or schedule the "
            "renewal quantity in Partner Center)."
        )
    return QuantityDecision(False, reason, refundable=refundable, closed_at=closed_at)


def patch_body(subscription, quantity):
    """The subscription object as Partner Center sent it, with the new quantity: Partner
    Center's PATCH takes the whole object."""
    body = dict(subscription)
    body["quantity"] = quantity
    return body
