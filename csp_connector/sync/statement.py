"""The monthly licence statement's content, as plain data: what the PDF lists for one
customer and month. Nothing here reads or writes the database: the model gives rows,
these shape them (sorted, counted, in the customer's words)."""

import calendar
import datetime as dt

CHANGE_WORDS = {
    "purchase": "Bought",
    "quantity": "Seats changed",
    "renewal": "Renewed",
    "cancel": "Cancelled",
    "reactivate": "Reactivated",
    "status": "Status changed",
    "billing_cycle": "Billing changed",
    "term": "Term changed",
}


def month_bounds(month):
    """(first day, first day of the next month) of the month holding ``month``."""
    first = month.replace(day=1)
    last = calendar.monthrange(first.year, first.month)[1]
    return first, first + dt.timedelta(days=last)


def previous_month(today):
    return (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)


def change_words(kind, old_quantity, new_quantity):
    """One change of the month in words: "Seats changed: 2 → 5"."""
    words = CHANGE_WORDS.get(kind, "Changed")
    if kind in ("quantity", "purchase", "renewal") and new_quantity:
        if kind == "quantity" and old_quantity:
            return f"{words}: {old_quantity} → {new_quantity}"
        return f"{words}: {new_quantity} seat(s)"
    return words


def content(skus, users, changes, devices=None):
    """The statement: ``skus`` [(name, paid, assigned)], ``users`` [(name, sign-in,
    [licence names])] (the licensed ones are kept), ``changes`` [(date, subscription,
    kind, old quantity, new quantity)], ``devices`` a count or None (not managed)."""
    licences = sorted(
        ({"name": name, "paid": paid, "assigned": assigned} for name, paid, assigned in skus),
        key=lambda row: row["name"].lower(),
    )
    licensed = sorted(
        (
            {"name": name, "login": login, "licences": sorted(held)}
            for name, login, held in users
            if held
        ),
        key=lambda row: (row["name"] or row["login"]).lower(),
    )
    events = sorted(
        (
            {"date": str(day), "subscription": name, "what": change_words(kind, old, new)}
            for day, name, kind, old, new in changes
        ),
        key=lambda row: (row["date"], row["subscription"]),
    )
    return {
        "licences": licences,
        "users": licensed,
        "changes": events,
        "devices": devices,
        "totals": {
            "paid": sum(row["paid"] for row in licences),
            "assigned": sum(row["assigned"] for row in licences),
            "users": len(licensed),
        },
    }
